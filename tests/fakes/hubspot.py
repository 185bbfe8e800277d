"""A fake HubSpot CRM API, built from HubSpot's documentation (each behaviour cites its page).

Objects live in memory with their property histories; answers have the documented JSON
shapes (the generated client's models refuse anything else), Bearer-token auth and errors.
What the documentation leaves open (the order of ties in a sort) the fake makes awkward on
purpose, so a connector cannot lean on it.

Pages the behaviours come from:

- SEARCH: "CRM API | Search", https://developers.hubspot.com/docs/api/crm/search
  (Limitations: at most 200 results per page, 10,000 results per query, one sort rule,
  five filter groups; the search endpoints are limited to a few requests per second per
  account; the changelog "CRM Search API Rate Limit Increase",
  https://developers.hubspot.com/changelog/crm-search-api-rate-limit-increase, says four).
- BATCH_READ: "Retrieve a batch of objects",
  https://developers.hubspot.com/docs/api-reference/latest/crm/objects/objects/batch/get-objects
  (up to 100 inputs; with propertiesWithHistory the limit is 50 and the error reads "The maximum
  number of inputs supported in a batch request for property histories is 50").
- LIST_ARCHIVED: "CRM API | Contacts", https://developers.hubspot.com/docs/api/crm/contacts
  (GET /crm/v3/objects/contacts?archived=true lists deleted contacts with archivedAt; at most
  100 per page, paged with ``after``, fewer with propertiesWithHistory (the client's docstring:
  "Usage of this parameter will reduce the maximum number of objects that can be read by a
  single request"; the fake takes the batch read's 50); search never returns archived records).
- MERGE: "Merge two contacts",
  https://developers.hubspot.com/docs/api-reference/crm-contacts-v3/basic/post-crm-v3-objects-contacts-merge
  (the primary keeps its id and records the merged ids in hs_merged_object_ids; the secondary
  no longer appears in search).
- MEETINGS: "Activities | Meetings", https://developers.hubspot.com/docs/api/crm/meetings
  (hs_meeting_start_time, hs_meeting_outcome: SCHEDULED, COMPLETED, RESCHEDULED, NO_SHOW, CANCELED).
- USAGE: "API usage guidelines and limits", https://developers.hubspot.com/docs/api/usage-details
  (a 429 body has status, message, errorType RATE_LIMIT, correlationId, policyName DAILY or
  SECONDLY; the daily limit resets at midnight in the account's time zone).
- OWNERS: "CRM API | Owners", https://developers.hubspot.com/docs/api/crm/owners
  (GET /crm/v3/owners: id, email, firstName, lastName, userId, archived, teams; paged with
  ``after``, at most 500 per page; the ``id``, not ``userId``, assigns records).
- DISPOSITIONS: "Get call engagement dispositions",
  https://developers.hubspot.com/docs/api-reference/legacy/crm/activities/engagements/get-calling-v1-dispositions,
  and "Calling dispositions API" (2027-03 beta), which says the earlier endpoints remain
  available but are unsupported.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from werkzeug.wrappers import Request

from tests.fakes.server import FakeServer, HttpError

UTC = timezone.utc
CAP = 10_000                 # SEARCH: results per query
SEARCH_PAGE_MAX = 200        # SEARCH: results per page
SEARCH_PER_SECOND = 5        # SEARCH: requests per second per account
SEARCH_FILTER_GROUPS = 5     # SEARCH
BATCH_MAX = 100              # BATCH_READ
BATCH_HISTORY_MAX = 50       # BATCH_READ with propertiesWithHistory
LIST_MAX = 100               # LIST_ARCHIVED
OWNERS_MAX = 500             # OWNERS
TIME_PROPERTY = {"contacts": "lastmodifieddate"}  # other objects: hs_lastmodifieddate
MEETING_OUTCOMES = ("SCHEDULED", "COMPLETED", "RESCHEDULED", "NO_SHOW", "CANCELED")  # MEETINGS


def hs_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def rate_limit_body(policy: str) -> dict[str, Any]:
    """USAGE: the documented 429 body."""
    message = "You have reached your daily limit." if policy == "DAILY" else "You have reached your secondly limit."
    return {"status": "error", "message": message, "errorType": "RATE_LIMIT",
            "correlationId": "c033cdaa-2c40-4a64-ae48-b4cec88dad24", "policyName": policy,
            "requestId": "3d3e35b7-0dae-4b9f-a6e3-9c230cbcf8dd"}


def _validation(message: str) -> HttpError:
    return HttpError(400, {"status": "error", "category": "VALIDATION_ERROR", "message": message,
                           "correlationId": "0e1f2a3b-0000-0000-0000-000000000000"})


class FakeHubSpot(FakeServer):
    def __init__(self, token: str = "pat-fake-token") -> None:
        super().__init__()
        self.token = token
        self.objects: dict[str, dict[str, dict[str, Any]]] = {
            t: {} for t in ("contacts", "calls", "emails", "meetings", "tasks")}
        self.associations: dict[tuple[str, str], list[str]] = {}
        self.dispositions: dict[str, str] | None = {
            "f240bbac-87c9-4f6e-bf70-924b57d47db7": "Connected",
            "73a0d17f-1163-4015-bdd5-ec830791da20": "No answer"}
        self.owners: list[dict[str, Any]] = []
        self._ids = itertools.count(1001)
        self.clock: datetime | None = None
        self.before_search: Callable[[int], None] | None = None
        """Called before each search is answered (with the count so far): edits during paging."""
        self.searches = 0
        self.search_times: list[float] = []
        self.enforce_search_rate = True
        self.daily_limit: int | None = None
        """USAGE: once this many requests were answered, every request is a DAILY 429."""
        self.answered = 0

    # ------------------------------------------------------------ seeding
    def now(self) -> datetime:
        return self.clock or datetime.now(UTC)

    def add(self, object_type: str, at: datetime, object_id: str | None = None, **props: Any) -> str:
        object_id = object_id or str(next(self._ids))
        stamp = TIME_PROPERTY.get(object_type, "hs_lastmodifieddate")
        record = {"id": object_id, "created": at, "updated": at, "archived": False, "archived_at": None,
                  "properties": {}, "history": {}}
        self.objects[object_type][object_id] = record
        self.set(object_type, object_id, at, createdate=hs_time(at), hs_object_id=object_id,
                 **{stamp: hs_time(at)}, **props)
        return object_id

    def set(self, object_type: str, object_id: str, at: datetime, **props: Any) -> None:
        """Change properties at a time, keeping each change in the property's history (newest first)."""
        record = self.objects[object_type][object_id]
        stamp = TIME_PROPERTY.get(object_type, "hs_lastmodifieddate")
        for name, value in {**props, stamp: hs_time(at)}.items():
            text = "" if value is None else str(value)
            record["properties"][name] = text
            record["history"].setdefault(name, []).insert(0, {
                "value": text, "timestamp": hs_time(at), "sourceType": "CRM_UI", "sourceId": "userId:1"})
        record["updated"] = at

    def link(self, object_type: str, object_id: str, contact_id: str) -> None:
        self.associations.setdefault((object_type, object_id), []).append(contact_id)

    def archive(self, object_type: str, object_id: str, at: datetime) -> None:
        """LIST_ARCHIVED: a deleted record leaves search and appears in the archived list."""
        record = self.objects[object_type][object_id]
        record["archived"], record["archived_at"] = True, at

    def merge(self, primary: str, secondary: str, at: datetime) -> None:
        """MERGE: the secondary leaves search; the primary lists it in hs_merged_object_ids."""
        record = self.objects["contacts"][secondary]
        record["archived"], record["merged_into"] = True, primary
        merged = [i for i in self.objects["contacts"][primary]["properties"].get("hs_merged_object_ids", "").split(";")
                  if i]
        self.set("contacts", primary, at, hs_merged_object_ids=";".join([*merged, secondary]))

    def add_owner(self, owner_id: str, email: str, first: str = "", last: str = "", archived: bool = False,
                  user_id: int | None = None) -> None:
        """OWNERS: an owner as GET /crm/v3/owners lists it."""
        self.owners.append({"id": owner_id, "email": email, "type": "PERSON", "firstName": first, "lastName": last,
                            "userId": user_id or int(owner_id) + 7, "userIdIncludingInactive": user_id or
                            int(owner_id) + 7, "createdAt": "2024-01-02T03:04:05.000Z",
                            "updatedAt": "2024-01-02T03:04:05.000Z", "archived": archived, "teams": []})

    # ------------------------------------------------------------ HTTP
    def handle(self, request: Request) -> tuple[int, Any, dict[str, str]]:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            raise HttpError(401, {"status": "error", "message": "Authentication credentials not found.",
                                  "correlationId": "c0ffee00-0000-0000-0000-000000000000",
                                  "category": "INVALID_AUTHENTICATION"})
        if self.daily_limit is not None and self.answered >= self.daily_limit:
            raise HttpError(429, rate_limit_body("DAILY"))
        self.answered += 1
        body = request.parsed_json  # type: ignore[attr-defined]
        path = request.path
        if match := re.fullmatch(r"/crm/v3/objects/(\w+)/search", path):
            return 200, self._search(match.group(1), body), {}
        if match := re.fullmatch(r"/crm/v3/objects/(\w+)/batch/read", path):
            return self._read(match.group(1), body)
        if match := re.fullmatch(r"/crm/v3/objects/(\w+)/batch/update", path):
            return self._update(match.group(1), body)
        if path == "/crm/v3/objects/tasks/batch/create":
            return 201, self._batch(self._create_tasks(body)), {}
        if match := re.fullmatch(r"/crm/v4/associations/(\w+)/(\w+)/batch/read", path):
            return 200, self._batch(self._associations(match.group(1), body)), {}
        if match := re.fullmatch(r"/crm/v3/objects/(\w+)", path):
            return 200, self._list(match.group(1), request.args), {}
        if path == "/crm/v3/owners" or path == "/crm/v3/owners/":
            return 200, self._owners(request.args), {}
        if path == "/calling/v1/dispositions" and self.dispositions is not None:
            return 200, [{"id": k, "label": v, "deleted": False} for k, v in self.dispositions.items()], {}
        raise HttpError(404, {"status": "error", "message": f"no fake for {path}", "category": "OBJECT_NOT_FOUND"})

    def _batch(self, results: list[dict[str, Any]], errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        now = hs_time(self.now())
        answer: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": now, "completedAt": now}
        if errors:
            answer["errors"] = errors
            answer["numErrors"] = len(errors)
        return answer

    def _object(self, record: dict[str, Any], properties: list[str], with_history: list[str] = ()) -> dict[str, Any]:
        wanted = {*properties, "hs_object_id", "createdate", "lastmodifieddate", "hs_lastmodifieddate"}
        props = {name: record["properties"].get(name) for name in wanted if name in record["properties"]
                 or name in properties}
        props["hs_object_id"] = record["id"]
        shaped: dict[str, Any] = {"id": record["id"], "properties": props, "createdAt": hs_time(record["created"]),
                                  "updatedAt": hs_time(record["updated"]), "archived": record["archived"]}
        if record["archived_at"] is not None:
            shaped["archivedAt"] = hs_time(record["archived_at"])
        if with_history:
            shaped["propertiesWithHistory"] = {name: list(record["history"].get(name, [])) for name in with_history}
        return shaped

    def _search(self, object_type: str, body: dict[str, Any]) -> dict[str, Any]:
        self.searches += 1
        now = time.monotonic()
        self.search_times = [t for t in self.search_times if now - t < 1.0] + [now]
        if self.enforce_search_rate and len(self.search_times) > SEARCH_PER_SECOND:
            raise HttpError(429, rate_limit_body("SECONDLY"))
        if self.before_search is not None:
            self.before_search(self.searches)
        limit = int(body.get("limit") or 10)
        after = int(body.get("after") or 0)
        if limit > SEARCH_PAGE_MAX:
            raise _validation(f"limit must be at most {SEARCH_PAGE_MAX}")
        if after + limit > CAP:
            raise _validation(f"paging past {CAP} results is not allowed")
        sorts = body.get("sorts") or []
        if len(sorts) > 1:
            raise _validation("only one sort is allowed")
        groups = body.get("filterGroups") or []
        if len(groups) > SEARCH_FILTER_GROUPS:
            raise _validation(f"at most {SEARCH_FILTER_GROUPS} filter groups")
        # Ties in a sort come in no documented order: newest record first here, so nothing leans on it.
        matches = [r for r in reversed(list(self.objects[object_type].values())) if not r["archived"]
                   and (not groups or any(all(self._matches(r, f) for f in g.get("filters", [])) for g in groups))]
        for sort in sorts:
            name = sort["propertyName"] if isinstance(sort, dict) else sort.lstrip("-")
            descending = (sort.get("direction") == "DESCENDING") if isinstance(sort, dict) else sort.startswith("-")
            matches.sort(key=lambda r, n=name: self._value(r, n), reverse=descending)
        page = matches[after:after + limit]
        answer: dict[str, Any] = {"total": len(matches),
                                  "results": [self._object(r, body.get("properties") or []) for r in page]}
        if after + limit < len(matches):
            answer["paging"] = {"next": {"after": str(after + limit), "link": "?after=" + str(after + limit)}}
        return answer

    def _value(self, record: dict[str, Any], name: str) -> Any:
        text = record["properties"].get(name)
        if text and re.fullmatch(r"\d{4}-\d\d-\d\dT.*", text):
            return ms(datetime.fromisoformat(text.replace("Z", "+00:00")))
        if text and text.isdigit():
            return int(text)
        return text or ""

    def _matches(self, record: dict[str, Any], condition: dict[str, Any]) -> bool:
        value = self._value(record, condition["propertyName"])
        wanted = condition.get("value")
        if isinstance(value, int) and wanted is not None:
            wanted = int(wanted)
        elif value == "" and condition["operator"] != "NEQ":
            return False  # an empty property matches no comparison
        op = condition["operator"]
        return {"GTE": lambda: value >= wanted, "LTE": lambda: value <= wanted, "GT": lambda: value > wanted,
                "LT": lambda: value < wanted, "EQ": lambda: value == wanted, "NEQ": lambda: value != wanted}[op]()

    def _read(self, object_type: str, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        history = body.get("propertiesWithHistory") or []
        inputs = body["inputs"]
        if history and len(inputs) > BATCH_HISTORY_MAX:
            raise _validation("The maximum number of inputs supported in a batch request for property histories "
                              f"is {BATCH_HISTORY_MAX}. Please reduce the number of items and try again")
        if len(inputs) > BATCH_MAX:
            raise _validation(f"Batch input size must be at most {BATCH_MAX}")
        results, missing = [], []
        for item in inputs:
            record = self.objects[object_type].get(item["id"])
            if record is None or record["archived"]:
                missing.append(item["id"])
            else:
                results.append(self._object(record, body.get("properties") or [], history))
        errors = [{"status": "error", "category": "OBJECT_NOT_FOUND", "message": "Could not get some objects",
                   "context": {"ids": missing}}] if missing else None
        return (207 if missing else 200), self._batch(results, errors), {}

    def _list(self, object_type: str, args: Any) -> dict[str, Any]:
        """LIST_ARCHIVED: ``archived=true`` lists only deleted records (merged ones are not deleted)."""
        limit = int(args.get("limit") or 10)
        history = [p for p in ",".join(args.getlist("propertiesWithHistory")).split(",") if p]
        if limit > (BATCH_HISTORY_MAX if history else LIST_MAX):
            raise _validation(f"limit must be at most {BATCH_HISTORY_MAX if history else LIST_MAX}")
        archived = str(args.get("archived", "false")).lower() == "true"
        rows = [r for r in self.objects[object_type].values()
                if r["archived"] == archived and not r.get("merged_into")]
        start = int(args.get("after") or 0)
        page = rows[start:start + limit]
        properties = [p for p in ",".join(args.getlist("properties")).split(",") if p]
        answer: dict[str, Any] = {"results": [self._object(r, properties, history) for r in page]}
        if start + limit < len(rows):
            answer["paging"] = {"next": {"after": str(start + limit), "link": f"?after={start + limit}"}}
        return answer

    def _owners(self, args: Any) -> dict[str, Any]:
        limit = int(args.get("limit") or 100)
        if limit > OWNERS_MAX:
            raise _validation(f"limit must be at most {OWNERS_MAX}")
        archived = str(args.get("archived", "false")).lower() == "true"
        rows = [o for o in self.owners if o["archived"] == archived]
        start = int(args.get("after") or 0)
        answer: dict[str, Any] = {"results": rows[start:start + limit]}
        if start + limit < len(rows):
            answer["paging"] = {"next": {"after": str(start + limit), "link": f"?after={start + limit}"}}
        return answer

    def _update(self, object_type: str, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        results, errors = [], []
        for item in body["inputs"]:
            record = self.objects[object_type].get(item["id"])
            if record is None:
                errors.append({"status": "error", "category": "OBJECT_NOT_FOUND",
                               "message": f"Could not get some {object_type} objects",
                               "context": {"ids": [item["id"]]}})
                continue
            self.set(object_type, item["id"], self.now(), **item["properties"])
            results.append(self._object(record, list(item["properties"])))
        return (207 if errors else 200), self._batch(results, errors), {}

    def _create_tasks(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        results = []
        for item in body["inputs"]:
            task_id = self.add("tasks", self.now(), **item["properties"])
            for association in item.get("associations", []):
                self.link("tasks", task_id, str(association["to"]["id"]))
            results.append(self._object(self.objects["tasks"][task_id], list(item["properties"])))
        return results

    def _associations(self, object_type: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        results = []
        for item in body["inputs"]:
            linked = self.associations.get((object_type, item["id"]), [])
            if linked:
                results.append({"from": {"id": item["id"]}, "to": [
                    {"toObjectId": int(c), "associationTypes": [
                        {"category": "HUBSPOT_DEFINED", "typeId": 194, "label": None}]} for c in linked]})
        return results
