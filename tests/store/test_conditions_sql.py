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
from sla_engine.store.json_sql import FOLDED_TO_ASCII, PostgresJson, SqliteJson

CONDITIONS = [
    'region == "NA"', 'region != "NA"', 'region == "ä"', 'region in ["NA", "emea"]', 'region not in ["NA"]',
    "region is set", "region is missing", "flag", "not flag", "lead_score >= 70", "lead_score < 70",
    "lead_score == 70", "lead_score != 70", "lead_score > 69.5", "lead_score <= 90%", 'tags in ["x"]',
    'tags not in ["x"]', "tags is missing", "director_plus and lead_score >= 65",
    '(region == "NA" or lead_score <= 50) and not flag', 'region == "70"', 'region matches "^n"',
    "lead_score between 60 and 80", "fit >= 10", 'tier == "tier1"', 'tier != "tier1"',
    'region == "ss"', 'region in ["k", "fi", "s"]', 'region != "ss"', 'tags in ["ss"]', 'tier == "tïer"',
    'tier in ["tier1", "k"]', "lead_score > 0",
]
VALUES = {  # no object for region: the engine raises
    "region": ["NA", "na", "EMEA", "ä", "Ä", "", None, 5, True, ["NA", "x"], [], "70", "ß", "SS", "ẞ", "ſ", "K",
               "ﬁ", "İ", "Na\u0130"],
    "lead_score": [70, 70.0, "70", " 71 ", "abc", True, False, None, 69.5, [70], 95, 40, {}, "nan", "1_000", "7e1",
                   "+70", ".5", "70.", "Infinity", "70.0000000000000001", "\u0667\u0660", 1e308, -0.0, "\t70\n",
                   "1" + "0" * 400],
    "flag": [True, False, "yes", "no", "TRUE", 1, 0, "", [], [1], None, 2.5, {}, {"a": 1}, "Yeſ", -0.0],
    "tags": [["x", "y"], ["X"], "x", [], None, [1], "y", ["SS"], ["ß"]],
    "seniority": ["director", "VP", "manager", None],
    "industry": ["Software", "software", None],
}
TIERS = ["tier1", "TIER1", "tier2", None, "tïer", "TÏER", "K", ""]
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


def test_sql_conditions_agree_with_the_engine(open_store, monkeypatch):
    """Every condition over 600 generated leads, on both stores: the leads SQL selects are the engine's.
    On PostgreSQL what is judged in Python is streamed a page at a time: small pages here, so many."""
    from sla_engine.store import postgres_store

    monkeypatch.setattr(postgres_store, "JUDGE_PAGE", 37)
    text = DEFINITIONS + "".join(f"define c{i} = {c}\n" for i, c in enumerate(CONDITIONS))
    policy_set = build_policy_set([parse_text(text, "c.sla")], {"c.sla": text})
    store = open_store()
    rng = random.Random(20261116)
    states = {f"L{n}": random_state(rng) for n in range(600)}
    tiers = {lead: rng.choice(TIERS) for lead in states}
    store.conn.executemany("INSERT INTO leads (lead_id, state) VALUES (?, ?)",
                           [(lead, json.dumps(state)) for lead, state in states.items()])
    store.conn.execute("CREATE TEMP TABLE tiers (lead_id TEXT, tier TEXT)")
    store.conn.executemany("INSERT INTO tiers VALUES (?, ?)", list(tiers.items()))
    q = SqlConditions(store, policy_set)
    names = Names(lead="l.lead_id", tier="t.tier", policy="NULL", window="NULL", state=q.dialect.lead_doc("l"))
    universe = "FROM leads l JOIN tiers t ON t.lead_id = l.lead_id WHERE TRUE"
    wrong = {}
    for index, condition in enumerate(CONDITIONS):
        expr = policy_set.definitions[f"c{index}"].expr
        ps = Params()
        sql = f"SELECT l.lead_id {universe} AND {q.condition(ps, expr, names)}"
        by_sql = {row[0] for row in q.query(sql, ps, universe)}
        compiled = Compiler(policy_set).condition(expr)
        by_engine = {
            lead for lead, state in states.items()
            if compiled(Context(state=LeadState(lead, fields=json.loads(json.dumps(state))),
                                extra={"tier": tiers[lead], "policy": None, "window": None}))
        }
        if by_sql != by_engine:
            wrong[condition] = {lead: (states[lead], tiers[lead]) for lead in sorted(by_sql ^ by_engine)[:3]}
    assert not wrong, wrong
    if store.dialect == "postgresql":  # what was judged in Python is forgotten once the query has run
        assert store.conn.execute("SELECT count(*) FROM pg_temp.sla_judged").fetchone()[0] == 0


@pytest.mark.parametrize("dialect", [SqliteJson(), PostgresJson()], ids=["sqlite", "postgresql"])
def test_the_common_forms_need_no_python(dialect):
    """Plain fields, tier and definitions over them run as SQL; scores and patterns call the engine."""
    text = DEFINITIONS + 'define d = director_plus and region in ["NA"] and lead_score >= 70 and tier == "t"\n'
    policy_set = build_policy_set([parse_text(text, "c.sla")], {"c.sla": text})
    q = SqlConditions.__new__(SqlConditions)
    q.policy_set = policy_set
    q.compiler = Compiler(policy_set)
    q.dialect = dialect
    names = Names(lead="l.lead_id", tier="t.tier", policy="NULL", window="NULL")
    ps = Params()
    sql = q.condition(ps, policy_set.definitions["d"].expr, names)
    assert "sla_py" not in sql
    # On PostgreSQL a number written as unusual text is left to Python, for those rows only.
    assert [pending.undecided is not None for pending in ps.pending] == [True] * len(ps.pending)


def test_the_characters_folded_to_ascii_are_every_one_python_folds_so():
    found = {chr(point): chr(point).casefold() for point in range(0x80, 0x110000)
             if not 0xD800 <= point < 0xE000 and chr(point).casefold().isascii()}
    assert found == FOLDED_TO_ASCII


def test_postgresql_folds_every_character_as_python_does_against_ascii(pg_url):
    """For every character, PostgreSQL's fold equals Python's casefold wherever either is ASCII."""
    from sla_engine.store.backend import open_location

    store = open_location(pg_url)
    try:
        chars = [chr(point) for point in range(1, 0x110000) if not 0xD800 <= point < 0xE000 and point != 0x1F]
        text = "\x1f".join(chars)
        folded = store.conn.execute(f"SELECT {PostgresJson().fold('CAST(:t AS text)')}", {"t": text}).fetchone()[0]
        by_sql = folded.split("\x1f")
        assert len(by_sql) == len(chars)
        differ = [(c, s) for c, s in zip(chars, by_sql, strict=True)
                  if (s.isascii() or c.casefold().isascii()) and s != c.casefold()]
        assert not differ, differ[:10]
    finally:
        store.close()
