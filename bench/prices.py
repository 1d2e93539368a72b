"""Every price the cost estimate uses, in one place: public on-demand list prices, us-east-1, no free tier.

The first group is the price list of the issue "Benchmark"; the second covers the other items an onboarding
is billed for (the customer's S3 requests, X-Ray traces, function log ingestion). The benchmark machine has
no internet access: `QUOTED_ON` is the date the figures were copied into this file, not a live lookup.
Re-check them against the pages named here before publishing a cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

QUOTED_ON: Final = "2026-11-28"
REGION: Final = "us-east-1"


@dataclass(frozen=True)
class Price:
    usd: float
    unit: str
    source: str
    list_price: str
    as_of: str = QUOTED_ON


# --- the price list

STEP_FUNCTIONS_STANDARD_TRANSITION: Final = Price(
    usd=0.025 / 1_000,
    unit="state transition",
    source="https://aws.amazon.com/step-functions/pricing/",
    list_price="Standard workflows: $0.025 per 1,000 state transitions (retries count)",
)
LAMBDA_ARM64_REQUEST: Final = Price(
    usd=0.20 / 1_000_000,
    unit="request",
    source="https://aws.amazon.com/lambda/pricing/",
    list_price="$0.20 per 1M requests",
)
LAMBDA_ARM64_GB_SECOND: Final = Price(
    usd=0.0000133334,
    unit="GB-second",
    source="https://aws.amazon.com/lambda/pricing/",
    list_price="Arm: $0.0000133334 per GB-second (first 7.5 billion GB-seconds a month)",
)
SECRETS_MANAGER_SECRET_MONTH: Final = Price(
    usd=0.40,
    unit="secret-month",
    source="https://aws.amazon.com/secrets-manager/pricing/",
    list_price="$0.40 per secret per month",
)
SECRETS_MANAGER_API_CALL: Final = Price(
    usd=0.05 / 10_000,
    unit="API call",
    source="https://aws.amazon.com/secrets-manager/pricing/",
    list_price="$0.05 per 10,000 API calls",
)
DYNAMODB_WRITE_REQUEST_UNIT: Final = Price(
    usd=0.625 / 1_000_000,
    unit="write request unit",
    source="https://aws.amazon.com/dynamodb/pricing/on-demand/",
    list_price="On-demand: $0.625 per million write request units",
)
DYNAMODB_READ_REQUEST_UNIT: Final = Price(
    usd=0.125 / 1_000_000,
    unit="read request unit",
    source="https://aws.amazon.com/dynamodb/pricing/on-demand/",
    list_price="On-demand: $0.125 per million read request units",
)
EVENTBRIDGE_CUSTOM_EVENT: Final = Price(
    usd=1.00 / 1_000_000,
    unit="custom event",
    source="https://aws.amazon.com/eventbridge/pricing/",
    list_price="Custom events: $1.00 per million (each 64 KB chunk is one event)",
)

# --- also billed for an onboarding, beyond the list

S3_PUT_LIST_REQUEST: Final = Price(
    usd=0.005 / 1_000,
    unit="PUT/COPY/POST/LIST request",
    source="https://aws.amazon.com/s3/pricing/",
    list_price="S3 Standard: $0.005 per 1,000 PUT, COPY, POST, LIST requests (billed to the bucket owner)",
)
S3_GET_OTHER_REQUEST: Final = Price(
    usd=0.0004 / 1_000,
    unit="GET/other request",
    source="https://aws.amazon.com/s3/pricing/",
    list_price="S3 Standard: $0.0004 per 1,000 GET, SELECT and all other requests (DELETE is free)",
)
XRAY_TRACE_RECORDED: Final = Price(
    usd=5.00 / 1_000_000,
    unit="trace recorded",
    source="https://aws.amazon.com/xray/pricing/",
    list_price="$5.00 per 1 million traces recorded",
)
CLOUDWATCH_LOGS_INGESTED_GB: Final = Price(
    usd=0.50,
    unit="GB of logs ingested",
    source="https://aws.amazon.com/cloudwatch/pricing/",
    list_price="Logs, Standard class: $0.50 per GB ingested",
)

ALL: Final = {
    "step_functions_standard_transition": STEP_FUNCTIONS_STANDARD_TRANSITION,
    "lambda_arm64_request": LAMBDA_ARM64_REQUEST,
    "lambda_arm64_gb_second": LAMBDA_ARM64_GB_SECOND,
    "secrets_manager_secret_month": SECRETS_MANAGER_SECRET_MONTH,
    "secrets_manager_api_call": SECRETS_MANAGER_API_CALL,
    "dynamodb_write_request_unit": DYNAMODB_WRITE_REQUEST_UNIT,
    "dynamodb_read_request_unit": DYNAMODB_READ_REQUEST_UNIT,
    "eventbridge_custom_event": EVENTBRIDGE_CUSTOM_EVENT,
    "s3_put_list_request": S3_PUT_LIST_REQUEST,
    "s3_get_other_request": S3_GET_OTHER_REQUEST,
    "xray_trace_recorded": XRAY_TRACE_RECORDED,
    "cloudwatch_logs_ingested_gb": CLOUDWATCH_LOGS_INGESTED_GB,
}
