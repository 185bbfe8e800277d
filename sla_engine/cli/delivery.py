"""`sla-engine deliver` and `sla-engine outbox`, registered on the main group by the cli package.

``render_delivery`` also reports the delivery `evaluate` runs at its end (unless ``--no-deliver``).
Heavy modules are imported inside the commands so `sla-engine --help` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from sla_engine import app
from sla_engine.cli.common import (
    POLICIES_HELP,
    STORE_OPTION,
    as_of_or_last_run,
    delivery_failed,
    load_config,
    load_policies,
    open_existing_store,
    open_store,
    policies_argument,
    run_exit_code,
    shown,
    sources,
)

MAX_LISTED = 20


def render_delivery(report: Any) -> None:
    """One line, then the errors and dead rows: what a person reading cron mail must act on."""
    if report.dry_run:
        click.echo(f"deliver: would send {report.planned_total} message(s)/action(s); "
                   f"{report.deferred} deferred by quiet hours", err=True)
        for item in report.planned[:MAX_LISTED]:
            what = item.get("subject") or item.get("action")
            channel = item.get("channel") or item.get("via") or ""
            to = str(item.get("recipient") or item.get("lead_id"))
            to = to.removeprefix(f"{channel}:")  # "email maria@…", not "email email:maria@…"
            click.echo(shown(f"  {channel} {to}: {what}"), err=True)
    else:
        counts = [(report.resent, "resent after an interrupted run"), (report.recorded_only, "recorded only"),
                  (report.deferred, "deferred"), (report.failed, "failed"), (report.dead_total, "dead"),
                  (report.claimed_elsewhere, "left to another delivery that claimed them first")]
        click.echo(", ".join([f"deliver: {report.sent:,} sent in {report.messages:,} message(s) (+CRM actions)",
                              *(f"{n:,} {what}" for n, what in counts if n)]), err=True)
    if report.obsolete or report.expired:
        verb = "would retire" if report.dry_run else "retired"
        click.echo(f"  {verb} {report.obsolete:,} obsolete (their window closed first) and {report.expired:,} "
                   "expired (older than the maximum age):\n  see `sla-engine outbox --status obsolete|expired`",
                   err=True)
    if report.dry_run and report.planned_total > MAX_LISTED:
        click.echo(f"  … and {report.planned_total - MAX_LISTED} more", err=True)
    # The same cause repeats for every row (a missing SMTP host): say each cause once, with its count.
    causes = sorted(report.causes.items(), key=lambda item: -item[1][0])
    for cause, (count, example) in causes[:MAX_LISTED]:
        click.echo(shown(f"  {count:,} × {cause}"), err=True)
        click.echo(shown(f"    e.g. {example}"), err=True)
    for row in report.dead[:MAX_LISTED]:
        click.echo(shown(f"  DEAD {row['key']}: gave up; see `sla-engine outbox --status dead`"), err=True)
    if report.dead_total > MAX_LISTED:
        click.echo(f"  … and {report.dead_total - MAX_LISTED} more dead", err=True)


@click.command()
@click.argument("policies", required=False, type=click.Path(path_type=Path))
@click.option("--policies", "policies_option", type=click.Path(path_type=Path), help=POLICIES_HELP)
@click.option("--db", type=STORE_OPTION,
              help="The store: a file or a postgresql:// URL (default: beside the policies).")
@click.option("--as-of", "as_of", help="Deliver as of this instant (quiet hours, backoff, maximum age; default: "
                                     "the last run's as-of).")
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
def deliver(ctx: click.Context, policies: Path | None, policies_option: Path | None, db: Path | None, as_of: str | None,
            source_specs: tuple[str, ...], people: Path | None, digest: str | None, max_age: str | None,
            max_attempts: int | None, link_template: str | None, dry_run: bool, output: str,
            lock_timeout: float | None) -> None:
    """Send the due escalations in the outbox: once each, retrying failures with backoff."""
    import sys

    from pydantic import ValidationError

    from sla_engine.cli.progress import bars
    from sla_engine.connector import describe_validation_error

    config = load_config(ctx)
    policies = policies_argument(policies, policies_option)
    policy_dir = app.policy_path(config, policies)
    given = {"digest": digest, "max_age": max_age, "max_attempts": max_attempts, "link_template": link_template}
    try:
        settings = config.delivery.model_validate(
            {**config.delivery.model_dump(), **{k: v for k, v in given.items() if v is not None}})
    except ValidationError as error:
        raise click.BadParameter(describe_validation_error(error)) from None
    policy_set = load_policies(policy_dir)
    connectors = sources(config, source_specs)
    wait = lock_timeout if lock_timeout is not None else config.lock_timeout
    store = open_store(app.store_path(config, policies, db), wait)
    try:
        with store.locked(wait), bars() as progress_bars:
            report = app.run_delivery(policy_set, store, policy_dir, as_of_or_last_run(as_of, store), dry_run=dry_run,
                                      connectors=connectors, settings=settings, people=people,
                                      print_messages=output != "json",
                                      progress=progress_bars.bar("delivering (outbox rows)"))
    finally:
        store.close()
        app.close_all(connectors)
    if output == "json":
        click.echo(json.dumps(report.summary(), indent=2, default=str))
    else:
        render_delivery(report)
    sys.exit(run_exit_code(undelivered=delivery_failed(report)))


@click.command()
@click.option("--db", type=STORE_OPTION, help="The store: a file or a postgresql:// URL (default: configured).")
@click.option("--status", type=click.Choice(["pending", "sending", "sent", "failed", "dead", "obsolete", "expired"]))
@click.option("--owner", metavar="EMAIL", help="Only rows about this rep's leads (an email, or a CRM owner id).")
@click.option("--recipient", metavar="ADDRESS",
              help="Only rows going to this address (maria@example.com, #revenue), once a delivery has resolved it.")
@click.option("--limit", type=click.IntRange(min=1), default=None)
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text")
@click.pass_context
def outbox(ctx: click.Context, db: Path | None, status: str | None, owner: str | None, recipient: str | None,
           limit: int | None, output: str) -> None:
    """List the outbox: what is due, sent, failing or dead, and why."""
    from sla_engine.store import owners

    store = open_existing_store(app.store_path(load_config(ctx), None, db))
    try:
        rows = store.outbox.rows(status, limit, owner=owner, recipient=recipient)
        people = {ident: owners.label(person) for ident, person in store.owners.all().items()}
    finally:
        store.close()
    if output == "json":
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    for row in rows:
        for line in _outbox_lines(row, json.loads(row["action"]), people):
            click.echo(shown(line))
    click.echo(f"{len(rows)} row(s)", err=True)


def _outbox_lines(row: dict[str, Any], action: dict[str, Any], people: dict[str, str]) -> list[str]:
    """A row as a person reads it: when and which clock; what it does, whose lead and to whom;
    then where its delivery stands (sent, the next try and the last error, why it was retired)."""
    lines = [f"{row['status']:<8} {_minute(row['due_at'])} UTC  {row['lead_id'] or '-'}  "
             f"{row['policy']}/{row['window']} {row['level']}"]
    from sla_engine.language.actions import describe_action

    details = [describe_action(action)]
    if row.get("owner"):
        details.append(f"owner {people.get(row['owner'], row['owner'])}")
    if row.get("recipient") and action.get("action") == "notify":  # "email:maria@…": the action says the channel
        details.append(f"to {str(row['recipient']).partition(':')[2] or row['recipient']}")
    elif row.get("recipient"):  # a CRM action: the source it was written through
        details.append(f"through {row['recipient']}")
    lines.append(INDENT + " · ".join(details))
    retry = f"next try {_minute(row['next_attempt_at'])}" if row.get("next_attempt_at") and row["status"] in (
        "pending", "failed") else ""
    if row.get("last_error"):
        lines.append(f"{INDENT}attempt {row['attempts']} failed{f' ({retry})' if retry else ''}: {row['last_error']}")
    elif row["status"] in ("obsolete", "expired") and row.get("detail"):
        lines.append(f"{INDENT}why: {row['detail']}")
    elif row["status"] == "sent" and row.get("sent_at"):
        lines.append(f"{INDENT}sent {_minute(row['sent_at'])} UTC")
    elif retry:
        lines.append(f"{INDENT}{retry}" + (f": {row['detail']}" if row.get("detail") else ""))
    return lines


INDENT = " " * 9


def _minute(stamp: str) -> str:
    return stamp[:16].replace("T", " ")
