"""The dashboard in every format: right numbers, status marks, and lead data that stays data."""

from __future__ import annotations

import csv
import io
import json
from html.parser import HTMLParser

import pytest

from sla_engine.reports.dashboard import build_report
from sla_engine.reports.render import render
from sla_engine.reports.render.data import csv_safe
from sla_engine.reports.render.html import to_html
from sla_engine.reports.render.markdown import md_escape
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
    assert "[red]" in text and "[/red]" in text  # the lead's data is printed as typed, never read as markup
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


SAFE_TAGS = {"html", "head", "meta", "title", "style", "body", "main", "section", "details", "summary", "h1", "h2",
             "h3", "p", "table", "thead", "tbody", "tr", "th", "td", "span", "div", "svg", "line", "rect"}


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

    policies, store = build_store(tmp_path / "s.db")
    with store.transaction():  # the dataset names owners by email: here the CRM user ana@ has that id
        store.owners.replace("crm", [Owner("ana@example.com", "ana@example.com", "Ana Ruiz"),
                                      Owner("00G1", None, "Inbound", kind="queue")])
    report = build_report(policies, store, AS_OF, "2026-W47")
    store.close()
    assert {o.owner for o in report.owners} == {"Ana Ruiz", "ben@example.com"}


def test_one_tile_per_commitment_with_its_person_its_history_and_what_it_counts(report):
    tiles = {tile.target: tile for tile in report.tiles}
    assert set(tiles) == {"mqls", "contact", "speed", "acceptance", "enrichment"}
    mqls = tiles["mqls"]
    assert (mqls.side, mqls.accountable, mqls.status) == ("Marketing", "Dana Whitfield, Chief Revenue Officer",
                                                          "on target")
    assert mqls.counts == "6 leads entered mql in 2026-W47"
    assert [r.period.label for r in mqls.history][-2:] == ["2026-W46", "2026-W47"] and len(mqls.history) == 8
    assert tiles["acceptance"].accountable == "-" and tiles["acceptance"].side == "Joint"
    contact = tiles["contact"]  # grouped by owner: the tile is everyone together, the reps behind listed
    assert contact.row.group == () and contact.row.value == 60.0
    assert contact.counts == "3 of 5 first_response clocks due in 2026-W47 were met"
    assert {row.group for row in contact.behind} == {(("owner", "ben@example.com"),)}
    assert [side for side, _ in report.sides()] == ["Marketing", "Sales", "Joint"]
    assert report.tally() == {status: sum(t.status == status for t in report.tiles)
                              for status in ("on target", "at risk", "missed", "no data", "not in effect")}


def test_a_count_in_progress_is_judged_against_its_share_of_the_goal_everywhere(tmp_path):
    from datetime import datetime, timezone

    from sla_engine.reports.render.cells import fmt_goal

    policies, store = build_store(tmp_path / "p.db", extra=hostile())
    try:  # Wednesday noon of week 47: 6 MQLs against a weekly 4, pro-rated to 1.43
        mid_week = datetime(2026, 11, 18, 17, 0, tzinfo=timezone.utc)
        result = build_report(policies, store, mid_week)
    finally:
        store.close()
    mqls = next(tile for tile in result.tiles if tile.target == "mqls")
    assert mqls.row.in_progress and mqls.row.goal_value == 4 and 1.42 < mqls.row.expected < 1.43
    assert fmt_goal(mqls.row) == "≥ 4 (≥ 1 by now)"
    assert mqls.history[-1].expected == mqls.row.expected  # the sparkline judges the week the same way
    assert "≥ 4 (≥ 1 by now)" in render(result, "text") and "≥ 4 (≥ 1 by now)" in render(result, "html")


def test_text_fits_100_columns_without_breaking_a_word(report):
    text = render(report, "text")
    for line in text.splitlines():
        assert len(line) <= 100, line
    assert "ben@example.com" in text.split()  # an e-mail address stays whole
    assert "Contacted within the window" in text


def test_a_policy_not_yet_in_effect_shows_grey_tiles_that_say_so_in_every_format(tmp_path):
    from tests.reports.dataset import POLICY

    text = POLICY.replace('policy inbound {\n  timezone "America/New_York"\n',
                          'policy inbound {\n  timezone "America/New_York"\n  effective 2026-11-23\n')
    policies, store = build_store(tmp_path / "e.db", text)
    try:
        result = build_report(policies, store, AS_OF, "2026-W47")  # the week before the date
    finally:
        store.close()
    assert {str(tile.status) for tile in result.tiles} == {"not in effect"}
    assert result.tally()["not in effect"] == len(result.tiles) and result.tally()["missed"] == 0
    mqls = next(tile for tile in result.tiles if tile.target == "mqls")
    assert [str(row.status) for row in mqls.history][-2:] == ["not in effect", "not in effect"]
    assert mqls.counts == "not in effect: the policy takes effect on 2026-11-23; nothing is owed before"
    lines = render(result, "text").splitlines()
    assert all(len(line) <= 100 for line in lines)
    assert any(line.startswith("  – not in effect MQLs delivered") for line in lines), lines
    assert any(line.strip().startswith("not in effect in 2026-W47 · last periods – –") for line in lines), lines
    page = render(result, "html")
    assert 'class="tile s-not-in-effect"' in page and '<span class="status">not in effect</span>' in page
    assert "2026-W47: - (goal -, not in effect)" in page  # the sparkline's bar says it in words too
    assert "not in effect" in render(result, "markdown") and '"not in effect"' in render(result, "json")
