"""The service's core: projects, tags, images, iterations and predictions over the store.

Both HTTP faces (the native ``/api/v1`` and the Custom Vision routes) and the web pages call
these functions; they never touch the store themselves.
"""
