"""Fuzzing the HTTP API from its OpenAPI document, against the embedded local stack on 127.0.0.1.

schemathesis derives every operation's cases from docs/openapi.json (examples, boundary values with
unexpected methods, then Hypothesis fuzzing of valid and invalid input) and checks each response: never a
5xx, and status code, content type, headers and body as the document declares them. Deterministic (fixed
seed, derandomized) and bounded (MAX_EXAMPLES fuzzed cases per operation).

The document describes request fields by type only, so nearly every generated body breaks a rule the API
enforces (the name's characters, the bucket's naming rules) and gets a 400; `flatmap_body` below turns part
of them into requests that pass validation, so accepted onboardings (202), live-id conflicts (409) and
Idempotency-Key replays and mismatches (422) are fuzzed too. Those onboardings really run in the emulator,
against a bucket made here or one that does not exist; the module waits for them to end, and then checks
that the stack still onboards a connection, so later tests find it as they expect.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import strategies as st

from provisioner_core.errors import InvalidRequest
from provisioner_core.request import parse_request
from provisioner_local.emulator import LocalStack

ROOT = Path(__file__).resolve().parents[2]
OPENAPI = ROOT / "docs" / "openapi.json"
MAX_EXAMPLES = 30
SEED = 20_240_611
# Onboardings the fuzzing starts go here (made, with objects to verify against) or nowhere (fails fast).
FUZZ_BUCKET = "labellerr-fuzz-target"
MISSING_BUCKET = "labellerr-fuzz-no-such-bucket"
DRAIN_TIMEOUT_S = 90

# Unexpected methods the boundary phase sends (schemathesis takes no TRACE or CONNECT: test_api_edges.py does).
UNEXPECTED_METHODS = ["put", "patch", "delete", "options", "post", "get"]

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        "cache": {"enabled": False},
        "request-timeout": 15,
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
        "phases": {"coverage": {"unexpected-methods": UNEXPECTED_METHODS}},
        "checks": {
            "enabled": False,
            "not_a_server_error": {"enabled": True},
            "status_code_conformance": {"enabled": True},
            "content_type_conformance": {"enabled": True},
            "response_schema_conformance": {"enabled": True},
            "response_headers_conformance": {"enabled": True},
        },
    }
)
schema = schemathesis.openapi.from_path(OPENAPI, config=CONFIG)

_NAME_CHARS = re.compile(r"[^A-Za-z0-9 _.\-]")


def onboardable(body: dict[str, Any], bucket: str) -> dict[str, Any]:
    """`body` changed as little as needed for the API to accept it, onboarding `bucket`."""
    name = _NAME_CHARS.sub("", str(body.get("connection_name", ""))).strip()[:64] or "Fuzz"
    fixed: dict[str, Any] = {"connection_name": name, "bucket": bucket}
    for field in ("connection_id", "description", "access", "apply_cors"):
        if field in body and body[field] is not None:
            fixed[field] = body[field]
    prefix = body.get("prefix") if body.get("prefix") is not None else body.get("s3_uri")
    if isinstance(prefix, str):
        fixed["prefix"] = prefix
    for optional in ("prefix", "connection_id", "description", "access", "apply_cors"):
        try:
            parse_request(fixed)
        except InvalidRequest as invalid:
            if optional in {error["field"] for error in invalid.errors}:
                fixed.pop(optional, None)
        else:
            break
    parse_request(fixed)
    return fixed


@schema.hook
def flatmap_body(context: schemathesis.HookContext, body: Any) -> st.SearchStrategy[Any]:
    # The plan takes the same body: valid ones get a plan (200) whose shape the document declares too.
    if context.operation is None or context.operation.label not in (
        "POST /connections",
        "POST /connections/plan",
    ):
        return st.just(body)
    if not isinstance(body, dict):
        return st.just(body)
    return st.sampled_from(("as generated", FUZZ_BUCKET, MISSING_BUCKET)).map(
        lambda choice: body if choice == "as generated" else onboardable(body, choice)
    )


@pytest.fixture(scope="module")
def loopback_session(api_url: str) -> Iterator[requests.Session]:
    session = requests.Session()
    # No proxy from the environment: every request goes straight to 127.0.0.1.
    session.trust_env = False
    yield session
    session.close()


@pytest.fixture(scope="module")
def fuzz_bucket(local_stack: LocalStack) -> str:
    s3 = local_stack.client("s3")
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=FUZZ_BUCKET)
    for key in ("images/cat-1.png", "exports/a.json", "top.png"):
        s3.put_object(Bucket=FUZZ_BUCKET, Key=key, Body=b"\x89PNG\r\n")
    return FUZZ_BUCKET


def running_executions(local_stack: LocalStack) -> list[str]:
    sfn = local_stack.client("stepfunctions")
    running: list[str] = []
    for arn in local_stack.state_machines.values():
        pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=arn, statusFilter="RUNNING")
        running += [execution["executionArn"] for page in pages for execution in page["executions"]]
    return running


def wait_until_quiet(local_stack: LocalStack) -> None:
    """Until no execution of the stack's state machines is running; fails after DRAIN_TIMEOUT_S."""
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while running := running_executions(local_stack):
        if time.monotonic() > deadline:
            pytest.fail(f"{len(running)} execution(s) still running after {DRAIN_TIMEOUT_S} s: {running}")
        time.sleep(0.2)


@pytest.fixture(scope="module", autouse=True)
def drained(local_stack: LocalStack) -> Iterator[None]:
    """After the module: every run it started has ended, so it leaves no work behind in the stack."""
    yield
    wait_until_quiet(local_stack)


pytestmark = pytest.mark.fuzz


@schema.parametrize()
def test_every_operation_answers_as_its_openapi_document_says(
    case: schemathesis.Case, api_url: str, loopback_session: requests.Session, fuzz_bucket: str
) -> None:
    case.call_and_validate(base_url=api_url, session=loopback_session)


def test_the_stack_still_onboards_a_connection_after_the_fuzzing(
    local_stack: LocalStack, api_url: str, loopback_session: requests.Session, fuzz_bucket: str
) -> None:
    wait_until_quiet(local_stack)
    connection_id = f"after-fuzz-{uuid.uuid4().hex[:8]}"
    response = loopback_session.post(
        f"{api_url}/connections",
        json={
            "connection_name": "After fuzz",
            "connection_id": connection_id,
            "s3_uri": f"{fuzz_bucket}/images/",
        },
        timeout=15,
    )
    assert response.status_code == 202, response.text
    deadline = time.monotonic() + 60
    while True:
        record = loopback_session.get(f"{api_url}/connections/{connection_id}", timeout=15).json()
        if record["status"] != "PROVISIONING":
            break
        if time.monotonic() > deadline:
            pytest.fail(f"still PROVISIONING after 60 s: {where_it_stands(local_stack, response.json())}")
        time.sleep(0.1)
    assert record["status"] == "ACTIVE", json.dumps(record)


def where_it_stands(local_stack: LocalStack, accepted: dict[str, Any]) -> str:
    """The run's status and its last events, and what else is still running: for a failure message."""
    sfn = local_stack.client("stepfunctions")
    arn = accepted["execution_arn"]
    status = sfn.describe_execution(executionArn=arn)["status"]
    events = sfn.get_execution_history(executionArn=arn, maxResults=5, reverseOrder=True)["events"]
    last = [
        f"{event['type']} {event.get('stateEnteredEventDetails', {}).get('name', '')}" for event in events
    ]
    return f"{arn} is {status}, last events {last}; running: {running_executions(local_stack)}"
