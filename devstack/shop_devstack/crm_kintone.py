"""A local fake of the shop's CRM: one kintone app, served over HTTP on 127.0.0.1 by werkzeug.

The embedded stack runs it as its own process (``python -m shop_devstack.crm_kintone``) and notify talks
to it as to kintone; tests start it in-process with ``FakeCrmServer``. What it does, as kintone does:

* ``PUT /k/v1/records.json`` with ``"upsert": true``: per record, update the one whose ``updateKey``
  field has the value, or create it (a unique-key field, so never two records for one key);
  ``PUT /k/v1/record.json`` updates (or, with ``"upsert": true``, upserts) one record;
* ``GET /k/v1/records.json?app=1&query=order_id = "ord-1"``: records in kintone's shape
  (``{"field": {"type": ..., "value": ...}}`` with ``$id`` and ``$revision``); the query takes one
  ``field = "value"`` condition or nothing;
* the API token in ``X-Cybozu-API-Token`` (401 without or with a wrong one), request bodies of at most
  1 MiB (413), a rate limit (429 beyond ``rate_limit`` requests a second), and every error in
  kintone's shape ``{"code": "...", "id": "...", "message": "..."}``.

Admin switches for drills (local only, no token): ``POST /admin/outage`` with ``{"seconds": N}`` or
``{"requests": N}`` makes the API answer 503 for that long or that many requests;
``POST /admin/reset`` forgets every record and switch; ``GET /health``.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from shop_devstack.fake_server import FakeServer, serve_until_stopped
from shop_devstack.lifecycle import die_with_parent

__all__ = ["APP_FIELDS", "DEFAULT_APP_ID", "DEFAULT_TOKEN", "FakeCrm", "FakeCrmServer", "main"]

logger = logging.getLogger("shop_devstack.crm_kintone")

MAX_BODY_BYTES: Final = 1 << 20
DEFAULT_APP_ID: Final = "1"
DEFAULT_TOKEN: Final = "local-crm-api-token"
DEFAULT_RATE_LIMIT: Final = 100  # requests a second; kintone limits concurrent requests per domain
# The app's fields (code → kintone type); order_id prohibits duplicate values, so it can be an updateKey.
APP_FIELDS: Final[dict[str, str]] = {
    "order_id": "SINGLE_LINE_TEXT",
    "customer_email": "SINGLE_LINE_TEXT",
    "customer_id": "SINGLE_LINE_TEXT",
    "status": "SINGLE_LINE_TEXT",
    "currency": "SINGLE_LINE_TEXT",
    "paid_amount": "NUMBER",
    "refunded_amount": "NUMBER",
    "carrier": "SINGLE_LINE_TEXT",
    "tracking_number": "SINGLE_LINE_TEXT",
    "last_event_type": "SINGLE_LINE_TEXT",
    "last_event_at": "SINGLE_LINE_TEXT",
}
UNIQUE_FIELDS: Final = frozenset({"order_id"})
_QUERY = re.compile(r'^\s*([A-Za-z0-9_]+)\s*=\s*"((?:[^"\\]|\\.)*)"\s*$')


class KintoneError(Exception):
    def __init__(self, status: int, code: str, message: str, errors: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.errors = status, code, message, errors

    def response(self) -> Response:
        body: dict[str, Any] = {"code": self.code, "id": uuid.uuid4().hex[:20], "message": self.message}
        if self.errors:
            body["errors"] = self.errors
        return _json(self.status, body)


def _json(status: int, body: Any) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status=status, mimetype="application/json")


def _invalid(path: str, problem: str) -> KintoneError:
    return KintoneError(400, "CB_VA01", "入力内容が正しくありません。", {path: {"messages": [problem]}})


@dataclass
class _Record:
    id: int
    revision: int
    values: dict[str, str]


@dataclass
class FakeCrm:
    """The app's records and the drill switches, behind one lock."""

    app_id: str = DEFAULT_APP_ID
    token: str = DEFAULT_TOKEN
    rate_limit: int = DEFAULT_RATE_LIMIT
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _records: dict[int, _Record] = field(default_factory=dict)
    _next_id: int = 1
    _down_until: float = 0.0
    _failing_requests: int = 0
    _recent: deque[float] = field(default_factory=deque)
    requests_refused: int = 0

    # -- drills --------------------------------------------------------------------------------
    def outage(self, *, seconds: float = 0, requests: int = 0) -> None:
        with self._lock:
            self._down_until = time.monotonic() + seconds if seconds else 0.0
            self._failing_requests = requests

    def reset(self) -> None:
        with self._lock:
            self._records.clear()
            self._next_id = 1
            self._down_until, self._failing_requests, self.requests_refused = 0.0, 0, 0
            self._recent.clear()

    def records(self, **match: str) -> list[dict[str, str]]:
        """Every record's values (with `$id`, `$revision`) whose fields equal `match`, oldest first."""
        with self._lock:
            return [
                {**r.values, "$id": str(r.id), "$revision": str(r.revision)}
                for r in self._records.values()
                if all(r.values.get(k) == v for k, v in match.items())
            ]

    # -- the API -------------------------------------------------------------------------------
    def admit(self, token: str | None) -> None:
        """Authenticate, then apply the drills and the rate limit, as kintone's front end would."""
        if not token:
            raise KintoneError(401, "CB_AU01", "ログインしてください。")
        if token != self.token:
            raise KintoneError(401, "GAIA_IA02", "指定したAPIトークンが、アプリで生成したAPIトークンと一致しません。")
        with self._lock:
            now = time.monotonic()
            if self._failing_requests > 0 or now < self._down_until:
                self._failing_requests = max(0, self._failing_requests - 1)
                self.requests_refused += 1
                raise KintoneError(503, "CB_SV01", "kintone is temporarily unavailable (drill).")
            while self._recent and self._recent[0] <= now - 1:
                self._recent.popleft()
            if len(self._recent) >= self.rate_limit:
                self.requests_refused += 1
                raise KintoneError(429, "CB_TO01", "Too many requests; retry later.")
            self._recent.append(now)

    def _check_app(self, app: Any) -> None:
        if str(app) != self.app_id:
            raise KintoneError(403, "CB_NO02", "権限がありません。(the API token is not for this app)")

    def _values(self, record: Any, where: str) -> dict[str, str]:
        if record is None:
            return {}
        if not isinstance(record, dict):
            raise _invalid(where, "must be an object")
        values: dict[str, str] = {}
        for code, cell in record.items():
            if code not in APP_FIELDS:
                raise _invalid(f"{where}.{code}", f"the field {code!r} does not exist in the app")
            if not isinstance(cell, dict) or "value" not in cell:
                raise _invalid(f"{where}.{code}", 'must be {"value": ...}')
            value = cell["value"]
            if (value is not None and not isinstance(value, (str, int))) or isinstance(value, bool):
                raise _invalid(f"{where}.{code}.value", "must be a string")
            if APP_FIELDS[code] == "NUMBER" and value not in (None, "") and not re.fullmatch(r"-?\d+(\.\d+)?", str(value)):
                raise _invalid(f"{where}.{code}.value", "must be a number")
            values[code] = "" if value is None else str(value)
        return values

    def _put_one(self, entry: Any, where: str, upsert: bool) -> dict[str, str]:
        if not isinstance(entry, dict):
            raise _invalid(where, "must be an object")
        values = self._values(entry.get("record"), f"{where}.record")
        key = entry.get("updateKey")
        if "id" in entry and key is not None:
            raise _invalid(where, "id and updateKey cannot both be given")
        if key is not None:
            if not isinstance(key, dict) or key.get("field") not in UNIQUE_FIELDS or not isinstance(key.get("value"), str):
                raise _invalid(f"{where}.updateKey", "must name a field that prohibits duplicate values, and its value")
            found = next((r for r in self._records.values() if r.values.get(key["field"]) == key["value"]), None)
            values[key["field"]] = key["value"]
        elif "id" in entry:
            found = self._records.get(int(entry["id"])) if str(entry["id"]).isdigit() else None
        else:
            raise _invalid(where, "id or updateKey is required")
        if found is None:
            if not upsert:
                raise KintoneError(404, "GAIA_RE01", "指定したレコードが見つかりません。")
            record = _Record(id=self._next_id, revision=1, values=values)
            self._records[record.id] = record
            self._next_id += 1
            return {"id": str(record.id), "revision": "1", "operation": "INSERT"}
        found.values.update(values)
        found.revision += 1
        return {"id": str(found.id), "revision": str(found.revision), "operation": "UPDATE"}

    def put_records(self, body: dict[str, Any]) -> dict[str, Any]:
        self._check_app(body.get("app"))
        entries = body.get("records")
        if not isinstance(entries, list) or not 1 <= len(entries) <= 100:
            raise _invalid("records", "must be a list of 1 to 100 records")
        upsert = body.get("upsert") is True
        with self._lock:
            # All or nothing, as kintone does: validate every entry against a copy first.
            saved = {i: _Record(r.id, r.revision, dict(r.values)) for i, r in self._records.items()}
            saved_next = self._next_id
            try:
                return {"records": [self._put_one(entry, f"records[{i}]", upsert) for i, entry in enumerate(entries)]}
            except KintoneError:
                self._records, self._next_id = saved, saved_next
                raise

    def put_record(self, body: dict[str, Any]) -> dict[str, Any]:
        self._check_app(body.get("app"))
        with self._lock:
            result = self._put_one(body, "", body.get("upsert") is True)
        return {"revision": result["revision"]}

    def get_records(self, app: str | None, query: str | None) -> dict[str, Any]:
        self._check_app(app)
        match: dict[str, str] = {}
        if query and query.strip():
            parsed = _QUERY.match(query)
            if not parsed or parsed.group(1) not in APP_FIELDS:
                raise _invalid("query", 'the fake takes one condition: field = "value"')
            match[parsed.group(1)] = parsed.group(2).replace('\\"', '"').replace("\\\\", "\\")
        found = self.records(**match)[:500]
        typed = [
            {
                **{code: {"type": APP_FIELDS[code], "value": value} for code, value in r.items() if code in APP_FIELDS},
                "$id": {"type": "__ID__", "value": r["$id"]},
                "$revision": {"type": "__REVISION__", "value": r["$revision"]},
            }
            for r in found
        ]
        return {"records": typed, "totalCount": None}


class _Api:
    """The WSGI application: routing, body limits and errors around a FakeCrm."""

    def __init__(self, crm: FakeCrm) -> None:
        self.crm = crm
        self.urls = Map(
            [
                Rule("/k/v1/records.json", methods=["GET", "PUT"], endpoint="records"),
                Rule("/k/v1/record.json", methods=["PUT"], endpoint="record"),
                Rule("/admin/outage", methods=["POST"], endpoint="outage"),
                Rule("/admin/reset", methods=["POST"], endpoint="reset"),
                Rule("/health", methods=["GET"], endpoint="health"),
            ]
        )

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        request.max_content_length = MAX_BODY_BYTES
        try:
            response = self.dispatch(request)
        except KintoneError as error:
            response = error.response()
        except HTTPException as error:
            code = error.code or 500
            response = KintoneError(code, "CB_IL02" if code < 500 else "CB_SV01", error.description or error.name).response()
        except Exception:
            logger.exception("fake CRM failed on %s %s", request.method, request.path)
            response = KintoneError(500, "CB_SV01", "internal error").response()
        return response(environ, start_response)

    def _body(self, request: Request) -> dict[str, Any]:
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            raise KintoneError(413, "CB_IL02", f"the request body must be at most {MAX_BODY_BYTES} bytes")
        try:
            body = json.loads(request.get_data(cache=False) or b"null")
        except ValueError:
            raise KintoneError(400, "CB_IJ01", "不正なJSON文字列です。") from None
        if not isinstance(body, dict):
            raise KintoneError(400, "CB_IJ01", "the body must be a JSON object")
        return body

    def dispatch(self, request: Request) -> Response:
        endpoint, _ = self.urls.bind_to_environ(request.environ).match()
        if endpoint == "health":
            return _json(200, {"status": "ok"})
        if endpoint == "reset":
            self.crm.reset()
            return _json(200, {"status": "reset"})
        if endpoint == "outage":
            body = self._body(request)
            seconds, requests = body.get("seconds", 0), body.get("requests", 0)
            if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not 0 <= seconds <= 3600:
                raise _invalid("seconds", "must be a number of seconds from 0 to 3600")
            if not isinstance(requests, int) or isinstance(requests, bool) or not 0 <= requests <= 100_000:
                raise _invalid("requests", "must be a number of requests from 0 to 100000")
            self.crm.outage(seconds=seconds, requests=requests)
            return _json(200, {"seconds": seconds, "requests": requests})
        self.crm.admit(request.headers.get("X-Cybozu-API-Token"))
        if endpoint == "records" and request.method == "GET":
            return _json(200, self.crm.get_records(request.args.get("app"), request.args.get("query")))
        body = self._body(request)
        if endpoint == "records":
            return _json(200, self.crm.put_records(body))
        return _json(200, self.crm.put_record(body))


class FakeCrmServer(FakeServer):
    """The fake CRM on werkzeug's threaded server (shop_devstack.fake_server)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, crm: FakeCrm | None = None) -> None:
        self.crm = crm or FakeCrm()
        super().__init__("crm-kintone", _Api(self.crm), host, port)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m shop_devstack.crm_kintone", description="Serve a fake kintone CRM app.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--app", default=DEFAULT_APP_ID, help="the app id (default: %(default)s)")
    parser.add_argument("--token", default=DEFAULT_TOKEN, help="the app's API token (default: %(default)s)")
    args = parser.parse_args(argv)
    die_with_parent()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = FakeCrmServer(args.host, args.port, FakeCrm(app_id=args.app, token=args.token))

    serve_until_stopped(server)


if __name__ == "__main__":
    main()
