"""Status counts are kept as instances are written, and always equal counting the instances."""

from __future__ import annotations

import sqlite3

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sla_engine.store.db import MIGRATIONS, Store

LEADS = ["L1", "L2", "L3"]
STATUSES = ["running", "met", "breached", "cancelled", "paused"]


def counted(store: Store) -> dict[tuple[str, str, str, str], int]:
    rows = store.conn.execute("SELECT policy, \"window\", coalesce(tier, '-'), status, count(*) "
                              "FROM window_instances GROUP BY 1, 2, 3, 4")
    return {(policy, window, tier, status): n for policy, window, tier, status, n in rows}


def instance(lead: str, window: str, cycle: int, tier: str | None, status: str, policy_hash: str,
             stopped: bool) -> dict:
    return {"key": f"{lead}|p|{window}|{cycle}", "lead_id": lead, "policy": "p", "window": window, "cycle": cycle,
            "tier": tier, "status": status, "started_at": "2026-10-01T09:00:00+00:00", "due_at": None,
            "stopped_at": "2026-10-01T10:00:00+00:00" if stopped else None, "breached_at": None,
            "warning_at": None, "cancelled_reason": None, "met_late": False, "goal": None, "calendar": None,
            "paused_seconds": 0, "paused_since": None, "policy_hash": policy_hash}


instances = st.builds(instance, st.sampled_from(LEADS), st.sampled_from(["w1", "w2"]), st.integers(1, 2),
                      st.sampled_from([None, "tier1", "tier2"]), st.sampled_from(STATUSES),
                      st.sampled_from(["h1", "h2"]), st.booleans())
# One run: for some leads, the instances their history now gives (an empty list withdraws the open ones).
runs = st.lists(st.dictionaries(st.sampled_from(LEADS), st.lists(instances, max_size=4)), min_size=1, max_size=6)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(runs)
def test_after_any_sequence_of_runs_the_kept_counts_equal_counting_the_instances(open_store, sequence):
    store = open_store()
    with store.transaction():  # each example starts from an empty store
        store.conn.execute("DELETE FROM window_instances")
        store.conn.execute("DELETE FROM status_counts")
    for run_id, judged in enumerate(sequence, start=1):
        by_lead = {lead: list({row["key"]: row for row in rows if row["lead_id"] == lead}.values())
                   for lead, rows in judged.items()}
        with store.transaction():
            store.instances.save(by_lead, run_id)
        assert store.instances.status_counts() == counted(store)
    assert 0 not in store.instances.status_counts().values()
    store.close()


def test_a_run_that_fails_leaves_the_counts_as_the_last_finished_run_left_them(open_store):
    store = open_store()
    with store.transaction():
        store.instances.save({"L1": [instance("L1", "w1", 1, "tier1", "running", "h1", False)]}, 1)
    before = store.instances.status_counts()
    try:
        with store.transaction():
            store.instances.save({"L1": [instance("L1", "w1", 1, "tier1", "breached", "h1", False)]}, 2)
            raise RuntimeError("crash mid-run")
    except RuntimeError:
        pass
    assert store.instances.status_counts() == before == {("p", "w1", "tier1", "running"): 1}
    store.close()


def test_a_store_from_before_the_counts_gets_them_counted_when_it_is_migrated(tmp_path):
    path = tmp_path / "store.db"
    before_counts = next(n for n, script in enumerate(MIGRATIONS) if "CREATE TABLE status_counts" in script)
    connection = sqlite3.connect(path)  # a store as the version before the counts left it
    for script in MIGRATIONS[:before_counts]:
        connection.executescript(script)
    rows = [instance(lead, "w1", 1, None, status, "h1", False)
            for lead, status in zip(LEADS, ["running", "breached", "running"], strict=True)]
    rows += [instance(lead, "w2", 1, "tier2", "met", "h1", True) for lead in LEADS]
    for row in rows:
        connection.execute(f"INSERT INTO window_instances ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                           list(row.values()))
    connection.execute(f"PRAGMA user_version = {before_counts}")
    connection.commit()
    connection.close()
    store = Store(path)
    assert store.version == len(MIGRATIONS)
    assert store.instances.status_counts() == counted(store) == {
        ("p", "w1", "-", "running"): 2, ("p", "w1", "-", "breached"): 1, ("p", "w2", "tier2", "met"): 3}
    store.close()
