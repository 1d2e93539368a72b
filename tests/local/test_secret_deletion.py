"""A force-deleted secret's name stays taken while Secrets Manager finishes the deletion, as in AWS."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from provisioner_local.emulator import LocalStack, LocalStackError
from provisioner_local.secret_deletion import SCHEDULED_FOR_DELETION

FIXTURE_TEMPLATE = Path(__file__).parent / "fixtures" / "template.yaml"


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(template_path=FIXTURE_TEMPLATE, secret_deletion_delay="5") as running:
        yield running


@pytest.fixture
def secrets(stack: LocalStack) -> Any:
    return stack.client("secretsmanager")


def _error(call: Any, **kwargs: Any) -> dict[str, str]:
    with pytest.raises(Exception) as raised:  # noqa: PT011 - botocore's generated error classes
        call(**kwargs)
    return dict(raised.value.response["Error"])  # type: ignore[attr-defined]


def test_the_name_stays_taken_until_the_forced_deletion_finishes(secrets):
    name = f"labellerr/connections/{uuid.uuid4().hex[:8]}"
    arn = secrets.create_secret(Name=name, SecretString="old")["ARN"]
    secrets.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)

    refused = _error(secrets.create_secret, Name=name, SecretString="new")
    assert refused == {"Code": "InvalidRequestException", "Message": SCHEDULED_FOR_DELETION}
    assert "DeletedDate" in secrets.describe_secret(SecretId=name)
    assert _error(secrets.get_secret_value, SecretId=name)["Code"] == "InvalidRequestException"
    # Deleting it again while it is being deleted is no error (a retried rollback does).
    secrets.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)

    LocalStack.clock.skip(5)
    assert _error(secrets.describe_secret, SecretId=name)["Code"] == "ResourceNotFoundException"
    created = secrets.create_secret(Name=name, SecretString="new")
    assert created["ARN"] != arn
    assert secrets.get_secret_value(SecretId=name)["SecretString"] == "new"


def test_a_secret_in_its_recovery_window_refuses_its_name_as_aws_does_not_as_a_duplicate(secrets):
    name = f"labellerr/connections/{uuid.uuid4().hex[:8]}"
    secrets.create_secret(Name=name, SecretString="old")
    secrets.delete_secret(SecretId=name, RecoveryWindowInDays=7)
    LocalStack.clock.skip(3600)
    refused = _error(secrets.create_secret, Name=name, SecretString="new")
    assert refused == {"Code": "InvalidRequestException", "Message": SCHEDULED_FOR_DELETION}


def test_settle_finishes_every_pending_deletion(stack, secrets):
    name = f"labellerr/connections/{uuid.uuid4().hex[:8]}"
    secrets.create_secret(Name=name, SecretString="old")
    secrets.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
    stack.settle()
    secrets.create_secret(Name=name, SecretString="new")


def test_off_unless_asked_and_a_bad_spec_fails_before_anything_starts():
    assert LocalStack(template_path=FIXTURE_TEMPLATE).secret_deletion is None
    with pytest.raises(LocalStackError, match="--secret-deletion-delay"):
        LocalStack(template_path=FIXTURE_TEMPLATE, secret_deletion_delay="-1")
