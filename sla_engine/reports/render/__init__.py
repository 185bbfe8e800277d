"""The dashboard's renderers, one module per format, over one Report (reports/dashboard.py).

Lead data (owners, sources, campaigns, rejection reasons, group values) comes from CRMs and
web forms, so every renderer treats it as hostile: text strips control characters; markdown
escapes | and the markdown specials; csv prefixes a cell that a spreadsheet would run as a
formula (= + - @ tab CR) with a single quote; html is rendered by Jinja2 with autoescaping and
is one self-contained file whose content security policy forbids fetching anything or running
script.
"""

from __future__ import annotations

from sla_engine.reports.dashboard import Report

FORMATS = ("text", "markdown", "json", "csv", "html")


def render(report: Report, output: str) -> str:
    """The report in one of FORMATS, as a string."""
    if output == "text":
        from sla_engine.reports.render.text import to_text

        return to_text(report)
    if output == "markdown":
        from sla_engine.reports.render.markdown import to_markdown

        return to_markdown(report)
    if output == "json":
        from sla_engine.reports.render.data import to_json

        return to_json(report)
    if output == "csv":
        from sla_engine.reports.render.data import to_csv

        return to_csv(report)
    if output == "html":
        from sla_engine.reports.render.html import to_html

        return to_html(report)
    raise ValueError(f"unknown format {output!r} (known: {', '.join(FORMATS)})")
