"""Project configuration, so a cron line is just `sla-engine evaluate`.

Read from ``sla-engine.toml`` in the working directory, else ``[tool.sla-engine]`` in
``pyproject.toml``. Paths are relative to the file that names them. Secrets never live here:
a connector names the environment variable that holds one.
"""

from __future__ import annotations

import re
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sla_engine.connector import describe_validation_error
from sla_engine.language.model import UNIT_SECONDS
from sla_engine.store.errors import StoreError
from sla_engine.store.location import display, is_postgres

CONFIG_FILE = "sla-engine.toml"


class ConfigError(ValueError):
    """The configuration file is unreadable or says something we cannot do."""


class SourceConfig(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    type: str


DURATION = re.compile(r"^(\d+)\s*(m|h|d|w)$")


def parse_age(text: str) -> timedelta | None:
    """``90m``, ``24h``, ``2d``, ``1w``; ``never`` for no limit."""
    if text.strip().casefold() == "never":
        return None
    found = DURATION.match(text.strip())
    if found is None or int(found[1]) == 0:
        raise ValueError(f"{text!r} is not a duration like 90m, 24h, 2d or 1w (or never)")
    return timedelta(seconds=int(found[1]) * UNIT_SECONDS[found[2]])


class DeliveryConfig(BaseModel):
    """``[delivery]``: how `evaluate` and `deliver` send what the outbox holds."""

    model_config = ConfigDict(extra="forbid")

    digest: Literal["off", "run", "day"] = "off"
    """One message per recipient per run, or at most one a day, listing their leads."""
    max_age: str = "1d"
    """Rows due longer ago are expired, not sent (a first run over old history, a long outage)."""
    max_attempts: int = Field(5, ge=1)
    link_template: str | None = None
    """The CRM record of a lead, e.g. https://crm.example.com/leads/{lead_id}."""

    @field_validator("max_age")
    @classmethod
    def _age(cls, value: str) -> str:
        parse_age(value)
        return value

    @property
    def max_age_delta(self) -> timedelta | None:
        return parse_age(self.max_age)


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    policies: Path = Path("policies")
    db: str | None = None
    """The store: an SQLite file (relative to this file) or a ``postgresql://`` URL."""
    sources: list[SourceConfig] = Field(default_factory=list)
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)
    lock_timeout: float = 30.0
    base_dir: Path = Path(".")

    @field_validator("db", mode="before")
    @classmethod
    def _db_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, Path) else value

    @property
    def db_path(self) -> Path:
        """The store lives beside the policies unless the configuration says otherwise."""
        if is_postgres(self.db):
            raise StoreError(f"db = {display(str(self.db))!r} is a PostgreSQL store; this command reads "
                             "an SQLite file")
        if self.db is not None:
            return Path(self.db)
        return self.policies.parent / "sla-engine.db"

    @property
    def db_location(self) -> Path | str:
        """The store: a PostgreSQL URL as written, else the SQLite file."""
        return str(self.db) if is_postgres(self.db) else self.db_path


def _resolve(base: Path, data: dict[str, Any]) -> dict[str, Any]:
    resolved = dict(data)
    for key in ("policies", "db"):
        if key in resolved and resolved[key] is not None and not is_postgres(resolved[key]):
            resolved[key] = str(base / resolved[key])
    sources = []
    for source in resolved.get("sources", []):
        source = dict(source)
        for key in ("path", "leads", "activities"):
            if key in source:
                source[key] = str(base / source[key])
        sources.append(source)
    resolved["sources"] = sources
    resolved["base_dir"] = str(base)
    return resolved


def load_config(directory: Path | None = None, explicit: Path | None = None) -> Config:
    directory = directory or Path.cwd()
    candidates = [explicit] if explicit else [directory / CONFIG_FILE, directory / "pyproject.toml"]
    for path in candidates:
        if path is None or not path.is_file():
            if explicit:
                raise ConfigError(f"{explicit}: no such configuration file")
            continue
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"{path}: {error}") from None
        if path.name == "pyproject.toml":
            data = data.get("tool", {}).get("sla-engine")
            if data is None:
                continue
        base = path.parent
        try:
            return Config.model_validate(_resolve(base, data))
        except ValidationError as error:
            raise ConfigError(f"{path}: {describe_validation_error(error)}") from None
    return Config(base_dir=directory)
