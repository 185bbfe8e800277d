"""Conditions translated to SQL give the engine's answer for every value a lead field can hold."""

from __future__ import annotations

import json
import random

import pytest

from sla_engine.engine.conditions import Compiler, Context
from sla_engine.engine.state import LeadState
from sla_engine.language.parser import parse_text
from sla_engine.language.policy_set import build_policy_set
from sla_engine.store.conditions import Names, Params, SqlConditions
from sla_engine.store.db import Store

CONDITIONS = [
    'region == "NA"', 'region != "NA"', 'region == "ä"', 'region in ["NA", "emea"]', 'region not in ["NA"]',
    "region is set", "region is missing", "flag", "not flag", "lead_score >= 70", "lead_score < 70",
    "lead_score == 70", "lead_score != 70", "lead_score > 69.5", "lead_score <= 90%", 'tags in ["x"]',
    'tags not in ["x"]', "tags is missing", "director_plus and lead_score >= 65",
    '(region == "NA" or lead_score <= 50) and not flag', 'region == "70"', 'region matches "^n"',
    "lead_score between 60 and 80", "fit >= 10", 'tier == "tier1"', 'tier != "tier1"',
]
VALUES = {
    "region": ["NA", "na", "EMEA", "ä", "Ä", "", None, 5, True, ["NA", "x"], [], "70"],  # no object: the engine raises
    "lead_score": [70, 70.0, "70", " 71 ", "abc", True, False, None, 69.5, [70], 95, 40, {}, "nan"],
    "flag": [True, False, "yes", "no", "TRUE", 1, 0, "", [], [1], None, 2.5, {}, {"a": 1}],
    "tags": [["x", "y"], ["X"], "x", [], None, [1], "y"],
    "seniority": ["director", "VP", "manager", None],
    "industry": ["Software", "software", None],
}
DEFINITIONS = """
define director_plus = seniority in ["director", "vp"]
score fit { +10 when industry == "Software" }
"""


def random_state(rng: random.Random) -> dict:
    state = {}
    for name, options in VALUES.items():
        if rng.random() < 0.85:  # else the field is absent
            state[name] = rng.choice(options)
    return state


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    text = DEFINITIONS + "".join(f"define c{i} = {c}\n" for i, c in enumerate(CONDITIONS))
    policy_set = build_policy_set([parse_text(text, "c.sla")], {"c.sla": text})
    store = Store(tmp_path_factory.mktemp("sql") / "s.db")
    rng = random.Random(20261116)
    states = {f"L{n}": random_state(rng) for n in range(400)}
    tiers = {lead: rng.choice(["tier1", "TIER1", "tier2", None]) for lead in states}
    store.conn.executemany("INSERT INTO leads (lead_id, state) VALUES (?, ?)",
                           [(lead, json.dumps(state)) for lead, state in states.items()])
    store.conn.execute("CREATE TEMP TABLE tiers (lead_id TEXT, tier TEXT)")
    store.conn.executemany("INSERT INTO tiers VALUES (?, ?)", tiers.items())
    return policy_set, store, states, tiers


@pytest.mark.parametrize("index", range(len(CONDITIONS)), ids=CONDITIONS)
def test_sql_condition_agrees_with_the_engine(world, index):
    policy_set, store, states, tiers = world
    expr = policy_set.definitions[f"c{index}"].expr
    q = SqlConditions(store, policy_set)
    ps = Params()
    names = Names(lead="l.lead_id", tier="t.tier", policy="NULL", window="NULL")
    sql = f"SELECT l.lead_id FROM leads l JOIN tiers t ON t.lead_id = l.lead_id WHERE {q.condition(ps, expr, names)}"
    by_sql = {row[0] for row in store.conn.execute(sql, ps)}
    compiled = Compiler(policy_set).condition(expr)
    by_engine = {
        lead for lead, state in states.items()
        if compiled(Context(state=LeadState(lead, fields=json.loads(json.dumps(state))),
                            extra={"tier": tiers[lead], "policy": None, "window": None}))
    }
    assert by_sql == by_engine, {lead: states[lead] for lead in by_sql ^ by_engine}


def test_the_common_forms_need_no_python():
    """Plain fields, tier and definitions over them run as SQL; scores and patterns call the engine."""
    text = DEFINITIONS + 'define d = director_plus and region in ["NA"] and lead_score >= 70 and tier == "t"\n'
    policy_set = build_policy_set([parse_text(text, "c.sla")], {"c.sla": text})
    q = SqlConditions.__new__(SqlConditions)
    q.policy_set = policy_set
    q.compiler = Compiler(policy_set)
    names = Names(lead="l.lead_id", tier="t.tier", policy="NULL", window="NULL")
    assert "sla_py" not in q.condition(Params(), policy_set.definitions["d"].expr, names)
