"""What one onboarding would cost in AWS: measured counts times the prices of bench/prices.py.

Pure arithmetic: the counts come from the emulator and the execution history, the durations from the
handlers run in-process (an estimate of Lambda's billed duration, not a measurement of it).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from bench import prices
from bench.prices import Price

S3RequestClass = Literal["put_list", "get_other", "free"]

# S3 bills PUT, COPY, POST and LIST at one rate, GET and everything else at another; DELETE is free.
_S3_PUT_LIST: Final = frozenset(
    {
        "PutObject",
        "CopyObject",
        "PostObject",
        "ListObjects",
        "ListObjectsV2",
        "ListObjectVersions",
        "ListBuckets",
        "ListMultipartUploads",
        "CreateBucket",
        "CreateMultipartUpload",
        "UploadPart",
        "CompleteMultipartUpload",
    }
)
_S3_PREFIXES_PUT_LIST: Final = ("Put", "List")
_S3_FREE: Final = frozenset({"DeleteObject", "DeleteObjects", "DeleteBucket", "AbortMultipartUpload"})
_S3_FREE_PREFIXES: Final = ("Delete",)

BYTES_PER_GB: Final = 1024**3


def s3_request_class(operation: str) -> S3RequestClass:
    if operation in _S3_FREE or operation.startswith(_S3_FREE_PREFIXES):
        return "free"
    if operation in _S3_PUT_LIST or operation.startswith(_S3_PREFIXES_PUT_LIST):
        return "put_list"
    return "get_other"


def billed_ms(duration_ms: float) -> int:
    """Lambda bills duration rounded up to the next millisecond, at least 1 ms."""
    if duration_ms < 0:
        raise ValueError("negative duration")
    return max(1, math.ceil(duration_ms))


def gb_seconds(memory_mb: int, duration_ms: float) -> float:
    return memory_mb / 1024 * billed_ms(duration_ms) / 1000


# --- DynamoDB item size and request units (the rules of the DynamoDB developer guide)


def _value_bytes(value: Mapping[str, Any]) -> int:
    ((kind, content),) = value.items()
    if kind == "S":
        return len(str(content).encode("utf-8"))
    if kind == "N":
        digits = str(content).lstrip("-").replace(".", "").strip("0") or "0"
        return math.ceil(len(digits) / 2) + 1
    if kind == "B":
        return len(content) if isinstance(content, bytes | bytearray) else len(str(content))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(str(item).encode("utf-8")) for item in content)
    if kind == "NS":
        return sum(_value_bytes({"N": item}) for item in content)
    if kind == "BS":
        return sum(len(item) for item in content)
    if kind == "L":
        return 3 + sum(_value_bytes(item) + 1 for item in content)
    if kind == "M":
        return 3 + sum(len(key.encode("utf-8")) + _value_bytes(item) + 1 for key, item in content.items())
    raise ValueError(f"unknown DynamoDB attribute type {kind!r}")


def dynamodb_item_bytes(item: Mapping[str, Mapping[str, Any]]) -> int:
    """Size of an item in DynamoDB's low-level format: attribute names plus values."""
    return sum(len(name.encode("utf-8")) + _value_bytes(value) for name, value in item.items())


def write_units(item_bytes: int) -> int:
    """One write request unit per started KB of the item."""
    return max(1, math.ceil(item_bytes / 1024))


def read_units(item_bytes: int, *, consistent: bool) -> float:
    """One read request unit per started 4 KB, strongly consistent; half that eventually consistent."""
    units = max(1, math.ceil(item_bytes / 4096))
    return float(units) if consistent else units / 2


_DYNAMODB_WRITES: Final = frozenset({"PutItem", "UpdateItem", "DeleteItem"})


def dynamodb_units(
    operation: str, request: Mapping[str, Any], response: Mapping[str, Any]
) -> tuple[float, float]:
    """(write, read) request units of one DynamoDB call, from its request and response bodies.

    PutItem: the new item. UpdateItem/DeleteItem: the item the response returns (ReturnValues), else the
    1-unit minimum. GetItem/Query/Scan: the items returned, per 4 KB, halved unless ConsistentRead. A failed
    conditional write still consumes its units. Other operations: none counted.
    """
    consistent = bool(request.get("ConsistentRead"))
    if operation == "PutItem":
        return float(write_units(dynamodb_item_bytes(request.get("Item") or {}))), 0.0
    if operation in _DYNAMODB_WRITES:
        return float(write_units(dynamodb_item_bytes(response.get("Attributes") or {}))), 0.0
    if operation == "GetItem":
        return 0.0, read_units(dynamodb_item_bytes(response.get("Item") or {}), consistent=consistent)
    if operation in ("Query", "Scan"):
        returned = sum(dynamodb_item_bytes(item) for item in response.get("Items") or [])
        return 0.0, read_units(returned, consistent=consistent)
    return 0.0, 0.0


# --- the estimate


@dataclass(frozen=True)
class FunctionUsage:
    function: str
    invocations: float
    memory_mb: int
    duration_ms: float


@dataclass(frozen=True)
class OnboardingUsage:
    """What one onboarding uses, per onboarding (averages over the measured runs)."""

    state_transitions: float
    functions: tuple[FunctionUsage, ...]
    secrets_manager_calls: float
    dynamodb_write_units: float
    dynamodb_read_units: float
    eventbridge_events: float
    s3_put_list_requests: float
    s3_get_other_requests: float
    xray_traces: float
    log_bytes: float
    secrets_kept: float


@dataclass(frozen=True)
class CostLine:
    item: str
    quantity: float
    unit: str
    unit_usd: float
    usd: float
    basis: str


def _line(item: str, quantity: float, price: Price, basis: str) -> CostLine:
    return CostLine(item, quantity, price.unit, price.usd, quantity * price.usd, basis)


def lambda_gb_seconds(functions: Iterable[FunctionUsage]) -> float:
    return sum(usage.invocations * gb_seconds(usage.memory_mb, usage.duration_ms) for usage in functions)


def one_time_lines(usage: OnboardingUsage) -> list[CostLine]:
    invocations = sum(function.invocations for function in usage.functions)
    return [
        _line(
            "Step Functions state transitions",
            usage.state_transitions,
            prices.STEP_FUNCTIONS_STANDARD_TRANSITION,
            "measured (execution history)",
        ),
        _line("Lambda requests", invocations, prices.LAMBDA_ARM64_REQUEST, "measured (handler invocations)"),
        _line(
            "Lambda compute",
            lambda_gb_seconds(usage.functions),
            prices.LAMBDA_ARM64_GB_SECOND,
            "estimate: template MemorySize x in-process handler median, rounded up to 1 ms",
        ),
        _line(
            "Secrets Manager API calls",
            usage.secrets_manager_calls,
            prices.SECRETS_MANAGER_API_CALL,
            "measured (emulator)",
        ),
        _line(
            "DynamoDB writes",
            usage.dynamodb_write_units,
            prices.DYNAMODB_WRITE_REQUEST_UNIT,
            "measured (emulator): item sizes of each write",
        ),
        _line(
            "DynamoDB reads",
            usage.dynamodb_read_units,
            prices.DYNAMODB_READ_REQUEST_UNIT,
            "measured (emulator): items returned by each read",
        ),
        _line(
            "EventBridge custom events",
            usage.eventbridge_events,
            prices.EVENTBRIDGE_CUSTOM_EVENT,
            "measured (PutEvents entries)",
        ),
        _line(
            "S3 PUT/LIST requests",
            usage.s3_put_list_requests,
            prices.S3_PUT_LIST_REQUEST,
            "measured (emulator); billed to the bucket owner",
        ),
        _line(
            "S3 GET/other requests",
            usage.s3_get_other_requests,
            prices.S3_GET_OTHER_REQUEST,
            "measured (emulator); billed to the bucket owner",
        ),
        _line(
            "X-Ray traces", usage.xray_traces, prices.XRAY_TRACE_RECORDED, "one trace per traced execution"
        ),
        _line(
            "CloudWatch Logs ingestion",
            usage.log_bytes / BYTES_PER_GB,
            prices.CLOUDWATCH_LOGS_INGESTED_GB,
            "measured handler log bytes (Lambda's START/END/REPORT lines not included)",
        ),
    ]


def monthly_lines(usage: OnboardingUsage) -> list[CostLine]:
    return [
        _line(
            "Secrets Manager secret",
            usage.secrets_kept,
            prices.SECRETS_MANAGER_SECRET_MONTH,
            "measured (secrets a live connection keeps)",
        )
    ]


def total_usd(lines: Sequence[CostLine]) -> float:
    return sum(line.usd for line in lines)
