"""`sla-engine test` and `sla-engine diff`, registered on the main group by the cli package.

Heavy modules are imported inside the commands so `sla-engine --help` stays fast.
Exit codes: test 0 all pass, 1 a failure, an error or coverage below --threshold;
diff 0 ran, 1 error, 2 `--fail-on-change` found a change.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from sla_engine.cli.common import load_config, parse_as_of

EXIT_OK, EXIT_ERROR, EXIT_CHANGED = 0, 1, 2


def _write(text: str, out: Path | None) -> None:
    if out is None:
        click.echo(text, nl=not text.endswith("\n"))
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    click.echo(f"wrote {out}", err=True)


@click.command("test")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--run", "pattern", metavar="REGEX", help="Only tests whose FILE::NAME matches (case-insensitive).")
@click.option("--format", "output", type=click.Choice(["text", "json", "junit"]), default="text")
@click.option("--coverage", "show_coverage", is_flag=True,
              help="Report the definitions, stages, tiers, windows, escalation levels and targets no test exercises.")
@click.option("--threshold", type=click.FloatRange(0, 100), metavar="PERCENT",
              help="Fail when coverage is below this share (implies --coverage).")
@click.option("--policies", type=click.Path(path_type=Path),
              help="The policy directory to test (default: named by the test file, else the nearest above it).")
@click.option("--out", type=click.Path(path_type=Path), help="Write the report to this file.")
@click.option("-v", "--verbose", is_flag=True, help="List passing tests too.")
@click.pass_context
def policy_test(ctx: click.Context, paths: tuple[Path, ...], pattern: str | None, output: str, show_coverage: bool,
         threshold: float | None, policies: Path | None, out: Path | None, verbose: bool) -> None:
    """Run the policy tests (*.test.toml) under PATHS (default: the configured policy directory)."""
    import re

    from sla_engine.policytest import report
    from sla_engine.policytest.coverage import combined_percent
    from sla_engine.policytest.run import run_paths

    show_coverage = show_coverage or threshold is not None
    if pattern:
        try:
            re.compile(pattern)
        except re.error as error:
            raise click.BadParameter(f"not a regular expression: {error}", param_hint="--run") from None
    targets = list(paths) if paths else [load_config(ctx).policies]
    try:
        run = run_paths(targets, pattern, policies)
    except FileNotFoundError as error:
        raise click.ClickException(str(error)) from None
    if output == "json":
        _write(report.to_json(run, show_coverage), out)
    elif output == "junit":
        _write(report.to_junit(run), out)
        click.echo(report.summary_line(run), err=True)
        if show_coverage:
            click.echo("\n".join(report.coverage_lines(run.coverage)), err=True)
    else:
        _write(report.to_text(run, verbose=verbose, coverage=show_coverage), out)
    below = threshold is not None and combined_percent(run.coverage) < threshold
    if below:
        click.echo(f"coverage {combined_percent(run.coverage):.1f}% is below the threshold of {threshold:g}%",
                   err=True)
    if not run.results:
        click.echo("no tests found: test files are named *.test.toml", err=True)
    sys.exit(EXIT_OK if run.ok and not below and run.results else EXIT_ERROR)


@click.command("diff")
@click.argument("old")
@click.argument("new")
@click.option("--events", "events", metavar="DB|URL|csv:PATH",
              help="The history to re-judge: a store (an SQLite file or a postgresql:// URL, only read), or "
                   "csv:PATH of an event log (default: the configured store).")
@click.option("--as-of", "as_of", help="Judge as of this instant (ISO 8601 with zone; default: now).")
@click.option("--format", "output", type=click.Choice(["text", "markdown", "json"]), default="text")
@click.option("--policies", type=click.Path(path_type=Path),
              help="The policies' path inside the repository, for revisions (default: configured).")
@click.option("--limit", type=click.IntRange(min=0), default=50, show_default=True,
              help="Changed leads to list in detail (0: all).")
@click.option("--fail-on-change", is_flag=True, help="Exit 2 when any outcome or target status changes.")
@click.option("--out", type=click.Path(path_type=Path), help="Write the report to this file.")
@click.pass_context
def policy_diff(ctx: click.Context, old: str, new: str, events: str | None, as_of: str | None, output: str,
         policies: Path | None, limit: int, fail_on_change: bool, out: Path | None) -> None:
    """Re-judge the same history under OLD and NEW policies (directories or git revisions); report what changes."""
    import tempfile

    from sla_engine.cli.progress import bars
    from sla_engine.policytest.diff import DiffError, open_events, resolve_side, run_diff, to_json, to_markdown, to_text

    config = load_config(ctx)
    moment = parse_as_of(as_of)
    policy_path = policies or config.policies
    with tempfile.TemporaryDirectory(prefix="sla-engine-diff-") as tmp:
        workdir = Path(tmp)
        source = None
        try:
            old_side = resolve_side(old, policy_path, workdir, "old")
            new_side = resolve_side(new, policy_path, workdir, "new")
            spec = events or str(config.db_location)
            with bars() as progress_bars:
                source = open_events(spec, workdir, progress=progress_bars.bar(f"reading {_log_name(spec)}"))
                judging = progress_bars.bar("judging leads under both policy sets") if progress_bars.shown else None
                result = run_diff(old_side, new_side, source, moment, workdir, limit=limit, progress=judging)
        except DiffError as error:
            raise click.ClickException(str(error)) from None
        finally:
            if source is not None:
                source.close()
    render = {"json": to_json, "markdown": to_markdown}.get(output, to_text)
    _write(render(result), out)
    sys.exit(EXIT_CHANGED if fail_on_change and result.changed else EXIT_OK)


def _log_name(spec: str) -> str:
    """What a bar calls the history it reads: an event log by its file name (a store is not read ahead)."""
    from sla_engine.safe_text import one_line

    return one_line(Path(spec.removeprefix("csv:")).name)
