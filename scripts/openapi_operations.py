"""What the API's code does not say by itself, for scripts/generate_openapi.py: each operation's
descriptions, parameters, bodies and every status it answers, the API's own errors and the gateway's."""

from __future__ import annotations

from typing import Any

REF = "#/components/schemas/{model}"
# What API Gateway itself answers, before or instead of the function: {"message": "..."}, never "errors".
GATEWAY_ERROR = "GatewayError"


def _ref(model: str) -> dict[str, str]:
    return {"$ref": REF.format(model=model)}


def _json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _errors(description: str) -> dict[str, Any]:
    return {"description": description, "content": _json_content(_ref("Errors"))}


_LOCATION = {
    "Location": {
        "description": "The connection's URL, `/connections/{connection_id}`.",
        "schema": {"type": "string"},
    }
}
_CONNECTION_ID = {
    "name": "connection_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[a-z0-9]+(-[a-z0-9]+)*$", "maxLength": 40},
}
_ROTATION_ID = {
    "name": "rotation_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[a-z0-9-]{1,80}$"},
}


def _gateway(description: str) -> dict[str, Any]:
    return {"description": description, "content": _json_content(_ref(GATEWAY_ERROR))}


def _errors_or_gateway(description: str) -> dict[str, Any]:
    """A status both the function (`errors`) and the gateway (`message`) answer."""
    return {
        "description": description,
        "content": _json_content({"oneOf": [_ref("Errors"), _ref(GATEWAY_ERROR)]}),
    }


GATEWAY_SCHEMA = {
    "title": GATEWAY_ERROR,
    "description": "API Gateway's own answer, sent before the function runs or instead of its answer.",
    "type": "object",
    "properties": {"message": {"type": "string"}},
    "required": ["message"],
    "additionalProperties": False,
    "examples": [{"message": m} for m in ("Forbidden", "Too Many Requests", "Service Unavailable")],
}
# Every route: the gateway checks the signature and the stage's throttling before the function runs, and
# answers for a function that failed or did not answer in time (an HTTP API waits 30 s).
_GATEWAY_AND_SERVER_ERRORS = {
    "403": _gateway(
        "Refused by the gateway, before the API ran: no SigV4 signature (`Forbidden`), a bad or expired "
        "one (a message naming the problem, such as `The request signature we calculated does not match "
        "the signature you provided...` or `Signature expired: ...`), or a caller whose IAM policies do not "
        "allow execute-api:Invoke on this route. Sign the request with credentials allowed to call it."
    ),
    "429": _gateway(
        "The gateway's throttling limits were exceeded (`Too Many Requests`); retry with backoff."
    ),
    "500": _errors_or_gateway(
        "Something failed on our side; nothing to fix in the request. Retry later. From the gateway "
        "(`Internal Server Error`): the function failed or Lambda could not run it."
    ),
    "503": _errors_or_gateway(
        "Throttled (`errors`, from the API); retry shortly. From the gateway (`Service Unavailable`): the "
        "function did not answer within the integration's 30 s, and the request may still have taken "
        "effect: read before retrying (a POST /connections with an Idempotency-Key is safe to repeat)."
    ),
    "504": _gateway(
        "The function did not answer in time (`Endpoint request timed out`); as for the gateway's 503, the "
        "request may still have taken effect."
    ),
}


def _health_run(repair: bool) -> dict[str, Any]:
    """POST /connections/{id}/health-checks and /repairs: the same door, one flag apart."""
    what = "repair" if repair else "health check"
    description = (
        "Starts the health check state machine with `repair: true`: it puts back what the stack created "
        "and a person changed (its CORS rule, merged with the bucket's others; its policy's attachment and "
        "default version; the fence tags), never what it did not create, then checks the connection again. "
        "Findings it cannot repair say what a person must do."
        if repair
        else "Starts the health check state machine, which only reads: whether the issued key really "
        "reads (and writes) under the prefix, whether the browser's CORS works, whether what the stack "
        "created is as it made it, and what else affects it (a Deny in the bucket policy, a widening on "
        "the user, KMS, Labellerr's side)."
    )
    return {
        "operationId": "startRepair" if repair else "startHealthCheck",
        "description": f"{description} The record's `health` (GET) holds the verdict once the run has "
        "ended: `health.execution_arn` is this answer's `execution_arn`.",
        "parameters": [_CONNECTION_ID],
        "responses": {
            "202": {
                "description": f"The {what} started.",
                "headers": _LOCATION,
                "content": _json_content(_ref("HealthCheckAccepted")),
            },
            "404": _errors("No such connection."),
            "409": _errors("The connection is neither ACTIVE nor ROTATING (the message names its status)."),
            **_GATEWAY_AND_SERVER_ERRORS,
        },
    }


def operations(statuses: list[str], health: list[str]) -> dict[tuple[str, str], dict[str, Any]]:
    """What the code does not say by itself: descriptions, parameters, bodies and every status it answers."""
    from provisioner_core.plan_client import PLAN_WAIT_SECONDS

    return {
        ("post", "/connections"): {
            "operationId": "createConnection",
            "description": "Validates the request at once (every violation listed), claims the connection "
            "id and starts the onboarding state machine, whose run is named after the connection id. With "
            "an `Idempotency-Key`, a repeat with the same body gets the same answer and starts nothing.",
            "parameters": [
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "description": "Same key and same body within 24 h: the same 202, nothing new started. "
                    "Same key and another body: 422.",
                    "schema": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": 255,
                        "pattern": "^[\\x21-\\x7e]+$",
                    },
                }
            ],
            "requestBody": {
                "required": True,
                "description": "At most 64 KB of `application/json`.",
                "content": _json_content(_ref("ConnectionRequest")),
            },
            "responses": {
                "202": {
                    "description": "Onboarding started (or, for a repeated Idempotency-Key, was started).",
                    "headers": {
                        **_LOCATION,
                        "Idempotent-Replayed": {
                            "description": "`true` when this is the stored answer to an earlier request.",
                            "schema": {"type": "string", "enum": ["true"]},
                        },
                    },
                    "content": _json_content(_ref("Accepted")),
                },
                "400": _errors(
                    "The body is not JSON, not an object, or breaks rules; every violation is listed."
                ),
                "409": _errors(
                    "The connection id is live (PROVISIONING, ACTIVE, DEPROVISIONING, ROLLBACK_FAILED), or "
                    "another request with this Idempotency-Key is still running."
                ),
                "413": _errors("The body is over 64 KB."),
                "415": _errors("Content-Type is not application/json."),
                "422": _errors("The Idempotency-Key was used with another body."),
                **_GATEWAY_AND_SERVER_ERRORS,
            },
        },
        ("post", "/connections/plan"): {
            "operationId": "planConnection",
            "description": "What POST /connections with this body would do, without creating or changing "
            "anything: the names and ARNs, the exact policy document and permissions boundary, the bucket's "
            "CORS before and after, what Validate request would find in the bucket, the account's headroom, "
            "and every check, each failed one naming the error the run would end with. The same body, and "
            "the same 400, as POST /connections.",
            "requestBody": {
                "required": True,
                "description": "At most 64 KB of `application/json`.",
                "content": _json_content(_ref("ConnectionRequest")),
            },
            "responses": {
                "200": {
                    "description": "The plan; `would_succeed` is false when a check failed.",
                    "content": _json_content(_ref("Plan")),
                },
                "400": _errors(
                    "The body is not JSON, not an object, or breaks rules; every violation is listed."
                ),
                "413": _errors("The body is over 64 KB."),
                "415": _errors("Content-Type is not application/json."),
                **_GATEWAY_AND_SERVER_ERRORS,
                "504": _errors_or_gateway(
                    f"The plan did not finish within {PLAN_WAIT_SECONDS} s (the API answers before the "
                    "gateway's 30 s); nothing was changed. Retry shortly. From the gateway (`Endpoint "
                    "request timed out`): the API itself did not answer in time; nothing was changed either."
                ),
            },
        },
        ("get", "/connections"): {
            "operationId": "listConnections",
            "description": "One page of the registry, optionally of one bucket, one status and/or one "
            "health status (the last health check's verdict; a connection never checked matches no health "
            "filter). Follow `next_token` until it is null.",
            "parameters": [
                {"name": "bucket", "in": "query", "required": False, "schema": {"type": "string"}},
                {
                    "name": "status",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "enum": statuses},
                },
                {
                    "name": "health",
                    "in": "query",
                    "required": False,
                    "description": "Only connections whose `health.status` is this.",
                    "schema": {"type": "string", "enum": health},
                },
                {
                    "name": "limit",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 25},
                },
                {
                    "name": "next_token",
                    "in": "query",
                    "required": False,
                    "description": "From the previous page, with the same bucket filter.",
                    "schema": {"type": "string"},
                },
            ],
            "responses": {
                "200": {
                    "description": "A page of connections.",
                    "content": _json_content(_ref("ConnectionPage")),
                },
                "400": _errors("An unknown or invalid query parameter; every violation is listed."),
                **_GATEWAY_AND_SERVER_ERRORS,
            },
        },
        ("get", "/connections/{connection_id}"): {
            "operationId": "getConnection",
            "parameters": [_CONNECTION_ID],
            "responses": {
                "200": {
                    "description": "The registry record.",
                    "content": _json_content(_ref("ConnectionRecord")),
                },
                "404": _errors("No such connection."),
                **_GATEWAY_AND_SERVER_ERRORS,
            },
        },
        ("delete", "/connections/{connection_id}"): {
            "operationId": "deleteConnection",
            "description": "Starts the offboarding state machine. While offboarding runs, or once the "
            "connection is DELETED, a repeat answers 202 with that status and starts nothing.",
            "parameters": [_CONNECTION_ID],
            "responses": {
                "202": {
                    "description": "Offboarding started, running, or done.",
                    "headers": _LOCATION,
                    "content": _json_content(_ref("Accepted")),
                },
                "404": _errors("No such connection."),
                "409": _errors("The connection is still PROVISIONING."),
                **_GATEWAY_AND_SERVER_ERRORS,
            },
        },
        ("post", "/connections/{connection_id}/rotations"): {
            "operationId": "startKeyRotation",
            "description": "Starts the key rotation state machine for an ACTIVE connection: a second key, "
            "verified, handed over and promoted to AWSCURRENT; the old key is deactivated once the consumer "
            "uses the new one, and deleted after the grace period. GET shows the stage.",
            "parameters": [_CONNECTION_ID],
            "responses": {
                "202": {
                    "description": "Rotation started; its id is its execution's name.",
                    "headers": _LOCATION,
                    "content": _json_content(_ref("RotationAccepted")),
                },
                "404": _errors("No such connection."),
                "409": _errors("The connection is not ACTIVE (for example, a rotation is running)."),
                **_GATEWAY_AND_SERVER_ERRORS,
            },
        },
        ("post", "/connections/{connection_id}/rotations/{rotation_id}/confirm"): {
            "operationId": "confirmKeyRotation",
            "description": "Says the consumer uses the new key: the rotation's next check deactivates the "
            "old key without waiting to see the new key used.",
            "parameters": [_CONNECTION_ID, _ROTATION_ID],
            "responses": {
                "202": {
                    "description": "Confirmation recorded.",
                    "content": _json_content(_ref("RotationSignal")),
                },
                "404": _errors("No such connection, or not its current rotation."),
                "409": _errors("The rotation is past the point where a confirmation matters, or has ended."),
                **_GATEWAY_AND_SERVER_ERRORS,
            },
        },
        ("post", "/connections/{connection_id}/rotations/{rotation_id}/rollback"): {
            "operationId": "rollBackKeyRotation",
            "description": "During the grace period (stage OLD_KEY_INACTIVE): the rotation's next check "
            "makes the old key Active and AWSCURRENT again and deletes the new key.",
            "parameters": [_CONNECTION_ID, _ROTATION_ID],
            "responses": {
                "202": {
                    "description": "Rollback requested.",
                    "content": _json_content(_ref("RotationSignal")),
                },
                "404": _errors("No such connection, or not its current rotation."),
                "409": _errors("The rotation is not in its grace period."),
                **_GATEWAY_AND_SERVER_ERRORS,
            },
        },
        ("post", "/connections/{connection_id}/health-checks"): _health_run(repair=False),
        ("post", "/connections/{connection_id}/repairs"): _health_run(repair=True),
        ("get", "/openapi.json"): {
            "operationId": "getOpenApi",
            "responses": {
                "200": {"description": "This document.", "content": _json_content({"type": "object"})},
                **_GATEWAY_AND_SERVER_ERRORS,
            },
        },
    }
