"""`sla-engine deliver` and `sla-engine outbox`, registered on the main group by cli.py.

``run_delivery`` is also what `evaluate` calls at its end (unless ``--no-deliver``).
Heavy modules are imported inside the commands so `sla-engine --help` stays fast.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import click


def _paths(ctx: click.Context, policies: Path | None, db: Path | None) -> tuple[Any, Path, Path]:
    from sla_engine.cli import _config

    config = _config(ctx)
    policy_dir = policies or config.policies
    db_path = db or (config.db_path if policies is None else policy_dir.parent / "sla-engine.db")
    return config, Path(policy_dir), Path(db_path)


def _people_file(policy_dir: Path, explicit: Path | None) -> Path | None:
    if explicit is not None:
        return explicit
    base = policy_dir if policy_dir.is_dir() else policy_dir.parent
    return next((p for p in (base / "people.csv", base / "people.json") if p.is_file()), None)


def run_delivery(policy_set: Any, store: Any, policy_dir: Path, as_of: datetime, *, dry_run: bool,
                 connectors: list[Any], settings: Any, people: Path | None = None,
                 print_messages: bool = True) -> Any:
    """Deliver with the policy set's templates and people file and the ``[delivery]`` settings.

    The caller holds the store's lock.
    """
    from sla_engine.delivery.deliver import deliver
    from sla_engine.delivery.recipients import load_people

    base = policy_dir if policy_dir.is_dir() else policy_dir.parent
    return deliver(policy_set, store, as_of, dry_run=dry_run, connectors=connectors,
                   people=load_people(_people_file(policy_dir, people)), templates_dir=base / "templates",
                   digest=settings.digest, max_attempts=settings.max_attempts, link_template=settings.link_template,
                   max_age=settings.max_age_delta, print_messages=print_messages)


MAX_LISTED = 20


def render_delivery(report: Any) -> None:
    """One line, then the errors and dead rows: what a person reading cron mail must act on."""
    if report.dry_run:
        click.echo(f"deliver: would send {len(report.planned)} message(s)/action(s); "
                   f"{report.deferred} deferred by quiet hours", err=True)
        for item in report.planned[:MAX_LISTED]:
            what = item.get("subject") or item.get("action")
            click.echo(f"  {item.get('channel') or item.get('via')} {item.get('recipient') or item.get('lead_id')}: "
                       f"{what}", err=True)
    else:
        click.echo(f"deliver: {report.sent} sent in {report.messages} message(s) (+CRM actions), "
                   f"{report.resent} resent after an interrupted run, {report.recorded_only} recorded only, "
                   f"{report.deferred} deferred, {report.failed} failed, {len(report.dead)} dead", err=True)
    if report.obsolete or report.expired:
        verb = "would retire" if report.dry_run else "retired"
        click.echo(f"  {verb} {report.obsolete} obsolete (their window closed first) and {report.expired} expired "
                   "(older than the maximum age); see `sla-engine outbox --status obsolete|expired`", err=True)
    if report.dry_run and len(report.planned) > MAX_LISTED:
        click.echo(f"  … and {len(report.planned) - MAX_LISTED} more", err=True)
    # The same cause repeats for every row (a missing SMTP host): say each cause once, with its count.
    causes = Counter(error["error"] for error in report.errors)
    for cause, count in causes.most_common(MAX_LISTED):
        example = next(e["key"] for e in report.errors if e["error"] == cause)
        click.echo(f"  {count} × {cause} (e.g. {example})", err=True)
    for row in report.dead[:MAX_LISTED]:
        click.echo(f"  DEAD {row['key']}: gave up; see `sla-engine outbox --status dead`", err=True)
    if len(report.dead) > MAX_LISTED:
        click.echo(f"  … and {len(report.dead) - MAX_LISTED} more dead", err=True)


@click.command()
@click.argument("policies", required=False, type=click.Path(path_type=Path))
@click.option("--db", type=click.Path(path_type=Path), help="The SQLite store (default: beside the policies).")
@click.option("--as-of", "as_of", help="Deliver as of this instant (quiet hours, backoff; default: now).")
@click.option("--source", "source_specs", multiple=True, metavar="NAME|TYPE:ARG",
              help="Connectors that reassignments and tasks go through (default: every configured source).")
@click.option("--people", type=click.Path(path_type=Path), help="People file: id,name,email,slack,manager,…")
@click.option("--digest", type=click.Choice(["off", "run", "day"]), default=None, is_flag=False, flag_value="run",
              help="One message per recipient per run (--digest, --digest run) or at most one a day (--digest day), "
                   "listing their leads (default: [delivery] digest, else off).")
@click.option("--max-age", help="Expire instead of sending what was due longer ago: 90m, 24h, 2d, never "
                                "(default: [delivery] max_age, else 1d).")
@click.option("--max-attempts", type=int, default=None, help="Mark a row dead after this many (default 5).")
@click.option("--link-template", help="CRM link for a lead, e.g. https://crm.example.com/leads/{lead_id}.")
@click.option("--dry-run", is_flag=True, help="Print what would be sent; change nothing.")
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text")
@click.option("--lock-timeout", type=float, default=None, help="Seconds to wait for another run (default 30).")
@click.pass_context
def deliver(ctx: click.Context, policies: Path | None, db: Path | None, as_of: str | None,
            source_specs: tuple[str, ...], people: Path | None, digest: str | None, max_age: str | None,
            max_attempts: int | None, link_template: str | None, dry_run: bool, output: str,
            lock_timeout: float | None) -> None:
    """Send the due escalations in the outbox: once each, retrying failures with backoff."""
    import sys

    from pydantic import ValidationError

    from sla_engine.cli import _close_all, _load_policies, _open_store, _parse_as_of, _sources
    from sla_engine.connector import describe_validation_error
    from sla_engine.store.db import StoreLocked

    config, policy_dir, db_path = _paths(ctx, policies, db)
    given = {"digest": digest, "max_age": max_age, "max_attempts": max_attempts, "link_template": link_template}
    try:
        settings = config.delivery.model_validate(
            {**config.delivery.model_dump(), **{k: v for k, v in given.items() if v is not None}})
    except ValidationError as error:
        raise click.BadParameter(describe_validation_error(error)) from None
    policy_set = _load_policies(policy_dir)
    connectors = _sources(config, source_specs)
    store = _open_store(db_path)
    try:
        with store.locked(lock_timeout if lock_timeout is not None else config.lock_timeout):
            report = run_delivery(policy_set, store, policy_dir, _parse_as_of(as_of), dry_run=dry_run,
                                  connectors=connectors, settings=settings, people=people,
                                  print_messages=output != "json")
    except StoreLocked as error:
        raise click.ClickException(str(error)) from None
    finally:
        store.close()
        _close_all(connectors)
    if output == "json":
        click.echo(json.dumps(report.summary(), indent=2, default=str))
    else:
        render_delivery(report)
    sys.exit(1 if report.dead else 0)


@click.command()
@click.option("--db", type=click.Path(path_type=Path), help="The SQLite store (default: from the configuration).")
@click.option("--status", type=click.Choice(["pending", "sending", "sent", "failed", "dead", "obsolete", "expired"]))
@click.option("--limit", type=int, default=None)
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text")
@click.pass_context
def outbox(ctx: click.Context, db: Path | None, status: str | None, limit: int | None, output: str) -> None:
    """List the outbox: what is due, sent, failing or dead, and why."""
    from sla_engine.delivery.outbox import list_rows
    from sla_engine.reports.explain import describe_action
    from sla_engine.store.db import Store

    _, _, db_path = _paths(ctx, None, db)
    if not db_path.exists():
        raise click.ClickException(f"{db_path}: no store yet; run `sla-engine evaluate` first")
    store = Store(db_path)
    try:
        rows = list_rows(store, status, limit)
    finally:
        store.close()
    if output == "json":
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    for row in rows:
        action = describe_action(json.loads(row["action"]))
        line = (f"{row['status']:<8} {row['due_at'][:16]}  {row['lead_id'] or '-'}  {row['policy']}/{row['window']} "
                f"{row['level']}: {action}  attempts={row['attempts']}")
        if row.get("next_attempt_at") and row["status"] in ("pending", "failed"):
            line += f"  next={row['next_attempt_at'][:16]}"
        if row.get("last_error"):
            line += f"  error: {row['last_error']}"
        elif row["status"] in ("obsolete", "expired") and row.get("detail"):
            line += f"  why: {row['detail']}"
        click.echo(line)
    click.echo(f"{len(rows)} row(s)", err=True)
