"""The application: what every command does before and after its own job, written once.

Loading the configuration and a checked policy set, finding and opening the store (beside the
policies unless told otherwise), resolving connectors and the as-of instant: the command line
and a server call these same functions, then do their own job and render the result. Nothing
here prints or knows about click; a problem the user must fix is an ``AppError`` whose message
says what to do. Heavy modules are imported where used so that a command pays only for its own.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sla_engine.config import Config, DeliveryConfig
    from sla_engine.connector import Connector
    from sla_engine.delivery.deliver import DeliveryReport
    from sla_engine.language.errors import Diagnostic
    from sla_engine.language.policy_set import PolicySet
    from sla_engine.store.db import Store

STORE_FILE = "sla-engine.db"


class AppError(Exception):
    """Something the user must fix; the message says what."""


class AsOfError(AppError):
    """The --as-of instant is not an ISO 8601 timestamp with a zone."""


class InvalidPolicies(AppError):
    """The policy set has errors: ``rendered`` shows each with its line and caret."""

    def __init__(self, diagnostics: list[Diagnostic], sources: dict[str, str]) -> None:
        from sla_engine.language.errors import render_all

        super().__init__(f"the policy set has {len(diagnostics)} error(s); run `sla-engine check`")
        self.diagnostics = diagnostics
        self.rendered = render_all(diagnostics, sources)


def load_config(explicit: Path | None = None) -> Config:
    """The configuration of the working directory, or of the file named."""
    from sla_engine.config import ConfigError
    from sla_engine.config import load_config as read

    try:
        return read(explicit=explicit)
    except ConfigError as error:
        raise AppError(str(error)) from None


def parse_as_of(value: str | None) -> datetime:
    """An ISO 8601 instant with a zone (``Z`` allowed); none means now."""
    if not value:
        return datetime.now(timezone.utc)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise AsOfError(f"'{value}' is not an ISO 8601 timestamp") from None
    if parsed.tzinfo is None:
        raise AsOfError("give a time zone, e.g. 2026-10-30T18:00:00Z")
    return parsed


def policy_path(config: Config, policies: Path | None) -> Path:
    """The policies named on the command line, else the configured ones."""
    return Path(policies or config.policies)


def store_path(config: Config, policies: Path | None, db: Path | str | None) -> Path | str:
    """The store named (an SQLite file or a PostgreSQL URL), else beside policies named on the command
    line, else the configured one."""
    from sla_engine.store.location import is_postgres

    if db is not None:
        return db if is_postgres(db) else Path(db)
    return config.db_location if policies is None else Path(policies).parent / STORE_FILE


def project_dir(policies: Path) -> Path:
    """The directory of a policy set: where its people file, templates and git history are."""
    return policies if policies.is_dir() else policies.parent


def load_policies(path: Path) -> PolicySet:
    """The policy set at ``path``, checked first: every error at once or none."""
    from sla_engine.language.check import check_paths
    from sla_engine.language.policy_set import load_policy_set

    try:
        diagnostics, sources = check_paths([path])
    except FileNotFoundError as error:
        raise AppError(str(error)) from None
    if diagnostics:
        raise InvalidPolicies(diagnostics, sources)
    return load_policy_set([path])


def render_agreement(policy_set: PolicySet, policy: str | None, output: str) -> str:
    """The written agreement of one policy (else of every policy), as Markdown or one HTML page."""
    from sla_engine.reports.agreement import build_all, to_html, to_markdown

    try:
        agreements = build_all(policy_set, policy)
    except KeyError as error:
        raise AppError(error.args[0]) from None
    if not agreements:
        raise AppError("the policy set has no policy to render")
    return to_html(agreements) if output == "html" else to_markdown(agreements)


def open_store(path: Path | str, timeout: float = 30.0) -> Store:
    """The store at ``path`` (an SQLite file or a PostgreSQL URL), created or migrated, with what the
    plugins prepare in it.

    ``timeout``: how long to wait for another program's lock on the store (a StoreLocked after).
    """
    from sla_engine.plugins import PluginError, prepare_database
    from sla_engine.store.backend import open_location

    store = open_location(path, timeout)
    try:
        prepare_database(store)
    except PluginError as error:
        store.close()
        raise AppError(str(error)) from None
    return store


def open_existing_store(path: Path | str) -> Store:
    """The store a run left, for commands that only read: there must be one (a PostgreSQL store is
    migrated as it is opened, so an empty database reads as a store with nothing in it yet)."""
    from sla_engine.store.backend import open_location
    from sla_engine.store.location import is_postgres

    if not is_postgres(path) and not Path(path).exists():
        raise AppError(f"{path}: no store yet; run `sla-engine evaluate` first")
    return open_location(path)


def _resolve_secret_files(options: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """A secret ``{file = "..."}`` is relative to the configuration file, like every other path."""
    resolved = dict(options)
    for key, value in options.items():
        if isinstance(value, dict) and isinstance(value.get("file"), str) and not Path(value["file"]).is_absolute():
            resolved[key] = {**value, "file": str(base_dir / value["file"])}
    return resolved


def connector(config: Config, spec: str) -> Connector:
    """A configured source by name, else ``TYPE:ARG`` (e.g. csv:events.csv)."""
    from sla_engine.connector import ConnectorError
    from sla_engine.plugins import PluginError, connectors

    try:
        registry = connectors()
        for source in config.sources:
            if source.name == spec:
                if source.type not in registry:
                    raise AppError(
                        f"source '{source.name}': unknown type '{source.type}' (known: {', '.join(sorted(registry))})"
                    )
                options = _resolve_secret_files(source.model_dump(exclude={"name", "type"}), config.base_dir)
                return registry[source.type].configure(source.name, options)
        kind, _, target = spec.partition(":")
        if kind not in registry:
            configured = ", ".join(s.name for s in config.sources) or "none"
            raise AppError(
                f"'{spec}' is neither a configured source (configured: {configured}) nor TYPE:ARG "
                f"with a known type (known: {', '.join(sorted(registry))})"
            )
        if not target:
            raise AppError(f"'{spec}': give TYPE:ARG, e.g. {kind}:PATH, or configure it in [[sources]]")
        return registry[kind].from_target(spec, target)
    except (PluginError, ConnectorError) as error:
        raise AppError(str(error)) from None


def sources(config: Config, specs: tuple[str, ...] = ()) -> list[Connector]:
    """Connectors from NAME or TYPE:ARG specs, else every configured source."""
    return [connector(config, spec) for spec in (specs or tuple(s.name for s in config.sources))]


def close_all(connectors: list[Any]) -> None:
    for each in connectors:
        each.close()


def people_file(policies: Path, explicit: Path | None = None) -> Path | None:
    """The people file named, else people.csv or people.json beside the policies."""
    if explicit is not None:
        return explicit
    base = project_dir(policies)
    return next((p for p in (base / "people.csv", base / "people.json") if p.is_file()), None)


def run_delivery(policy_set: PolicySet, store: Store, policies: Path, as_of: datetime, *, dry_run: bool,
                 connectors: list[Any], settings: DeliveryConfig, people: Path | None = None,
                 print_messages: bool = True,
                 progress: Callable[[int, int | None], None] | None = None) -> DeliveryReport:
    """Deliver with the policy set's templates and people file and the ``[delivery]`` settings.

    What `deliver` does, and `evaluate` at its end. The caller holds the store's lock; ``progress``
    is told how many rows the pass has taken up.
    """
    from sla_engine.delivery.deliver import deliver
    from sla_engine.delivery.recipients import load_people

    return deliver(policy_set, store, as_of, dry_run=dry_run, connectors=connectors,
                   people=load_people(people_file(policies, people)), templates_dir=project_dir(policies) / "templates",
                   digest=settings.digest, max_attempts=settings.max_attempts, link_template=settings.link_template,
                   max_age=settings.max_age_delta, print_messages=print_messages, progress=progress)


def migrate_store(location: Path | str, copy_from: Path | None = None) -> tuple[int, int, dict[str, int]]:
    """Create or upgrade the store's schema; with ``copy_from``, then copy that SQLite store into it.

    Returns (version before, version after, rows copied per table). ``location`` is an SQLite file
    or a PostgreSQL URL; only a PostgreSQL store can be copied into.
    """
    from sla_engine.store.location import is_postgres

    if not is_postgres(location):
        if copy_from is not None:
            raise AppError("--copy-from copies an SQLite store into a PostgreSQL one: give --db postgresql://…")
        from sla_engine.store.db import Store, sqlite_version

        before = sqlite_version(Path(location))
        store = Store(Path(location))
        after = store.version
        store.close()
        return before, after, {}
    from sla_engine.store.postgres import connect
    from sla_engine.store.postgres_copy import copy_sqlite_store
    from sla_engine.store.postgres_schema import migrate

    conn = connect(str(location))
    try:
        before, after = migrate(conn)
        copied = copy_sqlite_store(copy_from, conn) if copy_from is not None else {}
    finally:
        conn.close()
    return before, after, copied


