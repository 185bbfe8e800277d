"""The example notifier package is installed and loaded by tests/test_plugins.py; nothing here is collected."""

collect_ignore_glob = ["sla-engine-teams/*"]
