"""Register in Labellerr: hand the verified key to Labellerr, which tests it, then create the connection(s).

`import` makes one Labellerr connection of type import; `import_export` one import and one export (Labellerr
binds a connection to one direction). Every test runs before any create, so a key Labellerr refuses leaves
nothing there. Labellerr's create is not idempotent: a retry (`retry_count` > 0) first finds this connection's
Labellerr connections by the marker in their description, so a create whose reply was lost is never repeated.
The S3 secret access key is read from the connection's secret and travels only in the requests to Labellerr.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from provisioner_core import aws
from provisioner_core.config import Settings
from provisioner_core.connection import Connection, labellerr_marker
from provisioner_core.labellerr import (
    CONNECTION_TYPES_BY_ACCESS,
    LabellerrClient,
    S3Credentials,
    labellerr_path,
)
from provisioner_core.labellerr_handoff import client_for, connections_of, issued_key, test_key
from provisioner_core.step import translate_aws_errors

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from provisioner_core.contracts.checks import LabellerrTest
    from provisioner_core.contracts.run_state import RegisterInLabellerrEvent
    from provisioner_core.contracts.step_results import LabellerrRegistration

logger = Logger()
SETTINGS = Settings.from_env()
EARLIER = "passed in an earlier attempt"


def description_for(connection: Connection) -> str:
    """The connection's own description, then the marker that lets the provisioner find it again."""
    own = connection["description"].strip()
    return f"{own} {labellerr_marker(connection['connection_id'])}".strip()


def register_in_labellerr(
    client: LabellerrClient,
    dynamodb: DynamoDBClient,
    key: S3Credentials,
    connection: Connection,
    *,
    retry_count: int = 1,
) -> LabellerrRegistration:
    connection_id = connection["connection_id"]
    wanted = CONNECTION_TYPES_BY_ACCESS[connection["access"]]
    earlier: dict[str, str] = {}
    if retry_count:
        for found in connections_of(client, connection_id):
            if found.connection_type in wanted:
                earlier.setdefault(found.connection_type, found.connection_id)
    path = labellerr_path(connection["bucket"], connection["prefix"])
    tests: list[LabellerrTest] = []
    for connection_type in wanted:
        if connection_type in earlier:
            # This step creates only after every test passed, so an earlier attempt's test did.
            tests.append({"connection_type": connection_type, "outcome": "passed", "detail": EARLIER})
            continue
        tests.append(test_key(client, dynamodb, key, connection, connection_type))
    created = dict(earlier)
    for connection_type in wanted:
        if connection_type not in created:
            created[connection_type] = client.create_connection(
                key, connection_type, connection["connection_name"], description_for(connection)
            )
    return {
        "registered": True,
        "labellerr_connection_ids": [created[t] for t in wanted],
        "connections": [
            {"connection_type": t, "labellerr_connection_id": created[t], "reused": t in earlier}
            for t in wanted
        ],
        "path": path,
        "data_type": connection["labellerr_data_type"],
        "test": {"outcome": "passed", "checks": tests},
    }


@logger.inject_lambda_context(log_event=False)
@translate_aws_errors
def lambda_handler(event: RegisterInLabellerrEvent, context: LambdaContext) -> LabellerrRegistration:
    secrets = aws.client("secretsmanager")
    client = client_for(secrets, SETTINGS, lambda: context.get_remaining_time_in_millis() / 1000)
    result = register_in_labellerr(
        client,
        aws.client("dynamodb"),
        issued_key(secrets, event["access_key"]),
        event["connection"],
        retry_count=int(event.get("retry_count", 1)),
    )
    logger.info(
        "Registered in Labellerr",
        connection_id=event["connection"]["connection_id"],
        labellerr_connection_ids=result["labellerr_connection_ids"],
    )
    return result
