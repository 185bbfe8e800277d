"""The store tests run against both backends: ``open_store`` opens the test's store on SQLite, then on
PostgreSQL (a new database on the session's throwaway cluster, see tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from sla_engine.store.backend import open_location
from sla_engine.store.db import Store


@pytest.fixture(params=["sqlite", "postgresql"])
def store_location(request, tmp_path) -> str:
    """Where the test's store is: an SQLite file, or a PostgreSQL URL."""
    return str(tmp_path / "s.db") if request.param == "sqlite" else request.getfixturevalue("pg_url")


@pytest.fixture
def open_store(store_location) -> Iterator[Callable[..., Store]]:
    """Opens the test's store (the same one at each call); every store opened is closed after the test."""
    opened: list[Store] = []

    def make(timeout: float = 30.0) -> Store:
        opened.append(open_location(store_location, timeout))
        return opened[-1]

    yield make
    for store in opened:
        store.close()
