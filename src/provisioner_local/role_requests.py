"""What IAM authorizes for one AWS call a function makes: the actions, the resources and the context keys.

From each service's "Actions, resources, and condition keys" page of the Service Authorization Reference:
- most operations are authorized as the action of the same name; S3's are not (ListObjectsV2 and HeadBucket
  are s3:ListBucket, HeadObject is s3:GetObject, a VersionId makes them ...Version, Put/DeleteBucketCors are
  s3:PutBucketCORS, ...), Lambda's Invoke is lambda:InvokeFunction;
- a call can need several: CreateUser with Tags also needs iam:TagUser, CreateSecret with Tags
  secretsmanager:TagResource, a transaction each item's action; Secrets Manager calls KMS on the caller's
  behalf under a customer managed key (kms:GenerateDataKey to write a value, kms:Decrypt to read one, with
  kms:ViaService = secretsmanager.<region>.<DNS suffix>);
- the resource is the ARN of what exists: an IAM user's ARN holds its path; Add/RemoveUserFromGroup are
  authorized on the group, not the user. A user that does not exist has no
  path, so IAM can only match `user/<name>` (the IAM User Guide's note on ARNs of entities that do not exist;
  met in practice as AccessDenied instead of NoSuchEntity for path-scoped roles);
- context keys: aws:ResourceTag/* (the resource's tags), aws:RequestTag/* and aws:TagKeys (the request's
  tags), iam:PermissionsBoundary, iam:PolicyARN, s3:ResourceAccount, s3:prefix, events:source and
  events:detail-type, secretsmanager:Name.

An operation not described here raises UnknownOperation: a call the local stack cannot authorize is refused,
never waved through.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from provisioner_local.policy_evaluation import AuthorizationRequest
from provisioner_local.role_calls import Call, UnknownOperation, request_tags, tags_context
from provisioner_local.role_requests_iam import iam_requests
from provisioner_local.template import ACCOUNT_ID, PARTITION

URL_SUFFIX: Final = "amazonaws.com"
DEFAULT_SECRETS_KEY: Final = "alias/aws/secretsmanager"


# -- S3

_S3_BUCKET_ACTIONS: Final = {
    "ListObjectsV2": "s3:ListBucket",
    "ListObjects": "s3:ListBucket",
    "HeadBucket": "s3:ListBucket",
    "ListObjectVersions": "s3:ListBucketVersions",
    "GetBucketCors": "s3:GetBucketCORS",
    "PutBucketCors": "s3:PutBucketCORS",
    "DeleteBucketCors": "s3:PutBucketCORS",
    "GetBucketLocation": "s3:GetBucketLocation",
    "GetBucketEncryption": "s3:GetEncryptionConfiguration",
    "GetBucketRequestPayment": "s3:GetBucketRequestPayment",
    "GetBucketPolicy": "s3:GetBucketPolicy",
    "GetBucketPolicyStatus": "s3:GetBucketPolicyStatus",
    "GetBucketVersioning": "s3:GetBucketVersioning",
    "GetBucketTagging": "s3:GetBucketTagging",
    "GetBucketAcl": "s3:GetBucketAcl",
    "GetBucketOwnershipControls": "s3:GetBucketOwnershipControls",
    "GetPublicAccessBlock": "s3:GetBucketPublicAccessBlock",
}
_S3_OBJECT_ACTIONS: Final = {
    "GetObject": ("s3:GetObject", "s3:GetObjectVersion"),
    "HeadObject": ("s3:GetObject", "s3:GetObjectVersion"),
    "PutObject": ("s3:PutObject", "s3:PutObject"),
    "DeleteObject": ("s3:DeleteObject", "s3:DeleteObjectVersion"),
}


def _s3_requests(call: Call) -> list[AuthorizationRequest]:
    op, params = call.operation, call.params
    bucket = str(params.get("Bucket", ""))
    # Every bucket of the local stack is the account's own; an access point or another account is never used.
    context: dict[str, Any] = {"s3:ResourceAccount": ACCOUNT_ID}
    if op in _S3_BUCKET_ACTIONS:
        if op in ("ListObjectsV2", "ListObjects", "ListObjectVersions"):
            for param, key in (
                ("Prefix", "s3:prefix"),
                ("Delimiter", "s3:delimiter"),
                ("MaxKeys", "s3:max-keys"),
            ):
                if param in params:
                    context[key] = str(params[param])
        return [AuthorizationRequest(_S3_BUCKET_ACTIONS[op], f"arn:{PARTITION}:s3:::{bucket}", context)]
    if op in _S3_OBJECT_ACTIONS:
        plain, versioned = _S3_OBJECT_ACTIONS[op]
        action = versioned if params.get("VersionId") else plain
        return [AuthorizationRequest(action, f"arn:{PARTITION}:s3:::{bucket}/{params['Key']}", context)]
    if op == "DeleteObjects":
        return [
            AuthorizationRequest(
                "s3:DeleteObjectVersion" if item.get("VersionId") else "s3:DeleteObject",
                f"arn:{PARTITION}:s3:::{bucket}/{item['Key']}",
                context,
            )
            for item in (params.get("Delete") or {}).get("Objects") or []
        ]
    raise UnknownOperation(f"s3:{op}")


# -- Secrets Manager (and the KMS calls it makes for the caller)


def _secrets_backend(region: str) -> Any:
    from moto.secretsmanager.models import secretsmanager_backends

    return secretsmanager_backends[ACCOUNT_ID][region]


def _kms_key_arn(key_id: str, region: str) -> str | None:
    """The ARN of a customer managed key (by id, ARN, alias or alias ARN); None for AWS managed or unknown."""
    if not key_id or key_id in (
        DEFAULT_SECRETS_KEY,
        f"arn:{PARTITION}:kms:{region}:{ACCOUNT_ID}:{DEFAULT_SECRETS_KEY}",
    ):
        return None
    from moto.kms.models import kms_backends

    try:
        key = kms_backends[ACCOUNT_ID][region].describe_key(key_id)
    except Exception:
        return None
    if DEFAULT_SECRETS_KEY in (getattr(key, "aliases", None) or ()):
        return None
    return str(key.arn)


def _via_secrets_manager(action: str, key_id: str | None, region: str) -> list[AuthorizationRequest]:
    arn = _kms_key_arn(key_id or "", region)
    if arn is None:
        return []
    context = {"kms:ViaService": f"secretsmanager.{region}.{URL_SUFFIX}", "kms:CallerAccount": ACCOUNT_ID}
    return [AuthorizationRequest(action, arn, context)]


def _secrets_requests(call: Call) -> list[AuthorizationRequest]:
    op, params, region = call.operation, call.params, call.region
    action = f"secretsmanager:{op}"
    if op == "ListSecrets":
        return [AuthorizationRequest(action, "*")]
    if op == "CreateSecret":
        name = str(params["Name"])
        arn = f"arn:{PARTITION}:secretsmanager:{region}:{ACCOUNT_ID}:secret:{name}"
        context = {"secretsmanager:Name": name, **request_tags(params.get("Tags"))}
        requests = [AuthorizationRequest(action, arn, context)]
        if params.get("Tags"):
            requests.append(AuthorizationRequest("secretsmanager:TagResource", arn, context))
        if "SecretString" in params or "SecretBinary" in params:
            requests += _via_secrets_manager("kms:GenerateDataKey", params.get("KmsKeyId"), region)
        return requests
    secret_id = str(params.get("SecretId", ""))
    secret = _secrets_backend(region).secrets.get(secret_id) if secret_id else None
    if secret is None:
        name = secret_id.split(":secret:", 1)[-1]
        arn, context = f"arn:{PARTITION}:secretsmanager:{region}:{ACCOUNT_ID}:secret:{name}", {}
        key_id = None
    else:
        arn = str(secret.arn)
        context = {**tags_context(secret.tags), **tags_context(secret.tags, "secretsmanager:ResourceTag")}
        key_id = getattr(secret, "kms_key_id", None)
    if op == "TagResource":
        context.update(request_tags(params.get("Tags")))
    requests = [AuthorizationRequest(action, arn, context)]
    if op == "GetSecretValue":
        requests += _via_secrets_manager("kms:Decrypt", key_id, region)
    if op in ("PutSecretValue", "UpdateSecret") and ("SecretString" in params or "SecretBinary" in params):
        requests += _via_secrets_manager("kms:GenerateDataKey", params.get("KmsKeyId") or key_id, region)
    return requests


# -- DynamoDB, Step Functions, EventBridge, KMS, Lambda


def _table(name: str, region: str) -> str:
    return name if name.startswith("arn:") else f"arn:{PARTITION}:dynamodb:{region}:{ACCOUNT_ID}:table/{name}"


_TRANSACT_ACTIONS: Final = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
    "Get": "dynamodb:GetItem",
}


def _dynamodb_requests(call: Call) -> list[AuthorizationRequest]:
    op, params, region = call.operation, call.params, call.region
    if op in ("TransactWriteItems", "TransactGetItems"):
        return [
            AuthorizationRequest(_TRANSACT_ACTIONS[kind], _table(str(body["TableName"]), region))
            for item in params.get("TransactItems") or []
            for kind, body in item.items()
        ]
    if op in ("BatchWriteItem", "BatchGetItem"):
        requests = []
        for table, items in (params.get("RequestItems") or {}).items():
            if op == "BatchGetItem":
                requests.append(AuthorizationRequest("dynamodb:BatchGetItem", _table(table, region)))
                continue
            kinds = {"dynamodb:PutItem" if "PutRequest" in item else "dynamodb:DeleteItem" for item in items}
            requests += [AuthorizationRequest(kind, _table(table, region)) for kind in sorted(kinds)]
        return requests
    if "TableName" not in params:
        raise UnknownOperation(f"dynamodb:{op}")
    resource = _table(str(params["TableName"]), region)
    if params.get("IndexName") and op in ("Query", "Scan"):
        resource += f"/index/{params['IndexName']}"
    return [AuthorizationRequest(f"dynamodb:{op}", resource)]


def _states_requests(call: Call) -> list[AuthorizationRequest]:
    op, params = call.operation, call.params
    for param in ("executionArn", "stateMachineArn"):
        if param in params:
            return [AuthorizationRequest(f"states:{op}", str(params[param]))]
    raise UnknownOperation(f"states:{op}")


def _events_requests(call: Call) -> list[AuthorizationRequest]:
    if call.operation != "PutEvents":
        raise UnknownOperation(f"events:{call.operation}")
    requests = []
    for entry in call.params.get("Entries") or []:
        bus = str(entry.get("EventBusName") or "default")
        arn = (
            bus
            if bus.startswith("arn:")
            else f"arn:{PARTITION}:events:{call.region}:{ACCOUNT_ID}:event-bus/{bus}"
        )
        context = {"events:source": entry.get("Source"), "events:detail-type": entry.get("DetailType")}
        requests.append(AuthorizationRequest("events:PutEvents", arn, context))
    return requests


def _kms_requests(call: Call) -> list[AuthorizationRequest]:
    op, params = call.operation, call.params
    if op in ("ListAliases", "ListKeys"):
        return [AuthorizationRequest(f"kms:{op}", "*")]
    key_id = str(params.get("KeyId", ""))
    from moto.kms.models import kms_backends

    try:
        arn = str(kms_backends[ACCOUNT_ID][call.region].describe_key(key_id).arn)
    except Exception:
        arn = (
            key_id
            if key_id.startswith("arn:")
            else f"arn:{PARTITION}:kms:{call.region}:{ACCOUNT_ID}:key/{key_id}"
        )
    return [AuthorizationRequest(f"kms:{op}", arn)]


def _lambda_requests(call: Call) -> list[AuthorizationRequest]:
    if call.operation != "Invoke":
        raise UnknownOperation(f"lambda:{call.operation}")
    name = str(call.params["FunctionName"])
    arn = (
        name
        if name.startswith("arn:")
        else f"arn:{PARTITION}:lambda:{call.region}:{ACCOUNT_ID}:function:{name}"
    )
    return [AuthorizationRequest("lambda:InvokeFunction", arn)]


def _sts_requests(call: Call) -> list[AuthorizationRequest]:
    if call.operation == "GetCallerIdentity":
        # Needs no permission: an explicit Deny cannot stop it either (STS API reference).
        return []
    raise UnknownOperation(f"sts:{call.operation}")


_SERVICES: Final[dict[str, Callable[[Call], list[AuthorizationRequest]]]] = {
    "iam": iam_requests,
    "s3": _s3_requests,
    "secretsmanager": _secrets_requests,
    "dynamodb": _dynamodb_requests,
    "stepfunctions": _states_requests,
    "events": _events_requests,
    "kms": _kms_requests,
    "lambda": _lambda_requests,
    "sts": _sts_requests,
}


def requests_for(call: Call) -> list[AuthorizationRequest]:
    """Every authorization the call needs; all must be allowed. Raises UnknownOperation."""
    describe = _SERVICES.get(call.service)
    if describe is None:
        raise UnknownOperation(f"{call.service}:{call.operation}")
    return describe(call)
