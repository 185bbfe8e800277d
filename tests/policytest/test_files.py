"""Reading test files: times in local wall-clock, table rows as tests, and errors a reader can find."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from sla_engine.policytest.files import TestFileError, load_test_file, policies_for
from tests.policytest.helpers import write

NY = ZoneInfo("America/New_York")

BASIC = """
timezone = "America/New_York"

[lead]
seniority = "director"

[[case]]
name = "tier 1 lead"
as_of = "2026-11-20 17:00"
lead = { lead_score = 90 }
events = [
  { at = "2026-11-20 16:30", type = "created" },
  { at = "2026-11-20T21:32:00Z", type = "assigned", owner = "rep@example.com" },
  { at = 2026-11-20T16:40:00, type = "activity", channel = "call", by = "rep@example.com" },
]
[case.expect]
stages = ["mql"]
[case.expect.first_response]
tier = "tier1"
due = "2026-11-23 10:30"
"""


def problems(path: Path) -> list[str]:
    with pytest.raises(TestFileError) as caught:
        load_test_file(path)
    return [str(p) for p in caught.value.problems]


def test_local_times_offsets_and_toml_datetimes_all_read_as_instants(project):
    (case,) = load_test_file(write(project, BASIC)).cases
    assert case.as_of == datetime(2026, 11, 20, 17, tzinfo=NY)
    assert [e.at.astimezone(timezone.utc).strftime("%H:%M") for e in case.events] == ["21:30", "21:32", "21:40"]
    assert case.events[0].payload == {"attributes": {"seniority": "director", "lead_score": 90}}
    assert case.events[2].payload == {"channel": "call", "by": "rep@example.com"}
    (window,) = case.windows
    assert (window.key, window.cycle, window.fields["due"]) == ("first_response", 1, datetime(2026, 11, 23, 10, 30,
                                                                                              tzinfo=NY))
    assert case.stages is not None and case.stages.entered == ["mql"]


def test_the_policies_are_the_nearest_directory_above_that_holds_sla_files(project):
    path = write(project, BASIC)
    assert policies_for(path) == (project / "policies").resolve()
    assert load_test_file(path).policies == (project / "policies").resolve()


def test_each_row_of_a_table_is_a_named_case_that_refines_the_case(project):
    text = """
timezone = "UTC"
[[case]]
name = "tiers"
as_of = "2026-11-20 17:00"
lead = { seniority = "director" }
events = [{ at = "2026-11-20 16:30", type = "created" }]
expect.first_response = { status = "running" }
[[case.rows]]
name = "high score"
lead = { lead_score = 90 }
expect.first_response.tier = "tier1"
[[case.rows]]
lead = { lead_score = 70 }
events = [{ at = "2026-11-20 16:45", type = "activity", channel = "call" }]
expect.first_response = { tier = "tier2" }
"""
    first, second = load_test_file(write(project, text)).cases
    assert (first.title, second.title) == ("tiers [high score]", "tiers [lead_score=70]")
    assert first.windows[0].fields == {"status": "running", "tier": "tier1"}
    assert second.windows[0].fields == {"status": "running", "tier": "tier2"}
    assert second.events[0].payload["attributes"] == {"seniority": "director", "lead_score": 70}
    assert [e.type for e in second.events] == ["created", "activity"]


def test_a_window_expected_as_an_array_checks_each_cycle(project):
    text = BASIC.replace('[case.expect.first_response]\ntier = "tier1"\ndue = "2026-11-23 10:30"\n',
                         '[[case.expect.first_response]]\nstatus = "met"\n[[case.expect.first_response]]\n'
                         'status = "running"\n')
    (case,) = load_test_file(write(project, text)).cases
    assert [(w.cycle, w.fields["status"]) for w in case.windows] == [(1, "met"), (2, "running")]


@pytest.mark.parametrize(("change", "line", "message"), [
    (('channel = "call"', 'chanel = "call"'), 14,
     "events[3]: unknown key 'chanel' for an event of type activity (did you mean 'channel'?)"),
    (('as_of = "2026-11-20 17:00"', 'as_of = "2026-11-20"'), 9, None),
    (('type = "created"', 'type = "create"'), 12, "unknown event type 'create' (did you mean 'created'?)"),
    (('tier = "tier1"', 'tier = "tier1"\nstatus = "done"'), 20, "unknown status 'done'"),
    (('timezone = "America/New_York"', 'timezone = "America/Gotham"'), 2, "unknown time zone 'America/Gotham'"),
    (('due = "2026-11-23 10:30"', 'due = "2026-03-08 02:30"'), 20, "does not exist in America/New_York"),
])
def test_problems_name_the_file_line_case_and_key(project, change, line, message):
    path = write(project, BASIC.replace(*change))
    (problem,) = problems(path)
    assert problem.startswith(f"{path}:{line}: ")
    if "timezone" not in change[0]:
        assert "case 'tier 1 lead'" in problem
    assert message is None or message in problem


@pytest.mark.parametrize(("change", "line", "message"), [
    (('tier = "tier1"', 'tier = "tier1"\ncycle = 0'), 20, "first_response.cycle must be a whole number from 1"),
    (('tier = "tier1"', 'tier = "tier1"\nmet_late = "yes"'), 20, "first_response.met_late must be true or false"),
    (('tier = "tier1"', 'tierr = "tier1"'), 19,
     "unknown key 'tierr' in the expectations of first_response (did you mean 'tier'?)"),
    (('as_of = "2026-11-20 17:00"', 'as-of = "2026-11-20 17:00"'), 9,
     "unknown key 'as-of' in a case (did you mean 'as_of'?)"),
    (('lead = { lead_score = 90 }', "lead = 90"), 10, "lead must be a table, e.g. lead = { ... }"),
    (('type = "assigned", owner', 'type = "assigned", lead_id = "", owner'), 13,
     "events[2].lead_id must be a non-empty text"),
    (('due = "2026-11-23 10:30"', 'due = "2026-11-23 10:30"\n[case.expect.targets.contact]\nsample = 1.5'), 22,
     "targets.contact.sample must be a whole number"),
    (('stages = ["mql"]', 'stages = { mql = "2026-11-20" }'), 17,
     "stages.mql: 2026-11-20 is a date; give a time of day too"),
])
def test_each_tables_shape_is_checked_and_said_in_the_files_words(project, change, line, message):
    path = write(project, BASIC.replace(*change))
    (problem,) = problems(path)
    assert problem.startswith(f"{path}:{line}: case 'tier 1 lead': ")
    assert message in problem


def test_an_instant_without_offset_needs_a_zone(project):
    found = problems(write(project, BASIC.replace('timezone = "America/New_York"\n', "")))
    assert len(found) == 4  # as_of, the two events without offset and the expected due: every one
    assert all("has no offset; set timezone" in problem for problem in found)


def test_every_mistake_in_one_case_is_reported_at_once(project):
    text = (BASIC.replace('type = "created"', 'type = "create"').replace('channel = "call"', 'chanel = "call"')
            .replace('tier = "tier1"', 'tier = "tier1"\nstatus = "done"'))
    found = problems(write(project, text))
    assert [problem.split(": ", 2)[0].rsplit(":", 1)[1] for problem in found] == ["12", "14", "20"]
    assert "unknown event type 'create'" in found[0]
    assert "unknown key 'chanel'" in found[1]
    assert "unknown status 'done'" in found[2]


def test_every_bad_case_is_reported_at_once(project):
    text = BASIC + '\n[[case]]\nname = "second"\n\n[[case]]\nas_of = "2026-11-20 17:00"\n'
    found = problems(write(project, text))
    assert len(found) == 2
    assert "case 'second': needs as_of" in found[0]
    assert "case 3: name must be a non-empty text" in found[1]


def test_invalid_toml_reports_its_line(project):
    (problem,) = problems(write(project, BASIC.replace("[[case]]", "[[case]", 1)))
    assert ":7: not valid TOML" in problem


def test_lead_attributes_need_a_created_event(project):
    text = BASIC.replace('{ at = "2026-11-20 16:30", type = "created" },', "")
    (problem,) = problems(write(project, text))
    assert "lead attributes need a created event" in problem


def test_duplicate_row_names_are_an_error(project):
    text = """
timezone = "UTC"
[[case]]
name = "dup"
as_of = "2026-11-20 17:00"
events = [{ at = "2026-11-20 16:30", type = "created" }]
rows = [{ name = "a" }, { name = "a" }]
"""
    (problem,) = problems(write(project, text))
    assert "two rows are named 'a'" in problem


def test_the_files_lead_table_is_every_leads_defaults_and_the_cases_lead_its_own(project):
    text = """
timezone = "UTC"
[lead]
region = "NA"
[[case]]
name = "two leads"
as_of = "2026-11-20 17:00"
lead = { lead_score = 90 }
events = [
  { at = "2026-11-20 16:30", type = "created" },
  { at = "2026-11-20 16:30", type = "created", lead_id = "other", region = "EMEA" },
]
[case.expect.targets]
contact_rate = [{ period = "2026-W47", value = "50%" }, { escalations = ["when missed 2 periods: notify cro"] }]
"""
    (case,) = load_test_file(write(project, text)).cases
    assert [e.payload["attributes"] for e in case.events] == [{"region": "NA", "lead_score": 90},
                                                              {"region": "EMEA"}]
    assert [(t.period, t.fields) for t in case.targets] == [
        ("2026-W47", {"value": "50%"}), (None, {"escalations": ["when missed 2 periods: notify cro"]})]
