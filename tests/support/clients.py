"""Clients of the local stack: the suites' own, and clients signed with a key the flow issued."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import boto3

from provisioner_local.emulator import LocalStack


@dataclass
class Clients:
    """The stack and the clients a suite reads the world with (never faulted: only the functions' are)."""

    stack: LocalStack
    iam: Any
    s3: Any
    secrets: Any
    sfn: Any
    dynamodb: Any

    @classmethod
    def of(cls, stack: LocalStack) -> Clients:
        return cls(
            stack,
            stack.client("iam"),
            stack.client("s3"),
            stack.client("secretsmanager"),
            stack.client("stepfunctions"),
            stack.client("dynamodb"),
        )


def key_of(secrets: Any, secret_arn: str, **version: str) -> dict[str, str]:
    """The connection's secret value (`version`: e.g. VersionStage="AWSPREVIOUS")."""
    value: dict[str, str] = json.loads(
        secrets.get_secret_value(SecretId=secret_arn, **version)["SecretString"]
    )
    return value


def signed_with(stack: LocalStack, key: dict[str, str], service: str = "s3") -> Any:
    """A client signed with one of a connection's keys: the local stack enforces what AWS would."""
    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=stack.endpoint_url,
        region_name=key["region"],
        aws_access_key_id=key["access_key_id"],
        aws_secret_access_key=key["secret_access_key"],
    )


def key_client(stack: LocalStack, secrets: Any, secret_arn: str, service: str = "s3") -> Any:
    """A client signed with the key the flow issued: the emulator enforces that user's IAM policies."""
    return signed_with(stack, key_of(secrets, secret_arn), service)
