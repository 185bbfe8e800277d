"""The connector protocol: how lead events come in from a system and SLA status goes back.

A connector is a class a plugin registers (see docs/connectors.md). It has a pydantic
configuration, a ``pull`` that streams events changed since a cursor per stream, and an
optional ``push`` that writes SLA status, tasks and owner changes back, one result per
update. Connectors never touch the store: sync.py keeps their cursors and push state.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError, model_validator

from sla_engine.events import EventType, LeadEvent, make_event_id, normalize_identifier
from sla_engine.redact import remember, scrub

UTC = timezone.utc
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ConnectorError(RuntimeError):
    """A connector cannot do its work; the message says what to fix and never holds a secret.

    Shown only scrubbed (sla_engine.redact): a CRM that echoes the token in an error body, quoted
    into the message, prints as ``***``.
    """

    def __str__(self) -> str:
        return scrub(super().__str__())


class ConnectorConfigError(ConnectorError):
    """The configuration of a connector is invalid."""


class PushNotSupported(ConnectorError):
    """This connector only reads."""


# ---------------------------------------------------------------- configuration


class Secret(BaseModel):
    """Where a secret lives: ``{env = "NAME"}`` or ``{file = "PATH"}``, never the value itself.

    The value is read when the connector needs it and never kept on the configuration, so
    printing, logging or dumping a configuration cannot leak it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    env: str | None = None
    """The environment variable that holds the secret."""
    file: Path | None = None
    """A file that holds it (relative to the configuration file)."""
    _where: str = PrivateAttr("")  # "source 'crm', option api_token": set by Connector.configure

    @model_validator(mode="before")
    @classmethod
    def _not_a_literal(cls, value: Any) -> Any:
        if isinstance(value, str):
            # The message must not repeat the value: it may be the secret itself.
            raise ValueError('secrets are never written in configuration; use {env = "VAR"} or {file = "PATH"}')
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> Secret:
        if (self.env is None) == (self.file is None):
            raise ValueError('give exactly one of env or file, e.g. {env = "HUBSPOT_TOKEN"}')
        return self

    def reveal(self) -> str:
        """The secret's value, read now from the environment or the file."""
        if self.env is not None:
            value = os.environ.get(self.env)
            if not value:
                raise ConnectorConfigError(f"environment variable {self.env} is not set{self._context()}")
            remember(value)
            return value.strip()
        assert self.file is not None
        try:
            value = self.file.read_text(encoding="utf-8")
            remember(value)
            return value.strip()
        except OSError as error:
            raise ConnectorConfigError(
                f"cannot read secret file {self.file}: {error.strerror}{self._context()}") from None

    def _context(self) -> str:
        return f" ({self._where})" if self._where else ""

    def __eq__(self, other: object) -> bool:  # where it is needed is context, not part of the reference
        return isinstance(other, Secret) and (self.env, self.file) == (other.env, other.file)

    def __hash__(self) -> int:
        return hash((self.env, self.file))

    def __str__(self) -> str:
        return f"env:{self.env}" if self.env else f"file:{self.file}"


class ConnectorConfig(BaseModel):
    """Base of every connector's configuration: unknown keys are errors, secrets are Secret."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lookback_seconds: float = 300.0
    """Each pull starts this long before the stored cursor, so writes committed late are read."""


def describe_validation_error(error: ValidationError) -> str:
    """Field paths and messages only: pydantic's own text repeats input values, which may be secrets."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '(config)'}: {e['msg']}" for e in error.errors()
    )


# ---------------------------------------------------------------- pulling


@dataclass(frozen=True)
class Cursor:
    """How far a stream has been read: a time, and the last record id at that time (a tiebreak)."""

    at: datetime
    """The time read up to: records changed at or before it have been read."""
    after_id: str = ""
    """The id of the last record read at ``at``, for a stream paged in (time, id) order; empty when stepped back."""

    def dump(self) -> str:
        return f"{self.at.astimezone(UTC).isoformat()}|{self.after_id}"

    @classmethod
    def parse(cls, text: str | None) -> Cursor | None:
        if not text:
            return None
        at, _, after_id = text.partition("|")
        return cls(datetime.fromisoformat(at), after_id)


@dataclass
class PullResult:
    """What a pull gives: a stream of items, then the new cursor of each stream it read.

    ``items`` is an iterator so a first sync of a million leads never sits in memory;
    ``cursors`` is complete only once ``items`` is exhausted. ``stopped`` says why a pull
    ended early (an API quota, say); the cursors then mark what was read, so the next
    run resumes there.
    """

    items: Iterator[Any]
    """LeadEvents, Rejections for records that cannot be read, and (from ``pull_rows``) EventRows."""
    cursors: dict[str, Cursor] = field(default_factory=dict)
    """The new cursor of each stream read; complete only once ``items`` is exhausted."""
    stopped: str | None = None
    """Why the pull ended early (an API quota), or None; the cursors then mark what was read."""


@dataclass(frozen=True)
class Rejection:
    """A record a pull cannot read: yield it among the events, and the engine quarantines it with its reason.

    Never drop a record silently, and never stop the pull for one: the rest of the stream is
    still read. Use it for the source's bad data, not for the connector's own mistakes.
    """

    reason: str
    """What is wrong and what to fix, without secrets (``occurred_at '2026-08-03 09:05' has no time zone``)."""
    raw: dict[str, Any] = field(default_factory=dict)
    """The record as read, kept in the quarantine (leave out anything secret)."""
    file: str = ""
    """Where it came from: a file, or the API object or stream it was read from (``persons``)."""
    line: int | None = None
    """Its line in the file or position in the stream, or None."""


def stable_event(
    *,
    source: str,
    lead_id: str,
    type: EventType | str,
    occurred_at: datetime,
    key: str,
    payload: dict[str, Any] | None = None,
) -> LeadEvent:
    """An event whose id comes from the remote record's identity, not its time.

    A record read again with a corrected time (a task completed later, a conversion stamp)
    then replaces its event instead of adding a second one.
    """
    type_ = EventType(type)
    lead_id = normalize_identifier(lead_id)  # before the id is made from it
    return LeadEvent.build(
        source=source, lead_id=lead_id, type=type_, occurred_at=occurred_at, payload=payload,
        event_id=make_event_id(source, lead_id, type_, _EPOCH, key),
    )


# ---------------------------------------------------------------- people


@dataclass(frozen=True)
class Owner:
    """A person or queue a CRM can own a lead by: its id there, and the email policies name it by.

    ``kind`` is ``user`` or ``queue`` (a Salesforce queue, a HubSpot team's inbox); a queue has no
    email. ``active`` is False for a deactivated user: their id still explains old assignments
    but is never written.
    """

    id: str
    email: str | None
    name: str = ""
    kind: str = "user"
    active: bool = True


# ---------------------------------------------------------------- pushing


@dataclass(frozen=True)
class StatusUpdate:
    """The current SLA status of one lead in one window (its latest cycle)."""

    lead_id: str
    """The lead, by the id its events carry."""
    policy: str
    """The policy's name (``inbound``)."""
    window: str
    """The window's name (``first_response``): map it to a field of yours, or skip it."""
    cycle: int
    """Which clock of the window: 1, then 2 after a recycle, and so on."""
    tier: str | None
    """The tier's name, or None when the policy has no tiers or the lead is in none."""
    status: str
    """The window's state."""
    due_at: datetime | None
    """The deadline, or None when there is none (not applicable, or no goal for the tier)."""
    breached_at: datetime | None
    """When the deadline passed, or None."""

    @property
    def key(self) -> str:
        """``status|LEAD|POLICY|WINDOW``: one status per lead and window, whatever its cycle."""
        return f"status|{self.lead_id}|{self.policy}|{self.window}"


@dataclass(frozen=True)
class TaskRequest:
    """A task for a person in the CRM, e.g. for an escalation; ``key`` is the outbox key."""

    key: str
    """The outbox key: the same task always has the same key, so write it idempotently by key."""
    lead_id: str
    """The lead the task is about."""
    subject: str
    """One line, for the task's subject."""
    description: str = ""
    """More text; may be empty."""
    due_at: datetime | None = None
    """When the task is due, or None."""
    owner: str | None = None
    """Who the task is for (a CRM user id or an email), or None for the lead's owner."""


@dataclass(frozen=True)
class OwnerChange:
    """Reassign a lead; ``key`` identifies the decision (the outbox key) so it happens once."""

    key: str
    """The outbox key, the same every time this decision is sent."""
    lead_id: str
    """The lead to reassign."""
    owner: str
    """The new owner as the policy's team lists them (an email or a CRM user id): map it to your user id."""


@dataclass(frozen=True)
class FieldChange:
    """Set one lead field (ours, by its vocabulary name) from an escalation's ``set``; ``key`` is the outbox key."""

    key: str
    """The outbox key, the same every time this change is sent."""
    lead_id: str
    """The lead to change."""
    field: str
    """The vocabulary's name of the field (``status``, ``sla_status``): map it to yours, or fail naming it."""
    value: Any
    """The value to write: text, a number, a boolean or None."""


Update = StatusUpdate | TaskRequest | OwnerChange | FieldChange


def fingerprint(update: Update) -> str:
    """What an update says, so an unchanged update is not sent twice."""
    raw = json.dumps({"kind": type(update).__name__, **asdict(update)}, sort_keys=True, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class PushResult:
    """The outcome for one update: ok, or an error a person can act on.

    ``skipped`` is ok with nothing written: the target keeps nothing for this update (a window
    no field is mapped to, say).
    """

    key: str
    """The key of the update this answers."""
    lead_id: str
    """The lead of that update."""
    ok: bool
    """True when written (or skipped)."""
    error: str | None = None
    """What went wrong, for a person to act on, never holding a secret; None when ok."""
    remote_id: str | None = None
    """The id of what was written (a task's id), kept with the push state."""
    skipped: bool = False
    """Ok with nothing written: the target has no place for this update."""


# ---------------------------------------------------------------- the base class


class Connector:
    """Subclass this, set ``Config`` and ``streams``, implement ``pull`` and maybe ``push``.

    ``name`` is the instance's name from the configuration (a source ``crm`` of type
    ``salesforce``): sync state is kept per instance and stream, and it is the ``source`` of
    every event the instance produces.
    """

    Config: ClassVar[type[ConnectorConfig]] = ConnectorConfig
    """The pydantic model a ``[[sources]]`` table (less ``name`` and ``type``) is validated against."""
    streams: ClassVar[tuple[str, ...]] = ("events",)
    """The streams a pull reads, each with its own cursor (``persons``, ``activities``)."""
    target_option: ClassVar[str | None] = None
    """The option that ``--source TYPE:ARG`` / ``--push TYPE:ARG`` fills with ARG (e.g. ``path``)."""
    snapshot_push: ClassVar[bool] = False
    """True when push rewrites everything (a file): it is given every status, not only changes."""

    def __init__(self, name: str, config: ConnectorConfig) -> None:
        self.name = name
        self.config = config

    @classmethod
    def configure(cls, name: str, options: Mapping[str, Any]) -> Self:
        """Validate options into ``Config``; the error names fields, never values."""
        try:
            config = cls.Config.model_validate(dict(options))
        except ValidationError as error:
            raise ConnectorConfigError(f"{name}: {describe_validation_error(error)}") from None
        for field_name in type(config).model_fields:
            value = getattr(config, field_name)
            if isinstance(value, Secret):
                value._where = f"needed by source {name!r}, option {field_name}"
        return cls(name, config)

    @classmethod
    def from_target(cls, name: str, target: str) -> Self:
        """The connector for ``TYPE:ARG`` on the command line."""
        if cls.target_option is None:
            raise ConnectorConfigError(f"{name}: this connector takes no TYPE:ARG; configure it in [[sources]]")
        return cls.configure(name, {cls.target_option: target})

    def pull(self, cursors: Mapping[str, Cursor | None], until: datetime) -> PullResult:
        """Stream what changed after ``cursors[stream]`` and at or before ``until``."""
        raise NotImplementedError

    def pull_rows(self, cursors: Mapping[str, Cursor | None], until: datetime) -> PullResult:
        """``pull`` for the store: its items may also be ``EventRow``s, events already in the store's shape.

        The engine ingests through this. Override it only to save building a LeadEvent per record
        for records checked as LeadEvent's validators would check them; by default it is ``pull``.
        """
        return self.pull(cursors, until)

    def pull_owners(self) -> list[Owner] | None:
        """The CRM's users and queues, read whole each sync; None when the source has no owners.

        Sync keeps them in the store, so reports and ``explain`` show people, and a reassignment
        to a team member (an email) is written as the member's id in this CRM.
        """
        return None

    def push(self, updates: Sequence[Update]) -> Iterable[PushResult]:
        """Write updates back; one PushResult per update, in any order."""
        raise PushNotSupported(f"{self.name}: this connector cannot write back")

    def close(self) -> None:
        """Release connections; called once after pull and push."""

    @classmethod
    def can_push(cls) -> bool:
        return cls.push is not Connector.push

    def event_source(self) -> str:
        """The ``source`` of the events this instance produces; delivery finds a lead's connector by it."""
        return self.name

    @classmethod
    def takes_actions(cls) -> bool:
        """Whether push takes owner changes, tasks and field changes one at a time, as delivery sends them.

        A snapshot target rewrites everything from what one push holds, so by default it takes
        none; one that keeps actions apart from status (the CSV connector) says so.
        """
        return cls.can_push() and not cls.snapshot_push
