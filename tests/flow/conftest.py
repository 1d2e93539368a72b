"""One embedded local stack for the flow suite; each test uses its own bucket and connection id.

Package-scoped: moto's settings are process-wide, so the stack must be gone before other suites run
(unit tests expect moto's plain behaviour, e.g. state machines that do not execute).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from provisioner_local.emulator import LocalStack

FINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}
SAMPLE_KEYS = ("images/cat-1.png", "images/cat-2.png", "images/nested/dog.png")
CUSTOMER_RULE = {
    "ID": "customer-upload",
    "AllowedOrigins": ["https://app.acme.example"],
    "AllowedMethods": ["PUT", "POST"],
    "AllowedHeaders": ["Content-Type"],
    "MaxAgeSeconds": 600,
}


@dataclass
class Run:
    status: str
    output: dict[str, Any] | None
    error: str | None
    cause: str | None
    history: list[dict[str, Any]] = field(repr=False)

    @property
    def cause_json(self) -> dict[str, Any]:
        return json.loads(self.cause or "{}")


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


def settled() -> None:
    """What a test sets up, or looks at once a run has ended, as S3 and Secrets Manager show it once they
    have caught up: a customer's CORS rule is not seconds old, and the flow is judged by where it leaves
    the world, not by a read that may still lag behind it."""
    stack = LocalStack.current()
    if stack is not None:
        stack.settle()


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
    name = f"acme-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    for key in SAMPLE_KEYS:
        s3.put_object(Bucket=name, Key=key, Body=b"\x89PNG\r\n\x1a\n" + key.encode())
    s3.put_object(Bucket=name, Key="private/payroll.csv", Body=b"name,salary\n")
    return name


def unique_id(stem: str = "conn") -> str:
    return f"{stem}-{uuid.uuid4().hex[:8]}"


def run_flow(
    stack: LocalStack, sfn: Any, request: Any, *, deadline_s: float = 60, settle: bool = True
) -> Run:
    """`settle`: the run starts once what the test set up has settled (False: right after the last run)."""
    if settle:
        stack.settle()
    started = sfn.start_execution(
        stateMachineArn=stack.state_machine_arn, name=unique_id("run"), input=json.dumps(request)
    )
    arn = started["executionArn"]
    deadline = time.monotonic() + deadline_s
    while True:
        described = sfn.describe_execution(executionArn=arn)
        if described["status"] in FINAL:
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"execution {arn} still {described['status']} after {deadline_s} s")
        time.sleep(0.05)
    history = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    output = json.loads(described["output"]) if described.get("output") else None
    return Run(described["status"], output, described.get("error"), described.get("cause"), history)


def key_client(stack: LocalStack, secrets: Any, secret_arn: str, service: Any = "s3") -> Any:
    """A client signed with the key the flow issued: the emulator enforces that user's IAM policies."""
    value = json.loads(secrets.get_secret_value(SecretId=secret_arn)["SecretString"])
    return boto3.client(
        service,
        endpoint_url=stack.endpoint_url,
        region_name=value["region"],
        aws_access_key_id=value["access_key_id"],
        aws_secret_access_key=value["secret_access_key"],
    )


def cors_rules(s3: Any, bucket: str) -> list[dict[str, Any]] | None:
    settled()
    try:
        return list(s3.get_bucket_cors(Bucket=bucket)["CORSRules"])
    except s3.exceptions.ClientError as error:
        if error.response["Error"]["Code"] != "NoSuchCORSConfiguration":
            raise
        return None


def leftovers(iam: Any, secrets: Any, connection_id: str) -> list[str]:
    """Everything of a connection that exists: users, their keys, policies, secrets (a force-deleted one
    still being deleted is gone once Secrets Manager finishes: settled first)."""
    settled()
    found = []
    for user in iam.list_users(PathPrefix="/labellerr/")["Users"]:
        if user["UserName"] == f"labellerr-{connection_id}":
            found.append(f"user {user['UserName']}")
            keys = iam.list_access_keys(UserName=user["UserName"])["AccessKeyMetadata"]
            found += [f"key {k['AccessKeyId']}" for k in keys]
    for policy in iam.list_policies(Scope="Local", PathPrefix="/labellerr/")["Policies"]:
        if policy["PolicyName"] == f"labellerr-{connection_id}":
            found.append(f"policy {policy['Arn']}")
    for secret in secrets.list_secrets(IncludePlannedDeletion=True)["SecretList"]:
        if secret["Name"] == f"labellerr/connections/{connection_id}":
            found.append(f"secret {secret['Name']}")
    return found
