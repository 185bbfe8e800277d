"""docs/connectors.md and docs/plugins.md hold the reference of every type a plugin author touches, as coded."""

from __future__ import annotations

from pathlib import Path

import pytest

from sla_engine import plugin_docs

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("section", plugin_docs.SECTIONS, ids=lambda s: s.document)
def test_the_reference_section_is_what_the_code_says(section):
    held = plugin_docs.current((ROOT / section.document).read_text(encoding="utf-8"))
    assert held is not None, f"{section.document} lost its generated reference section"
    assert held == plugin_docs.generated(section), (
        f"{section.document}'s reference is stale: run `python -m sla_engine.plugin_docs` and commit the result")


def test_every_type_a_plugin_author_touches_is_in_the_reference():
    documented = {dotted.rsplit(".", 1)[1] for section in plugin_docs.SECTIONS for dotted in section.types}
    assert {"Connector", "ConnectorConfig", "Secret", "Cursor", "PullResult", "Rejection", "LeadEvent", "EventRow",
            "EventType", "StatusUpdate", "TaskRequest", "OwnerChange", "FieldChange", "PushResult",
            "ConnectorConformance", "Message", "Item"} <= documented


def test_a_field_its_docstring_and_an_enumerations_values_are_rendered():
    text = plugin_docs.describe("sla_engine.connector.StatusUpdate")
    assert "| `window` | `str` | required | The window's name" in text
    assert "One of: `running`, `paused`, `met`, `breached`, `cancelled`, `not_applicable`." in text
    assert "`created`, `updated`" in plugin_docs.describe("sla_engine.events.EventType")
    kit = plugin_docs.describe("sla_engine.conformance.ConnectorConformance")
    assert "- `until() -> datetime`: The run's start" in kit and "- `test_no_two_facts_share_an_event_id`" in kit


def test_a_stale_section_is_rewritten_and_the_rest_of_the_document_kept(tmp_path):
    section = plugin_docs.SECTIONS[1]
    document = tmp_path / section.document
    document.parent.mkdir(parents=True)
    document.write_text(f"# Intro\n\n{plugin_docs.BEGIN}\nold text\n{plugin_docs.END}\n\nAfter.\n", encoding="utf-8")
    (tmp_path / plugin_docs.SECTIONS[0].document).write_text(plugin_docs.generated(plugin_docs.SECTIONS[0]),
                                                            encoding="utf-8")
    assert plugin_docs.rewrite(tmp_path) == [section.document]
    text = document.read_text(encoding="utf-8")
    assert text.startswith("# Intro\n\n") and text.endswith("\n\nAfter.\n") and "old text" not in text
    assert plugin_docs.rewrite(tmp_path) == []
