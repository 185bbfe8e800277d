"""`sla-engine init`: scaffold a policy repository, registered on the main group by the cli package."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("directory", required=False, default=".", type=click.Path(path_type=Path, file_okay=False))
def init(directory: Path) -> None:
    """Create a policy repository in DIRECTORY (default: here) that check, test and evaluate pass at once."""
    from sla_engine.scaffold import ScaffoldError, scaffold

    try:
        written = scaffold(directory)
    except ScaffoldError as error:
        raise click.ClickException(str(error)) from None
    for path in written:
        click.echo(f"created {path}")
    where = "" if directory == Path(".") else f"cd {directory} && "
    click.echo(f"\nnext: {where}sla-engine check && sla-engine test && sla-engine evaluate\n"
               "then edit policies/one_page.sla to your SLA, and point [[sources]] in sla-engine.toml "
               "at your CRM", err=True)
