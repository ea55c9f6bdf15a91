"""notify's adapters on its own table and bucket: e-mail send records, the CRM's order views, the
ledger's entries and objects.

Item keys in the table (single-table design, pk/sk):
- `EMAIL#<event_id>` / `TO#<recipient>`: one e-mail's send record (once.py);
- `CRM#<order_id>` / `VIEW`: the order's CRM view and its version (crm.py);
- `LEDGER#<YYYY-MM-DD>` / `DAY`: the day's revision; `LEDGER#<YYYY-MM-DD>` / `EVENT#<event_id>`: an
  event's ledger lines (ledger.py);
- `ORDER#<order_id>` / `CONTACT`: the address and locale of an order with a live ticket;
  `SHOW#<live_show_id>` / `HOLDER#<order_id>#<sku>`: a ticket holder (granted or revoked);
  `SHOW#<live_show_id>` / `ANNOUNCEMENT`: the show's newest announcement (reminders.py).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from datetime import date
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.crm import OrderView
from chalicelib.ledger import LedgerLine
from chalicelib.once import SendKey, SendRecord
from chalicelib.reminders import Announcement, Contact, TicketHolder
from shop_eventing.outbox import from_dynamodb, to_dynamodb

# Records outlive any replay: the producers' outbox logs, which replays read, are kept 90 days.
RECORD_RETENTION_SECONDS = 180 * 24 * 3600


def _conditional_failed(error: ClientError) -> bool:
    return bool(error.response["Error"]["Code"] == "ConditionalCheckFailedException")


def _expires(now_ms: int) -> int:
    return now_ms // 1000 + RECORD_RETENTION_SECONDS


class DynamoSendRecords:
    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    @staticmethod
    def _key(key: SendKey) -> dict[str, Any]:
        return to_dynamodb({"pk": f"EMAIL#{key.event_id}", "sk": f"TO#{key.recipient}"})

    def claim(self, key: SendKey, claim: str, now_ms: int, lease_until_ms: int, event_type: str) -> SendRecord | None:
        item = {
            "status": "sending",
            "claim": claim,
            "claimed_at_ms": now_ms,
            "lease_until_ms": lease_until_ms,
            "event_type": event_type,
            "expires_at": _expires(now_ms),
        }
        try:
            self._client.put_item(
                TableName=self._table,
                Item={**self._key(key), **to_dynamodb(item)},
                ConditionExpression="attribute_not_exists(pk)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if not _conditional_failed(error):
                raise
            old = error.response.get("Item")
            found = from_dynamodb(old) if old else self._get(key)
            if found is None:  # released between our put and our read: claim again
                return self.claim(key, claim, now_ms, lease_until_ms, event_type)
            return SendRecord(
                status=found["status"],
                claim=str(found["claim"]),
                lease_until_ms=int(found["lease_until_ms"]),
                message_id=found.get("message_id"),
            )
        return None

    def _get(self, key: SendKey) -> dict[str, Any] | None:
        response = self._client.get_item(TableName=self._table, Key=self._key(key), ConsistentRead=True)
        return from_dynamodb(response["Item"]) if "Item" in response else None

    def _settle(self, key: SendKey, claim: str, values: dict[str, Any]) -> bool:
        names = {f"#{name}": name for name in values}
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(key),
                UpdateExpression="SET " + ", ".join(f"#{name} = :{name}" for name in values),
                ConditionExpression="#claim = :claim AND #status = :sending",
                ExpressionAttributeNames={**names, "#claim": "claim", "#status": "status"},
                ExpressionAttributeValues=to_dynamodb(
                    {**{f":{name}": value for name, value in values.items()}, ":claim": claim, ":sending": "sending"}
                ),
            )
        except ClientError as error:
            if _conditional_failed(error):
                return False
            raise
        return True

    def mark_sent(self, key: SendKey, claim: str, message_id: str, now_ms: int) -> None:
        if not self._settle(key, claim, {"status": "sent", "message_id": message_id, "settled_at_ms": now_ms}):
            raise RuntimeError(f"e-mail {key}: the claim {claim} was taken from its sender")

    def mark_unconfirmed(self, key: SendKey, claim: str, now_ms: int, reason: str) -> bool:
        return self._settle(key, claim, {"status": "unconfirmed", "reason": reason[:500], "settled_at_ms": now_ms})

    def release(self, key: SendKey, claim: str) -> None:
        try:
            self._client.delete_item(
                TableName=self._table,
                Key=self._key(key),
                ConditionExpression="#claim = :claim AND #status = :sending",
                ExpressionAttributeNames={"#claim": "claim", "#status": "status"},
                ExpressionAttributeValues=to_dynamodb({":claim": claim, ":sending": "sending"}),
            )
        except ClientError as error:
            if not _conditional_failed(error):
                raise

    def record(self, key: SendKey) -> dict[str, Any] | None:
        """The stored record (for operators and tests)."""
        return self._get(key)


class DynamoOrderViews:
    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    @staticmethod
    def _key(order_id: str) -> dict[str, Any]:
        return to_dynamodb({"pk": f"CRM#{order_id}", "sk": "VIEW"})

    def get(self, order_id: str) -> tuple[OrderView | None, int]:
        response = self._client.get_item(TableName=self._table, Key=self._key(order_id), ConsistentRead=True)
        if "Item" not in response:
            return None, 0
        item = from_dynamodb(response["Item"])
        return OrderView(**json.loads(item["view"])), int(item["version"])

    def save(self, view: OrderView, expected_version: int) -> bool:
        item = {"view": json.dumps(asdict(view), sort_keys=True), "version": expected_version + 1}
        condition = (
            {"ConditionExpression": "attribute_not_exists(pk)"}
            if expected_version == 0
            else {
                "ConditionExpression": "#version = :expected",
                "ExpressionAttributeNames": {"#version": "version"},
                "ExpressionAttributeValues": to_dynamodb({":expected": expected_version}),
            }
        )
        try:
            self._client.put_item(TableName=self._table, Item={**self._key(view.order_id), **to_dynamodb(item)}, **condition)
        except ClientError as error:
            if _conditional_failed(error):
                return False
            raise
        return True


class DynamoLedgerEntries:
    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    @staticmethod
    def _pk(day: date) -> str:
        return f"LEDGER#{day.isoformat()}"

    def record(self, day: date, event_id: str, lines: list[LedgerLine]) -> bool:
        entry = {"pk": self._pk(day), "sk": f"EVENT#{event_id}", "lines": json.dumps(lines, ensure_ascii=False, sort_keys=True)}
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": to_dynamodb(entry),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": to_dynamodb({"pk": self._pk(day), "sk": "DAY"}),
                            "UpdateExpression": "ADD #revision :one",
                            "ExpressionAttributeNames": {"#revision": "revision"},
                            "ExpressionAttributeValues": to_dynamodb({":one": 1}),
                        }
                    },
                ]
            )
        except ClientError as error:
            reasons = error.response.get("CancellationReasons", [])
            if (
                error.response["Error"]["Code"] == "TransactionCanceledException"
                and reasons[:1]
                and (reasons[0].get("Code") == "ConditionalCheckFailed")
            ):
                return False
            raise
        return True

    def revision(self, day: date) -> int:
        response = self._client.get_item(
            TableName=self._table, Key=to_dynamodb({"pk": self._pk(day), "sk": "DAY"}), ConsistentRead=True
        )
        return int(from_dynamodb(response["Item"])["revision"]) if "Item" in response else 0

    def lines(self, day: date) -> list[LedgerLine]:
        found: list[LedgerLine] = []
        paginator = self._client.get_paginator("query")
        for page in paginator.paginate(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :event)",
            ExpressionAttributeValues=to_dynamodb({":pk": self._pk(day), ":event": "EVENT#"}),
            ConsistentRead=True,
        ):
            for item in page["Items"]:
                found += json.loads(from_dynamodb(item)["lines"])
        return found


class DynamoShowRoster:
    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def _put(self, item: dict[str, Any], **condition: Any) -> bool:
        try:
            self._client.put_item(TableName=self._table, Item=to_dynamodb(item), **condition)
        except ClientError as error:
            if _conditional_failed(error):
                return False
            raise
        return True

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        response = self._client.get_item(TableName=self._table, Key=to_dynamodb({"pk": pk, "sk": sk}), ConsistentRead=True)
        return from_dynamodb(response["Item"]) if "Item" in response else None

    def keep_contact(self, contact: Contact) -> None:
        self._put({"pk": f"ORDER#{contact.order_id}", "sk": "CONTACT", **asdict(contact)})

    def contact(self, order_id: str) -> Contact | None:
        item = self._get(f"ORDER#{order_id}", "CONTACT")
        return Contact(item["order_id"], item["customer_email"], item.get("locale")) if item else None

    @staticmethod
    def _holder_key(live_show_id: str, order_id: str, sku: str) -> dict[str, str]:
        return {"pk": f"SHOW#{live_show_id}", "sk": f"HOLDER#{order_id}#{sku}"}

    def keep_holder(self, holder: TicketHolder) -> None:
        item = {**self._holder_key(holder.live_show_id, holder.order_id, holder.sku), **asdict(holder)}
        # A grant never overwrites: the line is granted already, or revoked, which stays.
        self._put(item, **({"ConditionExpression": "attribute_not_exists(pk)"} if holder.status == "granted" else {}))

    def holder(self, live_show_id: str, order_id: str, sku: str) -> TicketHolder | None:
        key = self._holder_key(live_show_id, order_id, sku)
        item = self._get(key["pk"], key["sk"])
        return _holder(item) if item else None

    def holders(self, live_show_id: str) -> list[TicketHolder]:
        found: list[TicketHolder] = []
        paginator = self._client.get_paginator("query")
        for page in paginator.paginate(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :holder)",
            ExpressionAttributeValues=to_dynamodb({":pk": f"SHOW#{live_show_id}", ":holder": "HOLDER#"}),
            ConsistentRead=True,
        ):
            found += [_holder(from_dynamodb(item)) for item in page["Items"]]
        return found

    def keep_announcement(self, announcement: Announcement) -> bool:
        # The newest by (occurred_at, event_id) stays; the same one again is kept again (its mails may be unsent).
        return self._put(
            {"pk": f"SHOW#{announcement.live_show_id}", "sk": "ANNOUNCEMENT", **asdict(announcement)},
            ConditionExpression="attribute_not_exists(pk) OR occurred_at < :at OR (occurred_at = :at AND event_id <= :id)",
            ExpressionAttributeValues=to_dynamodb({":at": announcement.occurred_at, ":id": announcement.event_id}),
        )

    def announcement(self, live_show_id: str) -> Announcement | None:
        item = self._get(f"SHOW#{live_show_id}", "ANNOUNCEMENT")
        if item is None:
            return None
        return Announcement(
            live_show_id=item["live_show_id"],
            event_id=item["event_id"],
            occurred_at=item["occurred_at"],
            title=item["title"],
            starts_at=item["starts_at"],
            watch_url=item.get("watch_url"),
        )


def _holder(item: dict[str, Any]) -> TicketHolder:
    return TicketHolder(item["live_show_id"], item["order_id"], item["sku"], item["status"])


class S3LedgerObjects:
    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def write(self, key: str, body: bytes, revision: int) -> None:
        self._client.put_object(
            Bucket=self._bucket,
            Key=key,
            Body=body,
            ContentType="application/x-ndjson; charset=utf-8",
            Metadata={"ledger-revision": str(revision)},
        )


def now_ms() -> int:
    return int(time.time() * 1000)
