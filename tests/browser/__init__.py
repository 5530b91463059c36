"""Browser tests of the web UI: Debian Chromium driven by Playwright (see support.py)."""
