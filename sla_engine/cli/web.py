"""`sla-engine serve`, registered on the main group by the cli package."""

from __future__ import annotations

from pathlib import Path

import click

from sla_engine import app
from sla_engine.cli.common import STORE_OPTION, load_config, load_policies, open_existing_store


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface to listen on; anything but loopback needs SLA_ENGINE_TOKEN set.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(1, 65535))
@click.option("--policies", type=click.Path(path_type=Path), help="The policy directory (default: configured).")
@click.option("--db", type=STORE_OPTION,
              help="The store: a file or a postgresql:// URL (default: beside the policies).")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, policies: Path | None, db: Path | None) -> None:
    """The dashboard live in a browser: read-only, on 127.0.0.1 unless told otherwise.

    Drill down from a target to its leads and each lead's timeline; a page per rep and per
    manager; the outbox and the quarantine. Pages refresh as runs land. To listen beyond this
    machine, set SLA_ENGINE_TOKEN: clients send it as a bearer token or a basic-auth password.
    """
    from sla_engine.web.server import ServeError
    from sla_engine.web.server import serve as run_server

    config = load_config(ctx)
    policy_dir = app.policy_path(config, policies)
    db_path = app.store_path(config, policies, db)
    policy_set = load_policies(policy_dir)
    open_existing_store(db_path).close()  # there must be a store, migrated, before the first page
    try:
        run_server(policy_set, db_path, host=host, port=port, echo=lambda line: click.echo(line, err=True))
    except ServeError as error:
        raise click.ClickException(str(error)) from None
    except OSError as error:
        raise click.ClickException(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
