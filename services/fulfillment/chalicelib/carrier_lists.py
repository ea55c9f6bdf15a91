"""Where the day's carrier CSV goes: an S3 bucket fulfillment owns (shop-<stage>-fulfillment-carrier-lists)."""

from __future__ import annotations

from typing import Any, Protocol

CONTENT_TYPE = "text/csv; charset=Shift_JIS"


def carrier_list_key(day: str) -> str:
    return f"yamato-b2/{day}.csv"


class CarrierLists(Protocol):
    def write(self, day: str, content: bytes) -> str: ...


class S3CarrierLists:
    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def write(self, day: str, content: bytes) -> str:
        """Replace the day's file with `content` (rebuilt from the table, so a rewrite is harmless); returns its key."""
        key = carrier_list_key(day)
        self._client.put_object(Bucket=self._bucket, Key=key, Body=content, ContentType=CONTENT_TYPE)
        return key
