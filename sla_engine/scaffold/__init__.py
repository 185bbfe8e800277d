"""`sla-engine init`: a policy repository that works the moment it is made.

The files beside this module are the starter repository: the one-page SLA as a policy, its
tests, sample events, the configuration and a CI workflow. They are copied as they are, so
what a new user gets is what the tests run (`check`, `test` and `evaluate` pass on it).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

# Template file (beside this module) → where it goes in the new repository. Dot files are
# stored without their dot so that every packaging tool keeps them.
FILES: dict[str, str] = {
    "sla-engine.toml": "sla-engine.toml",
    "policies/one_page.sla": "policies/one_page.sla",
    "policies/tests/one_page.test.toml": "policies/tests/one_page.test.toml",
    "data/events.csv": "data/events.csv",
    "github-workflow.yml": ".github/workflows/sla-policies.yml",
    "gitignore": ".gitignore",
}


class ScaffoldError(Exception):
    """The directory already holds files the scaffold would overwrite."""


def scaffold(directory: Path) -> list[Path]:
    """Write the starter repository into ``directory`` (created if needed); return what was written.

    Nothing is overwritten: if any file exists, nothing is written and the error names them all.
    """
    existing = [directory / target for target in FILES.values() if (directory / target).exists()]
    if existing:
        names = ", ".join(str(path) for path in existing)
        raise ScaffoldError(f"{directory} already has {names}: init writes into a new or empty directory "
                            "and overwrites nothing")
    templates = resources.files(__name__)
    written = []
    for source, target in FILES.items():
        path = directory / target
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(templates.joinpath(source).read_text(encoding="utf-8"), encoding="utf-8")
        written.append(path)
    return written
