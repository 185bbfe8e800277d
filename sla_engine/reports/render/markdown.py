"""The dashboard as markdown: the Slack / pull-request digest (Metric | Target | Current | Status | Owner)."""

from __future__ import annotations

import re

from sla_engine.reports.dashboard import Report
from sla_engine.reports.render.cells import behind_text, clean, sections, tile_cells

_MD_SPECIALS = re.compile(r"([\\`*_\[\]|~])")
MAX_ROWS = 25


def md_escape(text: str) -> str:
    """Safe in a GitHub table cell and in Slack: entities for & < >, backslashes for the rest."""
    text = clean(text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIALS.sub(r"\\\1", text)


def _table(rows: list[dict[str, str]]) -> list[str]:
    columns = list(rows[0])
    lines = ["| " + " | ".join(md_escape(c) for c in columns) + " |",
             "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(md_escape(row[c]) for c in columns) + " |" for row in rows[:MAX_ROWS]]
    if len(rows) > MAX_ROWS:
        lines.append(f"\n_… and {len(rows) - MAX_ROWS:,} more_")
    return lines


def to_markdown(report: Report) -> str:
    tally = report.tally()
    lines = [f"## {md_escape(report.title)}", "",
             md_escape(" · ".join(f"{n} {status}" for status, n in tally.items() if n)), ""]
    for side, policies in report.sides():
        for title, tiles in policies:
            lines += [f"### {md_escape(side)} · {md_escape(title)}", ""]
            lines += _table([tile_cells(tile) for tile in tiles])
            lines += [f"- {md_escape(tile.label)}: {md_escape(behind_text(tile))}" for tile in tiles if tile.behind]
            lines.append("")
    for title, rows in sections(report):
        if not rows:
            continue
        lines += [f"### {md_escape(title)}", ""]
        lines += _table(rows)
        lines.append("")
    return "\n".join(lines)
