"""What can go wrong with the store file itself, said so a person knows what to do.

Kept apart from db.py (and light to import) so the command line can turn any SQLite error into
one of these without loading the store.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite3


class StoreError(RuntimeError):
    """The store cannot be used as it is; the message says what happened and what to do.

    Each kind has its own exit code (sysexits.h), so a cron wrapper can tell "try again later"
    from "free some space" from "restore from a backup". Nothing was changed: every run's
    writes are one transaction.
    """

    exit_code = 70  # EX_SOFTWARE: an SQLite error none of the kinds below explains


class StoreLocked(StoreError):
    """Another run, or another program, holds the store; raised after waiting the allowed time."""

    exit_code = 75  # EX_TEMPFAIL: try again later


class StoreFull(StoreError):
    """The disk is full, or the file reached a size limit: the write was undone."""

    exit_code = 74  # EX_IOERR


class StoreCorrupt(StoreError):
    """The file is damaged or is not an SQLite database."""

    exit_code = 65  # EX_DATAERR


def is_busy(error: sqlite3.Error) -> bool:
    """SQLite's answer that another connection holds the lock."""
    lowered = str(error).lower()
    return "locked" in lowered or "busy" in lowered


def store_error(error: sqlite3.Error, path: str | Path, wait_seconds: float | None = None) -> StoreError:
    """What an SQLite error means for the person running the command, with what to do about it."""
    text = str(error)
    lowered = text.lower()
    if is_busy(error):
        waited = f" (waited {wait_seconds:g}s)" if wait_seconds is not None else ""
        return StoreLocked(
            f"{path} is locked by another program{waited}: another sla-engine run, or a tool with the "
            "file open in a transaction (an sqlite3 shell, a backup). Nothing was changed; try again "
            "later, or raise --lock-timeout"
        )
    if "full" in lowered or "too big" in lowered or "disk i/o" in lowered or "readonly" in lowered \
            or "read-only" in lowered:
        return StoreFull(
            f"{path} could not be written ({text}): free disk space, or raise the file-size limit "
            "(ulimit -f) or the volume's quota, then run again. Nothing was changed: the run's writes "
            "were undone"
        )
    if "malformed" in lowered or "not a database" in lowered or "corrupt" in lowered:
        return StoreCorrupt(
            f"{path} is damaged ({text}). Restore it from a backup, or move it aside to start a new "
            f"store (every event is read again from the sources); `sqlite3 {path} 'PRAGMA integrity_check'` "
            "shows what is broken"
        )
    return StoreError(f"{path}: the store failed ({text})")
