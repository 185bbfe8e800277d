"""The example package's own tests run in its own pytest, after it is installed (see test_plugins.py).

Collected from the main run they would meet a package that is not installed, so they are skipped here.
"""

collect_ignore_glob = ["sla-engine-jsonl/*"]
