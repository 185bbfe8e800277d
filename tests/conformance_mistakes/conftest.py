"""The mistakes package is installed and run under the kit by tests/test_conformance_kit.py: not collected here."""

collect_ignore_glob = ["sla-engine-mistakes/*"]
