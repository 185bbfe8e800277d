"""What a delivery pass did: counts, and the first errors, dead rows and planned messages.

A pass over a large outbox (a first run over old history, a receiver down all day) can fail
or plan hundreds of thousands of rows; the report counts them all and lists the first
``MAX_KEPT``, with each distinct error counted once, so its size does not follow the outbox's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MAX_KEPT = 1000  # errors, dead rows and planned messages a report lists; beyond that it counts them


@dataclass
class DeliveryReport:
    dry_run: bool
    sent: int = 0
    messages: int = 0
    resent: int = 0
    failed: int = 0
    deferred: int = 0
    recorded_only: int = 0
    obsolete: int = 0
    expired: int = 0
    claimed_elsewhere: int = 0
    """Rows another delivery claimed, sent or retired after this one read them: left to it, not sent."""
    dead: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)
    planned: list[dict[str, Any]] = field(default_factory=list)
    dead_total: int = 0
    errors_total: int = 0
    planned_total: int = 0
    causes: dict[str, tuple[int, str]] = field(default_factory=dict)
    """Each error's text: how many rows had it, and the first row's key (what cron mail shows)."""

    def note_error(self, key: str, error: str) -> None:
        self.errors_total += 1
        if len(self.errors) < MAX_KEPT:
            self.errors.append({"key": key, "error": error})
        count, example = self.causes.get(error, (0, key))
        if count or len(self.causes) < MAX_KEPT:
            self.causes[error] = (count + 1, example)

    def note_dead(self, row: dict[str, Any]) -> None:
        self.dead_total += 1
        if len(self.dead) < MAX_KEPT:
            self.dead.append(row)

    def note_planned(self, plan: dict[str, Any]) -> None:
        self.planned_total += 1
        if len(self.planned) < MAX_KEPT:
            self.planned.append(plan)

    def summary(self) -> dict[str, Any]:
        """The counts, and the first MAX_KEPT errors, dead rows and planned messages."""
        return {"dry_run": self.dry_run, "sent": self.sent, "messages": self.messages, "resent": self.resent,
                "failed": self.failed, "deferred": self.deferred, "recorded_only": self.recorded_only,
                "obsolete": self.obsolete, "expired": self.expired, "dead": self.dead_total,
                "claimed_elsewhere": self.claimed_elsewhere,
                "errors_total": self.errors_total, "errors": self.errors, "planned_total": self.planned_total,
                "planned": self.planned}
