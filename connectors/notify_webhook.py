"""The ``webhook`` notifier: a JSON post signed with HMAC-SHA256, carrying an idempotency key.

The signature is ``X-SLA-Engine-Signature: sha256=<hex hmac of the body>`` with the key in
SLA_ENGINE_WEBHOOK_SECRET; ``Idempotency-Key`` is the same on every resend of a message, so
a receiver that keeps the keys it has seen acts on each message once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from sla_engine.delivery.secrets import secret_env
from sla_engine.hookspecs import hookimpl

if TYPE_CHECKING:  # every `sla-engine --help` imports this module: the delivery modules load when used
    from sla_engine.delivery.message import Message

SIGNATURE_HEADER = "X-SLA-Engine-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"


def sign(secret: str, body: bytes) -> str:
    import hashlib
    import hmac

    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def payload(message: Message) -> dict[str, Any]:
    return {"idempotency_key": message.idempotency_key, "recipient": message.recipient,
            "subject": message.subject(), "items": [asdict(item) for item in message.items]}


class WebhookNotifier:
    address = "a URL the signed JSON is posted to"  # contacts give one for this channel: `webhook "..."`

    def send(self, message: Message) -> None:
        import json

        from sla_engine.delivery.http import post_json

        secret = secret_env("SLA_ENGINE_WEBHOOK_SECRET") or ""
        body = json.dumps(payload(message), sort_keys=True).encode()
        post_json(message.address, body, {SIGNATURE_HEADER: sign(secret, body),
                                          IDEMPOTENCY_HEADER: message.idempotency_key})


@hookimpl
def register_notifiers(register: Callable[[str, Callable[..., Any]], None]) -> None:
    register("webhook", WebhookNotifier)
