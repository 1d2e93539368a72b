"""A local stack for key rotation: one check a second, an adoption period of 9 checks and a grace period of 5
(KeyRotation*Days in fractions of a day). Its Wait states are stepped: a rotation stays in a stage until the
test waiting for it lets its time pass (tests.support.rotations.wait_for_stage, executions.wait_for_run), so
a test acts inside a stage without racing the clock or sleeping through the checks.

The helpers the tests call are tests.support's (rotations, clients, executions).

Package-scoped, like the flow suite's stack: moto's state is process-wide, so each test uses its own bucket
and connection id and asserts on them only.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from provisioner_local.emulator import LocalStack
from tests.support.clients import Clients
from tests.support.executions import run_flow

ADOPTION_CHECKS = 9
GRACE_CHECKS = 5
PARAMETERS = {
    "KeyRotationCheckSeconds": "1",
    "KeyRotationAdoptionDays": str(ADOPTION_CHECKS / 86400 - 1e-9),
    "KeyRotationGraceDays": str(GRACE_CHECKS / 86400 - 1e-9),
}


@pytest.fixture(scope="package")
def stack() -> Iterator[LocalStack]:
    with LocalStack(port=0, labellerr=True, stepped_waits=True, parameter_overrides=PARAMETERS) as local:
        yield local


@pytest.fixture
def faults(stack: LocalStack) -> Iterator[Any]:
    yield stack.set_faults
    stack.set_faults([])


@pytest.fixture(scope="package")
def clients(stack: LocalStack) -> Clients:
    return Clients.of(stack)


@pytest.fixture
def connection(stack: LocalStack, clients: Clients) -> dict[str, Any]:
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
