"""A fake Salesforce org behind the REST API: query, queryAll, query locators, sObject collections, OAuth.

Records live in memory as Salesforce keeps them (API names; writes stamp ``SystemModstamp``);
answers have the documented JSON shapes, the ``Sforce-Limit-Info`` header, relative
``nextRecordsUrl`` paging and error bodies. The org behaves as Salesforce's documentation says,
each behaviour beside the page it comes from, and keeps its own true history of every lead
(``truth``) so a test can compare what a sync stored with what really happened.

Documentation this fake follows:

- LeadHistory: https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_objects_leadhistory.htm
  ("LeadHistory — Represents the history of changes to the values in the fields of a lead"):
  rows exist only for changes of tracked fields (Field, OldValue = "the latest value of the field
  before it was changed", NewValue); an owner change is two rows, DataType EntityId with the ids and
  DataType Text with the names. Rows go to the Recycle Bin with their lead (IsDeleted).
- Queues: https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_group.htm
  ("Group"): a queue is a Group with Type = 'Queue'; a lead owned by a queue has OwnerId 00G….
- Conversion: https://developer.salesforce.com/docs/atlas.en-us.api.meta/object_ref/sforce_api_calls_convertlead.htm
  ("convertLead()") and "Change Events for Lead Conversion"
  https://developer.salesforce.com/docs/atlas.en-us.change_data_capture.meta/change_data_capture/cdc_standard_objects_lead_conversion.htm:
  the lead gets IsConverted, ConvertedContactId, ConvertedOpportunityId and the converted status; its
  Tasks and Events move to the new contact (WhoId = ConvertedContactId) without being modified.
- Events: https://developer.salesforce.com/docs/platform/object-reference/references/standard-objects/object-event.html
  ("Event"): StartDateTime / ActivityDateTime is when the meeting happens; CreatedDate is when it was booked.
- queryAll: https://developer.salesforce.com/docs/platform/api-rest/guide/resources-queryall.html
  ("QueryAll"): returns records soft deleted by a delete or a merge (IsDeleted = true) until they are
  removed from the Recycle Bin; query leaves them out.
- Recycle Bin: https://developer.salesforce.com/docs/atlas.en-us.apexcode.meta/connectapi/langCon_apex_dml_examples_undelete.htm
  ("Restoring Deleted Records"): deleted records stay 15 days, then are permanently deleted; undelete
  restores them (and the children deleted with them).
- Merge: https://developer.salesforce.com/docs/platform/apex-dev/references/apex-dev/langcon-apex-dml-examples-merge.html
  ("Merging Records") and "Triggers and Merge Statements"
  https://developer.salesforce.com/docs/atlas.en-us.apexcode.meta/apexcode/apex_triggers_merge_statements.htm:
  the losing lead is deleted with MasterRecordId = the winner; related records are reparented to the
  winner without an update of their own.
- Limits: "Status Codes and Error Responses" https://developer.salesforce.com/docs/platform/api-rest/guide/errorcodes.html
  (403 with errorCode REQUEST_LIMIT_EXCEEDED) and "Limit Info Header"
  https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/headers_api_usage.htm.
- sObject collections: "Create Records Using sObject Collections"
  https://developer.salesforce.com/docs/platform/api-rest/guide/resources-composite-sobjects-collections-create.html
  (up to 200 records, SaveResults in order, allOrNone).
- Task: https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_task.htm
  ("Task"): ActivityDate is a date (YYYY-MM-DD) with no time and no zone.
- Lead: https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_lead.htm
  ("Lead"): Name is a compound of FirstName and LastName and not updateable
  (INVALID_FIELD_FOR_INSERT_UPDATE); a converted lead refuses updates — "CANNOT_UPDATE_CONVERTED_LEAD"
  https://help.salesforce.com/s/articleView?id=000384333&type=1.
- OAuth: "OAuth 2.0 Client Credentials Flow for Server-to-Server Integration"
  https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_client_credentials_flow.htm&type=5 and
  "OAuth 2.0 JWT Bearer Flow for Server-to-Server Integration"
  https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_jwt_flow.htm&type=5: POST
  /services/oauth2/token with grant_type client_credentials (client_id, client_secret) or
  urn:ietf:params:oauth:grant-type:jwt-bearer (an RS256 assertion with iss = consumer key, sub =
  username, aud = the login host, exp at most three minutes ahead); the answer has access_token and
  instance_url, an error has error and error_description.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs

from werkzeug.wrappers import Request

from tests.fakes import soql
from tests.fakes.server import FakeServer, HttpError

UTC = timezone.utc
VERSION = "59.0"
PREFIX = {"Lead": "00Q", "LeadHistory": "017", "Task": "00T", "Event": "00U", "User": "005", "Group": "00G",
          "Contact": "003", "Opportunity": "006"}
RECYCLE_BIN = timedelta(days=15)
NOT_UPDATEABLE = {"Name", "IsConverted", "ConvertedContactId", "ConvertedOpportunityId", "MasterRecordId",
                  "CreatedDate", "SystemModstamp", "LastModifiedDate", "IsDeleted"}
ACTIVITIES = ("Task", "Event")


def sf_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


class FakeSalesforce(FakeServer):
    def __init__(self, session_id: str = "fake-session", page_size: int = 2000, api_limit: int = 15000,
                 tracked: tuple[str, ...] = ("Status", "Owner")) -> None:
        super().__init__()
        self.session_id = session_id
        self.page_size = page_size
        self.api_limit = api_limit
        self.api_used = 0
        self.tracked = set(tracked)
        """Lead fields with field history tracking on (LeadHistory names: Status, Owner, Lead_Score__c…)."""
        self.records: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in PREFIX}
        self.locators: dict[str, list[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self.clock: datetime | None = None  # when set, writes are stamped with it instead of now
        self.truth: dict[str, list[tuple[Any, ...]]] = {}
        """Each lead's true history: (fact, at, value) for its tracked fields, deletions, activities."""
        self.on_page: Callable[[FakeSalesforce], None] | None = None
        """Called before each further page of a query is served: edits made while a client pages."""
        self.slow_creates = 0
        self.slow_seconds = 0.0
        """The next ``slow_creates`` creates commit, then answer after ``slow_seconds`` (past a client timeout)."""
        self.oauth: dict[str, Any] = {}
        """consumer_key, consumer_secret, username, public_key (PEM), audience for the token endpoint."""

    # ------------------------------------------------------------ seeding, as users change the org
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
        if obj in ACTIVITIES and str(fields.get("WhoId", "")).startswith("00Q"):
            self._note_activity(record)
        return record_id

    def add_user(self, email: str, time_zone: str = "America/New_York") -> str:
        return self.add("User", datetime(2026, 1, 1, tzinfo=UTC), Email=email, Username=email,
                        TimeZoneSidKey=time_zone, IsActive=True)

    def add_queue(self, name: str) -> str:
        return self.add("Group", datetime(2026, 1, 1, tzinfo=UTC), Name=name, Type="Queue")

    def add_lead(self, at: datetime, **fields: Any) -> str:
        fields.setdefault("Status", "Open - Not Contacted")
        fields.setdefault("IsConverted", False)
        fields.setdefault("ConvertedOpportunityId", None)
        fields.setdefault("ConvertedContactId", None)
        fields.setdefault("MasterRecordId", None)
        lead = self.add("Lead", at, **fields)
        record = self.records["Lead"][lead]
        facts = self.truth.setdefault(lead, [])
        for field in sorted(self.tracked):
            facts.append((field, at, record.get("OwnerId" if field == "Owner" else field)))
        return lead

    def touch(self, obj: str, record_id: str, at: datetime, **changes: Any) -> None:
        record = self.records[obj][record_id]
        record.update(changes)
        record["SystemModstamp"] = record["LastModifiedDate"] = at

    def change(self, lead_id: str, at: datetime, field: str, value: Any) -> None:
        """A user edits one lead field: a history row when the org tracks the field (LeadHistory page)."""
        api = "OwnerId" if field == "Owner" else field
        old = self.records["Lead"][lead_id].get(api)
        self.touch("Lead", lead_id, at, **{api: value})
        if field not in self.tracked or old == value:
            return
        self.truth.setdefault(lead_id, []).append((field, at, value))
        if field == "Owner":  # two rows per owner change: ids (EntityId), then names (Text)
            self.add("LeadHistory", at, LeadId=lead_id, Field="Owner", DataType="EntityId", OldValue=old,
                     NewValue=value)
            self.add("LeadHistory", at, LeadId=lead_id, Field="Owner", DataType="Text",
                     OldValue=self._name_of(old), NewValue=self._name_of(value))
        else:
            self.add("LeadHistory", at, LeadId=lead_id, Field=field, DataType="Text" if isinstance(value, str)
                     else "Double", OldValue=old, NewValue=value)

    def change_status(self, lead_id: str, at: datetime, new: str) -> None:
        self.change(lead_id, at, "Status", new)

    def change_owner(self, lead_id: str, at: datetime, owner: str) -> None:
        self.change(lead_id, at, "Owner", owner)

    def _name_of(self, owner: str | None) -> str | None:
        if not owner:
            return None
        record = self.records["User"].get(owner) or self.records["Group"].get(owner) or {}
        return record.get("Name") or record.get("Email") or "Someone"

    def log_call(self, lead_id: str, at: datetime, owner: str | None = None, **fields: Any) -> str:
        """A completed call logged on a lead (a closed Task at CompletedDateTime)."""
        fields.setdefault("TaskSubtype", "Call")
        fields.setdefault("Type", "Call")
        return self.add("Task", at, WhoId=lead_id, OwnerId=owner, IsClosed=True, Status="Completed",
                        CompletedDateTime=at, **fields)

    def book_meeting(self, lead_id: str, at: datetime, start: datetime, owner: str | None = None) -> str:
        """A meeting booked at ``at`` that happens at ``start`` (Event page: StartDateTime, ActivityDateTime)."""
        return self.add("Event", at, WhoId=lead_id, OwnerId=owner, Type="Meeting", StartDateTime=start,
                        ActivityDateTime=start, EndDateTime=start + timedelta(minutes=30), IsAllDayEvent=False)

    def convert(self, lead_id: str, at: datetime, status: str = "Closed - Converted") -> str:
        """convertLead(): a contact and opportunity are made; the lead's activities move to the contact."""
        contact = self.add("Contact", at, LastName="Converted")
        opportunity = self.add("Opportunity", at, Name="From lead")
        self.change(lead_id, at, "Status", status)
        self.touch("Lead", lead_id, at, IsConverted=True, ConvertedContactId=contact,
                   ConvertedOpportunityId=opportunity, ConvertedDate=at.date().isoformat())
        self.truth.setdefault(lead_id, []).append(("converted", at, opportunity))
        for obj in ACTIVITIES:
            for record in self.records[obj].values():
                if record.get("WhoId") == lead_id:
                    record["WhoId"] = contact  # reparented, not modified: SystemModstamp stays
        return contact

    def delete(self, obj: str, record_id: str, at: datetime) -> None:
        """To the Recycle Bin; a lead takes its history and activities with it."""
        self.touch(obj, record_id, at, IsDeleted=True)
        self.records[obj][record_id]["_deleted_at"] = at
        if obj == "Lead":
            self.truth.setdefault(record_id, []).append(("deleted", at, True))
            for child in self._children(record_id):
                child["IsDeleted"] = True

    def undelete(self, lead_id: str, at: datetime) -> None:
        """Restore from the Recycle Bin: SystemModstamp moves, LastModifiedDate does not."""
        record = self.records["Lead"][lead_id]
        record.update(IsDeleted=False, SystemModstamp=at)
        record.pop("_deleted_at", None)
        self.truth.setdefault(lead_id, []).append(("deleted", at, False))
        for child in self._children(lead_id):
            child["IsDeleted"] = False

    def merge(self, master: str, loser: str, at: datetime) -> None:
        """The loser is deleted with MasterRecordId; its activities are reparented to the master unmodified."""
        for obj in ACTIVITIES:
            for record in self.records[obj].values():
                if record.get("WhoId") == loser:
                    record["WhoId"] = master
        self.records["Lead"][loser]["MasterRecordId"] = master
        self.delete("Lead", loser, at)
        self.truth.setdefault(loser, []).append(("merged_into", at, master))
        self.touch("Lead", master, at)
        self.add("LeadHistory", at, LeadId=master, Field="leadMerged", DataType="Text", OldValue=None, NewValue=None)

    def _children(self, lead_id: str) -> list[dict[str, Any]]:
        return [r for obj in ("LeadHistory", *ACTIVITIES) for r in self.records[obj].values()
                if r.get("LeadId") == lead_id or r.get("WhoId") == lead_id]

    def _note_activity(self, record: dict[str, Any]) -> None:
        at = record.get("CompletedDateTime") if record.get("IsClosed") else record.get("StartDateTime")
        if at is not None:
            channel = "meeting" if "StartDateTime" in record else "call"
            self.truth.setdefault(record["WhoId"], []).append(("activity", at, channel))

    def _purge_recycle_bin(self) -> None:
        """Deleted records older than 15 days are gone for good, children and all (on the fake's clock)."""
        if self.clock is None:
            return
        cutoff = self.clock - RECYCLE_BIN
        for lead_id in [i for i, r in self.records["Lead"].items() if r.get("_deleted_at") and
                        r["_deleted_at"] < cutoff]:
            for obj in ("LeadHistory", *ACTIVITIES):
                for key in [k for k, r in self.records[obj].items() if r.get("IsDeleted") and
                            (r.get("LeadId") == lead_id or r.get("WhoId") == lead_id)]:
                    del self.records[obj][key]
            del self.records["Lead"][lead_id]

    # ------------------------------------------------------------ HTTP
    def handle(self, request: Request) -> tuple[int, Any, dict[str, str]]:
        if request.path == "/services/oauth2/token" and request.method == "POST":
            return self._token(request)
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
            self._purge_recycle_bin()
            return 200, self._query(request.args["q"], include_deleted=rest.startswith("queryAll")), headers
        if request.method == "GET" and rest.startswith("query/"):
            if self.on_page is not None:
                self.on_page(self)
            return 200, self._page(rest[len("query/"):]), headers
        if rest == "composite/sobjects" and request.method == "PATCH":
            return 200, [self._update(record) for record in body["records"]], headers
        if rest == "composite/sobjects" and request.method == "POST":
            answers = [self._create(record) for record in body["records"]]
            if self.slow_creates > 0:  # committed; the answer comes after the client gave up
                self.slow_creates -= 1
                time.sleep(self.slow_seconds)
            return 200, answers, headers
        raise HttpError(404, [{"errorCode": "NOT_FOUND", "message": f"no fake for {request.method} {rest}"}])

    def _token(self, request: Request) -> tuple[int, Any, dict[str, str]]:
        form = {k: v[0] for k, v in parse_qs(request.get_data(as_text=True)).items()}
        oauth = self.oauth
        ok = {"access_token": self.session_id, "instance_url": request.host_url.rstrip("/"), "token_type": "Bearer",
              "id": f"{request.host_url}id/00D000000000001AAA/005000000000001AAA"}
        grant = form.get("grant_type")
        if grant == "client_credentials":
            if form.get("client_id") == oauth.get("consumer_key") and \
                    form.get("client_secret") == oauth.get("consumer_secret"):
                return 200, ok, {}
            return 400, {"error": "invalid_client", "error_description": "invalid client credentials"}, {}
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            import jwt

            try:
                claims = jwt.decode(form.get("assertion", ""), oauth.get("public_key", ""), algorithms=["RS256"],
                                    audience=oauth.get("audience"), issuer=oauth.get("consumer_key"),
                                    options={"require": ["exp", "iss", "sub", "aud"]})
            except jwt.PyJWTError as error:
                return 400, {"error": "invalid_grant", "error_description": f"bad assertion: {error}"}, {}
            if claims["exp"] > time.time() + 300:
                return 400, {"error": "invalid_grant", "error_description": "expiration too far ahead"}, {}
            if claims["sub"] != oauth.get("username"):
                return 400, {"error": "invalid_grant", "error_description": "user hasn't approved this consumer"}, {}
            return 200, ok, {}
        return 400, {"error": "unsupported_grant_type", "error_description": "grant type not supported"}, {}

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
            return _failed(record.get("id"), "ENTITY_IS_DELETED" if existing else "INVALID_CROSS_REFERENCE_KEY",
                           "entity is deleted" if existing else "invalid cross reference id")
        changes = {k: v for k, v in record.items() if k not in ("attributes", "id")}
        if obj == "Lead" and existing.get("IsConverted"):
            return _failed(existing["Id"], "CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead")
        locked = sorted(set(changes) & NOT_UPDATEABLE)
        if locked:
            return _failed(existing["Id"], "INVALID_FIELD_FOR_INSERT_UPDATE",
                           f"Unable to create/update fields: {', '.join(locked)}. Please check the security "
                           "settings of this field and verify that it is read/write for your profile or "
                           "permission set.", locked)
        if obj == "Lead":
            for field, value in changes.items():
                self.change(existing["Id"], self.now(), "Owner" if field == "OwnerId" else field, value)
        self.touch(obj, existing["Id"], self.now())
        return {"id": existing["Id"], "success": True, "errors": []}

    def _create(self, record: dict[str, Any]) -> dict[str, Any]:
        obj = record["attributes"]["type"]
        fields = {k: v for k, v in record.items() if k != "attributes"}
        if obj == "Task" and not str(fields.get("WhoId", "")).startswith(("00Q", "003")):
            return _failed(None, "FIELD_INTEGRITY_EXCEPTION", "WhoId: bad id", ["WhoId"])
        if obj == "Task" and "ActivityDate" in fields and not re.fullmatch(r"\d{4}-\d\d-\d\d",
                                                                          str(fields["ActivityDate"])):
            return _failed(None, "INVALID_TYPE_ON_FIELD_IN_RECORD", "Due Date Only: value not of required type",
                           ["ActivityDate"])
        fields.setdefault("IsClosed", fields.get("Status") == "Completed")
        return {"id": self.add(obj, self.now(), **fields), "success": True, "errors": []}


def _failed(record_id: str | None, code: str, message: str, fields: list[str] | None = None) -> dict[str, Any]:
    return {"id": record_id, "success": False, "errors": [{"statusCode": code, "message": message,
                                                          "fields": fields or []}]}
