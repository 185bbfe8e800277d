"""The dashboard as HTML, from Jinja2 templates the live server (sla_engine/web) shares.

Jinja2 escapes every value (autoescape on for every template); the few fragments built here
(sparklines, bars) escape their text with markupsafe before they are marked safe. The static
page is one self-contained file: no script, nothing fetched, for e-mail and archives.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jinja2 import ChoiceLoader, Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from sla_engine.engine.targets import AT_RISK, MISSED, NO_DATA, NOT_IN_EFFECT, ON_TARGET, TargetRow
from sla_engine.reports.dashboard import Report, Tile
from sla_engine.reports.render import cells

COLORS = {ON_TARGET: "#2e7d32", AT_RISK: "#d99a00", MISSED: "#c62828", NO_DATA: "#9e9e9e", NOT_IN_EFFECT: "#b0bec5"}
STATIC_CSP = Markup("default-src 'none'; style-src 'unsafe-inline'; img-src data:")


def environment(*extra: Any) -> Environment:
    """Templates from the report package (and any extra loaders, e.g. the web server's), autoescaped."""
    env = Environment(
        loader=ChoiceLoader([*extra, PackageLoader("sla_engine.reports", "templates")]),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True, lstrip_blocks=True,
    )
    env.globals.update(
        fmt_number=cells.fmt_number, fmt_goal=cells.fmt_goal, fmt_status=cells.fmt_status,
        fmt_period=cells.fmt_period, fmt_duration=cells.fmt_duration, behind_text=cells.behind_text,
        clean=cells.clean, sections=cells.sections, spark_svg=spark_svg, status_class=status_class,
        marks=cells.MARKS, owner_cells=cells.owner_cells, metric_cells=cells.metric_cells,
        rejection_cells=cells.rejection_cells,
    )
    env.filters.update(clean=cells.clean, metric_cells=cells.metric_cells, owner_cells=cells.owner_cells)
    return env


def status_class(status: str) -> str:
    return "s-" + status.replace(" ", "-")


def spark_svg(tile: Tile, width: int = 96, height: int = 34) -> Markup:
    """The target's last periods as bars coloured by status, its goal as a dashed line."""
    rows: list[TargetRow] = tile.history
    if not rows:
        return Markup("")
    values = [r.value for r in rows if r.value is not None]
    goals = [r.goal_value for r in rows if r.goal_value is not None]
    peak = max([*values, *goals, 100.0 if tile.row.unit == "percent" else 1.0]) * 1.08
    step = width / len(rows)
    parts = [f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{escape(tile.label)}: last {len(rows)} periods">']
    for i, row in enumerate(rows):
        x = i * step + step * 0.15
        tip = escape(f"{row.period.label}: {cells.fmt_number(row.value, row.unit)} "
                     f"(goal {cells.fmt_goal(row)}, {row.status})")
        if row.value is None:
            parts.append(f'<rect x="{x:.1f}" y="{height - 2}" width="{step * 0.7:.1f}" height="2" fill="#cfd6dd">'
                         f"<title>{tip}</title></rect>")
            continue
        h = max((height - 2) * row.value / peak, 1.5)
        parts.append(f'<rect x="{x:.1f}" y="{height - h:.1f}" width="{step * 0.7:.1f}" height="{h:.1f}" '
                     f'fill="{COLORS[row.status]}"><title>{tip}</title></rect>')
    if goals:
        y = height - (height - 2) * goals[-1] / peak
        parts.append(f'<line x1="0" y1="{y:.1f}" x2="{width}" y2="{y:.1f}" stroke="#1d232b" stroke-width="1" '
                     'stroke-dasharray="3 2"/>')
    parts.append("</svg>")
    return Markup("".join(parts))


def render_page(template: str, links: Callable[..., str | None] | None = None, env: Environment | None = None,
                **context: Any) -> str:
    """A page from a template; `links(kind, **ids)` gives hrefs on the live server, None in a static file."""
    env = env or environment()
    return env.get_template(template).render(links=links or (lambda *a, **k: None), csp=STATIC_CSP, **context)


def to_html(report: Report) -> str:
    """One self-contained page: no script, nothing fetched, every piece of data escaped."""
    return render_page("dashboard.html", report=report, live=False)
