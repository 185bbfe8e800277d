"""Real receivers on loopback (an HTTP server, an SMTP server with STARTTLS) and a store with due actions."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from sla_engine.events import LeadEvent
from sla_engine.language.parser import parse_text
from sla_engine.language.policy_set import build_policy_set
from sla_engine.runner import evaluate_run
from sla_engine.store.db import Store
from tests.engine.test_evaluate import assigned, at, created

POLICY = """
calendar office {
  timezone "America/New_York"
  hours mon-fri 09:00-17:00
}
team pool {
  members ["a@example.com", "b@example.com", "c@example.com", "d@example.com"]
  manager "boss@example.com"
  away ["c@example.com"]
}
contact cro {
  name "Dana <CRO>"
  email "cro@example.com"
  slack env("TEST_SLACK_URL")
  webhook env("TEST_HOOK_URL")
}
policy inbound {
  window first_response {
    starts on assigned
    stops on activity by owner where direction == "outbound"
    goal 1h
    escalate on breach {
      notify owner via email
      notify cro via slack
      notify cro via webhook
    }
    escalate 2h after breach {
      reassign to pool round robin skip previous owners
      task "Call this lead now" for owner due 1h
      set sla_status = "breached"
    }
  }
}
"""

SECRET = "s3cret-signing-key"


def make_policy_set(text: str = POLICY) -> Any:
    return build_policy_set([parse_text(text, "test.sla")], {"test.sla": text})


def lead_events(n: int, start: datetime | None = None) -> list[LeadEvent]:
    events: list[LeadEvent] = []
    for i in range(n):
        t = (start or at(17, 10)) + timedelta(minutes=i)
        events += [created(f"L{i}", t, name=f"Lead <{i}> & Co", company="Acme|Inc"),
                   assigned(f"L{i}", t + timedelta(minutes=1), owner=f"rep{i % 2}@example.com")]
    return events


def evaluated_store(tmp_path, leads: int = 2, as_of: datetime | None = None, text: str = POLICY) -> Store:
    store = Store(tmp_path / "sla.db")
    evaluate_run(make_policy_set(text), store, [("t", iter(lead_events(leads)))], as_of or at(17, 11, 30))
    return store


@dataclass
class Post:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A local HTTP server that records every post; ``fail`` makes the next N answer 500."""

    url: str = ""
    posts: list[Post] = field(default_factory=list)
    fail: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with state.lock:
                failing = state.fail > 0
                state.fail -= 1 if failing else 0
                if not failing:
                    state.posts.append(Post(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(500 if failing else 200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def http_env(receiver, monkeypatch) -> Receiver:
    monkeypatch.setenv("TEST_SLACK_URL", receiver.url + "/slack")
    monkeypatch.setenv("TEST_HOOK_URL", receiver.url + "/hook")
    monkeypatch.setenv("SLA_ENGINE_WEBHOOK_SECRET", SECRET)
    return receiver


@dataclass
class Mailbox:
    host: str
    port: int
    messages: list[Any] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    tls: list[bool] = field(default_factory=list)
    delay: float = 0.0  # seconds each mail takes to be accepted, as a distant server's would


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp(tmp_path, monkeypatch) -> Iterator[Mailbox]:
    """aiosmtpd on loopback requiring STARTTLS (a trustme CA) and AUTH; the test reads what arrived."""
    import trustme
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    box = Mailbox("127.0.0.1", _free_port())

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            await asyncio.sleep(box.delay)
            box.messages.append(message_from_bytes(envelope.content, policy=policy.default))
            box.tls.append(session.ssl is not None)
            return "250 OK"

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        login, password = data.login.decode(), data.password.decode()
        box.logins.append((login, password))
        return AuthResult(success=(login, password) == ("mailer", "smtp-pass-123"))

    controller = Controller(Handler(), hostname=box.host, port=box.port, tls_context=server_context,
                            require_starttls=True, authenticator=authenticate, auth_require_tls=True)
    controller.start()
    for name, value in {"HOST": box.host, "PORT": str(box.port), "FROM": "sla@example.com", "USER": "mailer",
                        "PASSWORD": "smtp-pass-123", "CAFILE": str(ca_file)}.items():
        monkeypatch.setenv(f"SLA_ENGINE_SMTP_{name}", value)
    yield box
    controller.stop()
