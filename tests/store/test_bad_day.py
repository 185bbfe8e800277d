"""The store on a bad day: another program's lock, a full disk, a damaged file.

Each ends in one message saying what happened and what to do, its own exit code (75 locked,
74 cannot write, 65 damaged) and no traceback; the run's writes are undone.
"""

from __future__ import annotations

import resource
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.test_cli import invoke, project  # noqa: F401 - the fixture

AS_OF = "2026-11-23T17:00:00Z"
SHIPPED = Path(__file__).resolve().parents[2]


def test_another_programs_sqlite_lock_is_waited_for_only_as_long_as_lock_timeout(project):  # noqa: F811
    assert invoke(project, "evaluate", "--as-of", AS_OF, "--no-deliver").exit_code == 0
    holder = sqlite3.connect(project / "sla-engine.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # a foreign tool in a write transaction, not an sla-engine run
    try:
        started = time.monotonic()
        result = invoke(project, "evaluate", "--as-of", AS_OF, "--lock-timeout", "1", "--no-deliver")
        waited = time.monotonic() - started
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.exit_code == 75, result.output
    assert waited < 10
    assert "is locked by another program" in result.output and "--lock-timeout" in result.output
    assert "Traceback" not in result.output and "database is locked" not in result.output


def test_a_file_that_is_not_a_database_is_named_with_what_to_do(project):  # noqa: F811
    (project / "sla-engine.db").write_bytes(b"this is not an SQLite file, it is a text file " * 100)
    for command in (["evaluate", "--as-of", AS_OF, "--no-deliver"], ["outbox"], ["report"]):
        result = invoke(project, *command)
        assert result.exit_code == 65, (command, result.output)
        assert "is damaged" in result.output and "Restore it from a backup" in result.output
        assert "Traceback" not in result.output


def test_a_zeroed_page_makes_outbox_and_explain_warn_and_exit_65(project):  # noqa: F811
    assert invoke(project, "evaluate", "--as-of", AS_OF, "--no-deliver").exit_code == 0
    path = project / "sla-engine.db"
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = connection.execute("PRAGMA page_size").fetchone()[0]
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
    data = bytearray(path.read_bytes())
    last = pages - 1  # the last page belongs to a table or index, not to the header
    data[last * page_size:(last + 1) * page_size] = bytes(page_size)
    path.write_bytes(bytes(data))
    for command in (["outbox"], ["explain", "fast", "--as-of", AS_OF]):
        result = invoke(project, *command)
        assert result.exit_code == 65, (command, result.output)
        assert "is damaged (PRAGMA quick_check" in result.output, result.output
        assert "Traceback" not in result.output


def test_a_file_size_limit_ends_the_run_with_what_to_do_and_the_store_as_it_was(tmp_path):
    """A real RLIMIT_FSIZE on the shipped example: SQLite sees EFBIG; nothing half-written stays."""
    db = tmp_path / "s.db"
    base = [sys.executable, "-m", "sla_engine.cli", "evaluate", str(SHIPPED / "policies"), "--db", str(db),
            "--source", f"csv:{SHIPPED / 'examples' / 'data' / 'events.csv'}", "--as-of", "2026-10-30T18:00:00Z",
            "--no-deliver"]
    limit = 400_000  # past the migrations (a new store), short of the first run's ingest

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    result = subprocess.run(base, capture_output=True, text=True, preexec_fn=small_files, timeout=300,
                            cwd=SHIPPED)
    assert result.returncode == 74, result.stderr[-2000:]
    assert "could not be written" in result.stderr and "ulimit -f" in result.stderr
    assert "Traceback" not in result.stderr
    store = sqlite3.connect(db)
    assert store.execute("SELECT count(*) FROM events").fetchone()[0] == 0
    assert store.execute("SELECT count(*) FROM runs").fetchone()[0] == 0
