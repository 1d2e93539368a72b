"""Publishing a connection's lifecycle events: after the registry write, retried, never a reason to undo.

The detail carries ids, names and ARNs only, never key material.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from provisioner_core import aws

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef

EVENT_SOURCE = "labellerr.provisioner"
PUBLISH_DELAYS = (0.2, 0.6)

logger = logging.getLogger(__name__)


def publish(
    events: EventBridgeClient,
    bus_name: str,
    detail_type: str,
    detail: Mapping[str, Any],
    sleep: Any = time.sleep,
) -> bool:
    """At least once when EventBridge answers; False (and an error in the log) when it never did."""
    entry: PutEventsRequestEntryTypeDef = {
        "EventBusName": bus_name,
        "Source": EVENT_SOURCE,
        "DetailType": detail_type,
        "Detail": json.dumps(detail),
    }
    problem = ""
    for delay in (*PUBLISH_DELAYS, None):
        try:
            response = events.put_events(Entries=[entry])
        except (ClientError, BotoCoreError) as error:
            problem = aws.error_code(error) if isinstance(error, ClientError) else type(error).__name__
        else:
            if not response.get("FailedEntryCount"):
                return True
            problem = str(response["Entries"][0].get("ErrorCode", "Unknown"))
        if delay is not None:
            sleep(delay)
    logger.error(
        "Lifecycle event not published: %s (%s) for connection %s",
        detail_type, problem, detail.get("connection_id"),
    )  # fmt: skip
    return False
