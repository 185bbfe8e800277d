"""A fake Salesforce REST API: query, queryAll, query locators, sObject collections.

Records live in memory as Salesforce keeps them (API names; datetimes are stamped
``SystemModstamp`` on every write); answers have the documented JSON shapes, the
``Sforce-Limit-Info`` header, relative ``nextRecordsUrl`` paging and error bodies.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timezone
from typing import Any

from werkzeug.wrappers import Request

from tests.fakes import soql
from tests.fakes.server import FakeServer, HttpError

UTC = timezone.utc
VERSION = "59.0"
PREFIX = {"Lead": "00Q", "LeadHistory": "017", "Task": "00T", "Event": "00U", "User": "005"}


def sf_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


class FakeSalesforce(FakeServer):
    def __init__(self, session_id: str = "fake-session", page_size: int = 2000, api_limit: int = 15000) -> None:
        super().__init__()
        self.session_id = session_id
        self.page_size = page_size
        self.api_limit = api_limit
        self.api_used = 0
        self.records: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in PREFIX}
        self.locators: dict[str, list[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self.clock: datetime | None = None  # when set, writes are stamped with it instead of now

    # ------------------------------------------------------------ seeding
    def new_id(self, obj: str) -> str:
        return f"{PREFIX[obj]}{next(self._ids):012d}AAA"

    def now(self) -> datetime:
        return self.clock or datetime.now(UTC).replace(microsecond=0)

    def add(self, obj: str, at: datetime, **fields: Any) -> str:
        record_id = fields.pop("Id", None) or self.new_id(obj)
        record = {"Id": record_id, "CreatedDate": at, "IsDeleted": False, **fields}
        if obj != "LeadHistory":
            record.setdefault("SystemModstamp", at)
            record.setdefault("LastModifiedDate", record["SystemModstamp"])
        self.records[obj][record_id] = record
        return record_id

    def add_lead(self, at: datetime, **fields: Any) -> str:
        fields.setdefault("Status", "Open - Not Contacted")
        fields.setdefault("IsConverted", False)
        fields.setdefault("ConvertedOpportunityId", None)
        return self.add("Lead", at, **fields)

    def touch(self, obj: str, record_id: str, at: datetime, **changes: Any) -> None:
        record = self.records[obj][record_id]
        record.update(changes)
        record["SystemModstamp"] = record["LastModifiedDate"] = at

    def change_status(self, lead_id: str, at: datetime, new: str) -> None:
        old = self.records["Lead"][lead_id]["Status"]
        self.touch("Lead", lead_id, at, Status=new)
        self.add("LeadHistory", at, LeadId=lead_id, Field="Status", DataType="Text", OldValue=old, NewValue=new)

    def change_owner(self, lead_id: str, at: datetime, owner: str) -> None:
        old = self.records["Lead"][lead_id].get("OwnerId")
        self.touch("Lead", lead_id, at, OwnerId=owner)
        self.add("LeadHistory", at, LeadId=lead_id, Field="Owner", DataType="EntityId", OldValue=old, NewValue=owner)
        self.add("LeadHistory", at, LeadId=lead_id, Field="Owner", DataType="Text", OldValue="Old Name",
                 NewValue="New Name")

    def delete(self, obj: str, record_id: str, at: datetime) -> None:
        self.touch(obj, record_id, at, IsDeleted=True)

    # ------------------------------------------------------------ HTTP
    def handle(self, request: Request) -> tuple[int, Any, dict[str, str]]:
        if request.headers.get("Authorization") != f"Bearer {self.session_id}":
            raise HttpError(401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
        self.api_used += 1
        headers = {"Sforce-Limit-Info": f"api-usage={self.api_used}/{self.api_limit}"}
        base = f"/services/data/v{VERSION}/"
        path = request.path
        if not path.startswith(base):
            raise HttpError(404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}])
        rest = path[len(base):]
        body = request.parsed_json  # type: ignore[attr-defined]
        if request.method == "GET" and rest in ("query", "query/", "queryAll", "queryAll/"):
            return 200, self._query(request.args["q"], include_deleted=rest.startswith("queryAll")), headers
        if request.method == "GET" and rest.startswith("query/"):
            return 200, self._page(rest[len("query/"):]), headers
        if rest == "composite/sobjects" and request.method == "PATCH":
            return 200, [self._update(record) for record in body["records"]], headers
        if rest == "composite/sobjects" and request.method == "POST":
            return 200, [self._create(record) for record in body["records"]], headers
        raise HttpError(404, [{"errorCode": "NOT_FOUND", "message": f"no fake for {request.method} {rest}"}])

    def _query(self, text: str, include_deleted: bool) -> dict[str, Any]:
        try:
            query = soql.parse(text)
        except ValueError as error:
            raise HttpError(400, [{"errorCode": "MALFORMED_QUERY", "message": str(error)}]) from None
        if query.object not in self.records:
            raise HttpError(400, [{"errorCode": "INVALID_TYPE",
                                   "message": f"sObject type '{query.object}' is not supported."}])
        matches = []
        for record in self.records[query.object].values():
            if record.get("IsDeleted") and not include_deleted:
                continue
            if query.where(lambda name, r=record: self._field(r, name)):
                matches.append(record)
        for name in reversed(query.order):
            matches.sort(key=lambda r, n=name: (self._field(r, n) is None, self._field(r, n)))
        if query.limit is not None:
            matches = matches[:query.limit]
        rows = [self._row(query.object, record, query.fields) for record in matches]
        locator = f"01g{len(self.locators):015d}"
        self.locators[locator] = rows
        return self._page(f"{locator}-0", total=len(rows))

    def _page(self, ident: str, total: int | None = None) -> dict[str, Any]:
        locator, _, offset_text = ident.partition("-")
        rows = self.locators.get(locator)
        if rows is None:
            raise HttpError(400, [{"errorCode": "INVALID_QUERY_LOCATOR", "message": "invalid query locator"}])
        offset = int(offset_text or 0)
        page = rows[offset:offset + self.page_size]
        done = offset + self.page_size >= len(rows)
        answer: dict[str, Any] = {"totalSize": len(rows) if total is None else total, "done": done, "records": page}
        if not done:
            answer["nextRecordsUrl"] = f"/services/data/v{VERSION}/query/{locator}-{offset + self.page_size}"
        return answer

    def _field(self, record: dict[str, Any], name: str) -> Any:
        if name == "Who.Type":
            who = record.get("WhoId") or ""
            return "Lead" if who.startswith("00Q") else "Contact" if who else None
        if "." in name:
            relation, field = name.split(".", 1)
            parent = self.records["Lead"].get(record.get(f"{relation}Id") or "") if relation == "Lead" else None
            return parent.get(field) if parent else None
        return record.get(name)

    def _row(self, obj: str, record: dict[str, Any], fields: list[str]) -> dict[str, Any]:
        url = f"/services/data/v{VERSION}/sobjects/{obj}/{record['Id']}"
        row: dict[str, Any] = {"attributes": {"type": obj, "url": url}}
        for name in fields:
            if "." in name and name != "Who.Type":
                relation, field = name.split(".", 1)
                row.setdefault(relation, {"attributes": {"type": relation}})[field] = self._field(record, name)
                continue
            value = self._field(record, name)
            row[name] = sf_time(value) if isinstance(value, datetime) else value
        return row

    def _update(self, record: dict[str, Any]) -> dict[str, Any]:
        obj = record["attributes"]["type"]
        existing = self.records.get(obj, {}).get(record.get("id", ""))
        if existing is None or existing.get("IsDeleted"):
            return {"id": record.get("id"), "success": False,
                    "errors": [{"statusCode": "ENTITY_IS_DELETED" if existing else "INVALID_CROSS_REFERENCE_KEY",
                                "message": "entity is deleted" if existing else "invalid cross reference id",
                                "fields": []}]}
        changes = {k: v for k, v in record.items() if k not in ("attributes", "id")}
        if "OwnerId" in changes and changes["OwnerId"] != existing.get("OwnerId"):
            self.change_owner(existing["Id"], self.now(), changes.pop("OwnerId"))
        self.touch(obj, existing["Id"], self.now(), **changes)
        return {"id": existing["Id"], "success": True, "errors": []}

    def _create(self, record: dict[str, Any]) -> dict[str, Any]:
        obj = record["attributes"]["type"]
        fields = {k: v for k, v in record.items() if k != "attributes"}
        if obj == "Task" and not str(fields.get("WhoId", "")).startswith("00Q"):
            return {"id": None, "success": False,
                    "errors": [{"statusCode": "FIELD_INTEGRITY_EXCEPTION", "message": "WhoId: bad id",
                                "fields": ["WhoId"]}]}
        fields.setdefault("IsClosed", fields.get("Status") == "Completed")
        return {"id": self.add(obj, self.now(), **fields), "success": True, "errors": []}
