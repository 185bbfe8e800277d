"""Lead data shown or sent anywhere carries no control character, no header break and no unsafe link."""

from __future__ import annotations

import pytest

from connectors.notify_email import EmailNotifier
from connectors.notify_slack import blocks
from sla_engine.delivery.message import Item, Message
from sla_engine.safe_text import escape_control, one_line, safe_link, strip_control


def item(**values: str) -> Item:
    fields = {"key": "k", "lead_id": "L1", "lead_name": "Ann", "company": "Acme", "policy": "p", "window": "w",
              "level": "on breach", "timing": "overdue by 1h", "owner": "rep@example.com", "link": "",
              "action": "notify owner via email"}
    return Item(**{**fields, **values})


def message(**values: str) -> Message:
    return Message(channel="email", address="rep@example.com", recipient="Rep", items=(item(**values),),
                   idempotency_key="idem")


def test_control_characters_are_stripped_escaped_or_made_one_line():
    assert strip_control("a\x1b[2Jb\x07\r\nc") == "a[2Jb\nc"
    assert one_line("Ann\r\nBcc: evil@example.com") == "Ann Bcc: evil@example.com"
    assert escape_control("x\x1by\n") == "x\\x1by\\n"
    assert strip_control("plain text") == "plain text"


@pytest.mark.parametrize(("url", "kept"), [
    ("https://crm.example.com/lead/1", True), ("http://x.example/a?b=c", True), ("HTTPS://X.EXAMPLE", True),
    ("javascript:alert(1)", False), ("data:text/html,<script>", False), ("https://x.example/a b", False),
    ("https://x.example/a|evil", False), ("https://x.example/\x1b[2J", False), ("//x.example", False), ("", False),
])
def test_only_plain_http_links_come_from_data(url, kept):
    assert safe_link(url) == (url if kept else "")


def test_a_lead_name_with_a_line_break_makes_a_one_line_subject_and_mail():
    hostile = message(lead_name="Ann\r\nBcc: evil@example.com", company="\x1b[31mAcme")
    assert "\n" not in hostile.subject() and "\r" not in hostile.subject()
    mail = EmailNotifier().build(hostile)  # raised "Header values may not contain linefeed" before
    assert mail["Subject"] == "SLA on breach: Ann Bcc: evil@example.com (w, overdue by 1h)"
    assert "\x1b" not in mail.as_string() and mail["Bcc"] is None


def test_a_slack_message_never_links_to_javascript():
    payload = blocks(message(link=safe_link("javascript:alert(1)"), lead_name="<!channel>"))
    assert "javascript:" not in str(payload)
    mrkdwn = [block["text"]["text"] for block in payload["blocks"] if block["type"] == "section"]
    assert mrkdwn and all("<!channel>" not in text for text in mrkdwn)  # plain_text headers ping nobody
