"""A WSGI app on 127.0.0.1 over HTTPS, with a certificate from a throwaway CA (trustme).

Every request is recorded (method, path, query, JSON body) so tests can assert what the real
client actually sent; ``fail_next`` scripts error responses (429, 5xx, 401, 403) ahead of
the fake's real answers.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trustme
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    headers: dict[str, str]


@dataclass
class Scripted:
    status: int
    body: Any
    headers: dict[str, str]
    method: str | None
    path_contains: str | None
    times: int


class HttpError(Exception):
    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


@dataclass
class FakeServer:
    """Subclasses implement ``handle(request) -> (status, body, headers)``."""

    requests: list[Recorded] = field(default_factory=list)
    scripted: list[Scripted] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, status: int, body: Any = None, *, times: int = 1, headers: dict[str, str] | None = None,
                  method: str | None = None, path_contains: str | None = None) -> None:
        self.scripted.append(Scripted(status, body, headers or {}, method, path_contains, times))

    def calls(self, method: str | None = None, path_contains: str = "") -> list[Recorded]:
        return [r for r in self.requests
                if (method is None or r.method == method) and path_contains in r.path]

    def handle(self, request: Request) -> tuple[int, Any, dict[str, str]]:
        raise NotImplementedError

    def wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        raw = request.get_data()  # cached: a handler may read it again (a form body, say)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None  # not JSON: an OAuth token request's form, for one
        with self.lock:
            self.requests.append(Recorded(request.method, request.path, dict(request.args), body,
                                          dict(request.headers)))
            status, payload, headers = self._answer(request, body)
        text = "" if payload is None else json.dumps(payload)
        response = Response(text, status=status, headers=headers,
                            content_type="application/json" if text else None)
        return response(environ, start_response)

    def _answer(self, request: Request, body: Any) -> tuple[int, Any, dict[str, str]]:
        for script in self.scripted:
            if script.times > 0 and (script.method in (None, request.method)) and (
                    script.path_contains is None or script.path_contains in request.path):
                script.times -= 1
                return script.status, script.body, dict(script.headers)
        request.parsed_json = body  # type: ignore[attr-defined]
        try:
            return self.handle(request)
        except HttpError as error:
            return error.status, error.body, error.headers


class Served:
    """A running HTTPS server for a fake; ``url`` is https://127.0.0.1:PORT, ``ca_path`` the CA to trust."""

    def __init__(self, fake: FakeServer, workdir: Path) -> None:
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert.configure_cert(context)
        self.ca_path = workdir / "fake-ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_path))
        self.fake = fake
        self.server = make_server("127.0.0.1", 0, fake.wsgi, threaded=True, ssl_context=context)
        self.url = f"https://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
