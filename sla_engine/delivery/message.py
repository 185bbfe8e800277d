"""What a notifier sends: one message to one address, listing one lead (or a digest of several).

Messages render from small templates (string.Template with a fixed set of fields) that a
policy set can override with ``templates/<name>.txt`` beside its policies. Each medium
escapes lead data its own way before it is put into a template: HTML for email, Slack's
mrkdwn control characters for Slack; JSON needs nothing.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from string import Template

from sla_engine.safe_text import one_line, strip_control

ITEM_FIELDS = ("lead_id", "lead_name", "company", "policy", "window", "level", "timing", "owner", "link", "action")

DEFAULTS: dict[str, str] = {
    "subject": "SLA $level: $lead_name ($window, $timing)",
    "digest_subject": "SLA: $count leads need attention",
    "item": "$lead_name ($company): $policy/$window $level, $timing; owner $owner. $link",
    "body": "Hello $recipient,\n\n$items\n\nsla-engine",
    "slack_item": "*<$link|$lead_name>* ($company): $policy/$window *$level*, $timing; owner $owner",
    "review_subject": "$lead_name: $timing",
    "review_item": "$lead_name: $timing. $action",
}
REVIEW_POLICY = "review"  # the weekly review's rows (`report --send`): its title, counts and what missed


@dataclass(frozen=True)
class Item:
    """One lead's line in a message. Every field is plain text from data: escape before use."""

    key: str
    """The outbox key of the action."""
    lead_id: str
    """The lead's id."""
    lead_name: str
    """The lead's name (data: escape it)."""
    company: str
    """The lead's company (data: escape it)."""
    policy: str
    """The policy's name."""
    window: str
    """The window's label."""
    level: str
    """The escalation level, as the policy says it (``on breach``, ``2h after breach``, ``at warning``)."""
    timing: str
    """Where the clock stands, in words (``30m left``, ``overdue by 2h``, ``met (stopped …)``)."""
    owner: str
    """The lead's owner."""
    link: str
    """A link to the lead in the CRM, or empty."""
    action: str
    """What the escalation asks, in words."""

    def fields(self) -> dict[str, str]:
        return {k: v for k, v in asdict(self).items() if k in ITEM_FIELDS}


class Templates:
    """Defaults, overridden by ``<dir>/<name>.txt`` files."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory

    def get(self, name: str) -> str:
        """The override beside the policies, else the default. An override that is a link out of
        its directory is not read (it would mail that file to every recipient): the default is used."""
        if self.directory is not None:
            path = self.directory / f"{name}.txt"
            if path.is_file() and path.resolve().is_relative_to(self.directory.resolve()):
                return path.read_text(encoding="utf-8").rstrip("\n")
            if path.is_file():
                logging.getLogger(__name__).warning("template %s links outside %s; not read", path, self.directory)
        return DEFAULTS[name]

    def render(self, name: str, values: Mapping[str, str], escape: Callable[[str], str] = str) -> str:
        """The template with each value stripped of control characters, then escaped for the medium."""
        return Template(self.get(name)).safe_substitute({k: escape(strip_control(str(v))) for k, v in values.items()})


@dataclass(frozen=True)
class Message:
    """One message: where it goes, what it lists, and the key a receiver dedupes on."""

    channel: str
    """The channel it goes by (``teams``)."""
    address: str
    """The person's address on the channel (read now from its environment variable, if it names one).

    On a channel whose notifier declares no address, the person's key.
    """
    recipient: str
    """The person's display name."""
    items: tuple[Item, ...]
    """One Item per lead: one for a notice, several for a digest."""
    idempotency_key: str
    """The same on every resend of this message: send it so the receiver can drop repeats."""
    templates: Templates = field(default_factory=Templates, compare=False)
    """The policy set's templates; ``subject()``, ``lines()``, ``text()`` and ``html()`` render with them."""

    @property
    def is_digest(self) -> bool:
        return len(self.items) > 1

    def subject(self) -> str:
        """One line: the lead and its level, or how many leads a digest lists."""
        if self.is_digest:
            return one_line(self.templates.render("digest_subject", {"count": str(len(self.items))}))
        first = self.items[0]
        subject = "review_subject" if first.policy == REVIEW_POLICY else "subject"
        return one_line(self.templates.render(subject, first.fields()))  # a mail and a Slack header

    def lines(self, template: str = "item", escape: Callable[[str], str] = str) -> list[str]:
        """One line per lead from ``template`` (the weekly review's own); ``escape`` makes lead data safe for the
        medium (Markdown, HTML)."""
        return [self.templates.render("review_item" if item.policy == REVIEW_POLICY else template, item.fields(),
                                      escape) for item in self.items]

    def text(self) -> str:
        """The plain-text body: a greeting and one line per lead."""
        return self.templates.render("body", {
            "recipient": self.recipient, "count": str(len(self.items)),
            "items": "\n".join(f"- {line}" for line in self.lines()),
        })

    def html(self) -> str:
        """The body as HTML, lead data escaped."""
        items = "".join(f"<li>{line}</li>" for line in self.lines(escape=html.escape))
        return self.templates.render("body", {"recipient": html.escape(self.recipient), "count": str(len(self.items)),
                                              "items": f"<ul>{items}</ul>"}).replace("\n", "<br>\n")


def slack_escape(text: str) -> str:
    """Slack mrkdwn: &, < and > are control characters; | would end a link's URL."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "¦")
