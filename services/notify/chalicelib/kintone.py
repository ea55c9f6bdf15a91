"""The CRM adapter: a kintone app's REST API (record upsert keyed on a unique field, API-token auth).

kintone's upsert is `PUT /k/v1/records.json` with `"upsert": true` and, per record, an `updateKey`
(a field with "prohibit duplicate values") and the record's field values (`{"code": {"value": "..."}}`).
Every failure raises, so the SQS message comes back and, after its receives, goes to the DLQ: a CRM
that is down, slow or throttling (429) is retried; a refused request (a 4xx in kintone's error shape
`{"code", "id", "message"}`, e.g. a wrong API token) is retried too, since only a fix on our side or
theirs ends it, and parks in the DLQ to be redriven after that fix.
"""

from __future__ import annotations

import json

import urllib3

# Each record is keyed by this field (single-line text, duplicates prohibited in the app).
UPDATE_KEY_FIELD = "order_id"


class CrmUnavailable(Exception):
    """The CRM did not take the record this time (down, slow, throttled): retry."""


class CrmRejected(Exception):
    """The CRM refused the request: retrying will not help until its cause is fixed."""


class KintoneCrm:
    def __init__(self, base_url: str, api_token: str, app_id: str, *, timeout_seconds: float = 5.0) -> None:
        self._url = f"{base_url.rstrip('/')}/k/v1/records.json"
        self._token = api_token
        self._app = app_id
        # No retries here: SQS redelivers, and a retry inside the invocation would hide throttling.
        self._http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=2.0, read=timeout_seconds), retries=False)

    def upsert(self, order_id: str, fields: dict[str, str]) -> None:
        record = {code: {"value": value} for code, value in fields.items() if code != UPDATE_KEY_FIELD}
        body = {
            "app": self._app,
            "upsert": True,
            "records": [{"updateKey": {"field": UPDATE_KEY_FIELD, "value": order_id}, "record": record}],
        }
        try:
            response = self._http.request(
                "PUT",
                self._url,
                body=json.dumps(body).encode(),
                headers={"Content-Type": "application/json", "X-Cybozu-API-Token": self._token},
            )
        except urllib3.exceptions.HTTPError as error:
            raise CrmUnavailable(f"CRM unreachable: {error}") from error
        if response.status == 200:
            return
        detail = response.data[:500].decode(errors="replace")
        if response.status == 429 or response.status >= 500:
            raise CrmUnavailable(f"CRM answered {response.status}: {detail}")
        raise CrmRejected(f"CRM refused the record for order {order_id} ({response.status}): {detail}")
