"""The ``email`` notifier: SMTP with STARTTLS, settings and credentials from the environment.

SLA_ENGINE_SMTP_HOST, SLA_ENGINE_SMTP_PORT (587), SLA_ENGINE_SMTP_FROM, SLA_ENGINE_SMTP_USER and
SLA_ENGINE_SMTP_PASSWORD (optional, together), SLA_ENGINE_SMTP_STARTTLS (1; 0 only for a local
relay), SLA_ENGINE_SMTP_CAFILE (a private CA), SLA_ENGINE_SMTP_TIMEOUT (15 s). The idempotency
key is the Message-ID, so a message resent after a crash is the same message to every mail system that dedupes.

Messages of one delivery batch share one SMTP session (connect, STARTTLS and login once, up to
MAX_PER_SESSION messages); delivery calls ``close`` after each batch. A session the server closed
between two messages is opened again once for the next one.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sla_engine.delivery.secrets import scrub, secret_env
from sla_engine.hookspecs import hookimpl
from sla_engine.safe_text import one_line

if TYPE_CHECKING:  # every `sla-engine --help` imports this module: smtplib and ssl load when a mail is sent
    from email.message import EmailMessage

    from sla_engine.delivery.message import Message

IDEMPOTENCY_HEADER = "X-SLA-Engine-Idempotency-Key"
MAX_PER_SESSION = 50  # many servers refuse more messages than this on one connection


class EmailNotifier:
    address = "an email address"  # contacts give one for this channel: `email "..."`

    def __init__(self) -> None:
        self.host = os.environ.get("SLA_ENGINE_SMTP_HOST", "")
        self.port = int(os.environ.get("SLA_ENGINE_SMTP_PORT", "587"))
        self.sender = os.environ.get("SLA_ENGINE_SMTP_FROM", "")
        self.user = os.environ.get("SLA_ENGINE_SMTP_USER") or None
        self.starttls = os.environ.get("SLA_ENGINE_SMTP_STARTTLS", "1") != "0"
        self.cafile = os.environ.get("SLA_ENGINE_SMTP_CAFILE") or None
        self.timeout = float(os.environ.get("SLA_ENGINE_SMTP_TIMEOUT", "15"))
        self._open: Any = None  # the batch's session (smtplib.SMTP), logged in
        self._sent_in_session = 0

    def build(self, message: Message) -> EmailMessage:
        from email.message import EmailMessage

        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = one_line(message.address)  # an address from data never adds a header line
        mail["Subject"] = message.subject()
        mail["Message-ID"] = f"<{message.idempotency_key}@sla-engine>"
        mail[IDEMPOTENCY_HEADER] = message.idempotency_key
        mail.set_content(message.text())
        mail.add_alternative(f"<html><body>{message.html()}</body></html>", subtype="html")
        return mail

    def send(self, message: Message) -> None:
        """Send on the batch's session, opening it (or a fresh one, if the server hung up) when needed."""
        import smtplib

        mail = self.build(message)
        if self._open is not None and self._sent_in_session < MAX_PER_SESSION:
            try:
                self._open.send_message(mail)
                self._sent_in_session += 1
                return
            except smtplib.SMTPServerDisconnected:
                self.close()  # it timed out between two messages: nothing of this one was accepted
            except (smtplib.SMTPException, OSError) as error:
                self.close()
                raise RuntimeError(scrub(f"SMTP {self.host}:{self.port}: {error}")) from None
        self.close()
        self._open = self._connect()
        try:
            self._open.send_message(mail)
            self._sent_in_session = 1
        except (smtplib.SMTPException, OSError) as error:
            self.close()
            raise RuntimeError(scrub(f"SMTP {self.host}:{self.port}: {error}")) from None

    def close(self) -> None:
        """End the batch's session (delivery calls this after each batch)."""
        session, self._open, self._sent_in_session = self._open, None, 0
        if session is not None:
            try:
                session.quit()
            except Exception:  # a session that is already gone needs no goodbye
                session.close()

    def check(self) -> str:
        """`sla-engine doctor`'s harmless call: connect, STARTTLS, EHLO and log in; no mail is sent."""
        self._session(lambda smtp: smtp.noop())
        secured = "STARTTLS, " if self.starttls else ""
        return f"SMTP {self.host}:{self.port}: {secured}" + (f"logged in as {self.user}" if self.user
                                                              else "answered (no login configured)")

    def _session(self, then: Callable[[Any], Any]) -> None:
        import smtplib

        smtp = self._connect()
        try:
            then(smtp)
        except (smtplib.SMTPException, OSError) as error:
            raise RuntimeError(scrub(f"SMTP {self.host}:{self.port}: {error}")) from None
        finally:
            smtp.close()

    def _connect(self) -> Any:
        """A session: connected, STARTTLS (unless turned off), logged in when a user is set."""
        import smtplib
        import ssl

        if not self.host or not self.sender:
            raise RuntimeError("set SLA_ENGINE_SMTP_HOST and SLA_ENGINE_SMTP_FROM to send email")
        password = secret_env("SLA_ENGINE_SMTP_PASSWORD") if self.user else None
        smtp = None
        try:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context(cafile=self.cafile))
            if self.user and password:
                smtp.login(self.user, password)
            return smtp
        except (smtplib.SMTPException, OSError) as error:
            if smtp is not None:
                smtp.close()
            raise RuntimeError(scrub(f"SMTP {self.host}:{self.port}: {error}")) from None


@hookimpl
def register_notifiers(register: Callable[[str, Callable[..., Any]], None]) -> None:
    register("email", EmailNotifier)
