"""The conformance kit fails each mistake a connector author makes, with a message that says what to fix.

tests/conformance_mistakes/sla-engine-mistakes holds a correct connector and copies of it with
one mistake each (a cursor that goes backwards, ids built from the person, naive datetimes, a
token declared as a plain string, statuses skipped, one result per batch, lead ids not
normalised). The package is installed as pip would install it and the kit runs on each
connector in its own pytest, exactly as a plugin author runs it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "tests" / "conformance_mistakes" / "sla-engine-mistakes"

RECORDS = [
    *({"id": f"p{n}", "kind": "person", "lead_id": f"L{n}", "owner": f"rep{n}@example.com",
       "at": f"2026-11-02T09:0{n}:00+01:00", "updated_at": f"2026-11-02T09:0{n}:00+01:00"} for n in range(1, 4)),
    *({"id": f"a{n}{k}", "kind": "activity", "lead_id": f"L{n}", "channel": "call", "by": f"rep{n}@example.com",
       "at": f"2026-11-02T1{k}:0{n}:00+01:00", "updated_at": f"2026-11-02T1{k}:0{n}:00+01:00"}
      for n in range(1, 4) for k in range(2)),
]
MESSY = [{**RECORDS[0], "lead_id": "\ufeffL1"}, {**RECORDS[1], "lead_id": " L2 "}, {**RECORDS[2], "lead_id": "L\x003"}]

KIT_TESTS = '''
import json
from datetime import datetime, timezone

import pytest

from sla_engine.conformance import ConnectorConformance

RECORDS = json.loads({records!r})
MESSY = json.loads({messy!r})


def options_for(tmp_path, records, token):
    path = tmp_path / "records.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    return {{"path": str(path), "api_token": token, "status_path": str(tmp_path / "status.jsonl")}}


class Kit(ConnectorConformance):
    @pytest.fixture
    def until(self):
        return datetime(2026, 11, 3, tzinfo=timezone.utc)

    @pytest.fixture
    def options(self, tmp_path, monkeypatch):
        monkeypatch.setenv("MISTAKES_TOKEN", "test-token")
        return options_for(tmp_path, RECORDS, {{"env": "MISTAKES_TOKEN"}})

    @pytest.fixture
    def messy_options(self, tmp_path, monkeypatch):
        monkeypatch.setenv("MISTAKES_TOKEN", "test-token")
        return options_for(tmp_path, MESSY, {{"env": "MISTAKES_TOKEN"}})
'''

CLASSES = {"good": "Good", "cursor-backwards": "CursorBackwards", "ids-from-person": "IdsFromPerson",
           "naive-datetimes": "NaiveDatetimes", "knows-one-status": "KnowsOneStatus",
           "one-result-per-batch": "OneResultPerBatch", "raw-rows": "RawRows"}

PLAIN_SECRET = '''

class TestPlainSecret(Kit):
    connector_type = "plain-secret"

    @pytest.fixture
    def options(self, tmp_path):
        return options_for(tmp_path, RECORDS, "test-token")

    @pytest.fixture
    def messy_options(self):
        return None
'''


@pytest.fixture(scope="module")
def kit_results(tmp_path_factory) -> dict[str, dict[str, tuple[str, str]]]:
    """connector type → test name → (outcome, message), from one pytest run of the kit over every connector."""
    work = tmp_path_factory.mktemp("kit")
    site = work / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                    "--no-build-isolation", "--target", str(site), str(PACKAGE)],
                   check=True, capture_output=True, text=True, timeout=180)
    module = KIT_TESTS.format(records=json.dumps(RECORDS), messy=json.dumps(MESSY))
    module += "".join(f"\n\nclass Test{cls}(Kit):\n    connector_type = {name!r}\n" for name, cls in CLASSES.items())
    module += PLAIN_SECRET
    (work / "test_kit.py").write_text(textwrap.dedent(module), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "SLA_ENGINE_LOAD_PLUGINS"}
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(ROOT), env.get("PYTHONPATH", "")])
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--junitxml", "kit.xml",
                    "test_kit.py"], capture_output=True, text=True, env=env, cwd=work, timeout=300)
    names = {f"Test{cls}": name for name, cls in {**CLASSES, "plain-secret": "PlainSecret"}.items()}
    results: dict[str, dict[str, tuple[str, str]]] = {name: {} for name in names.values()}
    for case in ET.parse(work / "kit.xml").getroot().iter("testcase"):
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            found = case.find(tag)
            if found is not None:
                outcome, message = tag, (found.get("message") or "") + (found.text or "")
        results[names[case.get("classname", "").rsplit(".", 1)[-1]]][case.get("name", "")] = (outcome, message)
    return results


def failed(results: dict[str, tuple[str, str]]) -> dict[str, str]:
    return {name: message for name, (outcome, message) in results.items() if outcome in ("failure", "error")}


def test_a_correct_connector_passes_every_check(kit_results):
    good = kit_results["good"]
    assert len(good) >= 17 and failed(good) == {}
    skipped = {name for name, (outcome, _) in good.items() if outcome == "skipped"}
    assert skipped == {"test_escalation_actions_get_one_result_each_and_name_what_they_cannot_do"}  # it takes none


@pytest.mark.parametrize(("connector", "check", "fix"), [
    ("cursor-backwards", "test_cursors_never_go_backwards", "went backwards"),
    ("cursor-backwards", "test_a_second_pull_from_the_returned_cursors_reads_nothing_again",
     "read 9 of 9 events again"),
    ("ids-from-person", "test_no_two_facts_share_an_event_id", "Build each id from the remote record's own identity"),
    ("ids-from-person", "test_a_second_sync_stores_no_new_event", "two facts share an event id"),
    ("naive-datetimes", "test_readable_test_data_gives_no_rejections", "a datetime without a time zone?"),
    ("plain-secret", "test_credentials_are_declared_as_secrets", "declare `api_token: Secret`"),
    ("knows-one-status", "test_push_writes_every_status_and_answers_each_update_once", "was skipped"),
    ("one-result-per-batch", "test_a_repeated_push_sends_nothing", "must answer each update exactly once"),
    ("raw-rows", "test_messy_lead_ids_are_cleaned_or_their_records_rejected", "use normalize_identifier"),
])
def test_each_mistake_fails_the_kit_with_what_to_fix(kit_results, connector, check, fix):
    failures = failed(kit_results[connector])
    assert check in failures, f"{connector} passed {check}; failures: {sorted(failures)}"
    assert fix in failures[check], failures[check]


def test_each_mistake_fails_only_the_checks_about_it(kit_results):
    expected = {
        "cursor-backwards": {"test_cursors_never_go_backwards",
                             "test_a_second_pull_from_the_returned_cursors_reads_nothing_again"},
        "ids-from-person": {"test_no_two_facts_share_an_event_id", "test_a_second_sync_stores_no_new_event"},
        "plain-secret": {"test_credentials_are_declared_as_secrets"},
        "knows-one-status": {"test_push_writes_every_status_and_answers_each_update_once"},
        "one-result-per-batch": {"test_a_repeated_push_sends_nothing"},
        "raw-rows": {"test_messy_lead_ids_are_cleaned_or_their_records_rejected"},
    }
    for connector, checks in expected.items():
        assert set(failed(kit_results[connector])) == checks, connector
    assert "test_readable_test_data_gives_no_rejections" in failed(kit_results["naive-datetimes"])
