"""docs/tutorial-connector.md works as written: its files, taken from the page, make a package that passes the kit."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "docs" / "tutorial-connector.md"
FILE_BLOCK = re.compile(r"^```\w*\n# file: (?P<path>\S+)\n(?P<body>.*?)^```$", re.M | re.S)


def tutorial_files() -> dict[str, str]:
    """Each code block that starts with ``# file: PATH``: its path and its text."""
    return {m["path"]: m["body"] for m in FILE_BLOCK.finditer(TUTORIAL.read_text(encoding="utf-8"))}


def test_the_tutorial_gives_a_whole_package():
    assert sorted(tutorial_files()) == [
        "sla-engine-acme/pyproject.toml", "sla-engine-acme/sla_engine_acme/__init__.py",
        "sla-engine-acme/sla_engine_acme/connector.py", "sla-engine-acme/tests/conftest.py",
        "sla-engine-acme/tests/test_conformance.py",
    ]


def test_the_tutorials_package_installs_loads_and_passes_the_conformance_kit(tmp_path):
    for path, text in tutorial_files().items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text, encoding="utf-8")
    package, site = tmp_path / "sla-engine-acme", tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                    "--no-build-isolation", "--target", str(site), str(package)],
                   check=True, capture_output=True, text=True, timeout=180)
    env = {k: v for k, v in os.environ.items() if k != "SLA_ENGINE_LOAD_PLUGINS"}
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(ROOT), env.get("PYTHONPATH", "")])
    listed = subprocess.run([sys.executable, "-m", "sla_engine.cli", "plugins"], capture_output=True, text=True,
                            env=env, cwd=tmp_path, timeout=60)
    assert "acme\tsla-engine-acme 0.1.0\tsla_engine_acme\tregister_connectors\tconnector:acme" in listed.stdout, (
        listed.stdout + listed.stderr)
    kit = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "tests"],
                         capture_output=True, text=True, env=env, cwd=package, timeout=300)
    assert kit.returncode == 0, kit.stdout + kit.stderr
    passed = int(re.search(r"(\d+) passed", kit.stdout).group(1))
    skipped = re.findall(r"SKIPPED \[\d+\] [^:]+:\d+: (.*)", kit.stdout)
    assert passed >= 16 and "failed" not in kit.stdout, kit.stdout
    assert len(skipped) == 2 and any("takes no escalation actions" in s for s in skipped), skipped
