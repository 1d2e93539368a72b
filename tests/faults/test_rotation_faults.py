"""Key rotation under every fault: each AWS call (and Labellerr call) a rotation makes, failing for good or
taking effect with its reply lost, must leave the connection working on a key the secret's AWSCURRENT
holds, with every other key on the user named by the record; then one DELETE leaves nothing.

The calls are discovered from a rotation journey, never listed by hand. The consumer's adoption is a
confirmation written before the rotation starts (for the rotation id the test chooses), so the waiting loop
ends at its first check whatever the fault; the flow tests cover adoption by use.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from provisioner_core import registry, rotation
from tests.support.api import http
from tests.support.buckets import new_bucket
from tests.support.clients import Clients
from tests.support.executions import wait_until_ended
from tests.support.residue import world
from tests.support.shards import Shard

ROTATION_FUNCTIONS = (
    "BeginRotationFunction", "IssueRotationKeyFunction", "VerifyAccessFunction", "HandOverRotationKeyFunction",
    "CheckKeyAdoptionFunction", "DeactivateOldKeyFunction", "CheckRotationGraceFunction", "DeleteOldKeyFunction",
    "UndoRotationFunction", "RecordRotationOutcomeFunction",
)  # fmt: skip
# Faults whose only effect is that the registry cannot be written: the record may keep saying ROTATING.
REGISTRY_WRITES = {"dynamodb:UpdateItem", "dynamodb:GetItem"}
PREFIX = "images/"


def _onboard(c: Clients) -> tuple[str, str]:
    bucket = new_bucket(c, customer_cors=False)
    status, accepted = http(
        c.stack, "POST", "/connections",
        {"connection_name": "Rotation faults", "bucket": bucket, "prefix": PREFIX, "access": "import_export",
         "register_in_labellerr": True},
    )  # fmt: skip
    assert status == 202, accepted
    assert wait_until_ended(c.sfn, accepted["execution_arn"]) == "SUCCEEDED"
    return str(accepted["connection_id"]), bucket


def _rotate(c: Clients, connection_id: str) -> str:
    """Start a rotation whose consumer has already confirmed it; its execution's final status."""
    name = f"{connection_id}-rotation-{uuid.uuid4().hex[:6]}"
    dynamodb = c.stack.client("dynamodb")
    dynamodb.update_item(
        TableName=c.stack.tables["ConnectionsTable"],
        Key={"connection_id": {"S": connection_id}},
        UpdateExpression="SET #c = :c",
        ExpressionAttributeNames={"#c": rotation.CONFIRMATION_FIELD},
        ExpressionAttributeValues={
            ":c": registry.to_item({"v": {"rotation_id": name, "at": registry.now()}})["v"]
        },
    )
    arn = c.sfn.start_execution(
        stateMachineArn=c.stack.state_machines["RotateConnectionKeyStateMachine"],
        name=name,
        input=json.dumps({"connection_id": connection_id}),
    )["executionArn"]
    return str(wait_until_ended(c.sfn, arn))


@pytest.fixture(scope="module")
def rotation_calls(clients: Clients) -> list[tuple[str, str]]:
    """(function, "service:Operation") of every call a rotation's functions made in a clean journey."""
    connection_id, _ = _onboard(clients)
    before = len(clients.stack.function_calls)
    assert _rotate(clients, connection_id) == "SUCCEEDED"
    made = {
        (function, f"{service}:{operation}")
        for function, service, operation in clients.stack.function_calls[before:]
        if function in ROTATION_FUNCTIONS
    }
    labellerr = {("HandOverRotationKeyFunction", "labellerr:test")}
    calls = sorted(made | labellerr)
    # Every forward step of the rotation made calls; the undo is reached only through faults.
    assert {f for f, _ in calls} >= set(ROTATION_FUNCTIONS) - {"UndoRotationFunction"}
    return calls


def _fault_spec(function: str, call: str, kind: str) -> str:
    if call.startswith("labellerr:"):
        return call + (":lost" if kind == "lost" else "")
    service, operation = call.split(":")
    return f"{service}:{operation}{':lost' if kind == 'lost' else ''}@{function}"


def _key_works(c: Clients, key: dict[str, str], bucket: str) -> bool:
    s3 = boto3.client(
        "s3", endpoint_url=c.stack.endpoint_url, region_name=key["region"],
        aws_access_key_id=key["access_key_id"], aws_secret_access_key=key["secret_access_key"],
    )  # fmt: skip
    try:
        s3.list_objects_v2(Bucket=bucket, Prefix=PREFIX)
    except ClientError:
        return False
    return True


def _assert_promise(c: Clients, connection_id: str, bucket: str, call: str) -> None:
    record: Mapping[str, Any] = (
        registry.get(c.stack.client("dynamodb"), connection_id, c.stack.tables["ConnectionsTable"]) or {}
    )
    if record.get("status") == rotation.ROTATING:
        # Only a registry that refused every write may leave the record unsettled, and never silently:
        # the rotation's own fields name both keys.
        assert call in REGISTRY_WRITES, record
    else:
        assert record.get("status") == "ACTIVE", record
    current = json.loads(c.secrets.get_secret_value(SecretId=record["secret_arn"])["SecretString"])
    assert _key_works(c, current, bucket), f"the key AWSCURRENT holds does not work: {record.get('rotation')}"
    user = f"labellerr-{connection_id}"
    keys = {k["AccessKeyId"] for k in c.iam.list_access_keys(UserName=user)["AccessKeyMetadata"]}
    named = " ".join(record.get("rotation_left_behind") or [])
    if record.get("status") == rotation.ROTATING:
        held = record.get("rotation") or {}
        named += f" {held.get('old_access_key_id')} {held.get('new_access_key_id')}"
    orphans = {k for k in keys if k != current["access_key_id"] and k not in named}
    assert not orphans, f"keys nobody names: {orphans}; record: {record.get('rotation')}"
    if record.get("status") == "ACTIVE":
        assert record["access_key_id"] == current["access_key_id"], record


@pytest.mark.parametrize("shard", Shard.all(2), ids=str)
@pytest.mark.parametrize("kind", ["permanent", "lost"])
def test_a_fault_in_any_rotation_call_leaves_a_working_key_and_nothing_unnamed(
    clients, rotation_calls, kind, shard
):
    failures, endings = [], []
    for function, call in shard.of(rotation_calls):
        connection_id, bucket = _onboard(clients)
        spec = _fault_spec(function, call, kind)
        clients.stack.set_faults([spec])
        try:
            fired_before = len(clients.stack.injected_faults)
            ended = _rotate(clients, connection_id)
            stage = (
                (
                    registry.get(
                        clients.stack.client("dynamodb"),
                        connection_id,
                        clients.stack.tables["ConnectionsTable"],
                    )
                    or {}
                )
                .get("rotation", {})
                .get("stage")
            )
            endings.append(f"{spec} -> {ended} {stage}")
            fired = len(clients.stack.injected_faults) > fired_before or call.startswith("labellerr:")
        finally:
            clients.stack.set_faults([])
        try:
            assert ended in ("SUCCEEDED", "FAILED"), ended
            assert fired, f"{spec} never fired"
            _assert_promise(clients, connection_id, bucket, call)
            status, answer = http(clients.stack, "DELETE", f"/connections/{connection_id}")
            assert status == 202, answer
            assert wait_until_ended(clients.sfn, answer["execution_arn"]) == "SUCCEEDED"
            assert world(clients, connection_id, bucket, PREFIX) == set()
        except AssertionError as error:
            failures.append(f"{spec}: {error}")
    print(f"{len(endings)} cases:", *endings, sep="\n  ")
    assert not failures, "\n".join(failures)


def test_the_rotation_journey_touches_every_step(rotation_calls):
    functions = {function for function, _ in rotation_calls}
    assert "IssueRotationKeyFunction" in functions
    assert ("IssueRotationKeyFunction", "iam:CreateAccessKey") in rotation_calls
    assert ("HandOverRotationKeyFunction", "secretsmanager:UpdateSecretVersionStage") in rotation_calls
