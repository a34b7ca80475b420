"""Root conftest: the loraplace plugin (options, report) and the claim fixtures."""
pytest_plugins = ["loraplace.pytest_plugin.plugin", "loraplace.pytest_plugin.fixtures"]
