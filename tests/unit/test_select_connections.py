from __future__ import annotations

import pytest

from functions.select_connections.app import select_connections
from provisioner_core import registry
from provisioner_core.errors import InvalidRequest
from tests.unit.conftest import make_connection
from tests.unit.rotation_setup import make_active


def _named(connection_id: str):
    return make_connection(
        connection_id=connection_id,
        iam_user_name=f"labellerr-{connection_id}",
        policy_name=f"labellerr-{connection_id}",
        secret_name=f"labellerr/connections/{connection_id}",
    )


def test_one_connection_is_checked_alone(dynamodb):
    selection = select_connections(dynamodb, {"connection_id": "satellite-images", "repair": True})
    assert selection == {
        "connection_ids": ["satellite-images"],
        "next_token": None,
        "repair": True,
        "max_concurrency": 1,
    }


def test_a_sweep_takes_every_active_connection_and_no_other(iam, secrets, dynamodb, monkeypatch):
    monkeypatch.setenv("HEALTH_CHECK_CONCURRENCY", "3")
    active = [make_active(iam, secrets, dynamodb, _named(f"c-{i}")) for i in range(3)]
    registry.update(dynamodb, "c-2", {"status": "DEPROVISIONING"}, owner_field="connection_id", owner="c-2")
    selection = select_connections(dynamodb, {"sweep": True})
    assert sorted(selection["connection_ids"]) == ["c-0", "c-1"]
    assert (selection["next_token"], selection["repair"], selection["max_concurrency"]) == (None, False, 3)
    assert len(active) == 3


def test_a_sweep_is_handed_on_a_page_at_a_time(iam, secrets, dynamodb, monkeypatch):
    from functions.select_connections import app

    monkeypatch.setattr(app, "SWEEP_PAGE", 2)
    for i in range(5):
        make_active(iam, secrets, dynamodb, _named(f"p-{i}"))
    seen: list[str] = []
    request: dict[str, object] = {"sweep": True}
    pages = 0
    while True:
        selection = select_connections(dynamodb, request)
        pages += 1
        assert len(selection["connection_ids"]) <= 2
        seen += selection["connection_ids"]
        if not selection["next_token"]:
            break
        request = {"sweep": True, "next_token": selection["next_token"]}
    assert sorted(seen) == [f"p-{i}" for i in range(5)]
    assert pages == 3


@pytest.mark.parametrize(
    ("request_", "field"),
    [({}, "connection_id"), ({"connection_id": ""}, "connection_id"), ([], "(request)"),
     ({"connection_id": "x", "repair": "yes"}, "repair")],
)  # fmt: skip
def test_a_bad_request_names_the_field(dynamodb, request_, field):
    with pytest.raises(InvalidRequest) as refused:
        select_connections(dynamodb, request_)
    assert refused.value.errors[0]["field"] == field
