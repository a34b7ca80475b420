"""The pytest plugin: options, fixtures and the report writer (a pytest11 entry point)."""
