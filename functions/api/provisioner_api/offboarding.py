"""DELETE /connections/{id}: claim the connection for one offboarding run and start it."""

from __future__ import annotations

import contextlib
import json
import uuid
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from provisioner_api.listing import get_connection
from provisioner_api.runs import execution_arn_for
from provisioner_api.shapes import Accepted, accepted
from provisioner_core import claims
from provisioner_core.errors import ConnectionBusy

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_stepfunctions import SFNClient


def delete_connection(
    dynamodb: DynamoDBClient, sfn: SFNClient, connection_id: str, state_machine_arn: str
) -> Accepted:
    """Claim the connection for one offboarding run and start it, or answer with the one that holds it.

    The claim is a conditional write here, before the run starts, so concurrent DELETEs start one run.
    """
    current = get_connection(dynamodb, connection_id)  # 404 before anything else
    name = f"{connection_id}-offboard-{uuid.uuid4().hex[:8]}"
    execution_arn = execution_arn_for(state_machine_arn, name)
    record = claims.claim_offboarding(dynamodb, sfn, connection_id, execution_arn)
    if record is None:
        return accepted(connection_id, "DELETED", current.get("offboarding_execution_arn"))
    if record.get("offboarding_execution_arn") != execution_arn:
        return accepted(connection_id, "DEPROVISIONING", record.get("offboarding_execution_arn"))
    try:
        sfn.start_execution(
            stateMachineArn=state_machine_arn, name=name, input=json.dumps({"connection_id": connection_id})
        )
    except ClientError:
        if claims.run_state(sfn, execution_arn) == "MISSING":
            with contextlib.suppress(ClientError, ConnectionBusy):
                claims.release_offboarding(dynamodb, record)
            raise
    return accepted(connection_id, "DEPROVISIONING", execution_arn)
