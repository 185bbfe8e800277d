"""Project configuration, so a cron line is just `sla-engine evaluate`.

Read from ``sla-engine.toml`` in the working directory, else ``[tool.sla-engine]`` in
``pyproject.toml``. Paths are relative to the file that names them. Secrets never live here:
a connector names the environment variable that holds one.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

CONFIG_FILE = "sla-engine.toml"


class ConfigError(ValueError):
    """The configuration file is unreadable or says something we cannot do."""


class SourceConfig(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    type: str


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    policies: Path = Path("policies")
    db: Path | None = None
    sources: list[SourceConfig] = Field(default_factory=list)
    lock_timeout: float = 30.0
    base_dir: Path = Path(".")

    @property
    def db_path(self) -> Path:
        """The store lives beside the policies unless the configuration says otherwise."""
        if self.db is not None:
            return self.db
        return self.policies.parent / "sla-engine.db"


def _resolve(base: Path, data: dict[str, Any]) -> dict[str, Any]:
    resolved = dict(data)
    for key in ("policies", "db"):
        if key in resolved and resolved[key] is not None:
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
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
            )
            raise ConfigError(f"{path}: {problems}") from None
    return Config(base_dir=directory)
