"""Select connections: which connections a health-check run looks at, and how many at once.

One connection (the API, the bus, the console: {"connection_id"}), or a sweep ({"sweep": true}) of every
ACTIVE connection, a page at a time: the run checks one page with at most HEALTH_CHECK_CONCURRENCY checks at
once (the Map state's MaxConcurrencyPath), then hands the rest of the sweep to a new execution, so no
execution's history outgrows Step Functions' 25,000 events at IAM's 5,000 users.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from provisioner_core import aws, registry
from provisioner_core.errors import InvalidRequest
from provisioner_core.step import translate_aws_errors

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from provisioner_core.contracts.health import Selection

logger = Logger()
# About 15 history events per connection checked: 250 a page keeps an execution under 4,000.
SWEEP_PAGE = 250
_SCAN_PAGE = 500


def concurrency() -> int:
    return max(1, int(os.environ.get("HEALTH_CHECK_CONCURRENCY", "5")))


def select_connections(dynamodb: DynamoDBClient, request: Any) -> Selection:
    if not isinstance(request, dict):
        raise InvalidRequest([{"field": "(request)", "message": "must be a JSON object"}])
    repair = request.get("repair", False)
    if not isinstance(repair, bool):
        raise InvalidRequest([{"field": "repair", "message": "must be true or false"}])
    if request.get("sweep") is True:
        ids, token = sweep_page(dynamodb, request.get("next_token"))
        return {
            "connection_ids": ids,
            "next_token": token,
            "repair": repair,
            "max_concurrency": concurrency(),
        }
    connection_id = request.get("connection_id")
    if not isinstance(connection_id, str) or not connection_id:
        raise InvalidRequest(
            [
                {
                    "field": "connection_id",
                    "message": 'is required (or "sweep": true for every ACTIVE connection)',
                }
            ]
        )
    # A pagination cursor, not a secret; None: no further page.
    no_page: str | None = None
    return {"connection_ids": [connection_id], "next_token": no_page, "repair": repair, "max_concurrency": 1}


def sweep_page(dynamodb: DynamoDBClient, token: Any) -> tuple[list[str], str | None]:
    """Up to SWEEP_PAGE ACTIVE connections from `token` on, and where the next page starts (None: done)."""
    ids: list[str] = []
    next_token = token if isinstance(token, str) and token else None
    while True:
        records, next_token = registry.list_page(
            dynamodb,
            bucket=None,
            status="ACTIVE",
            limit=min(_SCAN_PAGE, SWEEP_PAGE - len(ids)),
            next_token=next_token,
        )
        ids += [r["connection_id"] for r in records]
        if not next_token or len(ids) >= SWEEP_PAGE:
            return ids, next_token


@logger.inject_lambda_context(log_event=False)
@translate_aws_errors
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Selection:
    result = select_connections(aws.client("dynamodb"), event.get("request"))
    logger.info("Connections selected", count=len(result["connection_ids"]), more=bool(result["next_token"]))
    return result
