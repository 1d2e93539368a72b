"""One local stack for the fault matrix, and what a connection has in the world.

The matrix runs every case against the same stack (fresh bucket and connection id per case), so it is
fast enough to run whole in CI; faults are reset between cases.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from provisioner_core.connection import labellerr_marker
from provisioner_local.emulator import LocalStack
from tests.flow.test_front_doors import http

FINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}
CUSTOMER_RULE = {
    "ID": "customer-upload",
    "AllowedOrigins": ["https://app.acme.example"],
    "AllowedMethods": ["PUT"],
    "AllowedHeaders": ["Content-Type"],
}
SAMPLE_KEY = "images/cat.png"


@pytest.fixture(scope="package")
def stack() -> Iterator[LocalStack]:
    # A claim whose run never started is stale after this long (120 s in AWS), so the matrix can test
    # that one DELETE finishes such a case without waiting two minutes.
    # With the Labellerr stand-in: every journey hands its key to Labellerr, and world() looks there too.
    # A rotation checks once a (shortened) day: 7 adoption checks and 3 grace checks, so each case is short.
    with LocalStack(
        port=0,
        environment={"STALE_CLAIM_SECONDS": "1"},
        labellerr=True,
        parameter_overrides={"KeyRotationCheckSeconds": "86400"},
        # As AWS is: a CORS configuration shows seconds after it is written, a deleted secret's name stays
        # taken a while (on the emulated clock: retries, not time).
        bucket_config_delay="2",
        secret_deletion_delay="5",
    ) as local:
        yield local


@dataclass
class Clients:
    stack: LocalStack
    iam: Any
    s3: Any
    secrets: Any
    sfn: Any


@pytest.fixture(scope="package")
def clients(stack: LocalStack) -> Clients:
    return Clients(
        stack,
        stack.client("iam"),
        stack.client("s3"),
        stack.client("secretsmanager"),
        stack.client("stepfunctions"),
    )


def TLS_ONLY_POLICY(bucket: str) -> dict[str, Any]:  # noqa: N802 - a policy document template
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
         "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}  # fmt: skip


def new_bucket(c: Clients, *, customer_cors: bool) -> str:
    """A bucket as customers have them: SSE-KMS under a customer key and a bucket policy (a Deny that spares
    the connection), so every read of Validate request's inspection answers, and a lost reply can be lost."""
    name = f"acme-{uuid.uuid4().hex[:12]}"
    c.s3.create_bucket(Bucket=name)
    key_arn = c.stack.client("kms").create_key(Description=f"fault matrix {name}")["KeyMetadata"]["Arn"]
    c.s3.put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn}}
            ]
        },
    )
    c.s3.put_bucket_policy(Bucket=name, Policy=json.dumps(TLS_ONLY_POLICY(name)))
    c.s3.put_object(Bucket=name, Key=SAMPLE_KEY, Body=b"\x89PNG\r\n\x1a\n")
    if customer_cors:
        c.s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": [CUSTOMER_RULE]})
        # The customer's rule is not seconds old when they onboard.
        c.stack.settle()
    return name


def wait_until_ended(c: Clients, execution_arn: str | None, deadline_s: float = 120) -> str | None:
    if not execution_arn:
        return None
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            status = c.sfn.describe_execution(executionArn=execution_arn)["status"]
        except c.sfn.exceptions.ExecutionDoesNotExist:
            return None
        if status in FINAL:
            return str(status)
        if time.monotonic() > deadline:
            raise AssertionError(f"{execution_arn} still {status} after {deadline_s} s")
        time.sleep(0.02)


def record_of(c: Clients, connection_id: str) -> dict[str, Any] | None:
    status, body = http(c.stack, "GET", f"/connections/{connection_id}")
    return body if status == 200 else None


def world(c: Clients, connection_id: str, bucket: str, prefix: str) -> set[str]:
    """Everything of the connection that exists, labelled as cleanups label what they leave, once S3 and
    Secrets Manager have caught up (a force-deleted secret is gone, a removed CORS rule no longer shows)."""
    c.stack.settle()
    found: set[str] = set()
    user = f"labellerr-{connection_id}"
    try:
        c.iam.get_user(UserName=user)
    except c.iam.exceptions.NoSuchEntityException:
        pass
    else:
        found.add(f"IAM user {user}")
        if c.iam.list_access_keys(UserName=user)["AccessKeyMetadata"]:
            found.add(f"access keys of {user}")
    for policy in c.iam.list_policies(Scope="Local", PathPrefix="/labellerr/")["Policies"]:
        if policy["PolicyName"] == user:
            found.add(f"policy {policy['Arn']}")
    for secret in c.secrets.list_secrets(IncludePlannedDeletion=True)["SecretList"]:
        if secret["Name"] == f"labellerr/connections/{connection_id}":
            found.add(f"secret {secret['Name']}")
    try:
        rules = c.s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    except c.s3.exceptions.ClientError:
        rules = []
    if any(r.get("ID") == f"labellerr-{connection_id}" for r in rules):
        found.add(f"CORS rule labellerr-{connection_id} on bucket {bucket}")
    probe = f"{prefix}.labellerr-connection-check-{connection_id}"
    if c.s3.list_objects_v2(Bucket=bucket, Prefix=probe).get("KeyCount"):
        found.add(f"probe object s3://{bucket}/{probe}")
    # Read from the stand-in itself, not over its API, so no Labellerr fault hides anything.
    labellerr = c.stack.labellerr
    for made in labellerr.connections() if labellerr is not None else []:
        if labellerr_marker(connection_id) in made.description:
            found.add(f"Labellerr {made.connection_type} connection {made.connection_id}")
    return found
