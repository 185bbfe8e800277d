"""Post an escalation to a Microsoft Teams channel's incoming webhook as an Adaptive Card.

The payload is the one Microsoft documents for sending an Adaptive Card through an incoming
webhook: a ``message`` whose one attachment has content type
``application/vnd.microsoft.card.adaptive`` and the card as ``content``
("Create an Incoming Webhook", section "Send Adaptive Cards using an Incoming Webhook",
https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/add-incoming-webhook).
TextBlock text is rendered as a subset of Markdown ("Text formatting in cards",
https://learn.microsoft.com/en-us/microsoftteams/platform/task-modules-and-cards/cards/cards-format),
so lead data is escaped before it is put in a card: a lead named ``**[click](https://evil)**``
is shown as written, never as a link.
"""

from __future__ import annotations

import re
from typing import Any

from sla_engine.delivery.http import post_json
from sla_engine.delivery.message import Message

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
MAX_ITEMS = 40
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!<>|~])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def teams_escape(text: str) -> str:
    """Lead data as literal text in a card: control characters dropped, Markdown punctuation escaped."""
    return _MARKDOWN.sub(r"\\\1", _CONTROL.sub("", text))


def card(message: Message) -> dict[str, Any]:
    """The documented webhook body: one Adaptive Card listing the message's leads."""
    lines = message.lines("item", escape=teams_escape)
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": teams_escape(message.subject()), "weight": "Bolder", "size": "Medium",
         "wrap": True},
    ]
    body += [{"type": "TextBlock", "text": line, "wrap": True} for line in lines[:MAX_ITEMS]]
    if len(lines) > MAX_ITEMS:
        body.append({"type": "TextBlock", "text": f"…and {len(lines) - MAX_ITEMS} more", "wrap": True})
    body.append({"type": "TextBlock", "text": f"sla-engine {message.idempotency_key}", "isSubtle": True,
                 "size": "Small"})
    content = {"$schema": CARD_SCHEMA, "type": "AdaptiveCard", "version": "1.4", "body": body}
    return {"type": "message", "attachments": [{"contentType": CARD_CONTENT_TYPE, "contentUrl": None,
                                                "content": content}]}


class TeamsNotifier:
    """The ``teams`` channel: a contact's ``teams`` address is the channel's incoming-webhook URL."""

    address = "the incoming-webhook URL of a Teams channel (teams env(\"VAR\"))"

    def send(self, message: Message) -> None:
        post_json(message.address, card(message), {"Idempotency-Key": message.idempotency_key})
