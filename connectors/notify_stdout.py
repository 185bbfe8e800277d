"""The ``stdout`` notifier: print each message instead of sending it (dry runs, trying a policy)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from sla_engine.hookspecs import hookimpl

if TYPE_CHECKING:
    from sla_engine.delivery.message import Message


class StdoutNotifier:
    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    def send(self, message: Message) -> None:
        out = self.stream or sys.stdout
        out.write(f"--- {message.channel} to {message.recipient} [{message.idempotency_key}]\n")
        out.write(f"Subject: {message.subject()}\n{message.text()}\n")


@hookimpl
def register_notifiers(register: Callable[[str, Callable[..., Any]], None]) -> None:
    register("stdout", StdoutNotifier)
