"""Register connection: claim the connection id in the registry before anything is created.

Whichever door started the run (API, event, console), the record is written here, the same way.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from provisioner_core import aws, registry
from provisioner_core.connection import Connection
from provisioner_core.step import translate_aws_errors

logger = Logger()


def register_connection(dynamodb: Any, connection: Connection) -> dict[str, str]:
    claimed_at = registry.now()
    registry.claim(dynamodb, {**connection, "created_at": claimed_at})
    return {"status": "PROVISIONING", "claimed_at": claimed_at}


@logger.inject_lambda_context(log_event=False)
@translate_aws_errors
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, str]:
    result = register_connection(aws.client("dynamodb"), event["connection"])
    logger.info("Connection registered", connection_id=event["connection"]["connection_id"])
    return result
