"""The application facade as the commands call it: its errors become click's.

Each function is the ``sla_engine.app`` function of the same name, with an ``AppError`` turned
into the message and exit code 1 a person at a terminal expects (a policy set's errors are
printed first, each with its line and caret).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from sla_engine import app

if TYPE_CHECKING:
    from sla_engine.config import Config
    from sla_engine.connector import Connector
    from sla_engine.language.policy_set import PolicySet
    from sla_engine.store.db import Store

EXIT_OK, EXIT_ERROR, EXIT_MATCHED = 0, 1, 2


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the application's errors into click's, which print the message and exit 1."""
    try:
        yield
    except app.AsOfError as error:
        raise click.BadParameter(str(error), param_hint="--as-of") from None
    except app.InvalidPolicies as error:
        click.echo(error.rendered, err=True)
        raise click.ClickException(str(error)) from None
    except app.AppError as error:
        raise click.ClickException(str(error)) from None


def load_config(ctx: click.Context) -> Config:
    """The configuration: the --config file, else the working directory's."""
    with user_errors():
        return app.load_config((ctx.obj or {}).get("config_path"))


def parse_as_of(value: str | None) -> datetime:
    with user_errors():
        return app.parse_as_of(value)


def load_policies(path: Path) -> PolicySet:
    with user_errors():
        return app.load_policies(path)


def open_store(path: Path) -> Store:
    with user_errors():
        return app.open_store(path)


def open_existing_store(path: Path) -> Store:
    with user_errors():
        return app.open_existing_store(path)


def connector(config: Config, spec: str) -> Connector:
    with user_errors():
        return app.connector(config, spec)


def sources(config: Config, specs: tuple[str, ...]) -> list[Connector]:
    with user_errors():
        return app.sources(config, specs)
