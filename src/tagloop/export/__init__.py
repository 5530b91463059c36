"""Backbone + head → one checked ONNX graph and its ``model.json``."""
