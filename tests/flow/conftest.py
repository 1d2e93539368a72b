"""One embedded local stack for the flow suite; each test uses its own bucket and connection id.

Package-scoped: moto's settings are process-wide, so the stack must be gone before other suites run
(unit tests expect moto's plain behaviour, e.g. state machines that do not execute). The helpers the tests
call are tests.support's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from provisioner_local.emulator import LocalStack
from tests.support.buckets import sample_bucket

# As AWS is: a CORS configuration shows seconds after it is written, a deleted secret's name stays taken a
# while. Measured on the emulated clock, so they cost the flow retries, not time.
BUCKET_CONFIG_DELAY = "2"
SECRET_DELETION_DELAY = "5"


@pytest.fixture(scope="package")
def stack() -> Iterator[LocalStack]:
    with LocalStack(
        port=0,
        labellerr=True,
        bucket_config_delay=BUCKET_CONFIG_DELAY,
        secret_deletion_delay=SECRET_DELETION_DELAY,
    ) as local:
        yield local


@pytest.fixture
def faults(stack: LocalStack) -> Iterator[Any]:
    yield stack.set_faults
    stack.set_faults([])


@pytest.fixture(scope="package")
def sfn(stack: LocalStack) -> Any:
    return stack.client("stepfunctions")


@pytest.fixture(scope="package")
def s3(stack: LocalStack) -> Any:
    return stack.client("s3")


@pytest.fixture(scope="package")
def iam(stack: LocalStack) -> Any:
    return stack.client("iam")


@pytest.fixture(scope="package")
def secrets(stack: LocalStack) -> Any:
    return stack.client("secretsmanager")


@pytest.fixture
def bucket(s3: Any) -> str:
    return sample_bucket(s3)
