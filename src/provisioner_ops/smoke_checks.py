"""What the smoke check looks at from outside the stack, with the caller's own clients.

Each check returns an Outcome; an AWS error becomes a failed outcome with its code, never a traceback. The
issued secret access key is read into one function's memory to sign a listing, and never returned,
printed or logged: only the secret's ARN appears in what these return.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from provisioner_ops import smoke_http

# What a fresh key answers while IAM propagates it (seconds, on AWS).
NOT_YET_PROPAGATED: Final = frozenset({"InvalidAccessKeyId", "AccessDenied", "SignatureDoesNotMatch"})
KEY_PROPAGATION_SECONDS: Final = 60.0
GONE_CODES: Final = frozenset({"NoSuchEntity", "ResourceNotFoundException"})


@dataclass(frozen=True)
class Outcome:
    passed: bool | None  # None: could not be observed with these credentials, which fails nothing
    detail: str


def passed(detail: str) -> Outcome:
    return Outcome(True, detail)


def failed(detail: str) -> Outcome:
    return Outcome(False, detail)


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", "Unknown"))


def _name(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def user_and_policy(iam: Any, user_arn: str, policy_arn: str) -> Outcome:
    user = _name(user_arn)
    iam.get_user(UserName=user)
    attached = iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]
    if policy_arn not in {policy["PolicyArn"] for policy in attached}:
        return failed(f"user {user} exists, but {policy_arn} is not attached to it")
    return passed(f"user {user_arn} with policy {policy_arn} attached")


def secret_exists(secrets: Any, secret_arn: str) -> Outcome:
    described = secrets.describe_secret(SecretId=secret_arn)
    if described.get("DeletedDate"):
        return failed(f"{secret_arn} is scheduled for deletion")
    return passed(f"{secret_arn} exists")


def key_lists_prefix(
    secrets: Any,
    secret_arn: str,
    *,
    bucket: str,
    prefix: str,
    endpoint_url: str | None,
    wait_s: float = KEY_PROPAGATION_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    """ListObjectsV2 on the prefix, signed with the issued key, retried while the key propagates."""
    value = json.loads(secrets.get_secret_value(SecretId=secret_arn)["SecretString"])
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=value.get("region"),
        aws_access_key_id=value["access_key_id"],
        aws_secret_access_key=value["secret_access_key"],
    )
    del value  # the key lives on in the client alone, for this function's calls
    deadline, delay, attempts = time.monotonic() + wait_s, 1.0, 0
    while True:
        attempts += 1
        try:
            listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=10)
        except ClientError as error:
            code = error_code(error)
            if code not in NOT_YET_PROPAGATED or time.monotonic() + delay > deadline:
                return failed(f"the issued key cannot list {bucket}/{prefix}: {code} (attempt {attempts})")
            sleep(delay)
            delay = min(delay * 2, 10.0)
            continue
        count = int(listed.get("KeyCount", 0))
        return passed(f"the issued key listed {bucket}/{prefix} ({count} object(s), attempt {attempts})")


def cors_rule(s3: Any, bucket: str, rule_id: str) -> Outcome:
    ids = rule_ids(s3, bucket)
    if rule_id in ids:
        return passed(f"rule {rule_id} is in {bucket}'s CORS configuration")
    return failed(
        f"rule {rule_id} is not in {bucket}'s CORS configuration (rules: {', '.join(ids) or 'none'})"
    )


def rule_ids(s3: Any, bucket: str) -> list[str]:
    try:
        rules = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    except ClientError as error:
        if error_code(error) == "NoSuchCORSConfiguration":
            return []
        raise
    return [str(rule.get("ID", "")) for rule in rules]


def cors_preflight(url: str, origin: str) -> Outcome:
    try:
        answer = smoke_http.cors_preflight(url, origin)
    except smoke_http.HttpFailure as error:
        return failed(str(error))
    allowed = answer.headers.get("access-control-allow-origin")
    methods = answer.headers.get("access-control-allow-methods", "")
    if answer.status == 200 and allowed in (origin, "*") and "GET" in methods:
        return passed(f"OPTIONS {url} from {origin}: 200, allows GET")
    return failed(f"OPTIONS {url} from {origin}: {answer.status}, Access-Control-Allow-Origin {allowed!r}")


def lifecycle_event(sfn: Any, execution_arn: str) -> Outcome:
    """Whether the run that ended published its event, as Record outcome's result says (the bus itself is
    not readable from outside without a rule and a target, which the smoke check does not create)."""
    try:
        described = sfn.describe_execution(executionArn=execution_arn)
        output = json.loads(described.get("output") or "{}")
        # Onboarding's output is Record outcome's result; offboarding's drops it, so its history says.
        published = output.get("event_published")
        if published is None:
            published = _recorded_in_history(sfn, execution_arn).get("event_published")
    except ClientError as error:
        return Outcome(None, f"not observable: {error.operation_name} {error_code(error)}")
    if published is True:
        return passed(f"{described['status']} run published its lifecycle event")
    return failed(f"{described['status']} run's Record outcome says event_published={published}")


def _recorded_in_history(sfn: Any, execution_arn: str) -> dict[str, Any]:
    history = sfn.get_execution_history(executionArn=execution_arn, reverseOrder=True, maxResults=100)
    for event in history["events"]:
        exited = event.get("stateExitedEventDetails") or {}
        if str(exited.get("name", "")).startswith("Record outcome"):
            return dict(json.loads(exited.get("output") or "{}").get("recorded") or {})
    return {}


def labellerr_handoff(result: dict[str, Any]) -> Outcome:
    """Register in Labellerr's result as the record keeps it (Labellerr itself needs workspace keys)."""
    ids = result.get("labellerr_connection_ids") or []
    if result.get("registered") and ids:
        return passed(f"Labellerr connection(s) {', '.join(map(str, ids))} created after Labellerr's test")
    return failed(f"not registered in Labellerr: {result.get('reason') or result}")


def _gone(call: Callable[[], Any], what: str) -> Outcome:
    try:
        call()
    except ClientError as error:
        if error_code(error) in GONE_CODES:
            return passed(f"{what} is gone")
        raise
    return failed(f"{what} still exists")


def user_gone(iam: Any, user_arn: str) -> Outcome:
    return _gone(lambda: iam.get_user(UserName=_name(user_arn)), f"user {_name(user_arn)}")


def policy_gone(iam: Any, policy_arn: str) -> Outcome:
    return _gone(lambda: iam.get_policy(PolicyArn=policy_arn), f"policy {policy_arn}")


def secret_gone(secrets: Any, secret_arn: str) -> Outcome:
    try:
        described = secrets.describe_secret(SecretId=secret_arn)
    except ClientError as error:
        if error_code(error) in GONE_CODES:
            return passed(f"secret {secret_arn} is gone")
        raise
    if described.get("DeletedDate"):
        return passed(f"secret {secret_arn} is scheduled for deletion")
    return failed(f"secret {secret_arn} still exists")


def cors_rule_gone(s3: Any, bucket: str, rule_id: str) -> Outcome:
    if rule_id in rule_ids(s3, bucket):
        return failed(f"rule {rule_id} is still in {bucket}'s CORS configuration")
    return passed(f"rule {rule_id} is gone from {bucket}'s CORS configuration")


AWS_ERRORS: Final = (ClientError, BotoCoreError)
