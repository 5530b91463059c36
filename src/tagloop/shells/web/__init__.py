"""The web pages: server-rendered HTML over the same workspace functions as the API.

Pages read through the workspace directly; everything a page changes goes through the native
API (``/api/v1``) from a small script (``static/app.js``), on the key the person entered, which
the session cookie carries.
"""
