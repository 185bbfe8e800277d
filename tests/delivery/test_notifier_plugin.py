"""A notifier from a third party's package adds its channel: `via teams`, a contact's `teams` address, delivery.

The package is tests/third_party_notifier/sla-engine-teams, built and installed as pip would;
its posts go to a recording HTTP server on loopback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sla_engine import plugins
from sla_engine.delivery.deliver import deliver
from sla_engine.delivery.recipients import load_people
from tests.delivery.conftest import evaluated_store, make_policy_set
from tests.engine.test_evaluate import at

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def fresh_plugins():
    plugins.reset()
    yield
    plugins.reset()


def _env(site: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "SLA_ENGINE_LOAD_PLUGINS"}
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(ROOT), env.get("PYTHONPATH", "")])
    return env

TEAMS = ROOT / "tests" / "third_party_notifier" / "sla-engine-teams"

TEAMS_POLICY = """
contact sales_floor {
  name "Sales floor"
  teams env("TEST_TEAMS_URL")
}
policy inbound {
  window first_response {
    starts on assigned
    stops on activity by owner where direction == "outbound"
    goal 1h
    escalate on breach {
      notify sales_floor via teams
      notify owner via teams
    }
  }
}
"""


@pytest.fixture(scope="module")
def installed_teams(tmp_path_factory) -> Path:
    """tests/third_party_notifier/sla-engine-teams, built and installed as pip would (offline, into --target)."""
    target = tmp_path_factory.mktemp("teams-site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--no-build-isolation",
         "--target", str(target), str(TEAMS)],
        check=True, capture_output=True, text=True, timeout=180,
    )
    return target


def _check(policies: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sla_engine.cli", "check", str(policies)], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=60)


def test_a_notifier_plugin_adds_its_channel_and_a_contact_address_for_it(installed_teams, tmp_path):
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "inbound.sla").write_text(TEAMS_POLICY, encoding="utf-8")
    installed = _check(policies, _env(installed_teams))
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert "via teams: delivered by plugin teams" in installed.stderr

    without = _check(policies, {**_env(installed_teams), "SLA_ENGINE_LOAD_PLUGINS": "notify-email,notify-slack"})
    assert without.returncode == 1
    assert "unknown channel 'teams'" in without.stdout
    assert ("installed channels: email (plugin notify-email), slack (plugin notify-slack); a notifier plugin "
            "that registers 'teams' adds it") in without.stdout
    assert "'teams' is not an attribute of a contact" in without.stdout


def test_a_teams_notifier_in_its_own_package_delivers_via_teams_to_contacts_and_owners(installed_teams, receiver,
                                                                                      tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(installed_teams))
    plugins.reset()
    monkeypatch.setenv("TEST_TEAMS_URL", receiver.url + "/floor")
    people = tmp_path / "people.csv"
    people.write_text("id,name,teams\n"
                      f"rep0@example.com,Rep Zero,{receiver.url}/rep0\nrep1@example.com,Rep One,{receiver.url}/rep1\n",
                      encoding="utf-8")
    store = evaluated_store(tmp_path, leads=2, text=TEAMS_POLICY)
    with store.locked():
        report = deliver(make_policy_set(TEAMS_POLICY), store, at(17, 12), people=load_people(people),
                         print_messages=False)
    assert (report.sent, report.failed) == (4, 0), report
    assert sorted(post.path for post in receiver.posts) == ["/floor", "/floor", "/rep0", "/rep1"]
    card = receiver.posts[0].json
    assert card["type"] == "message"
    (attachment,) = card["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    texts = [block["text"] for block in attachment["content"]["body"]]
    assert any(r"Lead \<0\> & Co" in text or r"Lead \<1\> & Co" in text for text in texts), texts
    assert all(post.headers["idempotency-key"] for post in receiver.posts)
    with store.locked():
        again = deliver(make_policy_set(TEAMS_POLICY), store, at(17, 13), people=load_people(people),
                        print_messages=False)
    assert again.sent == 0 and len(receiver.posts) == 4
