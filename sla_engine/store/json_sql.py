"""How the metric SQL reads a lead's JSON fields and folds text, in SQLite's and PostgreSQL's dialects.

The metric, drill-down and history queries are written once; where the two databases spell a
JSON read or a type test differently they ask the store's dialect (``dialect_for``). Each
fragment here is exact: it gives the answer the engine gives (docs/semantics.md: text ignores
case, numbers may arrive as text), or, on PostgreSQL, NULL where SQL cannot be sure, so that the
condition is judged in Python for those rows (``store/conditions.py``).

SQLite hosts two helpers written in Python (``sla_fold``, ``sla_num``). PostgreSQL folds text
with ``translate``/``replace``: for an ASCII literal that is exact, since the only characters
outside ASCII whose case fold is ASCII are the few ``FOLDED_TO_ASCII`` lists (Python's own
``str.casefold`` of them); a literal outside ASCII is left to Python.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from typing import Any, ClassVar

from sla_engine.engine.conditions import as_number

Param = Callable[[Any], str]  # a value → its SQL placeholder (conditions.Params)


# Every character outside ASCII whose case fold (Python's ``str.casefold``) is ASCII; written out,
# since finding them walks every code point (tests/store/test_conditions_sql.py walks them).
FOLDED_TO_ASCII = {"ß": "ss", "ſ": "s", "ẞ": "ss", "\u212a": "k", "ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi",
                   "ﬄ": "ffl", "ﬅ": "st", "ﬆ": "st"}
_NUMBER_TEXT = r"^[ \t\n\r]*[+-]?([0-9]{1,200}(\.[0-9]{0,200})?|\.[0-9]{1,200})[ \t\n\r]*$"  # no float8 overflow


class SqliteJson:
    """SQLite: ``json_extract`` and friends, with the engine's folding and number reading as SQL functions."""

    name: ClassVar[str] = "sqlite"
    true, false = "1", "0"

    def prepare(self, conn: Any) -> None:
        conn.create_function("sla_fold", 1, _fold, deterministic=True)
        conn.create_function("sla_num", 1, _num, deterministic=True)

    @staticmethod
    def lead_doc(alias: str) -> str:
        """A lead's fields, as the JSON reads below take them: the stored text."""
        return f"{alias}.state"

    def value(self, doc: str, key: str) -> str:
        """A field as a group-by value (text, number, or JSON text for a list)."""
        return f"json_extract({doc}, {key})"

    def text(self, doc: str, key: str) -> str:
        return f"json_extract({doc}, {key})"

    def number(self, doc: str, key: str) -> str:
        """A field as a number, text read as the engine reads it; NULL when it is none."""
        return f"sla_num(json_extract({doc}, {key}))"

    def is_one(self, doc: str, key: str) -> str:
        """The field is true or 1 (a won or lost flag)."""
        return f"coalesce(json_extract({doc}, {key}) = 1, 0)"

    def is_off(self, doc: str, key: str) -> str:
        """The field is missing, null, false or 0 (not deleted)."""
        return f"coalesce(json_extract({doc}, {key}), 0) = 0"

    @staticmethod
    def path(ps: Param, name: str) -> str:
        return ps("$." + name)

    def fold(self, sql: str) -> str:
        return f"sla_fold({sql})"

    def foldable(self, literal: str) -> bool:
        return True

    def unindexed(self, column: str) -> str:
        """A column the planner must not pick an index for (``+column``)."""
        return f"+{column}"

    # -------------------------------------------------------- condition leaves
    def missing(self, doc: str, path: str) -> str:
        return (f"(coalesce(json_type({doc}, {path}), 'null') = 'null' "
                f"OR (json_type({doc}, {path}) = 'text' AND json_extract({doc}, {path}) = '') "
                f"OR (json_type({doc}, {path}) = 'array' AND json_array_length({doc}, {path}) = 0))")

    def present(self, doc: str, path: str) -> str:
        return f"(coalesce(json_type({doc}, {path}), 'null') != 'null')"

    def truth(self, doc: str, path: str) -> str:
        value = f"json_extract({doc}, {path})"
        return (f"(CASE json_type({doc}, {path}) WHEN 'true' THEN 1 WHEN 'integer' THEN {value} != 0 "
                f"WHEN 'real' THEN {value} != 0 WHEN 'text' THEN sla_fold({value}) IN ('true', 'yes', '1') "
                f"WHEN 'array' THEN json_array_length({doc}, {path}) > 0 "
                f"WHEN 'object' THEN {value} != '{{}}' ELSE 0 END)")

    def member(self, doc: str, path: str, options: str) -> str:
        return (f"(CASE json_type({doc}, {path}) "
                f"WHEN 'text' THEN sla_fold(json_extract({doc}, {path})) IN ({options}) "
                f"WHEN 'array' THEN EXISTS (SELECT 1 FROM json_each({doc}, {path}) je "
                f"WHERE je.type = 'text' AND sla_fold(je.value) IN ({options})) ELSE 0 END)")

    def text_equal(self, doc: str, path: str, literal: str) -> str:
        return f"(json_type({doc}, {path}) = 'text' AND sla_fold(json_extract({doc}, {path})) = {literal})"

    def compare_number(self, doc: str, path: str, op: str, literal: str, unequal: str) -> str:
        value = f"json_extract({doc}, {path})"
        return (f"(CASE json_type({doc}, {path}) WHEN 'integer' THEN {value} {op} {literal} "
                f"WHEN 'real' THEN {value} {op} {literal} WHEN 'true' THEN 1 {op} {literal} "
                f"WHEN 'false' THEN 0 {op} {literal} "
                f"WHEN 'text' THEN coalesce(sla_num({value}) {op} {literal}, {unequal}) "
                f"WHEN 'array' THEN {unequal} WHEN 'object' THEN {unequal} ELSE 0 END)")


class PostgresJson:
    """PostgreSQL: the stored JSON text read as ``jsonb``; NULL where only Python can be sure."""

    name: ClassVar[str] = "postgresql"
    true, false = "TRUE", "FALSE"

    def prepare(self, conn: Any) -> None:
        """Nothing to register: every fragment is plain SQL."""

    @staticmethod
    def lead_doc(alias: str) -> str:
        """A lead's fields: the state parsed once when written (``leads.doc``, postgres_schema.DERIVED)."""
        return f"{alias}.doc"

    @staticmethod
    def _scalar(v: str) -> str:
        """A jsonb scalar as text (a string without its quotes)."""
        return f"({v} #>> '{{}}')"

    @staticmethod
    def _get(doc: str, key: str) -> str:
        return f"(({doc})::jsonb -> CAST({key} AS text))"

    def value(self, doc: str, key: str) -> str:
        """jsonb, read back as SQLite's json_extract gives it; true and false group with 1 and 0 as there."""
        v = self._get(doc, key)
        return (f"(CASE jsonb_typeof({v}) WHEN 'boolean' THEN CASE WHEN {v} = 'true'::jsonb "
                f"THEN '1'::jsonb ELSE '0'::jsonb END ELSE {v} END)")

    def text(self, doc: str, key: str) -> str:
        return f"(({doc})::jsonb ->> CAST({key} AS text))"

    def number(self, doc: str, key: str) -> str:
        return self._number(self._get(doc, key))

    @staticmethod
    def _number(v: str) -> str:
        """A jsonb number or a text of plain digits as float8; NULL for anything else."""
        text = PostgresJson._scalar(v)
        return (f"(CASE jsonb_typeof({v}) WHEN 'number' THEN CASE WHEN abs(({v})::numeric) < 1e300 "
                f"THEN ({v})::float8 END WHEN 'boolean' THEN CASE WHEN {v} = 'true'::jsonb THEN 1.0 ELSE 0.0 END "
                f"WHEN 'string' THEN CASE WHEN {text} ~ '{_NUMBER_TEXT}' "
                f"THEN btrim({text}, E' \\t\\n\\r')::float8 END END)")

    def is_one(self, doc: str, key: str) -> str:
        return f"coalesce({self._get(doc, key)} IN ('1'::jsonb, 'true'::jsonb), FALSE)"

    def is_off(self, doc: str, key: str) -> str:
        return f"coalesce({self._get(doc, key)}, '0'::jsonb) IN ('0'::jsonb, 'false'::jsonb, 'null'::jsonb)"

    @staticmethod
    def path(ps: Param, name: str) -> str:
        return ps(name)

    def fold(self, sql: str) -> str:
        """Case folding that is exact when compared with an ASCII literal (see the module's note)."""
        singles = {char: folded for char, folded in FOLDED_TO_ASCII.items() if len(folded) == 1}
        for char, folded in FOLDED_TO_ASCII.items():
            if len(folded) > 1:
                sql = f"replace({sql}, '{char}', '{folded}')"
        source = string.ascii_uppercase + "".join(singles)
        target = string.ascii_lowercase + "".join(singles.values())
        return f"translate({sql}, '{source}', '{target}')"

    def foldable(self, literal: str) -> bool:
        return literal.isascii()

    def unindexed(self, column: str) -> str:
        """A text column the planner must not pick an index for, whatever its statistics say."""
        return f"({column} || '')"

    # -------------------------------------------------------- condition leaves
    def missing(self, doc: str, path: str) -> str:
        v = self._get(doc, path)
        return f"coalesce({v} IN ('null'::jsonb, '\"\"'::jsonb, '[]'::jsonb), TRUE)"

    def present(self, doc: str, path: str) -> str:
        return f"coalesce({self._get(doc, path)} != 'null'::jsonb, FALSE)"

    def truth(self, doc: str, path: str) -> str:
        v = self._get(doc, path)
        return (f"(CASE jsonb_typeof({v}) WHEN 'boolean' THEN {v} = 'true'::jsonb "
                f"WHEN 'number' THEN {v} != '0'::jsonb "
                f"WHEN 'string' THEN {self.fold(self._scalar(v))} IN ('true', 'yes', '1') "
                f"WHEN 'array' THEN {v} != '[]'::jsonb WHEN 'object' THEN {v} != '{{}}'::jsonb ELSE FALSE END)")

    def member(self, doc: str, path: str, options: str) -> str:
        v = self._get(doc, path)
        return (f"(CASE jsonb_typeof({v}) WHEN 'string' THEN {self.fold(self._scalar(v))} "
                f"IN ({options}) WHEN 'array' THEN EXISTS (SELECT 1 FROM jsonb_array_elements({v}) je(v) "
                f"WHERE jsonb_typeof(je.v) = 'string' AND {self.fold(self._scalar('je.v'))} "
                f"IN ({options})) ELSE FALSE END)")

    def text_equal(self, doc: str, path: str, literal: str) -> str:
        v = self._get(doc, path)
        return f"coalesce(jsonb_typeof({v}) = 'string' AND {self.fold(self._scalar(v))} = {literal}, FALSE)"

    def compare_number(self, doc: str, path: str, op: str, literal: str, unequal: str) -> str:
        """NULL (judged in Python) for text that is not plain digits and numbers too large for float8."""
        v = self._get(doc, path)
        number = self._number(v)
        return (f"(CASE jsonb_typeof({v}) WHEN 'number' THEN {number} {op} {literal} "
                f"WHEN 'boolean' THEN {number} {op} {literal} "
                f"WHEN 'string' THEN {number} {op} {literal} "
                f"WHEN 'array' THEN {unequal} WHEN 'object' THEN {unequal} ELSE FALSE END)")


Dialect = SqliteJson | PostgresJson


def dialect_for(store: Any) -> Dialect:
    """The dialect of a store's database, its helper functions registered on the connection."""
    dialect: Dialect = PostgresJson() if getattr(store, "dialect", "sqlite") == "postgresql" else SqliteJson()
    dialect.prepare(store.conn)
    return dialect


def _fold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def _num(value: Any) -> float | None:
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        number = as_number(value)
        return number if isinstance(number, float) else None
    return None
