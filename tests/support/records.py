"""The registry's records as the tests see and stage them: read from the table, or aged on purpose."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from provisioner_core.claims import DEFAULT_GRACE_SECONDS
from tests.support.clients import Clients


def age_claim(c: Clients, connection_id: str, seconds: float = DEFAULT_GRACE_SECONDS + 1) -> None:
    """Move the record's last write `seconds` into the past, as if that much time had gone by since: a
    claim whose run never started is then past its grace period (120 s in AWS) without the test waiting.

    The claims judge a record's age by its `updated_at` and the time now, so this is the test's clock
    step for them; it changes nothing else of the record."""
    stamp = (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat(timespec="milliseconds")
    c.dynamodb.update_item(
        TableName=c.stack.tables["ConnectionsTable"],
        Key={"connection_id": {"S": connection_id}},
        UpdateExpression="SET updated_at = :stamp",
        ConditionExpression="attribute_exists(connection_id)",
        ExpressionAttributeValues={":stamp": {"S": stamp.replace("+00:00", "Z")}},
    )
