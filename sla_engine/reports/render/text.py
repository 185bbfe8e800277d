"""The dashboard as plain text for a terminal or a cron mail: 100 columns, no word broken."""

from __future__ import annotations

import textwrap

import click

from sla_engine.engine.targets import NOT_IN_EFFECT
from sla_engine.reports.dashboard import Report, Tile
from sla_engine.reports.render.cells import (
    MARKS,
    behind_text,
    clean,
    fmt_goal,
    fmt_number,
    fmt_status,
    sections,
)

WIDTH = 100
MAX_ROWS = 25  # rows per detail table; the rest is counted, and json/csv list everything
NUMERIC = {"Current", "Value", "Sample", "MQLs", "In window", "Median", "p90", "Attempts", "Feedback", "Accepted",
           "Leads", "Share"}


def wrap(text: str, width: int, indent: str = "", hard: bool = False) -> list[str]:
    """Lines of at most `width` characters broken between words (inside one only if `hard`: a word too long)."""
    return textwrap.wrap(text, width=width, initial_indent=indent, subsequent_indent=indent,
                         break_long_words=hard, break_on_hyphens=False) or [indent.rstrip()]


def table(rows: list[dict[str, str]], width: int = WIDTH) -> list[str]:
    """Columns sized to their content; when too wide, the widest text columns wrap between words."""
    columns = list(rows[0])
    cells = [[clean(row[c]) for c in columns] for row in rows]
    sizes = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    floor = [max(len(c), *(max((len(w) for w in r[i].split()), default=0) for r in cells))
             for i, c in enumerate(columns)]
    while sum(sizes) + 2 * (len(sizes) - 1) > width:
        shrinkable = [i for i in range(len(sizes)) if sizes[i] > floor[i] and columns[i] not in NUMERIC]
        if not shrinkable:
            break
        widest = max(shrinkable, key=lambda i: sizes[i])
        sizes[widest] -= 1
    while sum(sizes) + 2 * (len(sizes) - 1) > width:  # a single word wider than the page: the last resort
        widest = max((i for i in range(len(sizes)) if columns[i] not in NUMERIC), key=lambda i: sizes[i])
        sizes[widest] -= 1

    def line(values: list[str]) -> list[str]:
        parts = [wrap(v, sizes[i], hard=sizes[i] < floor[i]) if len(v) > sizes[i] else [v]
                 for i, v in enumerate(values)]
        height = max(len(p) for p in parts)
        out = []
        for k in range(height):
            text = []
            for i, p in enumerate(parts):
                value = p[k] if k < len(p) else ""
                text.append(value.rjust(sizes[i]) if columns[i] in NUMERIC else value.ljust(sizes[i]))
            out.append("  ".join(text).rstrip())
        return out

    lines = line(columns)
    lines.append("  ".join("-" * s for s in sizes))
    for row in cells:
        lines.extend(line(row))
    return lines


def tile_lines(tile: Tile) -> list[str]:
    """A tile in three or four lines: status, label and who; value against goal; what it counts."""
    so_far = " so far" if tile.row.in_progress else ""
    spark = " ".join(MARKS[NOT_IN_EFFECT] if r.status == NOT_IN_EFFECT else fmt_number(r.value, r.unit)
                     for r in tile.history[-6:])
    lines = wrap(f"{fmt_status(tile.status):<15} {clean(tile.label)} · {clean(tile.accountable)}", WIDTH, "  ")
    judged = (f"{tile.status} in {tile.row.period.label}" if tile.status == NOT_IN_EFFECT
              else f"{fmt_number(tile.row.value, tile.row.unit)} against {fmt_goal(tile.row)} in "
                   f"{tile.row.period.label}{so_far}")
    lines += wrap(f"{judged} · last periods {spark}", WIDTH, "      ")
    lines += wrap(f"counts {clean(tile.counts)}", WIDTH, "      ")
    if tile.behind:
        lines += wrap(behind_text(tile), WIDTH, "      ")
    return lines


def to_text(report: Report) -> str:
    tally = report.tally()
    lines = wrap(report.title, WIDTH)
    lines += wrap(" · ".join(f"{n} {status}" for status, n in tally.items() if n) + f" · policies "
                  f"{report.policy_hash}", WIDTH)
    for side, policies in report.sides():
        lines += ["", side.upper()]
        for title, tiles in policies:
            if len(report.tiles) > len(tiles):
                lines += wrap(clean(title), WIDTH, " ")
            for tile in tiles:
                lines += tile_lines(tile)
    for title, rows in sections(report):
        if not rows:
            continue
        lines += ["", title]
        lines += table(rows[:MAX_ROWS])
        if len(rows) > MAX_ROWS:
            lines.append(f"… and {len(rows) - MAX_ROWS:,} more (--format json lists all)")
    return "\n".join(lines) + "\n"


def render_text(report: Report) -> None:
    """Print the dashboard."""
    click.echo(to_text(report), nl=False)
