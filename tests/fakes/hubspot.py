"""A fake HubSpot CRM API: search (with the 10,000-result cap), batch read with history,
batch update, task batch create, v4 association batch read and call dispositions.

Objects live in memory with their property histories; answers have the documented JSON
shapes (the generated client's models refuse anything else), Bearer-token auth and errors.
"""

from __future__ import annotations

import itertools
import re
from datetime import datetime, timezone
from typing import Any

from werkzeug.wrappers import Request

from tests.fakes.server import FakeServer, HttpError

UTC = timezone.utc
CAP = 10_000
TIME_PROPERTY = {"contacts": "lastmodifieddate"}  # other objects: hs_lastmodifieddate


def hs_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


class FakeHubSpot(FakeServer):
    def __init__(self, token: str = "pat-fake-token") -> None:
        super().__init__()
        self.token = token
        self.objects: dict[str, dict[str, dict[str, Any]]] = {
            t: {} for t in ("contacts", "calls", "emails", "meetings", "tasks")}
        self.associations: dict[tuple[str, str], list[str]] = {}
        self.dispositions = {"f240bbac-87c9-4f6e-bf70-924b57d47db7": "Connected",
                             "73a0d17f-1163-4015-bdd5-ec830791da20": "No answer"}
        self._ids = itertools.count(1001)
        self.clock: datetime | None = None

    # ------------------------------------------------------------ seeding
    def now(self) -> datetime:
        return self.clock or datetime.now(UTC)

    def add(self, object_type: str, at: datetime, object_id: str | None = None, **props: Any) -> str:
        object_id = object_id or str(next(self._ids))
        stamp = TIME_PROPERTY.get(object_type, "hs_lastmodifieddate")
        record = {"id": object_id, "created": at, "updated": at, "archived": False,
                  "properties": {}, "history": {}}
        self.objects[object_type][object_id] = record
        self.set(object_type, object_id, at, createdate=hs_time(at), **{stamp: hs_time(at)}, **props)
        return object_id

    def set(self, object_type: str, object_id: str, at: datetime, **props: Any) -> None:
        """Change properties at a time, keeping each change in the property's history."""
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

    # ------------------------------------------------------------ HTTP
    def handle(self, request: Request) -> tuple[int, Any, dict[str, str]]:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            raise HttpError(401, {"status": "error", "message": "Authentication credentials not found.",
                                  "correlationId": "c0ffee00-0000-0000-0000-000000000000",
                                  "category": "INVALID_AUTHENTICATION"})
        body = request.parsed_json  # type: ignore[attr-defined]
        path = request.path
        if match := re.fullmatch(r"/crm/v3/objects/(\w+)/search", path):
            return 200, self._search(match.group(1), body), {}
        if match := re.fullmatch(r"/crm/v3/objects/(\w+)/batch/read", path):
            return 200, self._batch(self._read(match.group(1), body)), {}
        if match := re.fullmatch(r"/crm/v3/objects/(\w+)/batch/update", path):
            return self._update(match.group(1), body)
        if path == "/crm/v3/objects/tasks/batch/create":
            return 201, self._batch(self._create_tasks(body)), {}
        if match := re.fullmatch(r"/crm/v4/associations/(\w+)/(\w+)/batch/read", path):
            return 200, self._batch(self._associations(match.group(1), body)), {}
        if path == "/calling/v1/dispositions":
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
        if with_history:
            shaped["propertiesWithHistory"] = {name: list(record["history"].get(name, [])) for name in with_history}
        return shaped

    def _search(self, object_type: str, body: dict[str, Any]) -> dict[str, Any]:
        limit = int(body.get("limit") or 10)
        after = int(body.get("after") or 0)
        if after + limit > CAP:
            raise HttpError(400, {"status": "error", "category": "VALIDATION_ERROR",
                                  "message": "There was a problem with the request.",
                                  "errors": [{"message": f"paging past {CAP} results is not allowed"}]})
        matches = [r for r in self.objects[object_type].values() if not r["archived"]
                   and all(self._matches(r, f) for group in body.get("filterGroups", [])[:1]
                           for f in group.get("filters", []))]
        for sort in reversed(body.get("sorts") or []):
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
        return text or ""

    def _matches(self, record: dict[str, Any], condition: dict[str, Any]) -> bool:
        value = self._value(record, condition["propertyName"])
        wanted = condition.get("value")
        wanted = int(wanted) if isinstance(value, int) and wanted is not None else wanted
        op = condition["operator"]
        return {"GTE": lambda: value >= wanted, "LTE": lambda: value <= wanted, "GT": lambda: value > wanted,
                "LT": lambda: value < wanted, "EQ": lambda: value == wanted}[op]()

    def _read(self, object_type: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        history = body.get("propertiesWithHistory") or []
        if history and len(body["inputs"]) > 50:
            raise HttpError(400, {"status": "error", "category": "VALIDATION_ERROR",
                                  "message": "propertiesWithHistory reads at most 50 records"})
        found = [self.objects[object_type].get(i["id"]) for i in body["inputs"]]
        return [self._object(r, body.get("properties") or [], history) for r in found if r]

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
