"""POST /connections/plan: the API's side of a plan. It validates the body as POST /connections does (the
same 400), then asks the read-only Plan onboarding function, so the API's own role gains nothing but
lambda:InvokeFunction on that one function."""

from __future__ import annotations

import json
from typing import Any

from provisioner_core.config import Settings
from provisioner_core.errors import InvalidRequest, ProvisionerError
from provisioner_core.request import parse_request


class PlanUnavailable(ProvisionerError):
    """Plan onboarding failed (an AWS read past its retries, a crash): the caller may retry."""


def validated_body(raw: Any, settings: Settings) -> dict[str, Any]:
    """The body, or InvalidRequest exactly as POST /connections raises it for the same body."""
    if not isinstance(raw, dict):
        raise InvalidRequest([{"field": "body", "message": "must be a JSON object"}])
    parse_request(raw, labellerr_available=settings.labellerr_enabled)
    return raw


def request_plan(lambda_client: Any, function_name: str, raw: Any, settings: Settings) -> dict[str, Any]:
    body = validated_body(raw, settings)
    response = lambda_client.invoke(
        FunctionName=function_name,
        InvocationType="RequestResponse",
        Payload=json.dumps({"request": body, "execution_arn": ""}).encode("utf-8"),
    )
    payload = json.loads(response["Payload"].read() or b"null")
    if response.get("FunctionError") or not isinstance(payload, dict):
        error_type = payload.get("errorType") if isinstance(payload, dict) else None
        raise PlanUnavailable(f"the plan could not be made ({error_type or 'no answer'}); retry shortly")
    if payload.get("planned") is False:
        raise InvalidRequest(list(payload.get("errors") or []))
    return payload
