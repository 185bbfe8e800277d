"""`sla-engine doctor`, registered on the main group by the cli package."""

from __future__ import annotations

import click

from sla_engine.cli.common import EXIT_ERROR, EXIT_OK


@click.command()
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text")
@click.pass_context
def doctor(ctx: click.Context, output: str) -> None:
    """Check the configuration, policies, store, secrets, sources and notifiers (exit 0 ready, 1 not)."""
    import json
    import sys
    from dataclasses import asdict

    from sla_engine.doctor import FAILED, diagnose
    from sla_engine.safe_text import one_line

    findings = diagnose((ctx.obj or {}).get("config_path"))
    if output == "json":
        click.echo(json.dumps([asdict(f) for f in findings], indent=2))
    else:
        width = max(len(f.what) for f in findings)
        for finding in findings:
            click.echo(f"{finding.status:<11} {finding.what:<{width}}  {one_line(finding.detail)}")
    failed = [f for f in findings if f.status == FAILED]
    if output != "json":
        click.echo(f"{len(failed)} problem(s)" if failed else "ready: nothing failed", err=True)
    sys.exit(EXIT_ERROR if failed else EXIT_OK)
