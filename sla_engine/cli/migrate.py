"""`sla-engine migrate`, registered on the main group by the cli package."""

from __future__ import annotations

from pathlib import Path

import click

from sla_engine import app
from sla_engine.cli.common import STORE_OPTION, load_config, user_errors


@click.command()
@click.option("--db", type=STORE_OPTION, help="The store: a file or a postgresql:// URL (default: configured).")
@click.option("--copy-from", type=click.Path(path_type=Path, dir_okay=False),
              help="Then copy this SQLite store into the (empty) PostgreSQL store, in one transaction.")
@click.pass_context
def migrate(ctx: click.Context, db: str | None, copy_from: Path | None) -> None:
    """Create or upgrade the store's schema (SQLite or PostgreSQL); optionally copy an SQLite store in.

    Every command migrates an SQLite store as it opens it; run this once before pointing workers at a
    new PostgreSQL database, after an upgrade, or to move an SQLite store to PostgreSQL.
    """
    from sla_engine.store.location import display, is_postgres

    config = load_config(ctx)
    location = app.store_path(config, None, db)
    shown = display(str(location)) if is_postgres(location) else str(location)
    with user_errors():
        before, after, copied = app.migrate_store(location, copy_from)
    change = f"upgraded from version {before} to {after}" if before < after else f"already at version {after}"
    click.echo(f"{shown}: schema {change}")
    if copy_from is not None:
        total = sum(copied.values())
        tables = ", ".join(f"{table} {count}" for table, count in sorted(copied.items()) if count)
        click.echo(f"copied {total} rows from {copy_from}" + (f" ({tables})" if tables else ""))
