"""The dashboard in every format: right numbers, status marks, and lead data that stays data."""

from __future__ import annotations

import csv
import io
import json
from html.parser import HTMLParser

import pytest

from sla_engine.reports.dashboard import build_report, csv_safe, md_escape, render, to_html
from tests.reports.dataset import (
    AS_OF,
    HOSTILE_OWNER,
    HOSTILE_REASON,
    HOSTILE_SOURCE,
    build_store,
    hostile,
)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    policies, store = build_store(tmp_path_factory.mktemp("dashboard") / "s.db", extra=hostile())
    result = build_report(policies, store, AS_OF, "2026-W47")
    store.close()
    return result


def test_the_model_holds_targets_trends_owners_and_reasons(report):
    statuses = {(row.target, row.group_label): row.status for row in report.targets}
    assert statuses[("mqls", "")] == "on target"  # 6 MQLs with H
    assert statuses[("acceptance", "")] == "missed"
    assert [t.target for t in report.trends] == ["mqls", "contact", "speed", "acceptance", "enrichment"]
    mqls = next(t for t in report.trends if t.target == "mqls")
    assert [row.period.label for row in mqls.rows][-3:] == ["2026-W45", "2026-W46", "2026-W47"]
    assert [row.value for row in mqls.rows][-3:] == [0, 0, 6]
    contact = next(t for t in report.trends if t.target == "contact")
    assert contact.rows[-1].group == () and contact.rows[-1].value == 60.0  # all owners: A, B, H of A-D, H
    assert {o.owner for o in report.owners} == {"ana@example.com", "ben@example.com", HOSTILE_OWNER}
    assert dict(report.rejections) == {"bad fit": 1, "(no reason)": 1, HOSTILE_REASON: 1}
    assert set(report.speed) == {"tier1", "tier2"}
    names = {line.name for line in report.metrics}
    assert {"MQLs delivered", "Acceptance rate", "Speed to lead (median)", "Speed to lead (p90)",
            "Contacted within the window", "Attempts per MQL", "Channels per MQL", "Feedback completion",
            "MQL → SQL", "SQL → opportunity", "Pipeline from SLA-covered leads", "Revenue from SLA-covered leads",
            "Enrichment completeness", "Rejections with a reason"} <= names


def test_text_is_the_documents_dashboard_and_shows_markup_as_typed(report):
    text = render(report, "text")
    for column in ("Metric", "Target", "Current", "Status", "Owner"):
        assert column in text
    assert "✅ on target" in text and "❌ missed" in text
    assert "[red]rep[/red]" in text  # rich did not read the lead's data as markup
    assert "MQLs delivered" in text and "≥ 4" in text


def test_markdown_escapes_pipes_and_markup(report):
    text = render(report, "markdown")
    columns = None
    for line in text.splitlines():
        if not line.startswith("|"):
            columns = None
            continue
        cells = line.replace("\\|", "").count("|")
        columns = columns or cells  # the header row sets the width of its table
        assert cells == columns, line  # lead data never splits a cell
    assert "<script>" not in text and "<img" not in text
    assert "&lt;script&gt;" in text and "\\|\\[red\\]rep\\[/red\\]" in text
    assert md_escape("a|b*c_d`e<f>") == "a\\|b\\*c\\_d\\`e&lt;f&gt;"


def test_csv_cells_never_start_a_formula(report):
    rows = list(csv.reader(io.StringIO(render(report, "csv"))))
    header, body = rows[0], rows[1:]
    assert header == ["section", "name", "group", "period", "target", "current", "value", "unit", "status",
                      "owner", "sample"]
    for row in body:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), row
    reasons = {row[1]: row[6] for row in body if row[0] == "rejection reasons"}
    assert reasons == {"'" + HOSTILE_REASON: "1", "bad fit": "1", "(no reason)": "1"}
    assert csv_safe("=1+1") == "'=1+1" and csv_safe("-5") == "'-5" and csv_safe("\tx") == "'\tx"
    assert csv_safe("@x") == "'@x" and csv_safe("+x") == "'+x" and csv_safe("\rx") == "'\rx"
    assert csv_safe("ok") == "ok" and csv_safe(None) == ""


def test_json_is_the_whole_model(report):
    data = json.loads(render(report, "json"))
    assert data["period"] == "2026-W47" and data["period_start"] == "2026-11-16T05:00:00+00:00"
    mqls = next(t for t in data["targets"] if t["target"] == "mqls")
    assert (mqls["value"], mqls["status"], mqls["goal"]["op"]) == (6, "on target", ">=")
    assert {"trends", "owners", "rejection_reasons", "speed_to_lead_distribution", "metrics"} <= set(data)


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attributes: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attributes.update(name for name, _ in attrs)

    def handle_data(self, data):
        self.text.append(data)


SAFE_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "table", "thead", "tbody", "tr",
             "th", "td", "span", "div", "figure", "figcaption", "svg", "line", "rect", "text"}


def test_html_is_self_contained_and_every_piece_of_lead_data_is_escaped(report):
    page = to_html(report)
    parser = Tags()
    parser.feed(page)
    assert parser.tags <= SAFE_TAGS  # no script, img, link, iframe, object: nothing fetched, nothing run
    assert not {a for a in parser.attributes if a.startswith("on") or a in ("src", "href", "srcset", "action")}
    assert "default-src 'none'" in page
    text = "".join(parser.text)
    for value in (HOSTILE_OWNER, HOSTILE_REASON, HOSTILE_SOURCE.split(",")[0]):
        assert value in text  # shown to the reader as text
    assert "<script" not in page.lower().replace("&lt;script", "")
    assert 'class="dashboard"' in page and "<svg" in page


def test_owners_synced_from_a_crm_show_as_people(tmp_path):
    from sla_engine.connector import Owner
    from sla_engine.store import owners

    policies, store = build_store(tmp_path / "s.db")
    with store.transaction():  # the dataset names owners by email: here the CRM user ana@ has that id
        owners.replace(store, "crm", [Owner("ana@example.com", "ana@example.com", "Ana Ruiz"),
                                      Owner("00G1", None, "Inbound", kind="queue")])
    report = build_report(policies, store, AS_OF, "2026-W47")
    store.close()
    assert {o.owner for o in report.owners} == {"Ana Ruiz", "ben@example.com"}
