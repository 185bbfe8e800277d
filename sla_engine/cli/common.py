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
from typing import TYPE_CHECKING, Any

import click

from sla_engine import app
from sla_engine.store.errors import StoreCorrupt, StoreError, StoreLocked, store_error

if TYPE_CHECKING:
    from sla_engine.config import Config
    from sla_engine.connector import Connector
    from sla_engine.language.policy_set import PolicySet
    from sla_engine.store.db import Store

# What a run's exit status tells cron (README, "Exit codes"), after terraform's -detailed-exitcode.
EXIT_OK = 0  # ran clean
EXIT_ERROR = 1  # did not run: bad policies, configuration or values, a source that failed
EXIT_MATCHED = 2  # ran, and --fail-on matched (a new breach or warning)
EXIT_UNDELIVERED = 3  # ran, but some messages, CRM actions or status writes failed or died
EXIT_LOCKED = StoreLocked.exit_code  # 75: skipped, another run holds the store; nothing changed
EXIT_STORE_DAMAGED = StoreCorrupt.exit_code


def run_exit_code(*, matched: bool = False, undelivered: bool = False) -> int:
    """One status for a run that finished: undelivered alerts outrank a --fail-on match, because
    a breach nobody was told about is the failure cron must not miss."""
    if undelivered:
        return EXIT_UNDELIVERED
    return EXIT_MATCHED if matched else EXIT_OK


def delivery_failed(report: object) -> bool:
    """Whether a delivery left something unsent: failed (to be retried) or dead."""
    return bool(getattr(report, "failed", 0) or getattr(report, "dead", ()))


class StoreProblem(click.ClickException):
    """A StoreError as click shows it, exiting with that kind's own code (see store/errors.py)."""

    def __init__(self, error: StoreError) -> None:
        super().__init__(str(error))
        self.exit_code = error.exit_code  # type: ignore[misc]  # click reads it from the instance


def store_problem(error: BaseException) -> StoreProblem:
    """An SQLite error or a StoreError raised anywhere in a command, said for the store it opened."""
    if isinstance(error, StoreError):
        return StoreProblem(error)
    context = click.get_current_context(silent=True)
    path = ((context.find_root().obj or {}) if context else {}).get("store_path", "the store")
    return StoreProblem(store_error(error, path))  # type: ignore[arg-type]


def _remember_store(path: Path | str) -> None:
    from sla_engine.store.location import display, is_postgres

    context = click.get_current_context(silent=True)
    if context is not None:
        root = context.find_root()
        root.ensure_object(dict)
        root.obj["store_path"] = display(str(path)) if is_postgres(path) else path


class StoreOption(click.ParamType):
    """``--db``: an SQLite file (a Path), or a PostgreSQL URL kept as written."""

    name = "path|url"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path | str:
        from sla_engine.store.location import is_postgres

        return str(value).strip() if is_postgres(value) else Path(value)


STORE_OPTION = StoreOption()


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


def shown(line: str) -> str:
    """A line with data in it, as a terminal may show it: secrets scrubbed, control characters
    (escape sequences, CR/LF) removed."""
    from sla_engine.redact import scrub
    from sla_engine.safe_text import one_line

    return one_line(scrub(line))


def load_config(ctx: click.Context) -> Config:
    """The configuration: the --config file, else the working directory's."""
    with user_errors():
        return app.load_config((ctx.obj or {}).get("config_path"))


def parse_as_of(value: str | None) -> datetime:
    with user_errors():
        return app.parse_as_of(value)


def as_of_or_last_run(value: str | None, store: Store) -> datetime:
    """--as-of, else the last run's as-of, else now. `report`, `explain` and `deliver` agree: the
    store is as its last run left it, so that is the moment they show (and send) by default."""
    if value:
        return parse_as_of(value)
    last = store.runs.last()
    return last["as_of"] if last else parse_as_of(None)


def load_policies(path: Path) -> PolicySet:
    with user_errors():
        return app.load_policies(path)


def open_store(path: Path | str, timeout: float = 30.0) -> Store:
    _remember_store(path)
    with user_errors():
        return app.open_store(path, timeout)


def open_existing_store(path: Path | str) -> Store:
    """The store, checked first (PRAGMA quick_check): a damaged one is read as far as it can be,
    with a warning first and exit code 65 at the end, never silently."""
    _remember_store(path)
    with user_errors():
        store = app.open_existing_store(path)
    problems = store.integrity_problems(quick=True)
    if problems:
        shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
        click.echo(f"warning: {path} is damaged (PRAGMA quick_check: {shown}). What follows may be "
                   "incomplete: restore the store from a backup, or move it aside and run `sla-engine "
                   "evaluate` to rebuild it from the sources", err=True)
        click.get_current_context().find_root().obj["store_damaged"] = True
    return store


def connector(config: Config, spec: str) -> Connector:
    with user_errors():
        return app.connector(config, spec)


def sources(config: Config, specs: tuple[str, ...]) -> list[Connector]:
    with user_errors():
        return app.sources(config, specs)


POLICIES_HELP = "The policy directory (default: `policies` in the configuration, else ./policies)."


def policies_argument(positional: Path | None, option: Path | None) -> Path | None:
    """`--policies` is the one way every command names the policies; `evaluate` and `deliver` also
    take it as their first argument, as older cron lines do. Both given must agree."""
    if positional is not None and option is not None and positional != option:
        raise click.BadParameter(f"the policies are given twice ({positional} and {option}): give --policies once",
                                 param_hint="--policies")
    return option or positional
