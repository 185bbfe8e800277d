"""The command line: a thin shell over the application facade (sla_engine.app).

Every command lives in this package and only parses options and renders results. Heavy modules
are imported inside the commands, and the commands in this package's other modules only when
they are named or listed, so `sla-engine --help` and `--version` start fast.
Exit codes follow `terraform plan -detailed-exitcode` (see common.py): 0 ran clean, 1 error,
2 ran and `--fail-on` matched, 3 ran but some deliveries failed or died, 75 skipped because
another run holds the store.
"""

from __future__ import annotations

import importlib
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

import click

from sla_engine import __version__, app
from sla_engine.cli.common import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_STORE_DAMAGED,
    POLICIES_HELP,
    STORE_OPTION,
    as_of_or_last_run,
    connector,
    delivery_failed,
    load_config,
    load_policies,
    open_existing_store,
    open_store,
    parse_as_of,
    policies_argument,
    run_exit_code,
    shown,
    sources,
    store_problem,
)


class LazyCommand(NamedTuple):
    """A built-in command defined in another module of this package, imported when named."""

    target: str  # "module:attribute"
    summary: str  # the first sentence of its help, so that `--help` lists it without importing it


LAZY_COMMANDS = {
    "report": LazyCommand("sla_engine.cli.reports:report",
                          "The SLA dashboard: targets per period with status, and the metrics behind them."),
    "plan": LazyCommand("sla_engine.cli.reports:plan",
                        "The revenue goal worked backwards into clients, opportunities, SQLs and MQLs per period."),
    "agreement": LazyCommand("sla_engine.cli.reports:agreement",
                             "The written agreement, rendered from the policies that enforce it."),
    "serve": LazyCommand("sla_engine.cli.web:serve",
                         "The dashboard live in a browser: read-only, on 127.0.0.1 unless told otherwise."),
    "deliver": LazyCommand("sla_engine.cli.delivery:deliver",
                           "Send the due escalations in the outbox: once each, retrying failures with backoff."),
    "outbox": LazyCommand("sla_engine.cli.delivery:outbox",
                          "List the outbox: what is due, sent, failing or dead, and why."),
    "test": LazyCommand("sla_engine.cli.policytest:policy_test",
                        "Run the policy tests (*.test.toml) under PATHS (default: the configured policy directory)."),
    "init": LazyCommand("sla_engine.cli.scaffold:init",
                        "Create a policy repository in DIRECTORY (default: here) that check, test and evaluate "
                        "pass at once."),
    "doctor": LazyCommand("sla_engine.cli.doctor:doctor",
                          "Check the configuration, policies, store, secrets, sources and notifiers "
                          "(exit 0 ready, 1 not)."),
    "migrate": LazyCommand("sla_engine.cli.migrate:migrate",
                           "Create or upgrade the store's schema (SQLite or PostgreSQL); optionally copy an "
                           "SQLite store in."),
    "diff": LazyCommand("sla_engine.cli.policytest:policy_diff",
                        "Re-judge the same history under OLD and NEW policies (directories or git revisions); "
                        "report what changes."),
}


class PluginGroup(click.Group):
    """The command group, plus the commands plugins add through the register_commands hook.

    Plugins load only when commands are listed (``--help``) or a name is not built in, so a
    built-in command does not pay for them; a command in LAZY_COMMANDS is imported only when
    it is named or listed, so `sla-engine check` does not pay for the report or delivery ones.
    """

    _plugins_loaded = False

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        from sla_engine.plugins import PluginError, register_commands

        try:
            register_commands(self)
        except PluginError as error:
            raise click.ClickException(str(error)) from None

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_plugins()
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in LAZY_COMMANDS:
            module, _, attribute = LAZY_COMMANDS[cmd_name].target.partition(":")
            self.add_command(getattr(importlib.import_module(module), attribute), cmd_name)
        elif cmd_name not in self.commands:
            self._load_plugins()
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; a problem with the store file, wherever it surfaces, is one message
        saying what to do and its own exit code (75 locked, 74 disk full, 65 damaged); a bad
        option or value exits 1 like any other error, leaving 2 to mean `--fail-on` matched."""
        from sla_engine.store.errors import StoreError

        try:
            result = super().invoke(ctx)
        except click.UsageError as error:
            setattr(error, "exit_code", EXIT_ERROR)  # noqa: B010 - click's 2 would read as "--fail-on matched"
            raise
        except Exception as error:
            sqlite3 = sys.modules.get("sqlite3")  # not imported for `--help`: no SQLite error without it
            if isinstance(error, StoreError) or (sqlite3 is not None and isinstance(error, sqlite3.Error)):
                raise store_problem(error) from None
            raise
        if (ctx.obj or {}).get("store_damaged"):
            ctx.exit(EXIT_STORE_DAMAGED)
        return result

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Click's listing, with a lazy command shown by its summary instead of being imported for it."""
        listed: list[tuple[str, click.Command]] = []
        for name in self.list_commands(ctx):
            if name in LAZY_COMMANDS and name not in self.commands:
                listed.append((name, click.Command(name, help=LAZY_COMMANDS[name].summary)))
            elif (command := self.get_command(ctx, name)) is not None and not command.hidden:
                listed.append((name, command))
        if not listed:
            return
        limit = formatter.width - 6 - max(len(name) for name, _ in listed)
        rows = [(name, command.get_short_help_str(limit)) for name, command in listed]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=PluginGroup)
@click.version_option(__version__)
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=None,
              help="Configuration file (default: ./sla-engine.toml or [tool.sla-engine] in ./pyproject.toml).")
@click.pass_context
def main(ctx: click.Context, config_path: Path | None) -> None:
    """Run a sales-and-marketing SLA written as policy files."""
    ctx.ensure_object(dict)
    ctx.obj["config_path"] = config_path


# ---------------------------------------------------------------- language


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text")
@click.pass_context
def check(ctx: click.Context, paths: tuple[Path, ...], output: str) -> None:
    """Check a policy set and report every error at once (exit 0 clean, 1 errors; warnings do not fail).

    Files of the configured policy set are checked as part of it (names from its other files
    are known) and only their problems are reported, as a pre-commit hook needs.
    """
    import json

    from sla_engine.language.check import channels_used, check_files_of_set, check_paths
    from sla_engine.language.policy_set import load_policy_set
    from sla_engine.language.vocabulary import installed_channels
    from sla_engine.plugins import PluginError

    targets = list(paths) or [load_config(ctx).policies]
    policy_dir = _configured_policies(ctx) if paths else None
    warnings: list[Any] = []
    try:
        channels = installed_channels()
        if policy_dir is not None:
            diagnostics, sources = check_files_of_set(targets, policy_dir, channels, warnings)
        else:
            diagnostics, sources = check_paths(targets, channels, warnings)
    except FileNotFoundError as error:
        raise click.ClickException(str(error)) from None
    except PluginError as error:
        raise click.ClickException(str(error)) from None
    # Who would deliver each channel the escalations name: a plugin, so say which one.
    delivered_by = {} if diagnostics else {c: channels.plugins[c] for c in channels_used(load_policy_set(targets))}
    if output == "json":
        click.echo(json.dumps({"errors": [d.as_dict() for d in diagnostics],
                               "warnings": [d.as_dict() for d in warnings], "channels": delivered_by}, indent=2))
    else:
        for diagnostic in [*diagnostics, *warnings]:
            click.echo(diagnostic.render(sources.get(diagnostic.pos.file)))
        files = len(sources)
        warned = f", {len(warnings)} warning(s)" if warnings else ""
        if diagnostics:
            click.echo(f"{len(diagnostics)} error(s){warned} in {files} file(s)", err=True)
        else:
            click.echo(f"ok: {files} file(s), no errors{warned}", err=True)
            for channel, plugin in delivered_by.items():
                click.echo(f"  via {channel}: delivered by plugin {plugin}", err=True)
    sys.exit(EXIT_ERROR if diagnostics else EXIT_OK)


def _configured_policies(ctx: click.Context) -> Path | None:
    """The configured policy directory, for checking some of its files; None if the configuration cannot be read
    (the files are then checked alone, as they would be without one)."""
    from sla_engine import app

    try:
        return app.load_config((ctx.obj or {}).get("config_path")).policies
    except app.AppError:
        return None


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--check", "check_only", is_flag=True, help="Change nothing; exit 1 if a file needs formatting.")
@click.option("--diff", "show_diff", is_flag=True, help="Print what would change as a unified diff.")
@click.pass_context
def fmt(ctx: click.Context, paths: tuple[Path, ...], check_only: bool, show_diff: bool) -> None:
    """Rewrite policy files in the one canonical layout."""
    import difflib

    from sla_engine.language.errors import PolicyError
    from sla_engine.language.fmt import format_source
    from sla_engine.language.policy_set import policy_files

    targets = list(paths) or [load_config(ctx).policies]
    try:
        files = policy_files(targets)
    except FileNotFoundError as error:
        raise click.ClickException(str(error)) from None
    needs, failed = [], False
    for path in files:
        text = path.read_text(encoding="utf-8")
        try:
            formatted = format_source(text, str(path))
        except PolicyError as error:
            click.echo(str(error), err=True)
            failed = True
            continue
        if formatted == text:
            continue
        needs.append(path)
        if show_diff:
            click.echo("".join(difflib.unified_diff(
                text.splitlines(keepends=True), formatted.splitlines(keepends=True),
                fromfile=str(path), tofile=f"{path} (formatted)",
            )), nl=False)
        if not check_only and not show_diff:
            path.write_text(formatted, encoding="utf-8")
            click.echo(f"formatted {path}", err=True)
    if check_only:
        for path in needs:
            click.echo(f"would reformat {path}", err=True)
    if failed or (check_only and needs):
        sys.exit(EXIT_ERROR)


# ---------------------------------------------------------------- engine


@main.command()
@click.argument("policies", required=False, type=click.Path(path_type=Path))
@click.option("--policies", "policies_option", type=click.Path(path_type=Path), help=POLICIES_HELP)
@click.option("--source", "source_specs", multiple=True, metavar="NAME|TYPE:ARG",
              help="A configured source, or TYPE:ARG such as csv:events.csv (default: every configured source).")
@click.option("--db", type=STORE_OPTION,
              help="The store: a file or a postgresql:// URL (default: beside the policies).")
@click.option("--as-of", "as_of", help="Judge as of this instant (ISO 8601 with zone; default: now).")
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text")
@click.option("--dry-run", is_flag=True, help="Evaluate and report, but write nothing to the store or a push target.")
@click.option("--fail-on", type=click.Choice(["breach", "warning"]),
              help="Exit 2 when this run finds a new breach (or a new warning or breach); 3 still wins "
                   "when some deliveries failed.")
@click.option("--lock-timeout", type=float, default=None, help="Seconds to wait for another run (default 30).")
@click.option("--no-sync", is_flag=True, help="Pull no source: judge the events already in the store.")
@click.option("--push", "push_target", metavar="NAME|TYPE:ARG",
              help="After evaluating, write SLA status to a configured source or TYPE:ARG (csv:status.csv).")
@click.option("--no-deliver", is_flag=True,
              help="Record due actions but do not send them (run `sla-engine deliver` later).")
@click.option("--chunk-leads", type=click.IntRange(min=1), default=None,
              help="Leads judged per committed chunk (default 5000): a crash loses one chunk at most.")
@click.option("--rejudge-seconds", type=click.FloatRange(min=0), default=60.0, show_default=True,
              help="After a policy change, time a run spends re-judging leads beyond those due; "
                   "the next runs go on.")
@click.option("--judging-processes", type=click.IntRange(min=0), default=None,
              help="Processes forked to judge beside this one (default: one per core for 5,000 leads or more; "
                   "0 or 1: judge in this process).")
@click.option("--join", is_flag=True,
              help="PostgreSQL: judge chunks of the run another evaluate has open on the store, beside it, "
                   "then exit (waits --lock-timeout for one to open; syncs and delivers nothing).")
@click.pass_context
def evaluate(ctx: click.Context, policies: Path | None, policies_option: Path | None,
             source_specs: tuple[str, ...], db: Path | None,
             as_of: str | None, output: str, dry_run: bool, fail_on: str | None,
             lock_timeout: float | None, no_sync: bool, push_target: str | None, no_deliver: bool,
             chunk_leads: int | None, rejudge_seconds: float, judging_processes: int | None, join: bool) -> None:
    """Sync the sources, evaluate every policy over the lead events and record what is due.

    On a PostgreSQL store, `evaluate --join` on other machines (or cores) judges the run's leads
    beside it: each claims chunks of leads no other process holds (docs/scaling.md)."""
    import json

    if join:
        refused = [name for name, given in (("--dry-run", dry_run), ("--push", push_target),
                                            ("--source", source_specs), ("--as-of", as_of),
                                            ("--chunk-leads", chunk_leads), ("--fail-on", fail_on)) if given]
        if refused:
            raise click.UsageError(f"--join takes the run's own sources, as-of and chunks; drop {', '.join(refused)}")
        _join(ctx, policies_argument(policies, policies_option), db, output, lock_timeout, rejudge_seconds,
              judging_processes)
        return

    from sla_engine.cli.delivery import render_delivery
    from sla_engine.cli.progress import bars
    from sla_engine.connector import ConnectorError
    from sla_engine.reports.run_summary import render_run
    from sla_engine.runner import BackInTime, evaluate_run, git_commit_of
    from sla_engine.safe_text import one_line
    from sla_engine.sync import open_pulls, push_updates, status_updates

    config = load_config(ctx)
    moment = parse_as_of(as_of)
    policies = policies_argument(policies, policies_option)
    policy_dir = app.policy_path(config, policies)
    policy_set = load_policies(policy_dir)
    connectors = [] if no_sync else sources(config, source_specs)
    target = connector(config, push_target) if push_target else None
    if target is not None and not target.can_push():
        raise click.ClickException(f"'{push_target}' cannot be written to")
    wait = lock_timeout if lock_timeout is not None else config.lock_timeout
    store = open_store(app.store_path(config, policies, db), wait)
    pushed = None
    delivered = None
    try:
        with store.locked(wait), bars() as progress_bars:
            pulls = open_pulls(store, connectors, datetime.now(timezone.utc))
            for pull in pulls:
                pull.progress = progress_bars.bar(f"reading {one_line(pull.name)}")
            report = evaluate_run(policy_set, store, [(pull.name, pull) for pull in pulls], moment,
                                  dry_run=dry_run, keep_instances=output == "json" or target is not None,
                                  git_commit=git_commit_of(app.project_dir(policy_dir)),
                                  progress=progress_bars.bar("judging leads"),
                                  chunk_leads=chunk_leads, rejudge_seconds=rejudge_seconds,
                                  workers=judging_processes)
            if target is not None:
                updates = status_updates(store, overlay=report.instances if dry_run else ())
                pushed = push_updates(store, target, updates, dry_run=dry_run)
            if not no_deliver:
                delivered = app.run_delivery(policy_set, store, policy_dir, moment, dry_run=dry_run,
                                             connectors=connectors, settings=config.delivery,
                                             print_messages=False,  # bodies: `deliver --dry-run`
                                             progress=progress_bars.bar("delivering (outbox rows)"))
    except BackInTime as error:
        raise click.ClickException(str(error)) from None
    except ConnectorError as error:
        raise click.ClickException(str(error)) from None
    finally:
        store.close()
        app.close_all([*connectors, *([target] if target is not None else [])])
    stopped = [{"source": p.name, "stopped": p.stopped} for p in pulls if p.stopped]
    if output == "json":
        payload: dict[str, Any] = {"run": report.summary(), "instances": report.instances}
        if stopped:
            payload["sync_stopped"] = stopped
        if pushed is not None:
            payload["push"] = pushed.summary()
            if dry_run:
                payload["push"]["would_write"] = [_describe_update(u) for u in pushed.planned]
        if delivered is not None:
            payload["deliver"] = delivered.summary()
        click.echo(json.dumps(payload, indent=2, default=str))
    else:
        render_run(report)
        for item in stopped:
            click.echo(shown(f"warning: source {item['source']} stopped early: {item['stopped']}"), err=True)
        if pushed is not None:
            _render_push(pushed)
        if delivered is not None:
            render_delivery(delivered)
    matched = (fail_on == "breach" and report.new_breach_count) or (
        fail_on == "warning" and (report.new_breach_count or report.new_warning_count))
    failed_push = pushed is not None and bool(pushed.failed)
    undelivered = failed_push or (delivered is not None and delivery_failed(delivered))
    sys.exit(run_exit_code(matched=bool(matched), undelivered=undelivered))


def _join(ctx: click.Context, policies: Path | None, db: Path | None, output: str, lock_timeout: float | None,
          rejudge_seconds: float, judging_processes: int | None) -> None:
    """`evaluate --join`: judge chunks of the open run, print what this process judged."""
    import json

    from sla_engine.cli.progress import bars
    from sla_engine.reports.run_summary import render_joined
    from sla_engine.runner import PolicyMismatch, join_run
    from sla_engine.store.location import is_postgres

    config = load_config(ctx)
    location = app.store_path(config, policies, db)
    if not is_postgres(location):
        raise click.ClickException("--join needs a PostgreSQL store (db = \"postgresql://…\"): an SQLite store "
                               "has one writer, so one process judges each run")
    policy_set = load_policies(app.policy_path(config, policies))
    wait = lock_timeout if lock_timeout is not None else config.lock_timeout
    store = open_store(location, wait)
    try:
        with bars() as progress_bars:
            report = join_run(policy_set, store, wait_seconds=wait, progress=progress_bars.bar("judging leads"),
                              rejudge_seconds=rejudge_seconds, workers=judging_processes)
    except PolicyMismatch as error:
        raise click.ClickException(str(error)) from None
    finally:
        store.close()
    if report is None:
        message = f"no run opened on {store.path} within {wait:.0f}s: nothing to join"
        if output == "json":
            click.echo(json.dumps({"joined": None, "message": message}, indent=2))
        else:
            click.echo(message, err=True)
        return
    if output == "json":
        summary = {key: value for key, value in report.summary().items()
                   if key in ("id", "as_of", "policy_hash", "new_breaches", "new_warnings", "actions_due")}
        click.echo(json.dumps({"joined": {**summary, "leads_judged": report.judged}}, indent=2))
    else:
        render_joined(report)


def _describe_update(update: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return {"kind": type(update).__name__, **asdict(update)}


def _render_push(pushed: Any) -> None:
    if pushed.dry_run:
        click.echo(f"push {pushed.target}: would write {len(pushed.planned)} update(s)", err=True)
        for update in pushed.planned:
            fields = _describe_update(update)
            click.echo(shown("  " + " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)), err=True)
        return
    click.echo(f"push {pushed.target}: {pushed.ok} written, {len(pushed.failed)} failed, "
               f"{pushed.skipped} with nothing to write ({len(pushed.planned)} changed)", err=True)
    for result in pushed.failed:
        click.echo(shown(f"  {result.lead_id}: {result.error}"), err=True)


@main.command()
@click.option("--source", "source_specs", multiple=True, metavar="NAME|TYPE:ARG",
              help="Only this source (default: every configured source).")
@click.option("--db", type=STORE_OPTION, help="The store: a file or a postgresql:// URL (default: configured).")
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text")
@click.option("--lock-timeout", type=float, default=None, help="Seconds to wait for another run (default 30).")
@click.pass_context
def sync(ctx: click.Context, source_specs: tuple[str, ...], db: Path | None, output: str,
         lock_timeout: float | None) -> None:
    """Pull what changed in each source since its last sync into the store."""
    import json

    from sla_engine.cli.progress import bars
    from sla_engine.connector import ConnectorError
    from sla_engine.safe_text import one_line
    from sla_engine.sync import sync_sources

    config = load_config(ctx)
    connectors = sources(config, source_specs)
    if not connectors:
        raise click.ClickException("no sources: configure [[sources]] or pass --source")
    wait = lock_timeout if lock_timeout is not None else config.lock_timeout
    store = open_store(db or config.db_location, wait)
    try:
        with store.locked(wait), bars(enabled=output != "json") as progress_bars:

            def progress(pull: Any) -> Any:
                pull.progress = progress_bars.bar(f"reading {one_line(pull.name)}")
                return pull

            summaries = sync_sources(store, connectors, datetime.now(timezone.utc), progress=progress)
    except ConnectorError as error:
        raise click.ClickException(str(error)) from None
    finally:
        store.close()
        app.close_all(connectors)
    if output == "json":
        click.echo(json.dumps([vars(s) for s in summaries], indent=2, default=str))
        return
    for summary in summaries:
        c = summary.counts
        people = f", {summary.owners} users and queues" if summary.owners is not None else ""
        click.echo(shown(f"{summary.name}: {c['read']} read, {c['new_events']} new, {c['quarantined']} quarantined"
                         f"{people}"))
        if c.get("conflicts"):
            click.echo(f"  {c['conflicts']} events reused an id already read with other content: the first was "
                       "kept, the others quarantined", err=True)
        if summary.owners_error:
            click.echo(shown(f"  owners not read (the last ones read stay): {summary.owners_error}"), err=True)
        for stream, cursor in sorted(summary.cursors.items()):
            click.echo(shown(f"  {stream}: up to {cursor.split('|')[0]}"))
        if summary.stopped:
            click.echo(shown(f"  stopped early: {summary.stopped}"), err=True)


@main.command()
@click.option("--source", help="Only rows from this source.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many rows.")
@click.option("--db", type=STORE_OPTION, help="The store: a file or a postgresql:// URL (default: configured).")
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text")
@click.pass_context
def quarantine(ctx: click.Context, source: str | None, limit: int | None, db: Path | None, output: str) -> None:
    """List the event rows kept out of the store, each with its reason, file and line."""
    import json

    from sla_engine.safe_text import one_line

    store = open_existing_store(app.store_path(load_config(ctx), None, db))
    try:
        rows = store.quarantine.rows(source, limit)
    finally:
        store.close()
    if output == "json":
        click.echo(json.dumps([{**row, "raw": json.loads(row["raw"] or "null")} for row in rows], indent=2))
        return
    for row in rows:
        where = f"{row['file']}:{row['line']}" if row["file"] else "-"
        parsed = json.loads(row["raw"] or "null")
        if isinstance(parsed, dict):  # the cells that were filled, not the dozens left empty
            parsed = {k: v for k, v in parsed.items() if v not in ("", None)}
        raw = one_line(json.dumps(parsed, ensure_ascii=False))
        click.echo(f"{one_line(row['source'])}  {one_line(where)}  {one_line(row['reason'])}\n    "
                   f"{raw[:95]}{'…' if len(raw) > 95 else ''}")
    click.echo(f"{len(rows)} quarantined row(s)", err=True)


@main.command()
@click.argument("lead_id")
@click.option("--window", "window_name", help="Only this window.")
@click.option("--policies", "policies", type=click.Path(path_type=Path), help=POLICIES_HELP)
@click.option("--db", type=STORE_OPTION, help="The store, a file or a postgresql:// URL.")
@click.option("--as-of", "as_of", help="Explain as of this instant (default: the last run's as-of).")
@click.option("--zone", help="Show every time in this zone, e.g. America/New_York (default: the zone of the "
                             "policies that judge the lead when they agree, else UTC).")
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text")
@click.pass_context
def explain(ctx: click.Context, lead_id: str, window_name: str | None, policies: Path | None,
            db: Path | None, as_of: str | None, zone: str | None, output: str) -> None:
    """Show a lead's timeline: events, stages, tier and why, each clock and its deadline arithmetic."""
    from sla_engine.reports.explain import explanation, render_explanation
    from sla_engine.store import owners

    if zone is not None:
        _check_zone(zone)
    config = load_config(ctx)
    policy_set = load_policies(app.policy_path(config, policies))
    windows = sorted({w.name for p in policy_set.policies.values() for w in p.windows})
    if window_name is not None and window_name not in windows:
        raise click.BadParameter(f"no window named {window_name!r} in the policies; they declare: "
                                 f"{', '.join(windows) or 'none'}", param_hint="--window")
    db_path = app.store_path(config, policies, db)
    store = open_existing_store(db_path)
    try:
        events = store.events.of_lead(lead_id)
        people = {ident: owners.label(owner) for ident, owner in store.owners.all().items()}
        moment = as_of_or_last_run(as_of, store)
    finally:
        store.close()
    if not events:
        raise click.ClickException(f"no events for lead {lead_id!r} in {db_path}")
    if output == "json":
        import json

        click.echo(json.dumps(explanation(policy_set, lead_id, events, moment, window_name, zone),
                              indent=2, default=str))
        return
    from sla_engine.safe_text import strip_control

    text = strip_control(render_explanation(policy_set, lead_id, events, moment, window_name, people, zone))
    if sys.stdout.isatty():  # a person reading: long lines wrap under their own words, not under the times
        import shutil

        text = wrapped(text, shutil.get_terminal_size().columns)
    click.echo(text)


def wrapped(text: str, width: int) -> str:
    """Each line cut to ``width``, its continuations indented under its words (after a trace line's
    time), or four spaces further than the line itself."""
    import re
    import textwrap

    lines = []
    for line in text.split("\n"):
        if len(line) <= width:
            lines.append(line)
            continue
        stamp = re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+ {2}", line)
        indent = " " * min(len(stamp.group(0)) if stamp else len(line) - len(line.lstrip(" ")) + 4, width // 2)
        lines += textwrap.wrap(line, width, subsequent_indent=indent, break_long_words=True, break_on_hyphens=False)
    return "\n".join(lines)


def _check_zone(name: str) -> None:
    from zoneinfo import ZoneInfo

    try:
        ZoneInfo(name)
    except (ValueError, KeyError):  # ZoneInfoNotFoundError is a KeyError; a path-like name a ValueError
        raise click.BadParameter(f"unknown time zone {name!r}: give an IANA name such as America/New_York "
                                 "or UTC", param_hint="--zone") from None


@main.command()
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text")
def plugins(output: str) -> None:
    """List the loaded plugins, the distributions they come from and the hooks they implement."""
    import json
    from dataclasses import asdict

    from sla_engine.plugins import PluginError, loaded_plugins, problems

    found = problems()
    try:
        listed = loaded_plugins(with_registrations=not found)
    except PluginError:
        listed = []
    if output == "json":
        click.echo(json.dumps({"plugins": [asdict(p) for p in listed], "problems": found}, indent=2))
    else:
        for plugin in listed:
            origin = f"{plugin.distribution} {plugin.version}" if plugin.distribution else "?"
            registered = f"\t{', '.join(plugin.registered)}" if plugin.registered else ""
            click.echo(f"{plugin.name}\t{origin}\t{plugin.module}\t{', '.join(plugin.hooks)}{registered}")
        for problem in found:
            click.echo(f"error: {problem}", err=True)
    if found:
        raise SystemExit(1)

