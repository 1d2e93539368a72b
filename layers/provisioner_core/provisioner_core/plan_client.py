"""POST /connections/plan: the API's side of a plan. It validates the body as POST /connections does (the
same 400), then asks the read-only Plan onboarding function, so the API's own role gains nothing but
lambda:InvokeFunction on that one function.

The HTTP API gives its integration 30 s, then answers a bare 503 itself while the function still runs
(API Gateway quotas: HTTP API integration timeout). So the API waits for the plan only as long as it can
still answer in its own words: one Invoke (a retry would start a second plan and wait again), bounded by
PLAN_WAIT_SECONDS and by the API function's own remaining time, then a 504 it writes itself. The Plan
onboarding function's Timeout (template.yaml) is below that wait, so a plan that overruns is normally cut
by Lambda first and reported the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError

from provisioner_core.config import Settings
from provisioner_core.errors import InvalidRequest, ProvisionerError
from provisioner_core.request import parse_request

GATEWAY_TIMEOUT_SECONDS = 30
# template.yaml, PlanOnboardingFunction Timeout: with its cold start it still ends before the API's wait.
PLAN_FUNCTION_TIMEOUT_SECONDS = 20
PLAN_WAIT_SECONDS = 24
# Kept back from the API function's remaining time: answering, and its own timeout's slack.
ANSWER_RESERVE_SECONDS = 2
CONNECT_TIMEOUT_SECONDS = 2
# Below this there is no point starting a plan: it could not answer in time.
MIN_WAIT_SECONDS = 3

# A client with (connect_timeout, read_timeout) and a single attempt.
LambdaClientFor = Callable[[int, int], Any]


class PlanUnavailable(ProvisionerError):
    """Plan onboarding failed (an AWS read past its retries, a crash): the caller may retry."""


class PlanTimedOut(ProvisionerError):
    """Plan onboarding did not answer before the API had to: nothing was changed, the caller may retry."""


def validated_body(raw: Any, settings: Settings) -> dict[str, Any]:
    """The body, or InvalidRequest exactly as POST /connections raises it for the same body."""
    if not isinstance(raw, dict):
        raise InvalidRequest([{"field": "body", "message": "must be a JSON object"}])
    parse_request(raw, labellerr_available=settings.labellerr_enabled)
    return raw


def plan_wait_seconds(remaining_ms: int) -> int:
    """How long the API may wait for the plan, given its own remaining time (whole seconds, rounded down)."""
    return max(0, min(PLAN_WAIT_SECONDS, remaining_ms // 1000 - ANSWER_RESERVE_SECONDS))


def _timed_out(wait: int) -> PlanTimedOut:
    return PlanTimedOut(
        f"the plan did not finish within {wait} s; nothing was changed (a plan only reads): retry shortly"
    )


def _lambda_timed_out(payload: Any) -> bool:
    """Lambda's answer for a function stopped at its Timeout (errorType Sandbox.Timedout, or the message)."""
    if not isinstance(payload, dict):
        return False
    return payload.get("errorType") == "Sandbox.Timedout" or "Task timed out" in str(
        payload.get("errorMessage") or ""
    )


def request_plan(
    lambda_client_for: LambdaClientFor,
    function_name: str,
    raw: Any,
    settings: Settings,
    remaining_ms: Callable[[], int],
) -> dict[str, Any]:
    """`remaining_ms`: the API function's context.get_remaining_time_in_millis."""
    body = validated_body(raw, settings)
    wait = plan_wait_seconds(remaining_ms())
    if wait < MIN_WAIT_SECONDS:
        raise _timed_out(wait)
    lambda_client = lambda_client_for(CONNECT_TIMEOUT_SECONDS, wait - CONNECT_TIMEOUT_SECONDS)
    try:
        response = lambda_client.invoke(
            FunctionName=function_name,
            InvocationType="RequestResponse",
            Payload=json.dumps({"request": body, "execution_arn": ""}).encode("utf-8"),
        )
        payload = json.loads(response["Payload"].read() or b"null")
    except (ConnectTimeoutError, ReadTimeoutError):
        raise _timed_out(wait) from None
    if response.get("FunctionError") or not isinstance(payload, dict):
        if _lambda_timed_out(payload):
            raise _timed_out(wait)
        error_type = payload.get("errorType") if isinstance(payload, dict) else None
        raise PlanUnavailable(f"the plan could not be made ({error_type or 'no answer'}); retry shortly")
    if payload.get("planned") is False:
        raise InvalidRequest(list(payload.get("errors") or []))
    return payload
