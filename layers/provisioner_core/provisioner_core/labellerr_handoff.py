"""The hand-off to Labellerr as the steps share it: the client from the stack's settings, and finding and
removing a connection's Labellerr connections by the marker in their description.

Labellerr's create is not idempotent and it has no lookup by name, so what a connection made there is
found in Labellerr itself (list, then details) by `labellerr_marker(connection_id)`, never from what a
state reported.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from provisioner_core import cleanup
from provisioner_core.config import Settings
from provisioner_core.connection import labellerr_marker
from provisioner_core.labellerr import (
    LabellerrClient,
    LabellerrConnection,
    LabellerrMisconfigured,
    load_credentials,
)


def client_for(
    secrets: Any, settings: Settings, time_left: Callable[[], float] | None = None
) -> LabellerrClient:
    """A client for the stack's workspace; LabellerrMisconfigured when the stack has no credentials."""
    if not settings.labellerr_enabled:
        raise LabellerrMisconfigured("the stack has no Labellerr credentials (LabellerrCredentialsSecretArn)")
    credentials = load_credentials(secrets, settings.labellerr_credentials_secret_arn)
    return LabellerrClient(credentials, settings.labellerr_api_url, time_left=time_left)


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
    client, found = looked
    for each in found:
        label = connection_label(each)

        def delete(connection_id: str = each.connection_id) -> bool:
            return client.delete_connection(connection_id)

        if ledger.attempt(label, delete) is not None:
            # False means Labellerr no longer knew it: gone, which is what the cleanup wants.
            ledger.removed_once(label)
