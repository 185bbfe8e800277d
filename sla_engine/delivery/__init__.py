"""Escalation delivery: the outbox's due actions reach people and CRMs once, across cron runs.

``sla_engine.delivery.deliver.deliver`` is the entry point; docs/delivery.md explains the
guarantees. This package imports nothing at load, so notifier plugins stay cheap to load.
"""
