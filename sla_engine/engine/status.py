"""The statuses the engine gives a clock and a target, named once.

They are ``StrEnum``s so that the stored text, the JSON output and policy test files keep
spelling them as they always have ("met", "on target"), while code compares members.
"""

from __future__ import annotations

from enum import StrEnum


class ClockStatus(StrEnum):
    """Where a window's clock is as of a run."""

    RUNNING = "running"
    PAUSED = "paused"
    MET = "met"
    BREACHED = "breached"
    CANCELLED = "cancelled"
    NOT_APPLICABLE = "not_applicable"


FINAL_STATUSES = (ClockStatus.MET, ClockStatus.CANCELLED, ClockStatus.NOT_APPLICABLE)
"""A clock in one of these has stopped for good: nothing is due for it again."""
OPEN_STATUSES = (ClockStatus.RUNNING, ClockStatus.PAUSED)


class TargetStatus(StrEnum):
    """How a period target stands: the dashboard's grade."""

    ON_TARGET = "on target"
    AT_RISK = "at risk"
    MISSED = "missed"
    NO_DATA = "no data"
    NOT_IN_EFFECT = "not in effect"  # before the policy's effective instant: nothing is owed
