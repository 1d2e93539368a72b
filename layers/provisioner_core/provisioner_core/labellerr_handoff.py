"""The hand-off to Labellerr as the steps share it: the client from the stack's settings, and finding and
removing a connection's Labellerr connections by the marker in their description.

Labellerr's create is not idempotent and it has no lookup by name, so what a connection made there is
found in Labellerr itself (list, then details) by `labellerr_marker(connection_id)`, never from what a
state reported.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from provisioner_core import cleanup, objects_lease
from provisioner_core.config import Settings
from provisioner_core.connection import Connection, labellerr_marker
from provisioner_core.errors import VerificationFailed
from provisioner_core.labellerr import (
    LabellerrClient,
    LabellerrConnection,
    S3Credentials,
    labellerr_path,
    load_credentials,
)
from provisioner_core.labellerr_errors import LabellerrMisconfigured
from provisioner_core.labellerr_transport import scrub
from provisioner_core.lease import lease_holder

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_secretsmanager import SecretsManagerClient

    from provisioner_core.contracts.checks import LabellerrTest
    from provisioner_core.contracts.step_results import KeyInSecret


def client_for(
    secrets: SecretsManagerClient, settings: Settings, time_left: Callable[[], float] | None = None
) -> LabellerrClient:
    """A client for the stack's workspace; LabellerrMisconfigured when the stack has no credentials."""
    if not settings.labellerr_enabled:
        raise LabellerrMisconfigured("the stack has no Labellerr credentials (LabellerrCredentialsSecretArn)")
    credentials = load_credentials(secrets, settings.labellerr_credentials_secret_arn)
    return LabellerrClient(credentials, settings.labellerr_api_url, time_left=time_left)


def issued_key(secrets: SecretsManagerClient, access_key: KeyInSecret) -> S3Credentials:
    """The key a run issued, from its secret (the version a rotation wrote, when it names one); the secret
    access key stays in this invocation and the requests to Labellerr."""
    version_id = access_key.get("version_id")
    version: dict[str, Any] = {"VersionId": version_id} if version_id else {}
    secret = json.loads(
        secrets.get_secret_value(SecretId=access_key["secret_arn"], **version)["SecretString"]
    )
    if secret["access_key_id"] != access_key["access_key_id"]:
        raise VerificationFailed("the secret holds another access key than the one this execution issued")
    return S3Credentials(secret["access_key_id"], secret["secret_access_key"])


def test_key(
    client: LabellerrClient,
    dynamodb: DynamoDBClient,
    key: S3Credentials,
    connection: Connection,
    connection_type: str,
) -> LabellerrTest:
    """Labellerr's connection test of `key` for one connection type, as the state records it. Labellerr's
    words go into the state, never an echo of the key they were about.

    The test lists and reads the prefix, so it runs while no other run's probe object can come and go
    there (objects_lease); an export test also writes, so it shares the objects with nobody."""
    path = labellerr_path(connection["bucket"], connection["prefix"])
    kind = (
        objects_lease.LABELLERR_READS
        if connection_type == "import"
        else objects_lease.labellerr_write(lease_holder(connection["connection_id"]))
    )
    with objects_lease.objects_lease(dynamodb, connection["bucket"], kind):
        answer = client.test_connection(key, path, connection_type, connection["labellerr_data_type"])
    said = str(answer.get("message") or "Labellerr's connection test passed")
    return {
        "connection_type": connection_type,
        "outcome": "passed",
        "detail": scrub(said, (key.secret_access_key,))[:200],
    }


def connections_of(client: LabellerrClient, connection_id: str) -> list[LabellerrConnection]:
    """The Labellerr connections this connection made, oldest id order as Labellerr lists them."""
    return client.find_connections(description_marker=labellerr_marker(connection_id))


def connection_label(found: LabellerrConnection) -> str:
    """How a cleanup names one Labellerr connection in `removed` and `left_behind`."""
    return f"Labellerr {found.connection_type or 's3'} connection {found.connection_id}"


def remove_labellerr_connections(
    make_client: Callable[[], LabellerrClient], connection_id: str, ledger: cleanup.Ledger
) -> None:
    """Delete every Labellerr connection carrying this connection's marker; gone already is success.

    A look-up that fails (credentials unreadable, Labellerr down) cannot tell what exists there, and says so.
    """
    look_up = f"Labellerr connections of {connection_id}"

    def find() -> tuple[LabellerrClient, list[LabellerrConnection]]:
        # Reading the credentials is part of the look-up: if it fails, nothing there can be checked.
        client = make_client()
        return client, connections_of(client, connection_id)

    looked = ledger.attempt(look_up, find, unseen=True)
    if not isinstance(looked, tuple):
        return
    client: LabellerrClient
    found: list[LabellerrConnection]
    client, found = looked
    for each in found:
        label = connection_label(each)

        def delete(connection_id: str = each.connection_id) -> bool:
            return client.delete_connection(connection_id)

        if ledger.attempt(label, delete) is not None:
            # False means Labellerr no longer knew it: gone, which is what the cleanup wants.
            ledger.removed_once(label)
