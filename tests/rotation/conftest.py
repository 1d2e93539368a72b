"""A local stack for key rotation, its waits real and short: one check a second, an adoption period of 9
checks and a grace period of 5 (KeyRotation*Days in fractions of a day), so a test can act inside a stage.

Package-scoped, like the flow suite's stack: moto's state is process-wide, so each test uses its own bucket
and connection id and asserts on them only.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from provisioner_core import registry
from provisioner_local.emulator import LocalStack
from tests.flow.conftest import FINAL, Run, run_flow, unique_id

ADOPTION_CHECKS = 9
GRACE_CHECKS = 5
PARAMETERS = {
    "KeyRotationCheckSeconds": "1",
    "KeyRotationAdoptionDays": str(ADOPTION_CHECKS / 86400 - 1e-9),
    "KeyRotationGraceDays": str(GRACE_CHECKS / 86400 - 1e-9),
}


@pytest.fixture(scope="package")
def stack() -> Iterator[LocalStack]:
    with LocalStack(port=0, labellerr=True, fast_waits=False, parameter_overrides=PARAMETERS) as local:
        yield local


@pytest.fixture
def faults(stack: LocalStack) -> Iterator[Any]:
    yield stack.set_faults
    stack.set_faults([])


@pytest.fixture(scope="package")
def clients(stack: LocalStack) -> Any:
    class Clients:
        sfn = stack.client("stepfunctions")
        s3 = stack.client("s3")
        iam = stack.client("iam")
        secrets = stack.client("secretsmanager")
        dynamodb = stack.client("dynamodb")

    return Clients


@pytest.fixture
def connection(stack: LocalStack, clients: Any) -> dict[str, Any]:
    """A fresh ACTIVE import_export connection, registered in Labellerr, as onboarding leaves it."""
    bucket = f"acme-{uuid.uuid4().hex[:12]}"
    clients.s3.create_bucket(Bucket=bucket)
    clients.s3.put_object(Bucket=bucket, Key="images/cat.png", Body=b"\x89PNG cat")
    run = run_flow(
        stack,
        clients.sfn,
        {"connection_name": "Rotated", "s3_uri": f"s3://{bucket}/images", "access": "import_export",
         "register_in_labellerr": True},
    )  # fmt: skip
    assert run.status == "SUCCEEDED", run.cause
    return dict(run.output or {})


def record(stack: LocalStack, clients: Any, connection_id: str) -> dict[str, Any]:
    return registry.get(clients.dynamodb, connection_id, stack.tables["ConnectionsTable"]) or {}


def wait_for_stage(
    stack: LocalStack, clients: Any, connection_id: str, stage: str, deadline_s: float = 30
) -> dict[str, Any]:
    deadline = time.monotonic() + deadline_s
    while True:
        current = record(stack, clients, connection_id)
        if (current.get("rotation") or {}).get("stage") == stage:
            return current
        assert time.monotonic() < deadline, (
            f"{connection_id} never reached {stage}: {current.get('rotation')}"
        )
        time.sleep(0.05)


def start_rotation(stack: LocalStack, clients: Any, connection_id: str) -> str:
    return clients.sfn.start_execution(
        stateMachineArn=stack.state_machines["RotateConnectionKeyStateMachine"],
        name=f"{connection_id}-rotation-{uuid.uuid4().hex[:6]}",
        input=json.dumps({"connection_id": connection_id}),
    )["executionArn"]


def wait_for_run(clients: Any, execution_arn: str, deadline_s: float = 60) -> Run:
    deadline = time.monotonic() + deadline_s
    while (described := clients.sfn.describe_execution(executionArn=execution_arn))["status"] not in FINAL:
        assert time.monotonic() < deadline, f"{execution_arn} did not end"
        time.sleep(0.05)
    history = clients.sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    output = json.loads(described["output"]) if described.get("output") else None
    return Run(described["status"], output, described.get("error"), described.get("cause"), history)


def key_of(clients: Any, secret_arn: str, **version: str) -> dict[str, str]:
    return json.loads(clients.secrets.get_secret_value(SecretId=secret_arn, **version)["SecretString"])


def s3_with(stack: LocalStack, key: dict[str, str]) -> Any:
    """A client signed with one of the connection's keys: the local stack enforces what AWS would."""
    return boto3.client(
        "s3", endpoint_url=stack.endpoint_url, region_name=key["region"],
        aws_access_key_id=key["access_key_id"], aws_secret_access_key=key["secret_access_key"],
    )  # fmt: skip


def keys_on_user(clients: Any, user_name: str) -> dict[str, str]:
    return {
        k["AccessKeyId"]: k["Status"]
        for k in clients.iam.list_access_keys(UserName=user_name)["AccessKeyMetadata"]
    }


__all__ = ["unique_id"]
