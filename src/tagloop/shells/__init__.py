"""Thin shells over :class:`tagloop.project.Project`: CLI now; HTTP API and web pages later."""
