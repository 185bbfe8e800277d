"""The live dashboard: a read-only Flask app over the store, served by waitress.

Why Flask and waitress: the store is SQLite, read synchronously, so a WSGI app with a thread
per request is the plain fit (an async framework would only wrap blocking calls); Flask renders
Jinja2 with autoescaping, the templates the static report uses; waitress is a pure-Python
production server with no compiled parts, on every platform sla-engine runs on.

Safety: every page is read-only (the store connection is `query_only`); the server binds
127.0.0.1 unless told otherwise and then requires a token (SLA_ENGINE_TOKEN: a bearer token, or
the password of HTTP basic auth); every value is escaped by the templates; the content security
policy forbids script and any request to another origin; pages are revalidated with an ETag
that changes when a run lands, and refresh themselves every minute.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from flask import Flask, Response, abort, request
from jinja2 import PackageLoader
from markupsafe import Markup

from sla_engine.engine.measures import MetricError
from sla_engine.engine.periods import PeriodError, parse_period, period_of, zone_of
from sla_engine.events import utc
from sla_engine.language.policy_set import PolicySet
from sla_engine.reports import drilldown
from sla_engine.reports.agreement import build_all, to_html
from sla_engine.reports.dashboard import Report, build_report
from sla_engine.reports.explain import render_explanation
from sla_engine.reports.render.html import environment
from sla_engine.store.backend import open_location
from sla_engine.store.db import Store
from sla_engine.store.location import is_postgres
from sla_engine.store.metrics import Metrics

TOKEN_ENV = "SLA_ENGINE_TOKEN"
REFRESH_SECONDS = 60
PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; base-uri 'none'"
CSP = PAGE_CSP + "; frame-ancestors 'none'"  # the header's; frame-ancestors means nothing in a <meta>
OUTBOX_STATUSES = ("pending", "sending", "sent", "failed", "dead", "obsolete", "expired")


class ServeError(Exception):
    """The server cannot start as asked (exposed without a token)."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class Site:
    """What every request reads: the policies, the store's path, and reports cached per run."""

    policy_set: PolicySet
    db_path: Path | str
    token: str | None = None
    _cache: dict[tuple[Any, ...], Report] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def store(self) -> Store:
        store = open_location(self.db_path)
        store.read_only()
        return store

    def last_run(self, store: Store) -> dict[str, Any] | None:
        return store.runs.last()

    def report(self, store: Store, as_of: datetime, period: str | None, run_id: Any) -> Report:
        """The dashboard for this run: built once per run, period and as-of."""
        key = (run_id, period, as_of.isoformat())
        with self._lock:
            if key not in self._cache:
                if len(self._cache) > 32:
                    self._cache.clear()
                self._cache[key] = build_report(self.policy_set, store, as_of, period)
            return self._cache[key]


def _authorized(token: str, header: str | None) -> bool:
    if not header:
        return False
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return hmac.compare_digest(value.strip().encode(), token.encode())
    if scheme.lower() == "basic":
        try:
            _, _, password = base64.b64decode(value.strip()).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return hmac.compare_digest(password.encode(), token.encode())
    return False


class Pages:
    """The pages: each method answers one route, over a store opened for the request."""

    def __init__(self, site: Site, env: Any) -> None:
        self.site = site
        self.env = env

    def links(self, kind: str, **ids: Any) -> str | None:
        """Hrefs for the templates; the static report gets None and shows plain text."""
        query = {k: v for k, v in ids.items() if k in ("period", "status") and v}
        suffix = ("?" + urlencode(query)) if query else ""
        if kind == "target":
            return f"/target/{quote(ids['policy'], safe='')}/{quote(ids['target'], safe='')}{suffix}"
        if kind == "lead":
            return f"/lead/{quote(str(ids['lead']), safe='')}"
        if kind == "rep":
            return f"/rep/{quote(str(ids['owner']), safe='')}{suffix}"
        if kind == "manager":
            return f"/manager/{quote(str(ids['owner']), safe='')}{suffix}"
        if kind == "clause":  # the commitment's clause in the written agreement (anchors: docs/reports.md)
            policy = quote(ids["policy"], safe="")
            return f"/agreement/{policy}#{policy}-target-{quote(ids['target'], safe='')}"
        return None

    def page(self, template: str, etag_parts: tuple[Any, ...], **context: Any) -> Response:
        etag = hashlib.sha256(repr((template, etag_parts, request.full_path)).encode()).hexdigest()[:32]
        if request.if_none_match.contains(etag):
            response = Response(status=304)
        else:
            html = self.env.get_template(template).render(
                links=self.links, csp=Markup(PAGE_CSP), live=True, refresh=REFRESH_SECONDS,
                policies=sorted(self.site.policy_set.policies), **context)
            response = Response(html, mimetype="text/html")
        response.set_etag(etag)
        response.headers["Cache-Control"] = "no-cache"  # revalidate: the page changes when a run lands
        return response

    def opened(self) -> tuple[Store, dict[str, Any] | None, datetime]:
        store = self.site.store()
        last = store.runs.last()
        as_of = utc(last["as_of"]) if last else utc(datetime.now().astimezone())
        return store, last, as_of

    def guard(self) -> Response | None:
        if request.method not in ("GET", "HEAD"):
            abort(405)
        if self.site.token and not _authorized(self.site.token, request.headers.get("Authorization")):
            return Response("authentication required\n", 401, {"WWW-Authenticate": 'Basic realm="sla-engine"'},
                            mimetype="text/plain")
        return None

    def headers(self, response: Response) -> Response:
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers.setdefault("Cache-Control", "no-cache")
        return response

    def period_arg(self) -> str | None:
        value = (request.args.get("period") or "").strip()
        return value or None

    def period_choices(self, as_of: datetime) -> list[str]:
        zone = zone_of(next((p.timezone for p in self.site.policy_set.policies.values() if p.timezone), "UTC"))
        month = period_of("month", as_of, zone)
        week = period_of("week", as_of, zone)
        quarter = period_of("quarter", as_of, zone)
        months, weeks = [month], [week]
        for _ in range(5):
            months.append(months[-1].previous())
        for _ in range(7):
            weeks.append(weeks[-1].previous())
        return ["", *(p.label for p in weeks), *(p.label for p in months), quarter.label, quarter.previous().label]

    def dashboard(self) -> Response:
        store, last, as_of = self.opened()
        try:
            try:
                report = self.site.report(store, as_of, self.period_arg(), last and last.get("id"))
            except (PeriodError, MetricError) as error:
                abort(Response(f"{error}\n", 400, mimetype="text/plain"))
        finally:
            store.close()
        chosen = request.args.get("policy") or ""
        if chosen:
            report = _filtered(report, chosen)
        return self.page("live_dashboard.html", (last and last.get("id"), self.site.policy_set.content_hash),
                    report=report, period=self.period_arg() or "", chosen=chosen, periods=self.period_choices(as_of),
                    last_run=last)

    def target_page(self, policy: str, target: str) -> Response:
        decl = self.site.policy_set.policies.get(policy)
        found = next((t for t in decl.targets if t.name == target), None) if decl else None
        if decl is None or found is None:
            abort(404)
        store, last, as_of = self.opened()
        try:
            report = self.site.report(store, as_of, self.period_arg(), last and last.get("id"))
            tile = next((t for t in report.tiles if t.policy == policy and t.target == target), None)
            if tile is None:
                abort(404)
            lines = drilldown.target_leads(Metrics(store, self.site.policy_set), decl, found, tile.row.period, as_of)
        finally:
            store.close()
        return self.page("target.html", (last and last.get("id"),), tile=tile, lines=lines[:drilldown.LIMIT],
                    total=len(lines), states=_count_states(lines), period=self.period_arg() or "", target_decl=found)

    def lead_page(self, lead_id: str) -> Response:
        store, last, as_of = self.opened()
        try:
            events = store.events.of_lead(lead_id)
            if not events:
                abort(404)
            trace = render_explanation(self.site.policy_set, lead_id, events, as_of)
            clocks = store.instances.rows(lead_id)
            outbox = [row for row in store.outbox.rows() if row["lead_id"] == lead_id]
            state = store.leads.state(lead_id)
        finally:
            store.close()
        fields = _fields(state)
        return self.page("lead.html", (last and last.get("id"),), lead_id=lead_id, trace=trace, clocks=clocks,
                    outbox=outbox, fields=fields, as_of=as_of, events=len(events))

    def person(self, owners: list[str], title: str, who: str, team: list[str] | None) -> Response:
        store, last, as_of = self.opened()
        try:
            zone = zone_of(next((p.timezone for p in self.site.policy_set.policies.values() if p.timezone), "UTC"))
            label = self.period_arg()
            try:
                period = parse_period(label, zone) if label else period_of("month", as_of, zone)
            except PeriodError as error:
                abort(Response(f"{error}\n", 400, mimetype="text/plain"))
            q = Metrics(store, self.site.policy_set)
            clocks = drilldown.owner_clocks(q, owners, period, as_of)
            members = [(member, drilldown.owner_clocks(q, [member], period, as_of)) for member in team or []]
        finally:
            store.close()
        return self.page("person.html", (last and last.get("id"),), title=title, who=who, clocks=clocks,
                    members=members, period=period, as_of=as_of)

    def rep_page(self, owner: str) -> Response:
        return self.person([owner], "Rep", owner, None)

    def manager_page(self, manager: str) -> Response:
        store = self.site.store()
        try:
            team = sorted({member for _, boss, members in drilldown.teams(Metrics(store, self.site.policy_set))
                           if boss == manager for member in members})
        finally:
            store.close()
        if not team:
            abort(404)
        return self.person(team, "Manager", manager, team)

    def people_page(self) -> Response:
        store, last, _ = self.opened()
        try:
            q = Metrics(store, self.site.policy_set)
            owners, teams = drilldown.owners_seen(q), drilldown.teams(q)
        finally:
            store.close()
        return self.page("people.html", (last and last.get("id"),), owners=owners, teams=teams)

    def outbox_page(self) -> Response:
        status = request.args.get("status") or None
        if status is not None and status not in OUTBOX_STATUSES:
            abort(400)
        store, last, _ = self.opened()
        try:
            rows = store.outbox.rows(status)
            counts = store.outbox.counts()
        finally:
            store.close()
        return self.page("outbox.html", (last and last.get("id"), status), rows=rows[-drilldown.LIMIT:][::-1],
                    total=len(rows), status=status or "", counts=counts, statuses=OUTBOX_STATUSES)

    def quarantine_page(self) -> Response:
        store, last, _ = self.opened()
        try:
            rows = store.quarantine.rows(limit=drilldown.LIMIT, newest_first=True)
            total = store.count("quarantine")
        finally:
            store.close()
        return self.page("quarantine.html", (last and last.get("id"),), rows=rows, total=total)

    def agreement_page(self, policy: str) -> Response:
        """The signed agreement as the policies enforce it, so a tile can link to its clause."""
        if policy not in self.site.policy_set.policies:
            abort(404)
        return Response(to_html(build_all(self.site.policy_set, policy)), mimetype="text/html")

    def health(self) -> Response:
        return Response("ok\n", mimetype="text/plain")



def create_app(policy_set: PolicySet, db_path: Path | str, token: str | None = None) -> Flask:
    """The WSGI app. `token`: when set, every request must carry it."""
    site = Site(policy_set, db_path if is_postgres(db_path) else Path(db_path), token)
    pages = Pages(site, environment(PackageLoader("sla_engine.web", "templates")))
    app = Flask(__name__)
    app.before_request(pages.guard)
    app.after_request(pages.headers)
    for rule, view in ROUTES:
        app.add_url_rule(rule, view, getattr(pages, view), methods=["GET"])
    return app


ROUTES = (
    ("/", "dashboard"),
    ("/target/<policy>/<target>", "target_page"),
    ("/lead/<lead_id>", "lead_page"),
    ("/rep/<owner>", "rep_page"),
    ("/manager/<manager>", "manager_page"),
    ("/people", "people_page"),
    ("/outbox", "outbox_page"),
    ("/quarantine", "quarantine_page"),
    ("/agreement/<policy>", "agreement_page"),
    ("/healthz", "health"),
)


def _count_states(lines: list[drilldown.LeadLine]) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for line in lines:
        counts[line.state] = counts.get(line.state, 0) + 1
    return list(counts.items())


def _fields(state: dict[str, Any]) -> list[tuple[str, Any]]:
    """The lead's fields for its page: plain values (and its previous owners), sorted by name."""
    return sorted((k, v) for k, v in state.items() if not isinstance(v, dict | list) or k == "previous_owners")


def _filtered(report: Report, policy: str) -> Report:
    """The report with one policy's tiles and escalations (the metrics below stay the whole store's)."""
    from dataclasses import replace

    return replace(report, tiles=[t for t in report.tiles if t.policy == policy],
                   escalations=[e for e in report.escalations if e.policy == policy],
                   targets=[r for r in report.targets if r.policy == policy])


def serve(policy_set: PolicySet, db_path: Path | str, host: str = "127.0.0.1", port: int = 8765,
          echo: Callable[[str], None] = print) -> None:
    """Run the server until interrupted; refuses to listen beyond loopback without a token."""
    from waitress import serve as waitress_serve

    token = os.environ.get(TOKEN_ENV) or None
    if not is_loopback(host) and not token:
        raise ServeError(f"listening on {host} exposes the dashboard: set {TOKEN_ENV} to a secret token first "
                         "(clients send it as a bearer token or as the basic-auth password)")
    echo(f"serving the SLA dashboard on http://{host}:{port}/ (read-only{', token required' if token else ''}); "
         "Ctrl-C stops")
    waitress_serve(create_app(policy_set, db_path, token), host=host, port=port, threads=4, ident="sla-engine")
