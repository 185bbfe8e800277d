"""HubSpot connector: contacts, their status history and engagements in; SLA properties, tasks and owners out.

Written as any third party would write a connector (docs/connectors.md) and registered
through the ``sla_engine`` entry point ``hubspot`` (connectors/hubspot_plugin.py, which imports
this module only when connectors are asked for). hubspot-api-client is imported only when an
instance talks to HubSpot.

Streams: ``contacts`` (deleted contacts from the archived list; then a search by
lastmodifieddate and a batch read with the history of every mapped property and of
lifecyclestage, hs_lead_status, hubspot_owner_id and hs_merged_object_ids: each value at
creation, each change at its time, and merges) and
``calls``, ``emails``, ``meetings``, ``tasks`` (search by hs_lastmodifieddate, meetings also by
hs_meeting_start_time; batch read; contacts through v4 associations).

Searches page by keyset, never by offset: each page asks again for records at or after the
last modification time read, so a record edited while paging moves behind the reader and
cannot shift another out of sight, and no query meets the 10,000-result cap. Search calls
are paced to the search API's per-second limit; a daily-limit 429 stops the pull cleanly
with what was read kept.

Size: one vendor's API end to end (paging, history, merges, pushing back) is one job, kept in one
file so that it reads beside the HubSpot documentation its fake cites.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import deque
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
from sla_engine.events import STANDARD_FIELDS, Disposition, EventType, LeadEvent, make_event_id

log = logging.getLogger(__name__)
UTC = timezone.utc
T = TypeVar("T")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

DEFAULT_PROPERTIES: dict[str, str] = {
    "email": "email",
    "company": "company",
    "title": "jobtitle",
    "industry": "industry",
    "country": "country",
    "source": "hs_analytics_source",
    "lead_score": "hubspotscore",
}
HISTORY_PROPERTIES = ("hs_lead_status", "lifecyclestage", "hubspot_owner_id", "hs_merged_object_ids")
ENGAGEMENTS: dict[str, tuple[str, ...]] = {
    "calls": ("hs_timestamp", "hs_call_direction", "hs_call_disposition", "hubspot_owner_id"),
    "emails": ("hs_timestamp", "hs_email_direction", "hubspot_owner_id"),
    "meetings": ("hs_timestamp", "hs_meeting_start_time", "hs_meeting_outcome", "hubspot_owner_id"),
    "tasks": ("hs_timestamp", "hs_task_status", "hs_task_type", "hs_task_completion_date", "hubspot_owner_id"),
}
TASK_CHANNEL = {"CALL": "call", "EMAIL": "email", "LINKED_IN": "social"}
TASK_TO_CONTACT = 204  # HUBSPOT_DEFINED association type id
SEARCH_PAGE_MAX = 200  # results per search page
BATCH_READ_MAX = 100  # inputs per batch read
HISTORY_BATCH_MAX = 50  # inputs per batch read with propertiesWithHistory
# HubSpot's default call outcomes (the calls API guide lists these ids), used when the
# unsupported dispositions endpoint does not answer.
DEFAULT_CALL_OUTCOMES = {
    "f240bbac-87c9-4f6e-bf70-924b57d47db7": "Connected",
    "73a0d17f-1163-4015-bdd5-ec830791da20": "No answer",
    "b2cf5968-551e-4856-9783-52b3da59a7d0": "Left voicemail",
    "a4c4c377-d246-4b32-a13b-75a56a4cd0ff": "Left live message",
    "9d9162e7-6cf3-4944-bf63-4dff82258764": "Busy",
    "17b47fee-58de-441e-a44c-c6300d46f273": "Wrong number",
}
REQUIRED_SCOPES = ("crm.objects.contacts.read", "crm.objects.contacts.write", "crm.objects.owners.read")


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
    meeting_touch_outcomes: list[str] = Field(default_factory=lambda: ["COMPLETED", "SCHEDULED", ""])
    """hs_meeting_outcome values whose meeting, once its start time has passed, is a touch ("" is unset)."""
    call_outcomes: dict[str, str] = Field(default_factory=dict)
    """Call disposition id -> label, for custom outcomes when the dispositions endpoint does not answer."""

    push_status: list[StatusProperties] = Field(default_factory=list)
    page_size: int = Field(100, ge=1, le=SEARCH_PAGE_MAX)
    history_batch_size: int = Field(50, ge=1, le=HISTORY_BATCH_MAX)
    search_per_second: float = Field(4.0, gt=0)
    """Search requests per second at most: HubSpot's search limit is counted apart from the others."""
    max_retries: int = Field(5, ge=0)
    backoff_seconds: float = Field(1.0, ge=0)

    def contact_properties(self) -> dict[str, str]:
        merged = {**DEFAULT_PROPERTIES, **self.properties}
        return {ours: theirs for ours, theirs in merged.items() if theirs}


_SEARCHES: dict[tuple[str, str], deque[float]] = {}
"""When recent searches were sent, per account (host and token): the limit is the account's, not an instance's."""


class DailyLimit(ConnectorError):
    """HubSpot's daily request limit is spent: nothing more can be read before it resets."""


def epoch_ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def from_ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


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
    """HubSpot sends every property as text; policies compare numbers and booleans.

    Text that is no finite number ("n/a", "1e999", "nan") stays text: an infinite score would
    pass every threshold, and NaN would compare false to everything, without a word.
    """
    if value in (None, ""):
        return None
    kind = STANDARD_FIELDS.get(field)
    if kind == "number":
        try:
            number = float(value)
        except (TypeError, ValueError):
            return value
        if not math.isfinite(number):
            return value
        return int(number) if number.is_integer() else number
    if kind == "boolean":
        return str(value).casefold() in ("true", "1", "yes")
    return value


def chunks(items: Sequence[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield list(items[start:start + size])


class HubSpotConnector(Connector):
    Config = HubSpotConfig
    streams = ("contacts", *ENGAGEMENTS)
    config: HubSpotConfig

    def __init__(self, name: str, config: HubSpotConfig) -> None:  # type: ignore[override]
        super().__init__(name, config)
        self._apis: dict[str, Any] = {}
        self._dispositions: dict[str, str] | None = None
        self._searched = _SEARCHES.setdefault((config.host, str(config.token)), deque())

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
            status_forcelist=(500, 502, 503, 504),  # a 429 is read by _call: a daily limit is not retried
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
            "contacts_basic": lambda: crm.contacts.basic_api,
            "objects_search": lambda: crm.objects.search_api,
            "objects_batch": lambda: crm.objects.batch_api,
            "tasks_batch": lambda: crm.objects.tasks.batch_api,
            "associations": lambda: crm.associations.v4.batch_api,
            "owners": lambda: crm.owners.owners_api,
        }[which]()
        self._apis[which] = made
        return made

    def _call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """One SDK call; HTTP failures become messages a person can act on, never holding the token.

        A secondly 429 waits (Retry-After, else the backoff) and tries again up to max_retries;
        a daily 429 raises DailyLimit at once: retrying cannot succeed before the limit resets.
        """
        import urllib3

        kwargs.setdefault("_request_timeout", self.config.timeout_seconds)
        attempt = 0
        while True:
            try:
                return fn(*args, **kwargs)
            except urllib3.exceptions.HTTPError as error:
                raise ConnectorError(f"{self.name}: cannot reach HubSpot for {what}: {type(error).__name__}") from None
            except Exception as error:
                status = getattr(error, "status", None)
                if status is None or not hasattr(error, "body"):
                    raise
                body = _json(getattr(error, "body", None))
                if status == 429:
                    policy = str(body.get("policyName") or "")
                    if policy == "DAILY":
                        raise DailyLimit(f"{self.name}: HubSpot's daily API limit is reached ({what}); the rest is "
                                         "read after it resets at midnight in the account's time zone") from None
                    if attempt < self.config.max_retries:
                        attempt += 1
                        backoff = self.config.backoff_seconds * 2 ** (attempt - 1)
                        window = 1.0 if "SECONDLY" in policy else 0.0  # a per-second window needs a second
                        time.sleep(_retry_after(error) or max(backoff, window))
                        continue
                    raise ConnectorError(
                        f"{self.name}: HubSpot rate limit for {what} persisted after {self.config.max_retries} "
                        f"retries: {policy or 'no policy named'} {_hubspot_message(body)}".rstrip()) from None
                if status == 401:
                    raise ConnectorError(
                        f"{self.name}: HubSpot rejected the private app token (401) for {what}; check the token "
                        f"{self.config.token} names and the app's scopes"
                    ) from None
                if status == 403:
                    raise ConnectorError(
                        f"{self.name}: HubSpot refused {what} (403): {_hubspot_message(body)}; the private app needs "
                        f"the scopes {', '.join(REQUIRED_SCOPES)}") from None
                raise ConnectorError(f"{self.name}: HubSpot answered {status} for {what}: {_hubspot_message(body)}") \
                    from None

    def _pace_search(self) -> None:
        """Wait until one more search stays within ``search_per_second`` over the last second."""
        limit = max(1, int(self.config.search_per_second))
        while True:
            now = time.monotonic()
            while self._searched and now - self._searched[0] >= 1.0:
                self._searched.popleft()
            if len(self._searched) < limit:
                self._searched.append(now)
                return
            time.sleep(1.0 - (now - self._searched[0]) + 0.01)

    # ------------------------------------------------------------ search
    def search_request(self, time_property: str, filter_groups: list[list[tuple[str, str, int | str]]],
                       sort: str, limit: int | None = None) -> Any:
        """One search body: OR of AND-ed (property, operator, value) filters, one ascending sort."""
        from hubspot.crm.contacts import Filter, FilterGroup, PublicObjectSearchRequest

        return PublicObjectSearchRequest(
            filter_groups=[FilterGroup(filters=[Filter(property_name=p, operator=o, value=str(v)) for p, o, v in group])
                           for group in filter_groups],
            sorts=[{"propertyName": sort, "direction": "ASCENDING"}],  # type: ignore[list-item]
            properties=[time_property],
            limit=limit or self.config.page_size,
        )

    def _search(self, object_type: str, request: Any) -> list[Any]:
        self._pace_search()
        if object_type == "contacts":
            page = self._call("contact search", self.api("contacts_search").do_search,
                              public_object_search_request=request)
        else:
            page = self._call(f"{object_type} search", self.api("objects_search").do_search, object_type,
                              public_object_search_request=request)
        return list(page.results)

    def search_ids(self, object_type: str, time_property: str, lo: int, hi: int) -> Iterator[tuple[list[str], int]]:
        """Pages of ids modified in [lo, hi] (ms), each with the time read up to, by keyset.

        Each query asks for records at or after the last time read, so a record edited meanwhile
        (its time moves past the reader) hides no other. Records seen at that last time are
        skipped when asked again; a page all in one millisecond is read by id within it.
        """
        size = self.config.page_size
        position, edge, seen = lo, -1, set[str]()
        while True:
            request = self.search_request(time_property, [[(time_property, "GTE", position),
                                                           (time_property, "LTE", hi)]], time_property)
            results = self._search(object_type, request)
            stamps = [self._stamp(r, time_property) for r in results]
            fresh = [str(r.id) for r, at in zip(results, stamps, strict=True) if not (at == edge and str(r.id) in seen)]
            if len(results) < size:
                if fresh:
                    yield fresh, hi
                return
            last = stamps[-1]
            if stamps[0] == last:  # a whole page in one millisecond: read that millisecond by id
                within = [i for i in self._same_instant(object_type, time_property, last)
                          if not (last == edge and i in seen)]
                if within:
                    yield within, last
                position, edge, seen = last + 1, -1, set()
                continue
            if fresh:
                yield fresh, last - 1
            if last != edge:
                edge, seen = last, set()
            seen |= {str(r.id) for r, at in zip(results, stamps, strict=True) if at == last}
            position = last

    def _same_instant(self, object_type: str, time_property: str, at: int) -> list[str]:
        """Every id modified in one millisecond, paged by id."""
        ids: list[str] = []
        after = 0
        while True:
            filters = [(time_property, "EQ", at), ("hs_object_id", "GT", after)]
            results = self._search(object_type, self.search_request(time_property, [filters], "hs_object_id"))
            ids.extend(str(r.id) for r in results)
            if len(results) < self.config.page_size:
                return ids
            after = int(results[-1].id)

    @staticmethod
    def _stamp(record: Any, time_property: str) -> int:
        at = parse_time((record.properties or {}).get(time_property)) or parse_time(record.updated_at)
        assert at is not None
        return epoch_ms(at)

    # ------------------------------------------------------------ pull
    def pull(self, cursors: Mapping[str, Cursor | None], until: datetime) -> PullResult:
        result = PullResult(items=iter(()))
        result.items = self._pull(cursors, until, result)
        return result

    def _pull(self, cursors: Mapping[str, Cursor | None], until: datetime, result: PullResult) -> Iterator[Any]:
        try:
            for stream in self.streams:
                since = cursors.get(stream)
                lo, hi = epoch_ms(since.at) if since else 0, epoch_ms(until)
                if stream == "contacts":
                    yield from self._archived(since, until)
                    for ids, read_to in self.search_ids("contacts", "lastmodifieddate", lo, hi):
                        yield from self._contacts(ids)
                        result.cursors[stream] = Cursor(from_ms(read_to))
                elif stream == "meetings":
                    # A meeting is a touch once its start time passes, which changes no modification time.
                    done: set[str] = set()
                    for prop in ("hs_lastmodifieddate", "hs_meeting_start_time"):
                        for ids, _ in self.search_ids(stream, prop, lo, hi):
                            fresh = [i for i in ids if i not in done]
                            done.update(fresh)
                            yield from self._engagements(stream, fresh, until)
                else:
                    for ids, read_to in self.search_ids(stream, "hs_lastmodifieddate", lo, hi):
                        yield from self._engagements(stream, ids, until)
                        result.cursors[stream] = Cursor(from_ms(read_to))
                result.cursors[stream] = Cursor(until)
        except DailyLimit as stop:
            result.stopped = str(stop)

    def _archived(self, since: Cursor | None, until: datetime) -> Iterator[LeadEvent]:
        """Deleted contacts: search never returns them; the list endpoint with archived=true does.

        Each is read with its history, so changes made after the last sync and before the delete
        are not lost with it.
        """
        wanted, with_history = self._contact_properties()
        mapping = self.config.contact_properties()
        after = None
        while True:
            page = self._call("archived contacts", self.api("contacts_basic").get_page,
                              limit=self.config.history_batch_size, after=after, archived=True, properties=wanted,
                              properties_with_history=with_history)
            for contact in page.results:
                at = parse_time(contact.archived_at) or parse_time(contact.updated_at)
                if at is None or at > until or (since is not None and at < since.at):
                    continue
                yield from self._contact_events(contact, mapping)
                yield stable_event(source=self.name, lead_id=str(contact.id), type=EventType.DELETED,
                                   occurred_at=at, key="deleted", payload={})
            after = page.paging.next.after if page.paging and page.paging.next else None
            if not after:
                return

    def _contact_properties(self) -> tuple[list[str], list[str]]:
        """The contact properties read, and those read with their history."""
        c = self.config
        mapping = c.contact_properties()
        wanted = sorted({*mapping.values(), "createdate", "lastmodifieddate", "firstname", "lastname",
                         *([c.disposition_reason_property] if c.disposition_reason_property else [])})
        return wanted, list(dict.fromkeys([*HISTORY_PROPERTIES, *mapping.values()]))

    def _contacts(self, ids: list[str]) -> Iterator[LeadEvent]:
        from hubspot.crm.contacts import BatchReadInputSimplePublicObjectId, SimplePublicObjectId

        c = self.config
        mapping = c.contact_properties()
        wanted, with_history = self._contact_properties()
        for batch_ids in chunks(ids, c.history_batch_size):
            body = BatchReadInputSimplePublicObjectId(
                properties=wanted, properties_with_history=with_history,
                inputs=[SimplePublicObjectId(id=i) for i in batch_ids],
            )
            batch = self._call("contact batch read", self.api("contacts_batch").read,
                               batch_read_input_simple_public_object_id=body, archived=False)
            for contact in batch.results:
                yield from self._contact_events(contact, mapping)

    def _contact_events(self, contact: Any, mapping: dict[str, str]) -> list[LeadEvent]:
        """A contact's creation with the values it had then, and every later change at its time.

        Every mapped property is read with its history, so a lead score reached weeks later is
        an update then, never back-dated to creation, and the events are the same whichever
        sync first reads the contact.
        """
        c = self.config
        lead = str(contact.id)
        props = contact.properties or {}
        created = parse_time(props.get("createdate")) or parse_time(contact.created_at)
        assert created is not None
        history = contact.properties_with_history or {}

        def event(type_: EventType, at: datetime, key: str, payload: dict[str, Any], lead_id: str = lead) -> LeadEvent:
            return stable_event(source=self.name, lead_id=lead_id, type=type_, occurred_at=at, key=key,
                                payload=payload)

        def timeline(prop: str) -> list[tuple[datetime, Any]]:
            entries = [(parse_time(e.timestamp), e.value) for e in history.get(prop) or []]
            return sorted(((at, value) for at, value in entries if at is not None), key=lambda e: e[0])

        values: dict[str, Any] = {}
        events: list[LeadEvent] = []
        for ours, theirs in mapping.items():
            if theirs not in history:  # no history came: the value now is all there is
                values[ours] = coerce(ours, props.get(theirs))
                continue
            at_creation = None
            for at, value in timeline(theirs):
                if at <= created:
                    at_creation = value
                else:
                    events.append(event(EventType.UPDATED, at, f"{theirs}@{at.isoformat()}",
                                        {"changes": {ours: coerce(ours, value)}}))
            values[ours] = coerce(ours, at_creation)
        name = " ".join(p for p in (props.get("firstname"), props.get("lastname")) if p)
        if name and "name" not in mapping:
            values["name"] = name
        events.insert(0, event(EventType.CREATED, created, "created", {"attributes": values}))
        reason = props.get(c.disposition_reason_property) if c.disposition_reason_property else None
        converted = False
        for prop in HISTORY_PROPERTIES:
            previous = None
            merged: set[str] = set()
            for at, value in timeline(prop):
                key = f"{prop}@{at.isoformat()}"
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
                elif prop == "hs_merged_object_ids" and value:
                    # Each id first listed here was merged into this contact then: that lead ends here.
                    for gone in (i for i in str(value).split(";") if i and i not in merged):
                        merged.add(gone)
                        events.append(event(EventType.DELETED, at, "deleted", {"merged_into": lead}, lead_id=gone))
                previous = value or None
        return events

    def dispositions(self) -> dict[str, str]:
        """Call disposition ids -> labels, read once per instance.

        GET /calling/v1/dispositions is marked unsupported by HubSpot; when it does not answer,
        HubSpot's default outcomes and the configured ``call_outcomes`` are used instead.
        """
        if self._dispositions is None:
            labels = {**DEFAULT_CALL_OUTCOMES, **self.config.call_outcomes}
            api_client = self.api("objects_batch").api_client
            try:
                rows = self._call("call dispositions", api_client.call_api, "/calling/v1/dispositions", "GET",
                                  response_types_map={200: "object"}, auth_settings=["oauth2"],
                                  _return_http_data_only=True)
                labels.update({str(r["id"]): str(r["label"]) for r in rows or []})
            except DailyLimit:
                raise
            except ConnectorError as error:
                log.warning("%s: the call dispositions endpoint did not answer (%s); using HubSpot's default "
                            "outcomes and call_outcomes", self.name, error)
            self._dispositions = labels
        return self._dispositions

    def _engagements(self, object_type: str, ids: list[str], until: datetime) -> Iterator[LeadEvent]:
        for batch_ids in chunks(ids, BATCH_READ_MAX):
            yield from self._engagement_batch(object_type, batch_ids, until)

    def _engagement_batch(self, object_type: str, ids: list[str], until: datetime) -> Iterator[LeadEvent]:
        from hubspot.crm.associations.v4 import (
            BatchInputPublicFetchAssociationsBatchRequest,
            PublicFetchAssociationsBatchRequest,
        )
        from hubspot.crm.objects import BatchReadInputSimplePublicObjectId, SimplePublicObjectId

        if not ids:
            return
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
            key = f"{object_type}/{engagement.id}"
            payload, at = self._activity(object_type, engagement.properties or {}, until)
            for lead in contacts.get(str(engagement.id), []):
                if payload is not None and at is not None:
                    yield stable_event(source=self.name, lead_id=lead, type=EventType.ACTIVITY, occurred_at=at,
                                       key=key, payload=payload)
                elif object_type == "meetings":
                    yield self._withdrawn(lead, key, engagement)

    def _withdrawn(self, lead: str, key: str, engagement: Any) -> LeadEvent:
        """A meeting read before as a touch that is none now (canceled, no-show, moved to the future).

        Its event keeps the meeting's identity (the id an activity with this key has) and becomes an
        update that changes nothing, so a touch recorded earlier stops counting.
        """
        at = parse_time((engagement.properties or {}).get("hs_lastmodifieddate")) or parse_time(engagement.updated_at)
        assert at is not None
        event_id = make_event_id(self.name, lead, EventType.ACTIVITY, _EPOCH, key)
        return LeadEvent.build(source=self.name, lead_id=lead, type=EventType.UPDATED, occurred_at=at,
                               payload={"changes": {}}, event_id=event_id)

    def _activity(self, object_type: str, props: dict[str, Any],
                  until: datetime) -> tuple[dict[str, Any] | None, datetime | None]:
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
            outcome = str(props.get("hs_meeting_outcome") or "")
            start = parse_time(props.get("hs_meeting_start_time")) or at
            if outcome not in self.config.meeting_touch_outcomes or start is None or start > until:
                return None, None  # canceled, no-show, rescheduled or not yet held: not a touch
            return {"channel": "meeting", "direction": "outbound", "outcome": outcome.lower() or None,
                    "by": owner}, start
        if props.get("hs_task_status") != "COMPLETED":
            return None, None  # an open task is a to-do (ours included), not a touch
        done = parse_time(props.get("hs_task_completion_date")) or at
        channel = TASK_CHANNEL.get(str(props.get("hs_task_type") or ""), "other")
        return {"channel": channel, "direction": "outbound", "by": owner}, done

    # ------------------------------------------------------------ owners
    def check(self) -> str:
        """`sla-engine doctor`'s harmless call: the token is accepted and reads one owner (GET /crm/v3/owners)."""
        self._call("owners", self.api("owners").get_page, limit=1)
        return "token accepted; owners readable"

    def pull_owners(self) -> list[Owner]:
        """Every owner, active and archived (GET /crm/v3/owners): ids in hubspot_owner_id, emails in policies."""
        owners: list[Owner] = []
        for archived in (False, True):
            after = None
            while True:
                page = self._call("owners", self.api("owners").get_page, limit=500, after=after, archived=archived)
                for row in page.results:
                    name = " ".join(p for p in (row.first_name, row.last_name) if p)
                    owners.append(Owner(id=str(row.id), email=row.email or None, name=name, kind="user",
                                        active=not archived))
                after = page.paging.next.after if page.paging and page.paging.next else None
                if not after:
                    break
        return owners

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


def _json(body: Any) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (TypeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _hubspot_message(data: Mapping[str, Any]) -> str:
    text = f"{data.get('category') or data.get('errorType') or ''} {data.get('message', '')}".strip()
    return text or "no details"


def _retry_after(error: Any) -> float | None:
    headers = getattr(error, "headers", None) or {}
    try:
        return float(headers.get("Retry-After"))
    except (TypeError, ValueError):
        return None


def _hs_time(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z") if value else None
