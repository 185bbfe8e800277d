"""HubSpot connector: contacts, their status history and engagements in; SLA properties, tasks and owners out.

Written as any third party would write a connector (docs/connectors.md) and registered
through the ``sla_engine`` entry point ``hubspot`` (connectors/hubspot_plugin.py, which imports
this module only when connectors are asked for). hubspot-api-client is imported only when an
instance talks to HubSpot.

Streams: ``contacts`` (search by lastmodifieddate, then a batch read with the history of
lifecyclestage, hs_lead_status and hubspot_owner_id for real transition times) and
``calls``, ``emails``, ``meetings``, ``tasks`` (search by hs_lastmodifieddate, batch read,
contacts through v4 associations). A search window that would pass HubSpot's 10,000-result
cap is split in two until each half fits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

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
from sla_engine.events import STANDARD_FIELDS, Disposition, EventType, LeadEvent

log = logging.getLogger(__name__)
UTC = timezone.utc
T = TypeVar("T")

DEFAULT_PROPERTIES: dict[str, str] = {
    "email": "email",
    "company": "company",
    "title": "jobtitle",
    "industry": "industry",
    "country": "country",
    "source": "hs_analytics_source",
    "lead_score": "hubspotscore",
}
HISTORY_PROPERTIES = ("hs_lead_status", "lifecyclestage", "hubspot_owner_id")
ENGAGEMENTS: dict[str, tuple[str, ...]] = {
    "calls": ("hs_timestamp", "hs_call_direction", "hs_call_disposition", "hubspot_owner_id"),
    "emails": ("hs_timestamp", "hs_email_direction", "hubspot_owner_id"),
    "meetings": ("hs_timestamp", "hs_meeting_outcome", "hubspot_owner_id"),
    "tasks": ("hs_timestamp", "hs_task_status", "hs_task_type", "hs_task_completion_date", "hubspot_owner_id"),
}
TASK_CHANNEL = {"CALL": "call", "EMAIL": "email", "LINKED_IN": "social"}
TASK_TO_CONTACT = 204  # HUBSPOT_DEFINED association type id
SEARCH_CAP = 10_000


class StatusProperties(BaseModel):
    """Which contact properties receive one window's SLA status (internal names)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    window: str
    policy: str | None = None
    tier: str | None = None
    status: str | None = None
    due_at: str | None = None
    breached_at: str | None = None


class HubSpotConfig(ConnectorConfig):
    token: Secret
    """A private app's access token, e.g. {env = "HUBSPOT_TOKEN"}."""
    host: str = "https://api.hubapi.com"
    ca_bundle: Path | None = None
    timeout_seconds: float = 60.0

    properties: dict[str, str] = Field(default_factory=dict)
    """Our field name -> contact property, e.g. fit_score = "fit_score__c"; "" drops a default."""
    dispositions: dict[str, Disposition] = Field(default_factory=dict)
    """hs_lead_status value -> disposition recorded when the status changes to it."""
    disposition_reason_property: str | None = None
    converted_stages: list[str] = Field(default_factory=lambda: ["opportunity", "customer"])

    push_status: list[StatusProperties] = Field(default_factory=list)
    page_size: int = Field(100, ge=1, le=200)
    history_batch_size: int = Field(50, ge=1, le=50)
    search_cap: int = Field(SEARCH_CAP, ge=1)
    max_retries: int = Field(5, ge=0)
    backoff_seconds: float = Field(1.0, ge=0)

    def contact_properties(self) -> dict[str, str]:
        merged = {**DEFAULT_PROPERTIES, **self.properties}
        return {ours: theirs for ours, theirs in merged.items() if theirs}


def epoch_ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def parse_time(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value)
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, UTC)
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def coerce(field: str, value: Any) -> Any:
    """HubSpot sends every property as text; policies compare numbers and booleans."""
    if value in (None, ""):
        return None
    kind = STANDARD_FIELDS.get(field)
    try:
        if kind == "number":
            number = float(value)
            return int(number) if number.is_integer() else number
    except ValueError:
        return value
    if kind == "boolean":
        return str(value).casefold() in ("true", "1", "yes")
    return value


class HubSpotConnector(Connector):
    Config = HubSpotConfig
    streams = ("contacts", *ENGAGEMENTS)
    config: HubSpotConfig

    def __init__(self, name: str, config: HubSpotConfig) -> None:  # type: ignore[override]
        super().__init__(name, config)
        self._apis: dict[str, Any] = {}
        self._dispositions: dict[str, str] | None = None

    # ------------------------------------------------------------ client and calls
    def api(self, which: str) -> Any:
        """One generated API object, made once: each makes its own connection pool."""
        if which in self._apis:
            return self._apis[which]
        from hubspot import HubSpot
        from urllib3.util.retry import Retry

        c = self.config
        retries = c.max_retries
        retry = Retry(
            total=retries, connect=retries, read=retries, status=retries,
            status_forcelist=(429, 500, 502, 503, 504),
            allowed_methods=None,  # by default urllib3 never retries POST or PATCH: every batch call is a POST
            respect_retry_after_header=True, backoff_factor=c.backoff_seconds, backoff_max=60,
            raise_on_status=False,
        )
        options: dict[str, Any] = {"access_token": c.token.reveal(), "retry": retry, "host": c.host.rstrip("/")}
        if c.ca_bundle is not None:
            options["ssl_ca_cert"] = str(c.ca_bundle)
        client = HubSpot(**options)
        crm = client.crm
        made = {
            "contacts_search": lambda: crm.contacts.search_api,
            "contacts_batch": lambda: crm.contacts.batch_api,
            "objects_search": lambda: crm.objects.search_api,
            "objects_batch": lambda: crm.objects.batch_api,
            "tasks_batch": lambda: crm.objects.tasks.batch_api,
            "associations": lambda: crm.associations.v4.batch_api,
        }[which]()
        self._apis[which] = made
        return made

    def _call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """One SDK call; HTTP failures become messages a person can act on, never holding the token."""
        import urllib3

        kwargs.setdefault("_request_timeout", self.config.timeout_seconds)
        try:
            return fn(*args, **kwargs)
        except urllib3.exceptions.HTTPError as error:
            raise ConnectorError(f"{self.name}: cannot reach HubSpot for {what}: {type(error).__name__}") from None
        except Exception as error:
            status = getattr(error, "status", None)
            if status is None or not hasattr(error, "body"):
                raise
            if status == 401:
                raise ConnectorError(
                    f"{self.name}: HubSpot rejected the private app token (401) for {what}; check the token "
                    f"{self.config.token} names and the app's scopes"
                ) from None
            message = _hubspot_message(getattr(error, "body", None))
            if status == 429:
                raise ConnectorError(f"{self.name}: HubSpot rate limit for {what} persisted after "
                                     f"{self.config.max_retries} retries: {message}") from None
            raise ConnectorError(f"{self.name}: HubSpot answered {status} for {what}: {message}") from None

    # ------------------------------------------------------------ search
    def search_request(self, time_property: str, lo: int, hi: int, after: str | None,
                       limit: int | None = None) -> Any:
        """The search body for one window of modification times (ms), ascending."""
        from hubspot.crm.contacts import Filter, FilterGroup, PublicObjectSearchRequest

        return PublicObjectSearchRequest(
            filter_groups=[FilterGroup(filters=[
                Filter(property_name=time_property, operator="GTE", value=str(lo)),
                Filter(property_name=time_property, operator="LTE", value=str(hi)),
            ])],
            sorts=[{"propertyName": time_property, "direction": "ASCENDING"}],  # type: ignore[list-item]
            properties=[time_property],
            limit=limit or self.config.page_size,
            after=after,
        )

    def _search_page(self, object_type: str, time_property: str, lo: int, hi: int, after: str | None) -> Any:
        request = self.search_request(time_property, lo, hi, after)
        if object_type == "contacts":
            return self._call("contact search", self.api("contacts_search").do_search,
                              public_object_search_request=request)
        return self._call(f"{object_type} search", self.api("objects_search").do_search, object_type,
                          public_object_search_request=request)

    def search_ids(self, object_type: str, time_property: str, lo: int, hi: int) -> Iterator[list[str]]:
        """Pages of ids modified in [lo, hi], halving any window whose total passes the cap."""
        page = self._search_page(object_type, time_property, lo, hi, None)
        if page.total > self.config.search_cap:
            if hi > lo:
                middle = (lo + hi) // 2
                yield from self.search_ids(object_type, time_property, lo, middle)
                yield from self.search_ids(object_type, time_property, middle + 1, hi)
                return
            log.warning("%s: %d %s modified in the same millisecond; reading the first %d",
                        self.name, page.total, object_type, self.config.search_cap)
        read = 0
        while True:
            ids = [result.id for result in page.results]
            read += len(ids)
            if ids:
                yield ids
            after = page.paging.next.after if page.paging and page.paging.next else None
            if not after or read >= self.config.search_cap:
                return
            page = self._search_page(object_type, time_property, lo, hi, after)

    # ------------------------------------------------------------ pull
    def pull(self, cursors: Mapping[str, Cursor | None], until: datetime) -> PullResult:
        result = PullResult(items=iter(()))
        result.items = self._pull(cursors, until, result)
        return result

    def _pull(self, cursors: Mapping[str, Cursor | None], until: datetime, result: PullResult) -> Iterator[Any]:
        for stream in self.streams:
            since = cursors.get(stream)
            lo, hi = epoch_ms(since.at) if since else 0, epoch_ms(until)
            if stream == "contacts":
                for ids in self.search_ids("contacts", "lastmodifieddate", lo, hi):
                    yield from self._contacts(ids, since)
            else:
                for ids in self.search_ids(stream, "hs_lastmodifieddate", lo, hi):
                    yield from self._engagements(stream, ids)
            result.cursors[stream] = Cursor(until)

    def _contacts(self, ids: list[str], since: Cursor | None) -> Iterator[LeadEvent]:
        from hubspot.crm.contacts import BatchReadInputSimplePublicObjectId, SimplePublicObjectId

        c = self.config
        mapping = c.contact_properties()
        wanted = sorted({*mapping.values(), "createdate", "lastmodifieddate", "firstname", "lastname",
                         *([c.disposition_reason_property] if c.disposition_reason_property else [])})
        size = c.history_batch_size
        for start in range(0, len(ids), size):
            body = BatchReadInputSimplePublicObjectId(
                properties=wanted, properties_with_history=list(HISTORY_PROPERTIES),
                inputs=[SimplePublicObjectId(id=i) for i in ids[start:start + size]],
            )
            batch = self._call("contact batch read", self.api("contacts_batch").read,
                               batch_read_input_simple_public_object_id=body, archived=False)
            for contact in batch.results:
                yield from self._contact_events(contact, mapping, since)

    def _contact_events(self, contact: Any, mapping: dict[str, str], since: Cursor | None) -> list[LeadEvent]:
        c = self.config
        lead = str(contact.id)
        props = contact.properties or {}
        created = parse_time(props.get("createdate")) or parse_time(contact.created_at)
        modified = parse_time(props.get("lastmodifieddate")) or parse_time(contact.updated_at)
        assert created is not None and modified is not None
        values = {ours: coerce(ours, props.get(theirs)) for ours, theirs in mapping.items()}
        name = " ".join(p for p in (props.get("firstname"), props.get("lastname")) if p)
        if name and "name" not in mapping:
            values["name"] = name

        def event(type_: EventType, at: datetime, key: str, payload: dict[str, Any]) -> LeadEvent:
            return stable_event(source=self.name, lead_id=lead, type=type_, occurred_at=at, key=key, payload=payload)

        events = []
        if since is None or created >= since.at:
            events.append(event(EventType.CREATED, created, "created", {"attributes": values}))
        else:
            events.append(event(EventType.UPDATED, modified, f"fields@{modified.isoformat()}", {"changes": values}))
        history = contact.properties_with_history or {}
        reason = props.get(c.disposition_reason_property) if c.disposition_reason_property else None
        converted = False
        for prop in HISTORY_PROPERTIES:
            previous = None
            for entry in sorted(history.get(prop) or [], key=lambda e: parse_time(e.timestamp)):
                at = parse_time(entry.timestamp)
                assert at is not None
                value, key = entry.value, f"{prop}@{at.isoformat()}"
                if prop == "hubspot_owner_id" and value:
                    events.append(event(EventType.ASSIGNED, at, key, {"owner": str(value)}))
                elif prop == "hs_lead_status" and value:
                    events.append(event(EventType.STATUS_CHANGED, at, key,
                                        {"field": "status", "old": previous, "new": value}))
                    disposition = c.dispositions.get(value)
                    if disposition is not None and not (disposition == "recycled" and value.casefold() == "recycled"):
                        events.append(event(EventType.DISPOSITION, at, key,
                                            {"disposition": disposition, "reason": reason}))
                elif prop == "lifecyclestage" and value:
                    events.append(event(EventType.STATUS_CHANGED, at, key,
                                        {"field": "stage", "old": previous, "new": value}))
                    if value in c.converted_stages and not converted:
                        converted = True
                        events.append(event(EventType.CONVERTED, at, "converted", {}))
                previous = value or None
        return events

    def dispositions(self) -> dict[str, str]:
        """Call disposition ids -> labels (GET /calling/v1/dispositions), read once per instance."""
        if self._dispositions is None:
            api_client = self.api("objects_batch").api_client
            rows = self._call("call dispositions", api_client.call_api, "/calling/v1/dispositions", "GET",
                              response_types_map={200: "object"}, auth_settings=["oauth2"],
                              _return_http_data_only=True)
            self._dispositions = {str(r["id"]): str(r["label"]) for r in rows or []}
        return self._dispositions

    def _engagements(self, object_type: str, ids: list[str]) -> Iterator[LeadEvent]:
        from hubspot.crm.associations.v4 import (
            BatchInputPublicFetchAssociationsBatchRequest,
            PublicFetchAssociationsBatchRequest,
        )
        from hubspot.crm.objects import BatchReadInputSimplePublicObjectId, SimplePublicObjectId

        body = BatchReadInputSimplePublicObjectId(
            properties=list(ENGAGEMENTS[object_type]), properties_with_history=[],
            inputs=[SimplePublicObjectId(id=i) for i in ids],
        )
        read = self._call(f"{object_type} batch read", self.api("objects_batch").read, object_type,
                          batch_read_input_simple_public_object_id=body)
        links = self._call(f"{object_type} associations", self.api("associations").get_page, object_type, "contacts",
                           batch_input_public_fetch_associations_batch_request=BatchInputPublicFetchAssociationsBatchRequest(
                               inputs=[PublicFetchAssociationsBatchRequest(id=i) for i in ids]))
        contacts: dict[str, list[str]] = {}
        for row in links.results:
            contacts.setdefault(str(row._from.id), []).extend(str(to.to_object_id) for to in row.to)
        for engagement in read.results:
            payload, at = self._activity(object_type, engagement.properties or {})
            if payload is None or at is None:
                continue
            for lead in contacts.get(str(engagement.id), []):
                yield stable_event(source=self.name, lead_id=lead, type=EventType.ACTIVITY, occurred_at=at,
                                   key=f"{object_type}/{engagement.id}", payload=payload)

    def _activity(self, object_type: str, props: dict[str, Any]) -> tuple[dict[str, Any] | None, datetime | None]:
        at = parse_time(props.get("hs_timestamp"))
        owner = props.get("hubspot_owner_id") or None
        if object_type == "calls":
            disposition = props.get("hs_call_disposition")
            outcome = self.dispositions().get(disposition, disposition) if disposition else None
            direction = str(props.get("hs_call_direction") or "OUTBOUND").casefold()
            return {"channel": "call", "direction": direction, "outcome": outcome, "by": owner}, at
        if object_type == "emails":
            inbound = props.get("hs_email_direction") == "INCOMING_EMAIL"
            return {"channel": "email", "direction": "inbound" if inbound else "outbound", "by": owner}, at
        if object_type == "meetings":
            return {"channel": "meeting", "direction": "outbound", "outcome": props.get("hs_meeting_outcome"),
                    "by": owner}, at
        if props.get("hs_task_status") != "COMPLETED":
            return None, None  # an open task is a to-do (ours included), not a touch
        done = parse_time(props.get("hs_task_completion_date")) or at
        channel = TASK_CHANNEL.get(str(props.get("hs_task_type") or ""), "other")
        return {"channel": channel, "direction": "outbound", "by": owner}, done

    # ------------------------------------------------------------ push
    def push(self, updates: Sequence[Update]) -> list[PushResult]:
        results: list[PushResult] = []
        contacts: dict[str, dict[str, Any]] = {}
        contributors: dict[str, list[Update]] = {}
        tasks: list[TaskRequest] = []
        for update in updates:
            if isinstance(update, TaskRequest):
                tasks.append(update)
                continue
            if isinstance(update, FieldChange) and update.field not in self._writable_properties():
                results.append(PushResult(update.key, update.lead_id, ok=False, error=(
                    f"no contact property is mapped to {update.field!r}: add {update.field} = \"internal_name\" "
                    "to this source's properties")))
                continue
            props = self._properties_for(update)
            if not props:
                results.append(PushResult(update.key, update.lead_id, ok=True, skipped=True))
                continue
            contacts.setdefault(update.lead_id, {}).update(props)
            contributors.setdefault(update.lead_id, []).append(update)
        for contact_id, error in self._update_contacts(contacts):
            for update in contributors[contact_id]:
                results.append(PushResult(update.key, update.lead_id, ok=error is None, error=error,
                                          remote_id=contact_id))
        results.extend(self._create_tasks(tasks))
        return results

    def _writable_properties(self) -> dict[str, str]:
        """Our field name -> contact property, for ``set`` in an escalation (status is the lead status)."""
        return {"status": "hs_lead_status", **self.config.contact_properties()}

    def _properties_for(self, update: Update) -> dict[str, Any]:
        if isinstance(update, OwnerChange):
            return {"hubspot_owner_id": update.owner}
        if isinstance(update, FieldChange):
            value = update.value
            text = "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
            return {self._writable_properties()[update.field]: text}
        assert isinstance(update, StatusUpdate)
        props: dict[str, Any] = {}
        for target in self.config.push_status:
            if target.window != update.window or (target.policy and target.policy != update.policy):
                continue
            for ours, value in (("tier", update.tier), ("status", update.status),
                                ("due_at", _hs_time(update.due_at)), ("breached_at", _hs_time(update.breached_at))):
                name = getattr(target, ours)
                if name:
                    props[name] = "" if value is None else value  # "" clears a property
        return props

    def _update_contacts(self, contacts: dict[str, dict[str, Any]]) -> Iterator[tuple[str, str | None]]:
        from hubspot.crm.contacts import BatchInputSimplePublicObjectBatchInput, SimplePublicObjectBatchInput

        items = list(contacts.items())
        for start in range(0, len(items), 100):
            batch = items[start:start + 100]
            body = BatchInputSimplePublicObjectBatchInput(
                inputs=[SimplePublicObjectBatchInput(id=i, properties=p) for i, p in batch])
            try:
                answer = self._call("contact batch update", self.api("contacts_batch").update,
                                    batch_input_simple_public_object_batch_input=body)
            except ConnectorError as error:
                for contact_id, _ in batch:
                    yield contact_id, str(error)
                continue
            failed: dict[str, str] = {}
            for error in getattr(answer, "errors", None) or []:
                for contact_id in (error.context or {}).get("ids", []):
                    failed[str(contact_id)] = f"{error.category}: {error.message}"
            for contact_id, _ in batch:
                yield contact_id, failed.get(contact_id)

    def _create_tasks(self, tasks: list[TaskRequest]) -> Iterator[PushResult]:
        from hubspot.crm.objects.tasks import (
            AssociationSpec,
            BatchInputSimplePublicObjectBatchInputForCreate,
            PublicAssociationsForObject,
            PublicObjectId,
            SimplePublicObjectBatchInputForCreate,
        )

        for start in range(0, len(tasks), 100):
            batch = tasks[start:start + 100]
            inputs = []
            for task in batch:
                props = {"hs_task_subject": task.subject, "hs_task_body": task.description,
                         "hs_task_status": "NOT_STARTED", "hs_task_priority": "HIGH",
                         "hs_timestamp": _hs_time(task.due_at) or _hs_time(datetime.now(UTC))}
                if task.owner:
                    props["hubspot_owner_id"] = task.owner
                link = AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=TASK_TO_CONTACT)
                inputs.append(SimplePublicObjectBatchInputForCreate(properties=props, associations=[
                    PublicAssociationsForObject(to=PublicObjectId(id=task.lead_id), types=[link])]))
            try:
                answer = self._call("task batch create", self.api("tasks_batch").create,
                                    batch_input_simple_public_object_batch_input_for_create=
                                    BatchInputSimplePublicObjectBatchInputForCreate(inputs=inputs))
                errors = getattr(answer, "errors", None) or []
                error = "; ".join(f"{e.category}: {e.message}" for e in errors) or None
            except ConnectorError as failure:
                error = str(failure)
            for task in batch:
                yield PushResult(task.key, task.lead_id, ok=error is None, error=error)


def _hubspot_message(body: Any) -> str:
    import json

    try:
        data = json.loads(body)
    except (TypeError, ValueError):
        return "no details"
    if isinstance(data, dict):
        return f"{data.get('category', '')} {data.get('message', '')}".strip()
    return "no details"


def _hs_time(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z") if value else None
