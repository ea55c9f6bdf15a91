"""Every service's HTTP API fuzzed from its own OpenAPI document (schemathesis) against the embedded shop.

Valid and invalid requests per operation, within a fixed budget and with a fixed seed (the same
requests on every run), then stateful sequences along the documents' links. Fails on any 5xx, any
response the document does not allow (status, content type, body), any error body not in the one
shape, and any request that hangs (each has a timeout). The number of requests sent per service is
printed at the end (pytest -rP shows it).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from schemathesis import GenerationMode

from shop_eventing.http import ErrorResponse

REPO_ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("catalog", "vod", "orders", "fulfillment", "notify")
# The budget: examples per operation and generation mode, steps of the stateful runs.
MAX_EXAMPLES = 50
STATEFUL_EXAMPLES = 10
SEED = 8_2026
# A request that takes longer than this counts as hanging (the host's own read timeout is 10 s).
REQUEST_TIMEOUT_SECONDS = 20

REQUESTS_SENT: Counter[str] = Counter()
# The fuzzer calls as staff, signed in at the shop's issuer: sam may call every protected route
# (catalog writes and shipments need the staff group). schemathesis also probes each protected
# operation without the token and with a wrong one (its ignored_auth check), expecting a refusal.
FUZZ_USER = "sam"

# "Schema-valid data must be accepted" cannot hold here: the documents give shapes and limits, but
# an order for a SKU nobody sells is schema-valid and still a 400; and JSON Schema's "integer"
# admits 1.0, which strict models refuse on purpose. Invalid data must still be refused (negative
# mode), and every response must match the document.
EXCLUDED_CHECKS = [schemathesis.checks.positive_data_acceptance]


def one_error_shape(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx/5xx is {"error": {"code", "message", "fields"?}}, declared as JSON."""
    if response.status_code < 400:
        return None
    content_type = response.headers.get("content-type", [""])
    content_type = content_type[0] if isinstance(content_type, list) else content_type
    assert content_type.startswith("application/json"), f"{response.status_code} with Content-Type {content_type!r}"
    ErrorResponse.model_validate_json(response.content, strict=True)
    return True


def counting_session(service: str) -> requests.Session:
    session = requests.Session()

    def count(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        REQUESTS_SENT[service] += 1

    session.hooks["response"].append(count)
    return session


def load_schema(shop: Any, service: str) -> Any:
    base_url = shop.stack.service_urls[service]
    served = requests.get(f"{base_url}/openapi.json", timeout=REQUEST_TIMEOUT_SECONDS)
    assert served.status_code == 200
    document = served.json()
    # What the service serves is what is committed (and `make openapi-check` keeps that current).
    assert document == json.loads((REPO_ROOT / "services" / service / "openapi.json").read_text())
    schema = schemathesis.openapi.from_dict(document)
    schema.config.update(base_url=base_url, request_timeout=REQUEST_TIMEOUT_SECONDS)
    token = shop.token(FUZZ_USER)

    # An auth provider (not a fixed header) so that schemathesis knows the token is ours and valid:
    # it then probes each protected operation without it and with a made-up one.
    @schema.auth(retry_on=[])
    class StaffToken:
        def get(self, case: Any, ctx: Any) -> str:
            return token

        def set(self, case: Any, data: str, ctx: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    schema.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        max_examples=MAX_EXAMPLES,
        deterministic=True,
        database="none",
    )
    schema.config.seed = SEED
    return schema


# A service's budget is about a thousand requests (vod's, two thousand): minutes on a loaded two-core
# machine. Each request has its own timeout, which is what catches a hang; this only bounds the whole.
@pytest.mark.timeout(900)
@pytest.mark.parametrize("service", SERVICES)
def test_api_from_its_document(shop, service):
    """Each operation, valid then invalid requests. Hypothesis drives schemathesis's strategies
    directly: schemathesis's pytest integration does not run under pytest 9."""
    schema = load_schema(shop, service)
    session = counting_session(service)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations
    for operation in operations:
        takes_input = any((operation.path_parameters, operation.headers, operation.query, operation.body))
        # The bearer token is a header the document declares, but the auth provider sets it on every valid
        # request: a protected route with no other input has one valid request to make, and sending it
        # fifty times adds only time (GET /ops/status reads every queue of its service each time). Its
        # invalid requests (malformed tokens) are still generated in full.
        other_headers = [header for header in operation.headers or [] if header.name.lower() != "authorization"]
        varies = any((operation.path_parameters, other_headers, operation.query, operation.body))
        # Without parameters or body there is nothing to make invalid.
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE) if takes_input else (GenerationMode.POSITIVE,):

            @hypothesis.settings(
                max_examples=MAX_EXAMPLES if varies or mode is GenerationMode.NEGATIVE else 1,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(hypothesis.HealthCheck),
                phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
            )
            @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
            def send(case: Any) -> None:
                case.call_and_validate(
                    session=session,
                    additional_checks=[one_error_shape],
                    excluded_checks=EXCLUDED_CHECKS,
                    timeout=REQUEST_TIMEOUT_SECONDS,
                )

            send()


@pytest.mark.parametrize("service", ["catalog", "orders"])
def test_api_statefully_along_its_links(shop, service):
    """Sequences that follow the documents' links: a product put, then read back by its SKU; an
    order placed, then read back by its id (the services with links)."""
    schema = load_schema(shop, service)
    session = counting_session(service)

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def call(self, case: Any, **kwargs: Any) -> Any:
            return case.call(session=session, timeout=REQUEST_TIMEOUT_SECONDS, **kwargs)

        def validate_response(self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any) -> None:
            case.validate_response(
                response,
                additional_checks=[one_error_shape, *(additional_checks or [])],
                excluded_checks=EXCLUDED_CHECKS,
                transport_kwargs=kwargs or None,
                recorder=self.recorder,
            )

    before = REQUESTS_SENT[service]
    Workflow.run(
        settings=hypothesis.settings(
            max_examples=STATEFUL_EXAMPLES,
            stateful_step_count=6,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
            phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        )
    )
    assert REQUESTS_SENT[service] > before


@pytest.mark.parametrize("service", SERVICES)
def test_what_the_documents_leave_out_is_answered_in_the_one_shape(shop, service):
    """The fuzzer stays within each path's documented methods and media types; the framework's own
    answers outside them (405, 415) must still be the one error shape."""
    schema = load_schema(shop, service)
    session = counting_session(service)
    base_url = shop.stack.service_urls[service]
    for path, methods in schema.raw_schema["paths"].items():
        url = base_url + path.replace("{", "").replace("}", "")  # {sku} -> sku: a valid parameter value
        for method in sorted({"GET", "PUT", "POST", "DELETE", "PATCH"} - {m.upper() for m in methods}):
            response = session.request(method, url, timeout=REQUEST_TIMEOUT_SECONDS)
            assert response.status_code == 405, (method, path, response.status_code)
            ErrorResponse.model_validate_json(response.content, strict=True)
        for method, operation in methods.items():
            if "requestBody" in operation:
                response = session.request(
                    method, url, data="x", headers={"Content-Type": "text/plain"}, timeout=REQUEST_TIMEOUT_SECONDS
                )
                assert response.status_code == 415, (method, path, response.status_code)
                ErrorResponse.model_validate_json(response.content, strict=True)


def test_every_service_was_fuzzed():
    """Runs after the fuzz tests above (file order): each service got requests; prints how many."""
    print("requests sent per service:", json.dumps(dict(sorted(REQUESTS_SENT.items()))))
    assert set(REQUESTS_SENT) == set(SERVICES), REQUESTS_SENT
