"""Fixtures shared across the test tree: a throwaway PostgreSQL server for the store's second backend, and the
fake CRMs on loopback with a project whose sources they are (tests/fakes/crm_project.py)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest

from tests.fakes.crm_project import crm_project, hubspot, salesforce  # noqa: F401 - fixtures for the whole tree
from tests.pg_cluster import Cluster, NoServer, start_cluster

_DATABASES = itertools.count(1)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Cluster]:
    """A PostgreSQL cluster for this test session. Outside CI a machine without one skips the
    PostgreSQL tests, saying why; in CI (CI=true) that is a failure, never a silent skip."""
    try:
        cluster = start_cluster()
    except NoServer as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs a PostgreSQL server for the store tests: {error}")
        pytest.skip(f"PostgreSQL tests skipped: {error}")
    yield cluster
    cluster.stop()


@pytest.fixture
def pg_url(postgres: Cluster) -> Iterator[str]:
    """The URL of a new, empty database on the session's cluster, dropped after the test."""
    import psycopg

    name = f"t{os.getpid()}_{next(_DATABASES)}"
    with psycopg.connect(postgres.url(), autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    yield postgres.url(name)
    with psycopg.connect(postgres.url(), autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
