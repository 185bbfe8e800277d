"""Escalation delivery: the outbox's due actions reach people and CRMs once, across cron runs.

``deliver`` is the entry point; docs/delivery.md explains the guarantees.
"""

from sla_engine.delivery.deliver import DeliveryReport, deliver

__all__ = ["DeliveryReport", "deliver"]
