"""What of a connection exists in the world: the residue checks after runs, rollbacks and offboardings."""

from __future__ import annotations

from typing import Any

from provisioner_core.connection import labellerr_marker
from provisioner_local.emulator import LocalStack
from tests.support.clients import Clients


def settled() -> None:
    """What a test sets up, or looks at once a run has ended, as S3 and Secrets Manager show it once they
    have caught up: a customer's CORS rule is not seconds old, and the flow is judged by where it leaves
    the world, not by a read that may still lag behind it."""
    stack = LocalStack.current()
    if stack is not None:
        stack.settle()


def cors_rules(s3: Any, bucket: str) -> list[dict[str, Any]] | None:
    """The bucket's CORS rules once S3 has caught up; None when it has no CORS configuration."""
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
