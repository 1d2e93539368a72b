"""Finding and removing a connection's Labellerr connections, as Rollback and Remove connection do it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from functions.remove_connection.app import remove_connection
from functions.rollback.app import roll_back
from provisioner_core import cleanup
from provisioner_core.connection import labellerr_marker
from provisioner_core.labellerr import LabellerrClient, LabellerrConnection
from provisioner_core.labellerr_errors import LabellerrMisconfigured, LabellerrUnavailable
from provisioner_core.labellerr_handoff import client_for, remove_labellerr_connections
from tests.unit.conftest import EXECUTION_ARN, SETTINGS, make_connection

OFFBOARDING_ARN = EXECUTION_ARN.replace("run-1", "offboard-1")


@dataclass
class FakeLabellerr:
    connections: dict[str, LabellerrConnection] = field(default_factory=dict)
    fail_find: bool = False
    fail_delete: bool = False
    deleted: list[str] = field(default_factory=list)

    def add(self, connection_id: str, connection_type: str, marker_of: str) -> None:
        self.connections[connection_id] = LabellerrConnection(
            connection_id, "x", f"d {labellerr_marker(marker_of)}", "s3", connection_type, None, None, raw={}
        )

    def find_connections(self, *, description_marker: str = "", **_: Any) -> list[LabellerrConnection]:
        if self.fail_find:
            raise LabellerrUnavailable("list_connections", "HTTP 503", status=503)
        return [c for c in self.connections.values() if description_marker in (c.description or "")]

    def delete_connection(self, connection_id: str) -> bool:
        if self.fail_delete:
            raise LabellerrUnavailable("delete_connection", "HTTP 500", status=500)
        self.deleted.append(connection_id)
        return self.connections.pop(connection_id, None) is not None


def _client(fake: FakeLabellerr) -> Any:
    return lambda: cast(LabellerrClient, fake)


def test_only_this_connections_labellerr_connections_are_deleted() -> None:
    fake = FakeLabellerr()
    fake.add("a", "import", "mine")
    fake.add("b", "export", "mine")
    fake.add("c", "import", "mine-too")
    ledger = cleanup.Ledger("this execution")
    remove_labellerr_connections(_client(fake), "mine", ledger)
    assert ledger.removed == ["Labellerr import connection a", "Labellerr export connection b"]
    assert ledger.complete
    # `mine-too` carries "[labellerr-provisioner:mine-too]", which does not contain mine's marker.
    assert list(fake.connections) == ["c"]


def test_a_failed_delete_is_left_behind_by_name_and_a_failed_look_up_says_it_could_not_check() -> None:
    fake = FakeLabellerr(fail_delete=True)
    fake.add("a", "import", "mine")
    ledger = cleanup.Ledger("this execution")
    remove_labellerr_connections(_client(fake), "mine", ledger)
    assert ledger.left_behind == ["Labellerr import connection a"]
    assert "HTTP 500" in ledger.errors[0]
    blind = cleanup.Ledger("this execution")
    remove_labellerr_connections(_client(FakeLabellerr(fail_find=True)), "mine", blind)
    assert blind.left_behind == ["Labellerr connections of mine (could not be checked; it may remain)"]


def test_no_credentials_means_no_client() -> None:
    with pytest.raises(LabellerrMisconfigured):
        client_for(cast(Any, None), SETTINGS)


def test_rollback_deletes_them_only_when_the_state_machine_handed_the_run_to_labellerr(
    iam, s3, secrets, dynamodb
):
    connection = make_connection(register_in_labellerr=True)
    fake = FakeLabellerr()
    fake.add("a", "import", connection["connection_id"])
    run = {
        "connection": connection,
        "registration": {"claimed": True},
        "failure": {"Error": "X", "Cause": "y"},
    }
    roll_back(iam, s3, secrets, dynamodb, run, EXECUTION_ARN, _client(fake), failed_state="Create user")
    assert fake.deleted == []
    outcome = roll_back(
        iam, s3, secrets, dynamodb, run, EXECUTION_ARN, _client(fake),
        failed_state="Register in Labellerr", handed_to_labellerr=True,
    )  # fmt: skip
    assert fake.deleted == ["a"]
    assert outcome["complete"] is True
    assert outcome["rolled_back"] == ["Labellerr import connection a"]


def test_remove_connection_asks_labellerr_unless_the_connection_never_registered(iam, s3, secrets, dynamodb):
    fake = FakeLabellerr(fail_find=True)
    record = {**make_connection(register_in_labellerr=False), "status": "ACTIVE"}
    assert remove_connection(iam, s3, secrets, dynamodb, record, OFFBOARDING_ARN, None, _client(fake))[
        "complete"
    ]
    record["register_in_labellerr"] = True
    result = remove_connection(iam, s3, secrets, dynamodb, record, OFFBOARDING_ARN, None, _client(fake))
    assert result["complete"] is False
    assert result["left_behind"] == [
        "Labellerr connections of satellite-images (could not be checked; it may remain)"
    ]
