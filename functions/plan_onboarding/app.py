"""Plan onboarding: what an onboarding of this request would do, found with reads only; nothing is changed.

The state machine's dry-run branch and POST /connections/plan (through the API function) invoke it. Its
role may only read (template.yaml; tests/unit/test_template_security.py proves no write action).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from provisioner_core import aws, plan, registry
from provisioner_core.aws import error_code
from provisioner_core.bucket_facts import UNREADABLE
from provisioner_core.bucket_inspection import (
    account_of,
    bucket_not_allowed,
    bucket_region,
    inspect_bucket,
)
from provisioner_core.config import Settings
from provisioner_core.connection import Connection
from provisioner_core.cors import current_rules
from provisioner_core.dry_run import without_dry_run
from provisioner_core.errors import (
    BucketNotAccessible,
    BucketNotFound,
    BucketPolicyDenies,
    InvalidRequest,
    KmsKeyNotUsable,
    PolicyTooLarge,
    ProvisionerError,
    RequesterPaysBucket,
    UnsupportedEncryption,
)
from provisioner_core.plan import Check, check
from provisioner_core.policy import connection_policy_document, policy_size, serialize_policy
from provisioner_core.request import parse_request, to_connection
from provisioner_core.step import translate_aws_errors

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient

    from provisioner_core.contracts.run_state import RequestEvent
    from provisioner_core.contracts.step_results import PlanRefusal

logger = Logger()
SETTINGS = Settings.from_env()
STEP = "PlanOnboarding"

# Which Validate request finding each bucket-setting error is, in the order the plan lists them.
_SETTING_CHECKS: tuple[tuple[str, type[ProvisionerError]], ...] = (
    ("requester_pays", RequesterPaysBucket),
    ("encryption", UnsupportedEncryption),
    ("encryption", KmsKeyNotUsable),
    ("bucket_policy", BucketPolicyDenies),
)


@dataclass(frozen=True)
class Clients:
    s3: S3Client
    iam: IAMClient
    secrets: SecretsManagerClient
    dynamodb: DynamoDBClient
    # The bucket's region's clients are made once the region is known (as Validate request does).
    kms: KMSClient | None = None


def _exists(read: Any, missing: str) -> bool:
    try:
        read()
    except ClientError as error:
        if error_code(error) == missing:
            return False
        raise
    return True


def identity_checks(clients: Clients, connection: Connection, policy_arn: str) -> list[Check]:
    """Is the id free: in the registry, and for the user, policy and secret the run would create."""
    checks: list[Check] = []
    record = registry.get(clients.dynamodb, connection["connection_id"])
    status = record.get("status") if record else None
    if status is not None and status not in registry.REUSABLE:
        checks.append(
            check(
                "connection_id_free",
                "failed",
                f"connection {connection['connection_id']!r} is already {status}",
                "ConnectionAlreadyExists",
            )
        )
    else:
        checks.append(check("connection_id_free", "passed", f"registry: {status or 'no record'}"))
    for name, exists, what, error in (
        (
            "iam_user_free",
            _exists(lambda: clients.iam.get_user(UserName=connection["iam_user_name"]), "NoSuchEntity"),
            f"IAM user {connection['iam_user_name']!r}",
            "CreateUser.UserAlreadyExists",
        ),
        (
            "policy_free",
            _exists(lambda: clients.iam.get_policy(PolicyArn=policy_arn), "NoSuchEntity"),
            f"IAM policy {policy_arn}",
            "CreatePolicy.PolicyAlreadyExists",
        ),
        (
            "secret_free",
            _exists(
                lambda: clients.secrets.describe_secret(SecretId=connection["secret_name"]),
                "ResourceNotFoundException",
            ),
            f"secret {connection['secret_name']!r}",
            "IssueAccessKey.SecretAlreadyExists",
        ),
    ):
        detail = f"{what} {'already exists' if exists else 'does not exist yet'}"
        checks.append(check(name, "failed" if exists else "passed", detail, error))
    return checks


def boundary(iam: IAMClient, arn: str) -> dict[str, Any]:
    """The permissions boundary every connection user gets, with its document when this role may read it."""
    if not arn:
        return {"arn": None, "status": "none"}
    try:
        version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
        document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
    except ClientError as error:
        if error_code(error) == "NoSuchEntity":
            # A stack resource in AWS; the local stack does not create managed policies.
            return {"arn": arn, "status": "not_found"}
        if error_code(error) in UNREADABLE:
            return {"arn": arn, "status": "unreadable"}
        raise
    return {"arn": arn, "status": "read", "document": document}


def account_headroom(iam: IAMClient, iam_path: str) -> tuple[dict[str, Any], list[Check]]:
    summary = iam.get_account_summary()["SummaryMap"]
    users = sum(len(page["Users"]) for page in iam.get_paginator("list_users").paginate(PathPrefix=iam_path))
    return plan.headroom(summary, users, iam_path)


def bucket_checks(
    clients: Clients, connection: Connection, settings: Settings, account_id: str
) -> tuple[Connection, list[Check], bool]:
    """(the connection with Validate request's findings, their checks, whether the bucket could be read)."""
    try:
        region = bucket_region(clients.s3, connection["bucket"], settings.region)
    except (BucketNotFound, BucketNotAccessible) as error:
        failed = check("bucket_exists", "failed", str(error), f"ValidateRequest.{type(error).__name__}")
        return connection, [failed], False
    connection = Connection(**connection)
    connection["region"] = region
    regional_s3 = clients.s3 if region == settings.region else aws.client("s3", region_name=region)
    kms = clients.kms or aws.client("kms", region_name=region)
    failures: list[ProvisionerError] = []
    inspected = inspect_bucket(
        regional_s3, kms, connection, settings, account_id=account_id, failures=failures
    )
    checks = [check("bucket_exists", "passed", f"bucket {connection['bucket']!r} is in {region}")]
    for name in dict.fromkeys(name for name, _ in _SETTING_CHECKS):
        kinds = tuple(kind for each, kind in _SETTING_CHECKS if each == name)
        found = [failure for failure in failures if isinstance(failure, kinds)]
        if found:
            first = found[0]
            checks.append(check(name, "failed", str(first), f"ValidateRequest.{type(first).__name__}"))
        else:
            checks.append(check(name, "passed", plan.finding(name, inspected.get(name))))
    return inspected, checks, True


def plan_onboarding(
    clients: Clients, raw_request: Any, execution_arn: str, account_id: str, settings: Settings
) -> plan.Plan:
    """The plan; raises InvalidRequest exactly as Validate request would for the same request."""
    request = parse_request(without_dry_run(raw_request), labellerr_available=settings.labellerr_enabled)
    bucket, _ = request.location()
    connection = to_connection(request, settings, execution_arn=execution_arn, region=settings.region)
    names = plan.identity(connection, settings, account_id)
    checks = identity_checks(clients, connection, names["policy"]["arn"])
    field = "bucket" if request.bucket is not None else "s3_uri"
    readable = False
    if problem := bucket_not_allowed(bucket, field, settings):
        checks.insert(
            0, check("bucket_allowed", "failed", problem["message"], "ValidateRequest.InvalidRequest")
        )
    else:
        connection, found, readable = bucket_checks(clients, connection, settings, account_id)
        allowed = check("bucket_allowed", "passed", f"AllowedBuckets={settings.allowed_buckets!r}")
        checks = [allowed, *found, *checks]
    document = connection_policy_document(connection, partition=settings.partition, account_id=account_id)
    try:
        serialize_policy(document)
        checks.append(check("policy_size", "passed", f"{policy_size(document)} characters of IAM's 6,144"))
    except PolicyTooLarge as error:
        checks.append(check("policy_size", "failed", str(error), "CreatePolicy.PolicyTooLarge"))
    # The bucket's own region, as Apply CORS's reads go there too.
    regional_s3 = (
        clients.s3
        if connection["region"] == settings.region
        else aws.client("s3", region_name=connection["region"])
    )
    before = current_rules(regional_s3, bucket) if readable else None
    cors, cors_checks = plan.cors_plan(before, connection, settings)
    room, room_checks = account_headroom(clients.iam, settings.iam_path)
    checks += [*cors_checks, *room_checks]
    return {
        "planned": True,
        "dry_run": True,
        **plan.summary(checks),
        "connection": plan.request_part(connection, derived_id=request.connection_id is None),
        **names,
        "policy": {**names["policy"], "document": document, "characters": policy_size(document)},
        "permissions_boundary": boundary(clients.iam, settings.permissions_boundary_arn),
        "cors": cors,
        "bucket": plan.bucket_findings(connection, readable),
        "labellerr": {
            "register_in_labellerr": connection["register_in_labellerr"],
            "data_type": connection["labellerr_data_type"],
            "connection_types": plan.labellerr_types(connection["access"]),
        },
        "account": room,
        "checks": checks,
        "created": [],
    }


def refusal(invalid: InvalidRequest) -> PlanRefusal:
    """An invalid request, as data: the state machine ends in Fail with these, the API answers 400."""
    cause = {"failed_step": "Plan onboarding", "error": "InvalidRequest", "message": str(invalid)}
    return {
        "planned": False,
        "error": f"{STEP}.InvalidRequest",
        "cause": json.dumps(cause, separators=(",", ":")),
        "errors": invalid.errors,
    }


@logger.inject_lambda_context(log_event=False)
@translate_aws_errors
def lambda_handler(event: RequestEvent, context: LambdaContext) -> plan.Plan | PlanRefusal:
    clients = Clients(
        s3=aws.client("s3"),
        iam=aws.client("iam"),
        secrets=aws.client("secretsmanager"),
        dynamodb=aws.client("dynamodb"),
    )
    execution_arn = str(event.get("execution_arn") or "")
    # The function's own ARN names the stack's account whichever door invoked it.
    account_id = account_of(context.invoked_function_arn)
    try:
        result = plan_onboarding(clients, event.get("request"), execution_arn, account_id, SETTINGS)
    except InvalidRequest as invalid:
        logger.info("Plan refused: invalid request", fields=[e["field"] for e in invalid.errors])
        return refusal(invalid)
    connection_id = result["connection"]["connection_id"]
    logger.info("Plan made", connection_id=connection_id, failed=result["failed_checks"])
    return result
