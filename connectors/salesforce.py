"""Salesforce connector: leads, their history and activities in; SLA status, tasks and owners out.

Written as any third party would write a connector (docs/connectors.md) and registered
through the ``sla_engine`` entry point ``salesforce`` (connectors/salesforce_plugin.py, which
imports this module only when connectors are asked for). simple-salesforce is imported only when
a connector instance talks to Salesforce, so ``sla-engine --help`` stays fast.

Streams, each read by SOQL ordered by its timestamp with an Id tiebreak:

- ``Lead`` (queryAll, so deletes come too) by SystemModstamp: created, field changes, conversion, deletion;
- ``LeadHistory`` by CreatedDate (history rows have no SystemModstamp): status and owner
  changes at their real times; turn on field history tracking for Lead Status and Owner;
- ``Task`` and ``Event`` by SystemModstamp: closed tasks and events on leads are activities.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sla_engine.connector import (
    Connector,
    ConnectorConfig,
    ConnectorError,
    Cursor,
    FieldChange,
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
                      "OwnerId", "IsConverted", "ConvertedOpportunityId")
SUBTYPE_CHANNEL = {"call": "call", "email": "email", "listemail": "email", "linkedin": "social", "cadence": "other"}
TYPE_CHANNEL = {"call": "call", "email": "email", "meeting": "meeting"}
_ID = re.compile(r"^[A-Za-z0-9]{15,18}$")


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
    """Auth is one of: username + password + security_token; session_id + instance_url;
    username + consumer_key + private_key (JWT bearer)."""

    instance_url: str | None = None
    domain: str = "login"
    username: str | None = None
    password: Secret | None = None
    security_token: Secret | None = None
    session_id: Secret | None = None
    consumer_key: str | None = None
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

    push_status: list[StatusFields] = Field(default_factory=list)
    batch_size: int = Field(200, ge=1, le=200)
    max_api_share: float = Field(0.8, gt=0, le=1)
    """Stop before using more than this share of the org's daily API requests (Sforce-Limit-Info)."""
    max_retries: int = Field(5, ge=0)
    backoff_seconds: float = Field(1.0, ge=0)

    @model_validator(mode="after")
    def _one_auth(self) -> SalesforceConfig:
        self.auth_mode()
        return self

    def auth_mode(self) -> str:
        if self.session_id is not None:
            if not self.instance_url:
                raise ValueError("session_id needs instance_url")
            return "session"
        if self.private_key is not None:
            if not (self.username and self.consumer_key):
                raise ValueError("JWT bearer needs username, consumer_key and private_key")
            return "jwt"
        if self.password is not None:
            if not (self.username and self.security_token is not None):
                raise ValueError("password login needs username, password and security_token")
            return "password"
        raise ValueError("give credentials: session_id + instance_url, username + password + security_token, "
                         "or username + consumer_key + private_key")

    def lead_fields(self) -> dict[str, str]:
        merged = {**DEFAULT_FIELDS, **self.fields}
        return {ours: theirs for ours, theirs in merged.items() if theirs}


class QuotaReached(ConnectorError):
    """The configured share of the daily API quota is used; the rest waits for the next run."""


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


def _error_text(error: Any) -> str:
    """errorCode: message of a Salesforce error response, without anything else it carries."""
    content = getattr(error, "content", None)
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return "; ".join(f"{c.get('errorCode', '?')}: {c.get('message', '')}" for c in content)
    return f"HTTP {getattr(error, 'status', '?')}"


class SalesforceConnector(Connector):
    Config = SalesforceConfig
    streams = ("Lead", "LeadHistory", "Task", "Event")
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
            elif mode == "jwt":
                assert c.private_key is not None
                kwargs.update(username=c.username, consumer_key=c.consumer_key, privatekey=c.private_key.reveal(),
                              domain=c.domain, instance_url=c.instance_url)
            else:
                assert c.password is not None and c.security_token is not None
                kwargs.update(username=c.username, password=c.password.reveal(),
                              security_token=c.security_token.reveal(), domain=c.domain)
            self._sf = Salesforce(**kwargs)
        except SalesforceAuthenticationFailed as error:
            raise ConnectorError(f"{self.name}: Salesforce login failed ({mode}): {error.code}") from None
        return self._sf

    def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """One API call: stop at the quota share, retry limits, 5xx and connection errors with backoff."""
        import requests
        from simple_salesforce.exceptions import (
            SalesforceError,
            SalesforceExpiredSession,
            SalesforceGeneralError,
            SalesforceRefusedRequest,
        )

        attempt = 0
        while True:
            self._check_quota()
            try:
                self.requests_made += 1
                return fn(*args, **kwargs)
            except SalesforceExpiredSession:
                raise ConnectorError(
                    f"{self.name}: Salesforce rejected the session (401 INVALID_SESSION_ID); "
                    "renew the credentials the configuration names"
                ) from None
            except SalesforceRefusedRequest as error:
                if "REQUEST_LIMIT_EXCEEDED" not in _error_text(error):
                    raise ConnectorError(f"{self.name}: Salesforce refused the request: {_error_text(error)}") from None
                problem = f"API limit ({_error_text(error)})"
            except SalesforceGeneralError as error:
                if error.status < 500:
                    raise ConnectorError(f"{self.name}: Salesforce error: {_error_text(error)}") from None
                problem = f"server error {error.status}"
            except SalesforceError as error:
                raise ConnectorError(f"{self.name}: Salesforce error: {_error_text(error)}") from None
            except (requests.ConnectionError, requests.Timeout) as error:
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

    def _query(self, soql: str, include_deleted: bool = False) -> Iterator[dict[str, Any]]:
        """Every record of a query, page by page through nextRecordsUrl."""
        sf = self.client()
        page = self._call(sf.query, soql, include_deleted=include_deleted)
        while True:
            yield from page["records"]
            if page.get("done", True) or not page.get("nextRecordsUrl"):
                return
            page = self._call(sf.query_more, page["nextRecordsUrl"], identifier_is_url=True)

    # ------------------------------------------------------------ pull
    def pull(self, cursors: Mapping[str, Cursor | None], until: datetime) -> PullResult:
        result = PullResult(items=iter(()))
        result.items = self._pull(cursors, until, result)
        return result

    def _pull(self, cursors: Mapping[str, Cursor | None], until: datetime, result: PullResult) -> Iterator[Any]:
        readers = {"Lead": self._leads, "LeadHistory": self._history, "Task": self._tasks, "Event": self._events}
        for stream in self.streams:
            try:
                for cursor, events in readers[stream](cursors.get(stream), until):
                    yield from events
                    result.cursors[stream] = cursor
            except QuotaReached as stop:
                result.stopped = str(stop)
                return
            result.cursors[stream] = Cursor(until)

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
            return (f"SELECT {', '.join(select)} FROM LeadHistory WHERE Field IN ('Status', 'Owner') AND "
                    f"{window_clause('CreatedDate', since, until)} ORDER BY CreatedDate, Id")
        if stream == "Task":
            return ("SELECT Id, WhoId, OwnerId, TaskSubtype, Type, CallType, CallDisposition, CreatedDate, "
                    "CompletedDateTime, SystemModstamp FROM Task WHERE Who.Type = 'Lead' AND IsClosed = true AND "
                    f"{window_clause('SystemModstamp', since, until)} ORDER BY SystemModstamp, Id")
        return ("SELECT Id, WhoId, OwnerId, Type, CreatedDate, SystemModstamp FROM Event WHERE Who.Type = 'Lead' "
                f"AND {window_clause('SystemModstamp', since, until)} ORDER BY SystemModstamp, Id")

    def _leads(self, since: Cursor | None, until: datetime) -> Iterator[tuple[Cursor, list[LeadEvent]]]:
        mapping = self.config.lead_fields()
        for record in self._query(self.soql("Lead", since, until), include_deleted=True):
            stamp = parse_time(record["SystemModstamp"])
            assert stamp is not None
            yield Cursor(stamp, record["Id"]), self._lead_events(record, mapping, since)

    def _lead_events(self, record: dict[str, Any], mapping: dict[str, str], since: Cursor | None) -> list[LeadEvent]:
        lead = record["Id"]
        created = parse_time(record["CreatedDate"])
        modified = parse_time(record.get("LastModifiedDate")) or parse_time(record["SystemModstamp"])
        assert created is not None and modified is not None
        values = {ours: record.get(theirs) for ours, theirs in mapping.items()}
        event = self._event_maker(lead)
        events = []
        if since is None or created >= since.at:
            events.append(event(EventType.CREATED, created, "created",
                                {"attributes": {**values, "status": record.get("Status")}}))
            if record.get("OwnerId"):
                events.append(event(EventType.ASSIGNED, created, "created-owner", {"owner": record["OwnerId"]}))
        else:
            events.append(event(EventType.UPDATED, modified, f"fields@{modified.isoformat()}", {"changes": values}))
        if record.get("IsConverted"):
            events.append(event(EventType.CONVERTED, modified, "converted",
                                {"opportunity_id": record.get("ConvertedOpportunityId")}))
        if record.get("IsDeleted"):
            events.append(event(EventType.DELETED, modified, "deleted", {}))
        return events

    def _event_maker(self, lead: str) -> Callable[[EventType, datetime, str, dict[str, Any]], LeadEvent]:
        def make(type_: EventType, at: datetime, key: str, payload: dict[str, Any]) -> LeadEvent:
            return stable_event(source=self.name, lead_id=lead, type=type_, occurred_at=at, key=key, payload=payload)
        return make

    def _history(self, since: Cursor | None, until: datetime) -> Iterator[tuple[Cursor, list[LeadEvent]]]:
        c = self.config
        for row in self._query(self.soql("LeadHistory", since, until)):
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
            elif row["Field"] == "Owner" and row.get("DataType") != "Text" and row.get("NewValue"):
                events.append(event(EventType.ASSIGNED, at, row["Id"], {"owner": str(row["NewValue"])}))
            yield Cursor(at, row["Id"]), events

    def _tasks(self, since: Cursor | None, until: datetime) -> Iterator[tuple[Cursor, list[LeadEvent]]]:
        for row in self._query(self.soql("Task", since, until)):
            stamp = parse_time(row["SystemModstamp"])
            at = parse_time(row.get("CompletedDateTime")) or parse_time(row["CreatedDate"])
            assert stamp is not None and at is not None
            subtype = str(row.get("TaskSubtype") or "").casefold()
            channel = SUBTYPE_CHANNEL.get(subtype) or TYPE_CHANNEL.get(str(row.get("Type") or "").casefold(), "other")
            direction = str(row.get("CallType") or "outbound").casefold()
            payload = {"channel": channel, "direction": direction, "outcome": row.get("CallDisposition"),
                       "by": row.get("OwnerId")}
            activity = self._event_maker(row["WhoId"])(EventType.ACTIVITY, at, row["Id"], payload)
            yield Cursor(stamp, row["Id"]), [activity]

    def _events(self, since: Cursor | None, until: datetime) -> Iterator[tuple[Cursor, list[LeadEvent]]]:
        for row in self._query(self.soql("Event", since, until)):
            stamp = parse_time(row["SystemModstamp"])
            at = parse_time(row["CreatedDate"])
            assert stamp is not None and at is not None
            payload = {"channel": "meeting", "direction": "outbound", "by": row.get("OwnerId")}
            activity = self._event_maker(row["WhoId"])(EventType.ACTIVITY, at, row["Id"], payload)
            yield Cursor(stamp, row["Id"]), [activity]

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
            if isinstance(update, FieldChange) and update.field not in self._writable_fields():
                results.append(PushResult(update.key, update.lead_id, ok=False, error=(
                    f"no Lead field is mapped to {update.field!r}: add {update.field} = \"Api_Name__c\" "
                    "to this source's fields")))
                continue
            fields = self._lead_fields_for(update)
            if not fields:
                results.append(PushResult(update.key, update.lead_id, ok=True, skipped=True))
                continue
            lead_records.setdefault(update.lead_id, {}).update(fields)
            contributors.setdefault(update.lead_id, []).append(update)
        records = [{"attributes": {"type": "Lead"}, "id": lead, **fields} for lead, fields in lead_records.items()]
        for record, outcome in self._collection("PATCH", records):
            for update in contributors[record["id"]]:
                results.append(PushResult(update.key, update.lead_id, ok=outcome[0], error=outcome[1],
                                          remote_id=record["id"]))
        task_records = [self._task_record(task) for task in tasks]
        for (record, outcome), task in zip(self._collection("POST", task_records), tasks, strict=True):
            results.append(PushResult(task.key, task.lead_id, ok=outcome[0], error=outcome[1],
                                      remote_id=record.get("_created_id")))
        return results

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

    @staticmethod
    def _task_record(task: TaskRequest) -> dict[str, Any]:
        record: dict[str, Any] = {"attributes": {"type": "Task"}, "WhoId": task.lead_id, "Subject": task.subject[:255],
                                  "Description": task.description, "Status": "Not Started", "Priority": "High"}
        if task.due_at is not None:
            record["ActivityDate"] = task.due_at.astimezone(UTC).date().isoformat()
        if task.owner:
            record["OwnerId"] = task.owner
        return record

    def _collection(self, method: str,
                    records: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], tuple[bool, str | None]]]:
        """sObject collections, batch_size records a request; per-record (ok, error), in order."""
        sf = self.client() if records else None
        size = self.config.batch_size
        for start in range(0, len(records), size):
            batch = records[start:start + size]
            try:
                answers = self._call(sf.restful, "composite/sobjects", method=method,
                                     json={"allOrNone": False, "records": batch})
            except ConnectorError as error:
                for record in batch:
                    yield record, (False, str(error))
                continue
            for record, answer in zip(batch, answers or [], strict=False):
                if answer.get("success"):
                    if method == "POST":
                        record["_created_id"] = answer.get("id")
                    yield record, (True, None)
                else:
                    errors = "; ".join(f"{e.get('statusCode')}: {e.get('message')}" for e in answer.get("errors", []))
                    yield record, (False, errors or "rejected")


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
