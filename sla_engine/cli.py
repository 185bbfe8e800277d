"""The command line: a thin shell over language, engine, store and reports.

Heavy modules are imported inside the commands so `sla-engine --help` starts fast.
Exit codes follow `terraform plan -detailed-exitcode`: 0 ran, 1 error, 2 ran and
`--fail-on` matched.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from sla_engine.config import Config

EXIT_OK, EXIT_ERROR, EXIT_MATCHED = 0, 1, 2


def _parse_as_of(value: str | None) -> datetime:
    if not value:
        return datetime.now(timezone.utc)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"'{value}' is not an ISO 8601 timestamp", param_hint="--as-of") from None
    if parsed.tzinfo is None:
        raise click.BadParameter("give a time zone, e.g. 2026-10-30T18:00:00Z", param_hint="--as-of")
    return parsed


def _config(ctx: click.Context) -> Config:
    from sla_engine.config import ConfigError, load_config

    try:
        return load_config(explicit=ctx.obj.get("config_path"))
    except ConfigError as error:
        raise click.ClickException(str(error)) from None


@click.group()
@click.version_option(package_name="sla-engine")
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
    """Check a policy set and report every error at once (exit 0 clean, 1 errors)."""
    from sla_engine.language.check import check_paths

    targets = list(paths) or [_config(ctx).policies]
    try:
        diagnostics, sources = check_paths(targets)
    except FileNotFoundError as error:
        raise click.ClickException(str(error)) from None
    if output == "json":
        click.echo(json.dumps({"errors": [d.as_dict() for d in diagnostics]}, indent=2))
    else:
        for diagnostic in diagnostics:
            click.echo(diagnostic.render(sources.get(diagnostic.pos.file)))
        files = len(sources)
        if diagnostics:
            click.echo(f"{len(diagnostics)} error(s) in {files} file(s)", err=True)
        else:
            click.echo(f"ok: {files} file(s), no errors", err=True)
    sys.exit(EXIT_ERROR if diagnostics else EXIT_OK)


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

    targets = list(paths) or [_config(ctx).policies]
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


def _load_policies(path: Path) -> Any:
    from sla_engine.language.check import check_paths
    from sla_engine.language.errors import render_all
    from sla_engine.language.policy_set import load_policy_set

    try:
        diagnostics, sources = check_paths([path])
    except FileNotFoundError as error:
        raise click.ClickException(str(error)) from None
    if diagnostics:
        click.echo(render_all(diagnostics, sources), err=True)
        raise click.ClickException(f"the policy set has {len(diagnostics)} error(s); run `sla-engine check`")
    return load_policy_set([path])


def _sources(config: Config, specs: tuple[str, ...]) -> list[tuple[str, Any]]:
    """Connectors from --source NAME:ARG, else from the configuration."""
    from sla_engine.plugins import PluginError, connectors

    try:
        registry = connectors()
    except PluginError as error:
        raise click.ClickException(str(error)) from None
    opened: list[tuple[str, Any]] = []
    if specs:
        for spec in specs:
            kind, _, target = spec.partition(":")
            if kind not in registry:
                raise click.ClickException(f"unknown source type '{kind}' (known: {', '.join(sorted(registry))})")
            opened.append((spec, registry[kind](target=target or None)))
    else:
        for source in config.sources:
            if source.type not in registry:
                raise click.ClickException(
                    f"source '{source.name}': unknown type '{source.type}' (known: {', '.join(sorted(registry))})"
                )
            options = source.model_dump(exclude={"name", "type"})
            opened.append((source.name, registry[source.type](**options)))
    return opened


# ---------------------------------------------------------------- engine


@main.command()
@click.argument("policies", required=False, type=click.Path(path_type=Path))
@click.option("--source", "source_specs", multiple=True, metavar="TYPE:ARG",
              help="A source to read, e.g. csv:examples/data/events.csv (default: the configured sources).")
@click.option("--db", type=click.Path(path_type=Path), help="The SQLite store (default: beside the policies).")
@click.option("--as-of", "as_of", help="Judge as of this instant (ISO 8601 with zone; default: now).")
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text")
@click.option("--dry-run", is_flag=True, help="Evaluate and report, but write nothing to the store.")
@click.option("--fail-on", type=click.Choice(["breach", "warning"]),
              help="Exit 2 when this run finds a new breach (or a new warning or breach).")
@click.option("--lock-timeout", type=float, default=None, help="Seconds to wait for another run (default 30).")
@click.pass_context
def evaluate(ctx: click.Context, policies: Path | None, source_specs: tuple[str, ...], db: Path | None,
             as_of: str | None, output: str, dry_run: bool, fail_on: str | None,
             lock_timeout: float | None) -> None:
    """Evaluate every policy over the lead events and record what is due."""
    from sla_engine.reports.run_summary import render_run
    from sla_engine.runner import evaluate_run, git_commit_of
    from sla_engine.store.db import Store, StoreLocked

    config = _config(ctx)
    moment = _parse_as_of(as_of)
    policy_dir = policies or config.policies
    policy_set = _load_policies(policy_dir)
    sources = [(name, connector.pull()) for name, connector in _sources(config, source_specs)]
    db_path = db or (config.db_path if policies is None else policy_dir.parent / "sla-engine.db")
    store = Store(db_path)
    try:
        with store.locked(lock_timeout if lock_timeout is not None else config.lock_timeout):
            report = evaluate_run(policy_set, store, sources, moment, dry_run=dry_run,
                                  git_commit=git_commit_of(policy_dir if policy_dir.is_dir() else policy_dir.parent))
    except StoreLocked as error:
        raise click.ClickException(str(error)) from None
    finally:
        store.close()
    if output == "json":
        click.echo(json.dumps({"run": report.summary(), "instances": report.instances}, indent=2, default=str))
    else:
        render_run(report)
    matched = (fail_on == "breach" and report.new_breaches) or (
        fail_on == "warning" and (report.new_breaches or report.new_warnings))
    sys.exit(EXIT_MATCHED if matched else EXIT_OK)


@main.command()
@click.argument("lead_id")
@click.option("--window", "window_name", help="Only this window.")
@click.option("--policies", "policies", type=click.Path(path_type=Path))
@click.option("--db", type=click.Path(path_type=Path))
@click.option("--as-of", "as_of", help="Explain as of this instant (default: now).")
@click.pass_context
def explain(ctx: click.Context, lead_id: str, window_name: str | None, policies: Path | None,
            db: Path | None, as_of: str | None) -> None:
    """Show a lead's timeline: events, stages, tier and why, each clock and its deadline arithmetic."""
    from sla_engine.reports.explain import render_explanation
    from sla_engine.store.db import Store

    config = _config(ctx)
    policy_dir = policies or config.policies
    policy_set = _load_policies(policy_dir)
    db_path = db or (config.db_path if policies is None else policy_dir.parent / "sla-engine.db")
    if not Path(db_path).exists():
        raise click.ClickException(f"{db_path}: no store yet; run `sla-engine evaluate` first")
    store = Store(db_path)
    try:
        events = store.lead_events(lead_id)
    finally:
        store.close()
    if not events:
        raise click.ClickException(f"no events for lead {lead_id!r} in {db_path}")
    click.echo(render_explanation(policy_set, lead_id, events, _parse_as_of(as_of), window_name))


@main.command()
def plugins() -> None:
    """List the loaded plugins and the distributions they come from."""
    from importlib.metadata import entry_points

    from sla_engine.plugins import get_plugin_manager

    manager = get_plugin_manager()
    by_name = {ep.name: ep for ep in entry_points(group="sla_engine")}
    for name, plugin in sorted(manager.list_name_plugin()):
        entry_point = by_name.get(name)
        dist = entry_point.dist if entry_point is not None else None
        origin = f"{dist.name} {dist.version}" if dist else "?"
        hooks = sorted(h.name for h in manager.get_hookcallers(plugin) or [])
        click.echo(f"{name}\t{origin}\t{getattr(plugin, '__name__', plugin)}\t{', '.join(hooks)}")


if __name__ == "__main__":  # pragma: no cover
    main()
