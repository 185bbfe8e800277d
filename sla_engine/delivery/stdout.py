"""The notifier that prints a message instead of sending it.

Delivery falls back to it when no notifier plugin serves a channel it must show (a dry run
with plugins turned off); the ``stdout`` plugin registers this same class as a channel.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from sla_engine.delivery.message import Message


class StdoutNotifier:
    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    def send(self, message: Message) -> None:
        out = self.stream or sys.stdout
        out.write(f"--- {message.channel} to {message.recipient} [{message.idempotency_key}]\n")
        out.write(f"Subject: {message.subject()}\n{message.text()}\n")
