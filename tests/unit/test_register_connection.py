from __future__ import annotations

import json

import pytest

from functions.register_connection.app import register_connection
from provisioner_core import registry
from tests.unit.conftest import make_connection


def test_claims_the_id_with_the_connection_details(dynamodb, connection):
    assert register_connection(dynamodb, connection)["status"] == "PROVISIONING"
    record = registry.get(dynamodb, connection["connection_id"])
    assert record["status"] == "PROVISIONING"
    assert record["execution_arn"] == connection["execution_arn"]
    assert record["bucket"] == "acme-datasets"
    assert record["iam_user_name"] == "labellerr-satellite-images"


def test_the_same_execution_may_claim_again(dynamodb, connection):
    """A retried Register connection step (same execution) claims again: it is not told the id is taken."""
    first = register_connection(dynamodb, connection)
    again = register_connection(dynamodb, connection)
    assert (first["claimed"], first["status"]) == (True, "PROVISIONING")
    assert (again["claimed"], again["status"]) == (True, "PROVISIONING"), again.get("cause")
    record = registry.get(dynamodb, connection["connection_id"])
    assert (record["status"], record["execution_arn"]) == ("PROVISIONING", connection["execution_arn"])


@pytest.mark.parametrize("status", ["PROVISIONING", "ACTIVE", "DEPROVISIONING", "ROLLBACK_FAILED"])
def test_a_live_connection_cannot_be_claimed_by_another_run(dynamodb, connection, status):
    register_connection(dynamodb, connection)
    if status != "PROVISIONING":
        registry.update(
            dynamodb, connection["connection_id"], {"status": status},
            owner_field="execution_arn", owner=connection["execution_arn"],
        )  # fmt: skip
    other = make_connection(execution_arn=connection["execution_arn"] + "-other")
    taken = register_connection(dynamodb, other)
    assert (taken["claimed"], taken["status"]) == (False, "TAKEN")
    assert status in json.loads(taken["cause"])["message"]
    assert registry.get(dynamodb, connection["connection_id"])["execution_arn"] == connection["execution_arn"]


@pytest.mark.parametrize("status", ["FAILED", "DELETED"])
def test_a_failed_or_deleted_id_can_be_reused(dynamodb, connection, status):
    register_connection(dynamodb, connection)
    registry.update(
        dynamodb, connection["connection_id"], {"status": status},
        owner_field="execution_arn", owner=connection["execution_arn"],
    )  # fmt: skip
    other = make_connection(execution_arn=connection["execution_arn"] + "-retry")
    register_connection(dynamodb, other)
    assert registry.get(dynamodb, connection["connection_id"])["execution_arn"] == other["execution_arn"]
