"""Backbones (ONNX feature extractors), their preprocessing, and cached batch embedding."""
