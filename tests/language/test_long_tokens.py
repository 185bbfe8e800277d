"""A huge token in a policy is named, not repeated: the diagnostic stays one readable line."""

from __future__ import annotations

from pathlib import Path

from sla_engine.language.check import check_paths
from sla_engine.language.errors import render_all


def test_an_unexpected_huge_number_is_cut_in_the_message(tmp_path: Path) -> None:
    path = tmp_path / "long.sla"
    path.write_text("define d = lead_score >= 9\x0c" + "9" * 4000 + "\n", encoding="utf-8")
    diagnostics, sources = check_paths([path])
    assert diagnostics
    for line in render_all(diagnostics, sources).splitlines():
        assert line.isprintable() and len(line) < 600, line[:200]
    assert any("'" + "9" * 40 + "…'" in d.message for d in diagnostics)
