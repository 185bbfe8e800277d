"""`sla-engine report` and `sla-engine plan`, registered on the main group by the cli package.

Heavy modules are imported inside the commands so `sla-engine --help` stays fast.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import click

from sla_engine import app
from sla_engine.cli.common import (
    STORE_OPTION,
    as_of_or_last_run,
    load_config,
    load_policies,
    open_existing_store,
    user_errors,
)


def _paths(ctx: click.Context, policies: Path | None, db: Path | str | None) -> tuple[Path, Path | str]:
    """The policies and the store, found as `evaluate` finds them."""
    config = load_config(ctx)
    return app.policy_path(config, policies), app.store_path(config, policies, db)


def _as_of(value: str | None, store: Any) -> datetime:
    return as_of_or_last_run(value, store)


def _write(text: str, out: Path | None) -> None:
    """The report, with any control character from lead data (an escape sequence) removed."""
    from sla_engine.safe_text import strip_control

    text = strip_control(text)
    if out is None:
        click.echo(text, nl=not text.endswith("\n"))
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    click.echo(f"wrote {out}", err=True)


@click.command()
@click.option("--period", help="The period to report: 2026-11-16, 2026-W46, 2026-11 or 2026-Q4 (default: each target's "
                               "current period; the dashboard metrics for the current month).")
@click.option("--format", "output", type=click.Choice(["text", "markdown", "json", "csv", "html"]), default="text")
@click.option("--out", type=click.Path(path_type=Path), help="Write to this file instead of standard output.")
@click.option("--policies", type=click.Path(path_type=Path), help="The policy directory (default: configured).")
@click.option("--db", type=STORE_OPTION,
              help="The store: a file or a postgresql:// URL (default: beside the policies).")
@click.option("--as-of", "as_of", help="Report as of this instant (default: the last run's as-of).")
@click.option("--send", is_flag=True, help="Send the review (default: of the last completed week) to each contact "
                                            "accountable for a target, once per period, through the notifiers.")
@click.pass_context
def report(ctx: click.Context, period: str | None, output: str, out: Path | None, policies: Path | None,
           db: Path | None, as_of: str | None, send: bool) -> None:
    """The SLA dashboard: targets per period with status, and the metrics behind them."""
    if send:
        _send_review(ctx, policies, db, period, as_of)
        return
    from sla_engine.cli.progress import bars
    from sla_engine.engine.measures import MetricError
    from sla_engine.engine.periods import PeriodError
    from sla_engine.reports.dashboard import build_report
    from sla_engine.reports.render import render
    from sla_engine.reports.render.text import render_text

    policy_dir, db_path = _paths(ctx, policies, db)
    policy_set = load_policies(policy_dir)
    store = open_existing_store(db_path)
    store.prepare_for_reports()
    try:
        moment = _as_of(as_of, store)
        try:
            with bars() as progress_bars:
                result = build_report(policy_set, store, moment, period,
                                      progress=progress_bars.bar("building the report"))
        except (PeriodError, MetricError) as error:
            raise click.ClickException(str(error)) from None
    finally:
        store.close()
    if output == "text" and out is None:
        render_text(result)
        return
    _write(render(result, output), out)


def _send_review(ctx: click.Context, policies: Path | None, db: Path | None, period: str | None,
                 as_of: str | None) -> None:
    """Record the review's messages (once per period and contact), then deliver what the outbox owes."""
    from sla_engine.cli.common import open_store
    from sla_engine.cli.progress import bars
    from sla_engine.engine.measures import MetricError
    from sla_engine.engine.periods import PeriodError
    from sla_engine.reports.dashboard import build_report, report_zone
    from sla_engine.reports.review import review_period, review_rows

    config = load_config(ctx)
    policy_dir, db_path = _paths(ctx, policies, db)
    policy_set = load_policies(policy_dir)
    open_existing_store(db_path).close()
    store = open_store(db_path, config.lock_timeout)
    try:
        with store.locked(config.lock_timeout):
            moment = _as_of(as_of, store)
            label = period or review_period(report_zone(policy_set), moment).label
            try:
                with bars() as progress_bars:
                    result = build_report(policy_set, store, moment, label,
                                          progress=progress_bars.bar("building the review"))
            except (PeriodError, MetricError) as error:
                raise click.ClickException(str(error)) from None
            rows = review_rows(result, policy_set.contacts, moment)
            last = store.runs.last()
            with store.transaction():
                new = store.outbox.record(rows, last["id"] if last else 0)
            click.echo(f"review {label}: {new} new message(s) for {len(rows)} accountable contact(s)", err=True)
            with bars() as progress_bars:
                delivered = app.run_delivery(policy_set, store, policy_dir, moment, dry_run=False, connectors=[],
                                             settings=config.delivery,
                                             progress=progress_bars.bar("delivering (outbox rows)"))
    finally:
        store.close()
    if delivered.dead or delivered.errors:
        for problem in delivered.errors:
            click.echo(f"not sent: {problem.get('key')}: {problem.get('error')}", err=True)


def _rate(value: str | None, name: str) -> float | None:
    from sla_engine.reports.plan import PlanError, parse_rate

    if value is None:
        return None
    try:
        return parse_rate(value)
    except PlanError as error:
        raise click.BadParameter(str(error), param_hint=name) from None


@click.command()
@click.option("--plan", "plan_name", help="The policy's plan to work through (default: every plan).")
@click.option("--revenue", type=float, help="Revenue goal per period, e.g. 300000.")
@click.option("--deal-size", type=float, help="Average first-year deal size, e.g. 25000.")
@click.option("--win-rate", help="Opportunity to closed-won, e.g. 30%.")
@click.option("--sql-to-opp", help="SQL to opportunity, e.g. 50%.")
@click.option("--mql-to-sql", help="MQL to SQL, e.g. 25%.")
@click.option("--per", "per", default=None, help="The period --revenue is per: week, month or quarter "
                                                 "(default: month).")
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text")
@click.option("--policies", type=click.Path(path_type=Path), help="The policy directory (default: configured).")
@click.option("--db", type=STORE_OPTION, help="The store, for observed rates (default: beside the "
                                                             "policies).")
@click.pass_context
def plan(ctx: click.Context, plan_name: str | None, revenue: float | None, deal_size: float | None,
         win_rate: str | None, sql_to_opp: str | None, mql_to_sql: str | None, per: str | None, output: str,
         policies: Path | None, db: Path | None) -> None:
    """The revenue goal worked backwards into clients, opportunities, SQLs and MQLs per period."""
    import json

    from sla_engine.language import model as m
    from sla_engine.language.vocabulary import PERIODS
    from sla_engine.reports.plan import PlanError, render_plan, work_backwards
    from sla_engine.store.backend import open_location
    from sla_engine.store.location import is_postgres

    if revenue is not None and revenue <= 0:
        raise click.BadParameter(f"{revenue:g} is not a revenue goal: give a positive amount", param_hint="--revenue")
    if deal_size is not None and deal_size <= 0:
        raise click.BadParameter(f"{deal_size:g} is not a deal size: give a positive amount",
                                 param_hint="--deal-size")
    if per is not None and per not in PERIODS:
        raise click.BadParameter(f"{per!r} is not a period: use one of {', '.join(PERIODS)}", param_hint="--per")
    if per is not None and revenue is None:
        raise click.BadParameter("--per says which period --revenue is for: give --revenue too (a declared "
                                 "plan states its own period)", param_hint="--per")
    flags = any(v is not None for v in (revenue, deal_size, win_rate, sql_to_opp, mql_to_sql))
    policy_set = None
    try:
        policy_dir, db_path = _paths(ctx, policies, db)
    except click.ClickException:
        if not flags:
            raise
        policy_dir, db_path = Path("-"), Path("-")
    if policy_dir.exists():
        policy_set = load_policies(policy_dir)
    plans: list[m.PlanDecl] = []
    if policy_set is not None:
        plans = [p for name, p in policy_set.plans.items() if plan_name in (None, name)]
        if plan_name and not plans:
            raise click.ClickException(f"no plan named {plan_name!r} in {policy_dir}")
    if flags:
        base = plans[0] if len(plans) == 1 else m.PlanDecl(name="plan", period="month")
        conversions = {(c.source, c.target): c.rate for c in base.conversions}
        for (source, target), value, hint in ((("sql", "opportunity"), sql_to_opp, "--sql-to-opp"),
                                              (("mql", "sql"), mql_to_sql, "--mql-to-sql")):
            rate = _rate(value, hint)
            if rate is not None:
                conversions[(source, target)] = rate
        plans = [base.model_copy(update={
            "name": base.name if len(plans) == 1 else "command line",
            "revenue": revenue if revenue is not None else base.revenue,
            "deal_size": deal_size if deal_size is not None else base.deal_size,
            "win_rate": _rate(win_rate, "--win-rate") or base.win_rate,
            "period": per or base.period or "month",
            "conversions": [m.PlanConversion(source=s, target=t, rate=r) for (s, t), r in conversions.items()],
        })]
    if not plans:
        raise click.ClickException("no plan: declare one in the policies or give --revenue and --deal-size")
    store = open_location(db_path) if is_postgres(db_path) or Path(db_path).exists() else None
    try:
        reports = [work_backwards(p, store, policy_set) for p in plans]
    except PlanError as error:
        raise click.ClickException(str(error)) from None
    finally:
        if store is not None:
            store.close()
    if output == "json":
        click.echo(json.dumps([r.as_dict() for r in reports], indent=2))
        return
    click.echo("\n\n".join(render_plan(r) for r in reports))


@click.command()
@click.option("--policy", "policy", metavar="NAME", help="The policy to render (default: every policy in the set).")
@click.option("--format", "output", type=click.Choice(["markdown", "html", "text"]), default="markdown",
              show_default=True, help="text: only with --changes.")
@click.option("--out", type=click.Path(path_type=Path), help="Write to this file instead of standard output.")
@click.option("--policies", type=click.Path(path_type=Path), help="The policy directory (default: configured).")
@click.option("--changes", nargs=2, metavar="OLD NEW",
              help="What changed in the agreement between two versions (directories or git revisions, as `diff`).")
@click.pass_context
def agreement(ctx: click.Context, policy: str | None, output: str, out: Path | None, policies: Path | None,
              changes: tuple[str, str] | None) -> None:
    """The written agreement, rendered from the policies that enforce it.

    Every sentence is phrased from the checked policy model, so the document says what the engine
    enforces: parties, scope, term, revenue plan, definitions, business hours, each side's
    commitments with their escalations, and how each is measured. HTML is one printable page
    with a signature block per party; Markdown suits a wiki or a pull request. With --changes
    OLD NEW: what changed between two versions, in the same words.
    """
    policy_path = app.policy_path(load_config(ctx), policies)
    if changes:
        if output == "html":
            raise click.BadParameter("--changes prints text or markdown", param_hint="--format")
        _write(_agreement_changes(changes, policy_path, markdown=output == "markdown"), out)
        return
    if output == "text":
        raise click.BadParameter("the agreement is markdown or html; text is for --changes", param_hint="--format")
    policy_set = load_policies(policy_path)
    with user_errors():
        text = app.render_agreement(policy_set, policy, output)
    _write(text, out)


def _agreement_changes(changes: tuple[str, str], policy_path: Path, markdown: bool) -> str:
    import tempfile

    from sla_engine.policytest.diff import DiffError, resolve_side
    from sla_engine.reports.agreement_changes import changes as compare
    from sla_engine.reports.agreement_changes import to_text

    with tempfile.TemporaryDirectory(prefix="sla-engine-agreement-") as tmp:
        try:
            old = resolve_side(changes[0], policy_path, Path(tmp), "old")
            new = resolve_side(changes[1], policy_path, Path(tmp), "new")
        except DiffError as error:
            raise click.ClickException(str(error)) from None
        return to_text(old.label, new.label, compare(old.policy_set, new.policy_set), markdown=markdown)
