"""Salesforce connector: leads, their history and activities in; SLA status, tasks and owners out.

Written as any third party would write a connector (docs/connectors.md) and registered
through the ``sla_engine`` entry point ``salesforce`` (connectors/salesforce_plugin.py, which
imports this module only when connectors are asked for). simple-salesforce is imported only when
a connector instance talks to Salesforce, so ``sla-engine --help`` stays fast.

Streams, each read by SOQL ordered by its timestamp with an Id tiebreak:

- ``Lead`` (queryAll, so deletes come too) by SystemModstamp: created, field changes, conversion, deletion,
  merge (MasterRecordId) and restore from the Recycle Bin. A new lead's values at creation come from the
  OldValue of its first LeadHistory row per tracked field (history rows exist only for changes); a value no
  history tracks is recorded when it is first seen, at LastModifiedDate, not back-dated to CreatedDate.
  Converting a lead moves its Tasks and Events to the new contact, so a conversion re-reads the
  activities of its ConvertedContactId;
- ``LeadHistory`` (queryAll) by CreatedDate (history rows have no SystemModstamp): status, owner and
  tracked field changes at their real times (owner changes come as two rows: the EntityId one is used);
- ``Task`` by SystemModstamp: closed tasks on leads are activities at CompletedDateTime;
- ``Event`` by SystemModstamp and ``EventStart`` by StartDateTime: a meeting is an activity when it
  happens (StartDateTime), so one booked for later is read again when its time comes.

A REQUEST_LIMIT_EXCEEDED that outlasts the retries stops the pull cleanly, as the quota share does:
what was read is kept with its cursors and the next run goes on from there.

Size: one vendor's API end to end (SOQL streams, history, conversion, pushing back) is one job, kept
in one file so that it reads beside the Salesforce documentation its fake cites.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sla_engine.connector import (
    Connector,
    ConnectorConfig,
    ConnectorError,
    Cursor,
    FieldChange,
    Owner,
    OwnerChange,
    PullResult,
    PushResult,
    Secret,
    StatusUpdate,
    TaskRequest,
    Update,
    stable_event,
)
from sla_engine.events import Disposition, EventType, LeadEvent

log = logging.getLogger(__name__)
UTC = timezone.utc
T = TypeVar("T")

# Our lead fields from standard Lead fields; `fields` in the configuration adds or overrides.
DEFAULT_FIELDS: dict[str, str] = {
    "email": "Email",
    "name": "Name",
    "company": "Company",
    "title": "Title",
    "industry": "Industry",
    "company_size": "NumberOfEmployees",
    "annual_revenue": "AnnualRevenue",
    "country": "Country",
    "source": "LeadSource",
}
LEAD_SYSTEM_FIELDS = ("Id", "CreatedDate", "SystemModstamp", "LastModifiedDate", "IsDeleted", "Status",
                      "OwnerId", "IsConverted", "ConvertedOpportunityId", "ConvertedContactId", "MasterRecordId")
# LeadHistory names the owner "Owner" (two rows a change: DataType EntityId with the ids, Text with the names).
HISTORY_OWNER = "Owner"
# Lead fields Salesforce never lets a client write: Name is compound (write FirstName / LastName), the rest
# are system fields.
NOT_UPDATEABLE = frozenset({"Id", "Name", "CreatedDate", "LastModifiedDate", "SystemModstamp", "IsDeleted",
                            "IsConverted", "ConvertedDate", "ConvertedContactId", "ConvertedAccountId",
                            "ConvertedOpportunityId", "MasterRecordId", "CreatedById", "LastModifiedById"})
RECYCLE_BIN = timedelta(days=15)
"""How long deleted records stay in the Recycle Bin, where queryAll still sees them."""
IDS_PER_QUERY = 200  # record ids in one IN (...) list: well inside SOQL's 100,000-character limit
SUBTYPE_CHANNEL = {"call": "call", "email": "email", "listemail": "email", "linkedin": "social", "cadence": "other"}
TYPE_CHANNEL = {"call": "call", "email": "email", "meeting": "meeting"}
_ID = re.compile(r"^[A-Za-z0-9]{15,18}$")
TASK_FIELDS = ("Id, WhoId, OwnerId, TaskSubtype, Type, CallType, CallDisposition, CreatedDate, CompletedDateTime, "
               "SystemModstamp, IsDeleted")
EVENT_FIELDS = "Id, WhoId, OwnerId, Type, StartDateTime, ActivityDateTime, CreatedDate, SystemModstamp, IsDeleted"
FIRST_SEEN_NOTE = ("first seen now: Salesforce keeps no field history for these fields, so their values "
                   "before this are unknown")


class StatusFields(BaseModel):
    """Which Lead fields receive one window's SLA status (API names; leave out what you don't keep)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    window: str
    policy: str | None = None
    tier: str | None = None
    status: str | None = None
    due_at: str | None = None
    breached_at: str | None = None


class SalesforceConfig(ConnectorConfig):
    """Auth is one of: consumer_key + consumer_secret (OAuth 2.0 client credentials); username +
    consumer_key + private_key (OAuth 2.0 JWT bearer); session_id + instance_url; username + password +
    security_token (SOAP login, which Salesforce is retiring)."""

    instance_url: str | None = None
    domain: str = "login"
    login_url: str | None = None
    """The OAuth token endpoint's host: https://MyDomain.my.salesforce.com for client credentials, else
    https://login.salesforce.com (https://test.salesforce.com for a sandbox); default from ``domain``."""
    username: str | None = None
    password: Secret | None = None
    security_token: Secret | None = None
    session_id: Secret | None = None
    consumer_key: str | None = None
    consumer_secret: Secret | None = None
    private_key: Secret | None = None
    api_version: str = "59.0"
    ca_bundle: Path | None = None
    """Trust this CA file instead of the system's; proxy and CA variables of the environment are then ignored."""
    timeout_seconds: float = 60.0

    fields: dict[str, str] = Field(default_factory=dict)
    """Our field name -> Lead API name, e.g. lead_score = "Lead_Score__c"; "" drops a default."""
    dispositions: dict[str, Disposition] = Field(default_factory=dict)
    """Lead Status value -> disposition recorded when the status changes to it."""
    disposition_reason_field: str | None = None

    tracked_fields: list[str] = Field(default_factory=lambda: ["Status", HISTORY_OWNER])
    """Lead fields the org keeps field history for, as LeadHistory names them (Status, Owner,
    Lead_Score__c…): their values at creation and their changes are read from history."""
    task_key_field: str | None = None
    """A text field on Task that keeps our action key, so a create that may have committed is found
    instead of made twice; without it an open task with the same subject on the lead counts as made."""
    time_zone: str = "UTC"
    """The zone of a task's due date when its owner's own (User.TimeZoneSidKey) is not known."""

    push_status: list[StatusFields] = Field(default_factory=list)
    batch_size: int = Field(200, ge=1, le=200)
    max_api_share: float = Field(0.8, gt=0, le=1)
    """Stop before using more than this share of the org's daily API requests (Sforce-Limit-Info)."""
    max_retries: int = Field(5, ge=0)
    backoff_seconds: float = Field(1.0, ge=0)

    @model_validator(mode="after")
    def _one_auth(self) -> SalesforceConfig:
        self.auth_mode()
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"time_zone {self.time_zone!r} is not a time zone name such as "
                             "'America/New_York'") from None
        return self

    def auth_mode(self) -> str:
        if self.session_id is not None:
            if not self.instance_url:
                raise ValueError("session_id needs instance_url")
            return "session"
        if self.consumer_secret is not None:
            if not self.consumer_key:
                raise ValueError("client credentials need consumer_key and consumer_secret")
            return "client_credentials"
        if self.private_key is not None:
            if not (self.username and self.consumer_key):
                raise ValueError("JWT bearer needs username, consumer_key and private_key")
            return "jwt"
        if self.password is not None:
            if not (self.username and self.security_token is not None):
                raise ValueError("password login needs username, password and security_token")
            return "password"
        raise ValueError("give credentials: consumer_key + consumer_secret (client credentials), "
                         "username + consumer_key + private_key (JWT bearer), session_id + instance_url, "
                         "or username + password + security_token")

    def token_url(self) -> str:
        base = (self.login_url or f"https://{self.domain}.salesforce.com").rstrip("/")
        return f"{base}/services/oauth2/token"

    def lead_fields(self) -> dict[str, str]:
        merged = {**DEFAULT_FIELDS, **self.fields}
        return {ours: theirs for ours, theirs in merged.items() if theirs}

    def tracked(self) -> dict[str, str]:
        """LeadHistory field name -> our field name, for the tracked fields we read."""
        ours_by_api = {theirs: ours for ours, theirs in self.lead_fields().items()}
        names = {"Status": "status", HISTORY_OWNER: "owner"}
        return {field: names.get(field) or ours_by_api[field] for field in self.tracked_fields
                if field in names or field in ours_by_api}


class QuotaReached(ConnectorError):
    """The configured share of the daily API quota is used; the rest waits for the next run."""


class Unanswered(ConnectorError):
    """A request got no answer (timeout, dropped connection): it may or may not have been applied."""


class LimitReached(QuotaReached):
    """Salesforce answered REQUEST_LIMIT_EXCEEDED past the retries: stop, keeping what was read."""


def soql_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str | None) -> datetime | None:
    """Salesforce datetimes look like 2026-11-23T14:05:00.000+0000."""
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")
    except ValueError:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))


def window_clause(time_field: str, since: Cursor | None, until: datetime) -> str:
    """Records after the cursor (with its Id tiebreak) and at or before the run's start."""
    clause = f"{time_field} <= {soql_time(until)}"
    if since is None:
        return clause
    at = soql_time(since.at)
    if since.after_id and _ID.match(since.after_id):
        return f"{clause} AND ({time_field} > {at} OR ({time_field} = {at} AND Id > '{since.after_id}'))"
    return f"{clause} AND {time_field} >= {at}"


def _is_new(record: dict[str, Any], since: Cursor | None) -> bool:
    """Created in the window read: its creation is news (a lead read before gives only changes)."""
    created = parse_time(record["CreatedDate"])
    return since is None or (created is not None and created >= since.at)


def _meeting_time(row: dict[str, Any]) -> datetime | None:
    """When a meeting happens: StartDateTime (ActivityDateTime in older API versions)."""
    return parse_time(row.get("StartDateTime")) or parse_time(row.get("ActivityDateTime"))


def _error_text(error: Any) -> str:
    """errorCode: message of a Salesforce error response, without anything else it carries."""
    content = getattr(error, "content", None)
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return "; ".join(f"{c.get('errorCode', '?')}: {c.get('message', '')}" for c in content)
    return f"HTTP {getattr(error, 'status', '?')}"


class SalesforceConnector(Connector):
    Config = SalesforceConfig
    streams = ("Lead", "LeadHistory", "Task", "Event", "EventStart")
    config: SalesforceConfig

    def __init__(self, name: str, config: SalesforceConfig) -> None:  # type: ignore[override]
        super().__init__(name, config)
        self._sf: Any = None
        self.requests_made = 0

    # ------------------------------------------------------------ client and calls
    def client(self) -> Any:
        """The simple-salesforce client, logged in on first use."""
        if self._sf is not None:
            return self._sf
        import requests
        from simple_salesforce import Salesforce
        from simple_salesforce.exceptions import SalesforceAuthenticationFailed

        c = self.config
        session = requests.Session()
        if c.ca_bundle is not None:
            session.verify = str(c.ca_bundle)
            session.trust_env = False  # else REQUESTS_CA_BUNDLE in the environment overrides verify
        session.request = _with_timeout(session.request, c.timeout_seconds)  # type: ignore[method-assign]
        kwargs: dict[str, Any] = {"version": c.api_version, "session": session}
        mode = c.auth_mode()
        try:
            if mode == "session":
                assert c.session_id is not None
                kwargs.update(session_id=c.session_id.reveal(), instance_url=c.instance_url)
            elif mode in ("client_credentials", "jwt"):
                token, instance_url = self._oauth_token(session, mode)
                kwargs.update(session_id=token, instance_url=c.instance_url or instance_url)
            else:
                assert c.password is not None and c.security_token is not None
                kwargs.update(username=c.username, password=c.password.reveal(),
                              security_token=c.security_token.reveal(), domain=c.domain)
            self._sf = Salesforce(**kwargs)
        except SalesforceAuthenticationFailed as error:
            raise ConnectorError(f"{self.name}: Salesforce login failed ({mode}): {error.code}") from None
        return self._sf

    def _oauth_token(self, session: Any, mode: str) -> tuple[str, str]:
        """An access token and instance URL from the OAuth 2.0 token endpoint (client credentials or JWT
        bearer), asked directly so ``login_url`` can name any host, a loopback test server included."""
        import requests

        c = self.config
        assert c.consumer_key is not None
        if mode == "client_credentials":
            assert c.consumer_secret is not None
            form = {"grant_type": "client_credentials", "client_id": c.consumer_key,
                    "client_secret": c.consumer_secret.reveal()}
        else:
            import jwt

            assert c.private_key is not None
            audience = (c.login_url or f"https://{c.domain}.salesforce.com").rstrip("/")
            claims = {"iss": c.consumer_key, "sub": c.username, "aud": audience,
                      "exp": int(time.time()) + 180}  # Salesforce takes at most three minutes ahead
            form = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                    "assertion": jwt.encode(claims, c.private_key.reveal(), algorithm="RS256")}
        try:
            response = session.post(c.token_url(), data=form)
        except (requests.ConnectionError, requests.Timeout) as error:
            raise ConnectorError(f"{self.name}: cannot reach the Salesforce token endpoint "
                                 f"{c.token_url()} ({type(error).__name__})") from None
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        if response.status_code != 200 or "access_token" not in answer:
            # error and error_description name the problem (invalid_client, invalid_grant…), never a secret.
            raise ConnectorError(f"{self.name}: Salesforce login failed ({mode}): HTTP {response.status_code} "
                                 f"{answer.get('error', '')}: {answer.get('error_description', '')}".rstrip(": "))
        return str(answer["access_token"]), str(answer.get("instance_url") or "")

    def _call(self, fn: Callable[..., T], *args: Any, retry_unsure: bool = True, **kwargs: Any) -> T:
        """One API call: stop at the quota share, retry limits, 5xx and connection errors with backoff.

        ``retry_unsure=False`` for a create: a request that got no answer may have committed, so it is
        raised as Unanswered for the caller to look up, not sent again blind."""
        import requests
        from simple_salesforce.exceptions import (
            SalesforceError,
            SalesforceExpiredSession,
            SalesforceGeneralError,
            SalesforceRefusedRequest,
        )

        attempt = 0
        renewed = False
        while True:
            self._check_quota()
            try:
                self.requests_made += 1
                return fn(*args, **kwargs)
            except SalesforceExpiredSession:
                if not renewed and self.config.auth_mode() in ("client_credentials", "jwt") and \
                        getattr(fn, "__self__", None) is self._sf:
                    # An OAuth access token expired during a long run: ask for a new one, once.
                    renewed, self._sf = True, None
                    fn = getattr(self.client(), fn.__name__)
                    continue
                raise ConnectorError(
                    f"{self.name}: Salesforce rejected the session (401 INVALID_SESSION_ID); "
                    "renew the credentials the configuration names"
                ) from None
            except SalesforceRefusedRequest as error:
                if "REQUEST_LIMIT_EXCEEDED" not in _error_text(error):
                    raise ConnectorError(f"{self.name}: Salesforce refused the request: {_error_text(error)}") from None
                if "TotalRequests" in _error_text(error):  # the daily quota: no retry helps before tomorrow
                    raise LimitReached(
                        f"Salesforce API limit: {_error_text(error)}; the rest waits for the next run") from None
                problem = f"API limit ({_error_text(error)})"
                if attempt >= self.config.max_retries:
                    raise LimitReached(f"Salesforce API limit still exceeded after {attempt + 1} attempts "
                                       f"({_error_text(error)}); the rest waits for the next run") from None
            except SalesforceGeneralError as error:
                if error.status < 500:
                    raise ConnectorError(f"{self.name}: Salesforce error: {_error_text(error)}") from None
                problem = f"server error {error.status}"
            except SalesforceError as error:
                raise ConnectorError(f"{self.name}: Salesforce error: {_error_text(error)}") from None
            except (requests.ConnectionError, requests.Timeout) as error:
                if not retry_unsure:
                    raise Unanswered(f"{self.name}: no answer from Salesforce ({type(error).__name__})") from None
                problem = f"connection error ({type(error).__name__})"
            if attempt >= self.config.max_retries:
                raise ConnectorError(f"{self.name}: Salesforce still failing after {attempt + 1} attempts: {problem}")
            delay = min(self.config.backoff_seconds * 2**attempt, 60.0)
            log.warning("%s: %s; retrying in %.1fs", self.name, problem, delay)
            time.sleep(delay)
            attempt += 1

    def _check_quota(self) -> None:
        usage = (self._sf.api_usage if self._sf is not None else {}).get("api-usage")
        if usage is not None and usage.total and usage.used / usage.total >= self.config.max_api_share:
            raise QuotaReached(
                f"{usage.used} of {usage.total} daily API requests used, at the configured share "
                f"{self.config.max_api_share:.0%}; the rest waits for the next run"
            )

    def _pages(self, soql: str, include_deleted: bool = False) -> Iterator[list[dict[str, Any]]]:
        """A query's records a page at a time, through nextRecordsUrl."""
        page = self._call(self.client().query, soql, include_deleted=include_deleted)
        while True:
            yield page["records"]
            if page.get("done", True) or not page.get("nextRecordsUrl"):
                return
            page = self._call(self.client().query_more, page["nextRecordsUrl"], identifier_is_url=True)

    def _query(self, soql: str, include_deleted: bool = False) -> Iterator[dict[str, Any]]:
        """Every record of a query."""
        for page in self._pages(soql, include_deleted):
            yield from page

    def _by_ids(self, select: str, obj: str, id_field: str, ids: Iterable[str], rest: str = "",
                include_deleted: bool = False) -> Iterator[dict[str, Any]]:
        """Records whose ``id_field`` is one of ``ids``, a few hundred ids a query."""
        wanted = sorted({i for i in ids if i and _ID.match(i)})
        for start in range(0, len(wanted), IDS_PER_QUERY):
            listed = ", ".join(f"'{i}'" for i in wanted[start:start + IDS_PER_QUERY])
            yield from self._query(f"SELECT {select} FROM {obj} WHERE {id_field} IN ({listed}){rest}", include_deleted)

    def check(self) -> str:
        """`sla-engine doctor`'s harmless call: log in and read one lead id; nothing is written."""
        next(self._pages("SELECT Id FROM Lead LIMIT 1"), None)
        return f"logged in ({self.config.auth_mode()}); Lead readable"

    # ------------------------------------------------------------ pull
    def pull(self, cursors: Mapping[str, Cursor | None], until: datetime) -> PullResult:
        result = PullResult(items=iter(()))
        result.items = self._pull(cursors, until, result)
        return result

    def _pull(self, cursors: Mapping[str, Cursor | None], until: datetime, result: PullResult) -> Iterator[Any]:
        readers = {"Lead": self._leads, "LeadHistory": self._history, "Task": self._tasks, "Event": self._events,
                   "EventStart": self._event_starts}
        self._warn_if_past_recycle_bin(cursors.get("Lead"), until)
        for stream in self.streams:
            try:
                for cursor, events in readers[stream](cursors.get(stream), until):
                    yield from events
                    result.cursors[stream] = cursor
            except QuotaReached as stop:
                result.stopped = str(stop)
                return
            result.cursors[stream] = Cursor(until)

    def _warn_if_past_recycle_bin(self, since: Cursor | None, until: datetime) -> None:
        """queryAll sees a deleted lead only while it is in the Recycle Bin: a longer gap loses hard deletes."""
        if since is not None and until - since.at > RECYCLE_BIN:
            log.warning(
                "%s: the last sync read leads up to %s, %d days ago; Salesforce keeps deleted records in the "
                "Recycle Bin for 15 days, so leads deleted and purged since then are never seen as deleted and "
                "stay open in the store. Check them in Salesforce and run more often than every 15 days.",
                self.name, soql_time(since.at), (until - since.at).days)

    def soql(self, stream: str, since: Cursor | None, until: datetime) -> str:
        """The query each stream sends (public, so tests and docs can show it)."""
        c = self.config
        if stream == "Lead":
            select = list(dict.fromkeys([*LEAD_SYSTEM_FIELDS, *c.lead_fields().values(),
                                         *([c.disposition_reason_field] if c.disposition_reason_field else [])]))
            return (f"SELECT {', '.join(select)} FROM Lead WHERE {window_clause('SystemModstamp', since, until)} "
                    "ORDER BY SystemModstamp, Id")
        if stream == "LeadHistory":
            select = ["Id", "LeadId", "Field", "DataType", "OldValue", "NewValue", "CreatedDate"]
            if c.disposition_reason_field:
                select.append(f"Lead.{c.disposition_reason_field}")
            return (f"SELECT {', '.join(select)} FROM LeadHistory WHERE Field IN ({self._tracked_list()}) AND "
                    f"{window_clause('CreatedDate', since, until)} ORDER BY CreatedDate, Id")
        if stream == "Task":
            return (f"SELECT {TASK_FIELDS} FROM Task WHERE Who.Type = 'Lead' AND IsClosed = true AND "
                    f"{window_clause('SystemModstamp', since, until)} ORDER BY SystemModstamp, Id")
        if stream == "Event":
            return (f"SELECT {EVENT_FIELDS} FROM Event WHERE Who.Type = 'Lead' "
                    f"AND {window_clause('SystemModstamp', since, until)} ORDER BY SystemModstamp, Id")
        return (f"SELECT {EVENT_FIELDS} FROM Event WHERE Who.Type = 'Lead' "
                f"AND {window_clause('StartDateTime', since, until)} ORDER BY StartDateTime, Id")

    def _tracked_list(self) -> str:
        return ", ".join(f"'{field}'" for field in self.config.tracked())

    def _leads(self, since: Cursor | None, until: datetime) -> Iterator[tuple[Cursor, list[LeadEvent]]]:
        mapping = self.config.lead_fields()
        for page in self._pages(self.soql("Lead", since, until), include_deleted=True):
            first_rows = self._first_history_rows([r["Id"] for r in page if _is_new(r, since)])
            converted = {r["ConvertedContactId"]: r["Id"] for r in page
                         if r.get("IsConverted") and r.get("ConvertedContactId")}
            moved = self._moved_activities(converted, until)
            for record in page:
                stamp = parse_time(record["SystemModstamp"])
                assert stamp is not None
                events = self._lead_events(record, mapping, since, first_rows.get(record["Id"], {}))
                yield Cursor(stamp, record["Id"]), [*events, *moved.get(record["Id"], [])]

    def _first_history_rows(self, leads: list[str]) -> dict[str, dict[str, dict[str, Any]]]:
        """Each new lead's first history row per tracked field: its OldValue is the value at creation."""
        first: dict[str, dict[str, dict[str, Any]]] = {}
        if not leads or not self.config.tracked():
            return first
        rows = self._by_ids("Id, LeadId, Field, DataType, OldValue, CreatedDate", "LeadHistory", "LeadId", leads,
                            f" AND Field IN ({self._tracked_list()}) ORDER BY CreatedDate, Id", include_deleted=True)
        for row in rows:
            if row["Field"] == HISTORY_OWNER and row.get("DataType") == "Text":
                continue  # the owner's name; its EntityId twin holds the id
            first.setdefault(row["LeadId"], {}).setdefault(row["Field"], row)
        return first

    def _lead_events(self, record: dict[str, Any], mapping: dict[str, str], since: Cursor | None,
                     first_rows: dict[str, dict[str, Any]]) -> list[LeadEvent]:
        lead = record["Id"]
        created = parse_time(record["CreatedDate"])
        stamp = parse_time(record["SystemModstamp"])
        modified = parse_time(record.get("LastModifiedDate")) or stamp
        assert created is not None and modified is not None and stamp is not None
        tracked = self.config.tracked()
        event = self._event_maker(lead)
        events = []

        def at_creation(field: str, current: Any) -> Any:
            row = first_rows.get(field)
            return row.get("OldValue") if row is not None and field in tracked else current

        if _is_new(record, since):
            attributes: dict[str, Any] = {"status": at_creation("Status", record.get("Status"))}
            first_seen: dict[str, Any] = {}
            for ours, theirs in mapping.items():
                if theirs in tracked:
                    attributes[ours] = at_creation(theirs, record.get(theirs))
                elif modified > created:
                    if record.get(theirs) is not None:  # untracked: its value at creation is unknown
                        first_seen[ours] = record.get(theirs)
                else:
                    attributes[ours] = record.get(theirs)
            events.append(event(EventType.CREATED, created, "created", {"attributes": attributes}))
            owner = at_creation(HISTORY_OWNER, record.get("OwnerId"))
            if owner:
                events.append(event(EventType.ASSIGNED, created, "created-owner", {"owner": str(owner)}))
            if first_seen:
                events.append(event(EventType.UPDATED, modified, "first-seen",
                                    {"changes": first_seen, "note": FIRST_SEEN_NOTE}))
        elif not record.get("IsDeleted"):
            # Timed at SystemModstamp, which a restore from the Recycle Bin moves: the values hold then too,
            # and deleted = false after a deletion brings the lead back.
            changes = {ours: record.get(theirs) for ours, theirs in mapping.items()}
            events.append(event(EventType.UPDATED, stamp, f"fields@{stamp.isoformat()}",
                                {"changes": {**changes, "deleted": False}}))
        if record.get("IsConverted"):
            events.append(event(EventType.CONVERTED, modified, "converted",
                                {"opportunity_id": record.get("ConvertedOpportunityId")}))
        if record.get("IsDeleted"):
            # Keyed by its time: a lead deleted, restored and deleted again has two deletions.
            events.append(event(EventType.DELETED, stamp, f"deleted@{stamp.isoformat()}",
                                {"merged_into": record.get("MasterRecordId")}))
        return events

    def _event_maker(self, lead: str) -> Callable[[EventType, datetime, str, dict[str, Any]], LeadEvent]:
        def make(type_: EventType, at: datetime, key: str, payload: dict[str, Any]) -> LeadEvent:
            return stable_event(source=self.name, lead_id=lead, type=type_, occurred_at=at, key=key, payload=payload)
        return make

    def _history(self, since: Cursor | None, until: datetime) -> Iterator[tuple[Cursor, list[LeadEvent]]]:
        c = self.config
        tracked = c.tracked()
        # queryAll: the rows of a lead in the Recycle Bin are read too, and kept if it is restored.
        for row in self._query(self.soql("LeadHistory", since, until), include_deleted=True):
            at = parse_time(row["CreatedDate"])
            assert at is not None
            event = self._event_maker(row["LeadId"])
            events = []
            if row["Field"] == "Status" and row.get("NewValue"):
                new = str(row["NewValue"])
                events.append(event(EventType.STATUS_CHANGED, at, row["Id"],
                                    {"field": "status", "old": row.get("OldValue"), "new": new}))
                disposition = c.dispositions.get(new)
                # The engine already counts a status "Recycled" as a recycle; a second event would count twice.
                if disposition is not None and not (disposition == "recycled" and new.casefold() == "recycled"):
                    reason = (row.get("Lead") or {}).get(c.disposition_reason_field) if c.disposition_reason_field \
                        else None
                    events.append(event(EventType.DISPOSITION, at, row["Id"],
                                        {"disposition": disposition, "reason": reason}))
            elif row["Field"] == HISTORY_OWNER:
                if row.get("DataType") != "Text" and row.get("NewValue"):
                    events.append(event(EventType.ASSIGNED, at, row["Id"], {"owner": str(row["NewValue"])}))
            elif row["Field"] in tracked:
                events.append(event(EventType.UPDATED, at, row["Id"],
                                    {"changes": {tracked[row["Field"]]: row.get("NewValue")}}))
            yield Cursor(at, row["Id"]), events

    def _activity_rows(self, soql: str) -> Iterator[dict[str, Any]]:
        """Live activities, and those deleted with their lead (a restore brings them back unchanged, so they
        would never be read again); an activity deleted on its own did not happen."""
        for page in self._pages(soql, include_deleted=True):
            gone = {r["WhoId"] for r in page if r.get("IsDeleted")}
            deleted_leads = {r["Id"] for r in self._by_ids("Id", "Lead", "Id", gone, " AND IsDeleted = true",
                                                          include_deleted=True)} if gone else set()
            for row in page:
                if not row.get("IsDeleted") or row.get("WhoId") in deleted_leads:
                    yield row

    def _tasks(self, since: Cursor | None, until: datetime) -> Iterator[tuple[Cursor, list[LeadEvent]]]:
        for row in self._activity_rows(self.soql("Task", since, until)):
            stamp = parse_time(row["SystemModstamp"])
            assert stamp is not None
            yield Cursor(stamp, row["Id"]), self._task_events(row, row["WhoId"], until)

    def _task_events(self, row: dict[str, Any], lead: str, until: datetime) -> list[LeadEvent]:
        at = parse_time(row.get("CompletedDateTime")) or parse_time(row["CreatedDate"])
        assert at is not None
        subtype = str(row.get("TaskSubtype") or "").casefold()
        channel = SUBTYPE_CHANNEL.get(subtype) or TYPE_CHANNEL.get(str(row.get("Type") or "").casefold(), "other")
        direction = str(row.get("CallType") or "outbound").casefold()
        payload = {"channel": channel, "direction": direction, "outcome": row.get("CallDisposition"),
                   "by": row.get("OwnerId")}
        return [self._event_maker(lead)(EventType.ACTIVITY, at, row["Id"], payload)] if at <= until else []

    def _events(self, since: Cursor | None, until: datetime) -> Iterator[tuple[Cursor, list[LeadEvent]]]:
        for row in self._activity_rows(self.soql("Event", since, until)):
            stamp = parse_time(row["SystemModstamp"])
            assert stamp is not None
            yield Cursor(stamp, row["Id"]), self._meeting_events(row, row["WhoId"], until)

    def _event_starts(self, since: Cursor | None, until: datetime) -> Iterator[tuple[Cursor, list[LeadEvent]]]:
        """Meetings whose time came since the last run: booked earlier, they were not touches then."""
        for row in self._activity_rows(self.soql("EventStart", since, until)):
            start = _meeting_time(row)
            assert start is not None
            yield Cursor(start, row["Id"]), self._meeting_events(row, row["WhoId"], until)

    def _meeting_events(self, row: dict[str, Any], lead: str, until: datetime) -> list[LeadEvent]:
        at = _meeting_time(row)
        if at is None or at > until:
            return []  # not happened yet: EventStart reads it when it does
        payload = {"channel": "meeting", "direction": "outbound", "by": row.get("OwnerId")}
        return [self._event_maker(lead)(EventType.ACTIVITY, at, row["Id"], payload)]

    def _moved_activities(self, lead_of_contact: dict[str, str], until: datetime) -> dict[str, list[LeadEvent]]:
        """Activities of converted leads, which conversion moved to the new contact (WhoId = ConvertedContactId)."""
        moved: dict[str, list[LeadEvent]] = {}
        if not lead_of_contact:
            return moved
        for row in self._by_ids(TASK_FIELDS, "Task", "WhoId", lead_of_contact, " AND IsClosed = true"):
            lead = lead_of_contact[row["WhoId"]]
            moved.setdefault(lead, []).extend(self._task_events(row, lead, until))
        for row in self._by_ids(EVENT_FIELDS, "Event", "WhoId", lead_of_contact,
                                f" AND StartDateTime <= {soql_time(until)}"):
            lead = lead_of_contact[row["WhoId"]]
            moved.setdefault(lead, []).extend(self._meeting_events(row, lead, until))
        return moved

    # ------------------------------------------------------------ push
    def push(self, updates: Sequence[Update]) -> list[PushResult]:
        results: list[PushResult] = []
        lead_records: dict[str, dict[str, Any]] = {}
        contributors: dict[str, list[Update]] = {}
        tasks: list[TaskRequest] = []
        for update in updates:
            if isinstance(update, TaskRequest):
                tasks.append(update)
                continue
            refused = self._refusal(update)
            if refused:
                results.append(PushResult(update.key, update.lead_id, ok=False, error=refused))
                continue
            fields = self._lead_fields_for(update)
            if not fields:
                results.append(PushResult(update.key, update.lead_id, ok=True, skipped=True))
                continue
            lead_records.setdefault(update.lead_id, {}).update(fields)
            contributors.setdefault(update.lead_id, []).append(update)
        records = [{"attributes": {"type": "Lead"}, "id": lead, **fields} for lead, fields in lead_records.items()]
        for record, (ok, error) in self._collection("PATCH", records):
            for update in contributors[record["id"]]:
                results.append(self._lead_result(update, record["id"], ok, error))
        results.extend(self._create_tasks(tasks))
        return results

    def _refusal(self, update: Update) -> str | None:
        """Why a field change cannot be written, before asking Salesforce."""
        if not isinstance(update, FieldChange):
            return None
        api_name = self._writable_fields().get(update.field)
        if api_name is None:
            return (f"no Lead field is mapped to {update.field!r}: add {update.field} = \"Api_Name__c\" "
                    "to this source's fields")
        if api_name in NOT_UPDATEABLE:
            hint = " (a compound field: map name to a field you can write)" if api_name == "Name" else ""
            return f"Salesforce does not let clients write Lead.{api_name}{hint}; {update.field!r} cannot be set"
        return None

    @staticmethod
    def _lead_result(update: Update, lead: str, ok: bool, error: str | None) -> PushResult:
        if not ok and error and "CANNOT_UPDATE_CONVERTED_LEAD" in error:
            # Salesforce refuses every write to a converted lead; SLA status is kept once as skipped, with the
            # reason, instead of failing on every run. An action cannot happen, and says so.
            note = "the lead is converted and Salesforce refuses changes to converted leads"
            if isinstance(update, StatusUpdate):
                return PushResult(update.key, update.lead_id, ok=True, skipped=True, error=note, remote_id=lead)
            return PushResult(update.key, update.lead_id, ok=False, error=f"{note} (CANNOT_UPDATE_CONVERTED_LEAD)",
                              remote_id=lead)
        return PushResult(update.key, update.lead_id, ok=ok, error=error, remote_id=lead)

    def _writable_fields(self) -> dict[str, str]:
        """Our field name -> Lead API name, for ``set`` in an escalation (status is the Lead Status)."""
        return {"status": "Status", **self.config.lead_fields()}

    def _lead_fields_for(self, update: Update) -> dict[str, Any]:
        if isinstance(update, OwnerChange):
            return {"OwnerId": update.owner}
        if isinstance(update, FieldChange):
            return {self._writable_fields()[update.field]: update.value}
        assert isinstance(update, StatusUpdate)
        fields: dict[str, Any] = {}
        for target in self.config.push_status:
            if target.window != update.window or (target.policy and target.policy != update.policy):
                continue
            for ours, value in (("tier", update.tier), ("status", update.status),
                                ("due_at", _sf_value(update.due_at)), ("breached_at", _sf_value(update.breached_at))):
                field_name = getattr(target, ours)
                if field_name:
                    fields[field_name] = value
        return fields

    # ------------------------------------------------------------ tasks
    def _create_tasks(self, tasks: list[TaskRequest]) -> list[PushResult]:
        """Create each task once: a task already there (a create that committed but never answered, in this
        run or an earlier one) is found by its key, and a create with no answer is looked up before it is
        sent again."""
        if not tasks:
            return []
        zones = self._owner_zones(tasks)
        results: dict[str, PushResult] = {}
        pending = list(tasks)
        for attempt in range(self.config.max_retries + 1):
            found = self._existing_tasks(pending)
            for task in pending:
                if task.key in found:
                    results[task.key] = PushResult(task.key, task.lead_id, ok=True, remote_id=found[task.key])
            pending = [task for task in pending if task.key not in found]
            unanswered: list[TaskRequest] = []
            size = self.config.batch_size
            for start in range(0, len(pending), size):
                batch = pending[start:start + size]
                records = [self._task_record(task, zones) for task in batch]
                try:
                    answers = self._call(self.client().restful, "composite/sobjects", method="POST",
                                         json={"allOrNone": False, "records": records}, retry_unsure=False)
                except Unanswered as error:
                    unanswered.extend(batch)
                    log.warning("%s; looking the tasks up before sending them again", error)
                    continue
                except ConnectorError as error:
                    for task in batch:
                        results[task.key] = PushResult(task.key, task.lead_id, ok=False, error=str(error))
                    continue
                for task, answer in zip(batch, answers or [], strict=False):
                    results[task.key] = _save_result(task.key, task.lead_id, answer)
            pending = unanswered
            if not pending:
                break
            if attempt < self.config.max_retries:
                time.sleep(min(self.config.backoff_seconds * 2**attempt, 60.0))
        for task in pending:
            results[task.key] = PushResult(task.key, task.lead_id, ok=False, error=(
                "Salesforce did not answer the create and the task is not there; it is tried again next time"))
        return [results[task.key] for task in tasks if task.key in results]

    def _existing_tasks(self, tasks: list[TaskRequest]) -> dict[str, str]:
        """Our key -> Task Id of the tasks already created."""
        key_field = self.config.task_key_field
        if key_field:
            keys = {task.key for task in tasks}
            listed = sorted(keys)
            found = {}
            for start in range(0, len(listed), IDS_PER_QUERY):
                values = ", ".join(_soql_string(k) for k in listed[start:start + IDS_PER_QUERY])
                for row in self._query(f"SELECT Id, {key_field} FROM Task WHERE {key_field} IN ({values})"):
                    found[row[key_field]] = row["Id"]
            return found
        # No key field: an open task with the same subject on the lead is this one.
        by_subject = {(task.lead_id, task.subject[:255]): task.key for task in tasks}
        found = {}
        for row in self._by_ids("Id, WhoId, Subject", "Task", "WhoId", {task.lead_id for task in tasks},
                                " AND IsClosed = false"):
            key = by_subject.get((row["WhoId"], row.get("Subject")))
            if key is not None:
                found[key] = row["Id"]
        return found

    def _owner_zones(self, tasks: list[TaskRequest]) -> dict[str, ZoneInfo]:
        """Each user owner's time zone (User.TimeZoneSidKey), so a due date is the date in the rep's day."""
        users = {task.owner for task in tasks if task.owner and task.owner.startswith("005") and _ID.match(task.owner)}
        zones: dict[str, ZoneInfo] = {}
        if not users:
            return zones
        for row in self._by_ids("Id, TimeZoneSidKey", "User", "Id", users):
            try:
                zones[row["Id"]] = ZoneInfo(str(row.get("TimeZoneSidKey")))
            except (ZoneInfoNotFoundError, ValueError):
                log.warning("%s: user %s has time zone %r, unknown here; due dates use %s",
                            self.name, row["Id"], row.get("TimeZoneSidKey"), self.config.time_zone)
        return zones

    def _task_record(self, task: TaskRequest, zones: Mapping[str, ZoneInfo]) -> dict[str, Any]:
        record: dict[str, Any] = {"attributes": {"type": "Task"}, "WhoId": task.lead_id, "Subject": task.subject[:255],
                                  "Description": task.description, "Status": "Not Started", "Priority": "High"}
        if task.due_at is not None:
            # ActivityDate is a date without a zone, shown as is: the due date in the rep's own day.
            zone = zones.get(task.owner or "") or ZoneInfo(self.config.time_zone)
            record["ActivityDate"] = task.due_at.astimezone(zone).date().isoformat()
        if task.owner:
            record["OwnerId"] = task.owner
        if self.config.task_key_field:
            record[self.config.task_key_field] = task.key
        return record

    def _collection(self, method: str,
                    records: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], tuple[bool, str | None]]]:
        """sObject collections, batch_size records a request; per-record (ok, error), in order."""
        size = self.config.batch_size
        for start in range(0, len(records), size):
            batch = records[start:start + size]
            try:
                answers = self._call(self.client().restful, "composite/sobjects", method=method,
                                     json={"allOrNone": False, "records": batch})
            except ConnectorError as error:
                for record in batch:
                    yield record, (False, str(error))
                continue
            for record, answer in zip(batch, answers or [], strict=False):
                result = _save_result("", "", answer)
                yield record, (result.ok, result.error)

    # ------------------------------------------------------------ owners
    def pull_owners(self) -> list[Owner]:
        """Users (005…) and queues (Group with Type = 'Queue', 00G…): a lead's OwnerId is one or the other.

        Read whole each sync; an inactive user stays, to explain old assignments, but is never written.
        """
        users = [Owner(id=str(r["Id"]), email=r.get("Email") or None, name=r.get("Name") or "", kind="user",
                       active=bool(r.get("IsActive")))
                 for r in self._query("SELECT Id, Name, Email, IsActive FROM User")]
        queues = [Owner(id=str(r["Id"]), email=None, name=r.get("Name") or "", kind="queue")
                  for r in self._query("SELECT Id, Name FROM Group WHERE Type = 'Queue'")]
        return users + queues


def _save_result(key: str, lead: str, answer: dict[str, Any]) -> PushResult:
    """A SaveResult of sObject collections as our result."""
    if answer.get("success"):
        return PushResult(key, lead, ok=True, remote_id=answer.get("id"))
    errors = "; ".join(f"{e.get('statusCode')}: {e.get('message')}" for e in answer.get("errors", []))
    return PushResult(key, lead, ok=False, error=errors or "rejected")


def _soql_string(value: str) -> str:
    """A SOQL string literal: backslash and quote escaped."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _sf_value(value: datetime | date | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return value.isoformat()


def _with_timeout(request: Callable[..., Any], seconds: float) -> Callable[..., Any]:
    """requests has no session-wide timeout; a cron run must never hang on a dead socket."""

    def send(method: str, url: str, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", seconds)
        return request(method, url, **kwargs)

    return send
