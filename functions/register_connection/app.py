"""Register connection: claim the connection id in the registry before anything is created.

Whichever door started the run (API, event, console), the record is written here, the same way.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from provisioner_core import aws, registry
from provisioner_core.connection import Connection
from provisioner_core.errors import ConnectionAlreadyExists
from provisioner_core.step import translate_aws_errors

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from provisioner_core.contracts.run_state import ConnectionEvent
    from provisioner_core.contracts.step_results import Registration

logger = Logger()
metrics = Metrics()


def register_connection(dynamodb: DynamoDBClient, connection: Connection) -> Registration:
    """Claims the id (the same execution may claim again: idempotent), or says as data that another run
    holds it, so the execution's cause is structured and nothing of that connection is touched."""
    claimed_at = registry.now()
    try:
        registry.claim(dynamodb, {**connection, "created_at": claimed_at})
    except ConnectionAlreadyExists as taken:
        cause = {
            "failed_step": "Register connection",
            "error": "ConnectionAlreadyExists",
            "message": str(taken),
        }
        return {"claimed": False, "status": "TAKEN", "cause": json.dumps(cause, separators=(",", ":"))}
    return {"claimed": True, "status": "PROVISIONING", "claimed_at": claimed_at}


@metrics.log_metrics
@logger.inject_lambda_context(log_event=False)
@translate_aws_errors
def lambda_handler(event: ConnectionEvent, context: LambdaContext) -> Registration:
    result = register_connection(aws.client("dynamodb"), event["connection"])
    if result["claimed"]:
        metrics.add_metric(name="OnboardingStarted", unit=MetricUnit.Count, value=1)
    logger.info(
        "Connection registered", connection_id=event["connection"]["connection_id"], claimed=result["claimed"]
    )
    return result
