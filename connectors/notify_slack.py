"""The ``slack`` notifier: a Block Kit message through an incoming webhook.

A contact's ``slack`` is the webhook URL itself (``slack env("SLACK_SALES_WEBHOOK")``), or a
channel name (``"#revenue"``) posted through SLA_ENGINE_SLACK_WEBHOOK_URL. Lead data is
escaped for Slack's mrkdwn, so a lead named ``<!channel>`` pings nobody.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sla_engine.delivery.secrets import secret_env
from sla_engine.hookspecs import hookimpl

if TYPE_CHECKING:  # every `sla-engine --help` imports this module: the delivery modules load when used
    from sla_engine.delivery.message import Message

MAX_ITEMS = 40  # Slack allows 50 blocks a message
IDEMPOTENCY_HEADER = "Idempotency-Key"


def blocks(message: Message) -> dict[str, Any]:
    from sla_engine.delivery.message import slack_escape

    lines = [_unlinked(line) for line in message.lines("slack_item", escape=slack_escape)]
    body: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": message.subject()[:150]}},
    ]
    body += [{"type": "section", "text": {"type": "mrkdwn", "text": line[:3000]}} for line in lines[:MAX_ITEMS]]
    if len(lines) > MAX_ITEMS:
        body.append({"type": "section", "text": {"type": "mrkdwn", "text": f"…and {len(lines) - MAX_ITEMS} more"}})
    body.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"sla-engine {message.idempotency_key}"}]})
    return {"text": slack_escape(message.subject()), "blocks": body}


def _unlinked(line: str) -> str:
    """A link whose URL is empty (a lead without one) as its plain text: `<|name>` would show
    the raw markup. Escaped data never holds `<`, so only a template's own `<$link|…>` matches."""
    return _EMPTY_LINK.sub(r"\1", line)


_EMPTY_LINK = re.compile(r"<\|([^>]*)>")


class SlackNotifier:
    # contacts give one for this channel: `slack "..."`
    address = "an incoming-webhook URL, or a #channel posted through SLA_ENGINE_SLACK_WEBHOOK_URL"

    def send(self, message: Message) -> None:
        from sla_engine.delivery.http import post_json

        payload = blocks(message)
        url = message.address
        if not url.startswith(("https://", "http://")):
            payload["channel"] = message.address
            url = secret_env("SLA_ENGINE_SLACK_WEBHOOK_URL") or ""
        post_json(url, payload, {IDEMPOTENCY_HEADER: message.idempotency_key})


@hookimpl
def register_notifiers(register: Callable[[str, Callable[..., Any]], None]) -> None:
    register("slack", SlackNotifier)
