"""What a customer's bucket is like, found before anything is created: encryption, Requester Pays, policy.

Every read here is allowed to the provisioner's role only on AllowedBuckets (template.yaml). An optional read
refused with AccessDenied means "unreadable", never a failure: the connection may still work, and Verify
access then says clearly why it does not. Settings that would make the issued key useless fail the run here,
with a message that says what to change:

- Requester Pays: Labellerr does not send `x-amz-request-payer`, so every request would be a 403;
- SSE-C objects under the prefix: nobody can read them without the customer's own key;
- a customer-managed KMS key whose key policy, where readable, lets no IAM policy grant its use;
- an explicit Deny in the bucket policy, where readable, that certainly stops the issued user.

The KMS key ARNs found (bucket default and objects' own keys; the AWS-managed `aws/s3` key needs nothing) go
into the connection, and the connection policy grants exactly those keys, only through S3.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import json
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from botocore.exceptions import ClientError

from provisioner_core.aws import error_code
from provisioner_core.errors import (
    BucketPolicyDenies,
    KmsKeyNotUsable,
    RequesterPaysBucket,
    UnsupportedEncryption,
)

# Objects looked at with HeadObject: enough to see a prefix written under another key, cheap enough to keep
# Validate request fast (each is one round trip).
HEAD_OBJECTS = 3
LISTED_KEYS = 20
AWS_MANAGED_S3_ALIAS = "alias/aws/s3"
UNREADABLE = frozenset({"AccessDenied", "AccessDeniedException", "AllAccessDisabled"})

Tri = Literal["yes", "no", "unknown"]
Grant = Literal["yes", "conditional", "no"]


def _status(error: ClientError) -> int:
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


# -- encryption


def default_encryption(s3: Any, bucket: str) -> dict[str, Any]:
    """The bucket's default: {"type": "AES256" | "aws:kms" | "aws:kms:dsse" | "unreadable", "kms_key_id"?}."""
    try:
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    except ClientError as error:
        code = error_code(error)
        if code == "ServerSideEncryptionConfigurationNotFoundError":
            # Every bucket encrypts with SSE-S3 unless told otherwise.
            return {"type": "AES256"}
        if code in UNREADABLE:
            return {"type": "unreadable"}
        raise
    default = (rules[0] if rules else {}).get("ApplyServerSideEncryptionByDefault") or {}
    found: dict[str, Any] = {"type": str(default.get("SSEAlgorithm") or "AES256")}
    if found["type"].startswith("aws:kms"):
        found["kms_key_id"] = str(default.get("KMSMasterKeyID") or AWS_MANAGED_S3_ALIAS)
        found["bucket_key_enabled"] = bool((rules[0] if rules else {}).get("BucketKeyEnabled", False))
    return found


def sample_objects(s3: Any, bucket: str, prefix: str) -> list[str]:
    """A few non-empty keys under the prefix (the probe's own name excluded)."""
    try:
        listing = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=LISTED_KEYS)
    except ClientError as error:
        if error_code(error) in UNREADABLE:
            return []
        raise
    keys = [o["Key"] for o in listing.get("Contents", []) if o.get("Size", 0) > 0]
    return [k for k in keys if ".labellerr-connection-check-" not in k][:HEAD_OBJECTS]


def object_encryption(s3: Any, bucket: str, keys: Iterable[str]) -> list[dict[str, str]]:
    """Each sampled object's own encryption; SSE-C fails the run (HeadObject without the customer's key
    is a 400 for such an object, and so would every read of Labellerr's be)."""
    found: list[dict[str, str]] = []
    for key in keys:
        try:
            head = s3.head_object(Bucket=bucket, Key=key)
        except ClientError as error:
            status = _status(error)
            if status == 400:
                raise UnsupportedEncryption(
                    f"object '{key}' in bucket {bucket!r} is encrypted with a customer-provided key (SSE-C): "
                    "nobody can read it without that key, and Labellerr cannot send it. Re-encrypt the "
                    "objects under the prefix with SSE-S3 or SSE-KMS (`aws s3 cp` with --sse-c-copy-source "
                    "and --sse, for example)"
                ) from None
            if status in (403, 404):
                continue
            raise
        if head.get("SSECustomerAlgorithm"):
            raise UnsupportedEncryption(
                f"object '{key}' in bucket {bucket!r} is encrypted with a customer-provided key (SSE-C); "
                "re-encrypt it with SSE-S3 or SSE-KMS"
            )
        entry = {"key": key, "type": str(head.get("ServerSideEncryption") or "AES256")}
        if head.get("SSEKMSKeyId"):
            entry["kms_key_id"] = str(head["SSEKMSKeyId"])
        found.append(entry)
    return found


def describe_key(kms: Any, key_id: str) -> dict[str, Any]:
    try:
        return dict(kms.describe_key(KeyId=key_id)["KeyMetadata"])
    except ClientError as error:
        code = error_code(error)
        if code == "NotFoundException":
            raise KmsKeyNotUsable(
                f"KMS key {key_id!r} used by the bucket does not exist in its region: S3 cannot decrypt "
                "with it either; fix the bucket's default encryption"
            ) from None
        if code in UNREADABLE:
            if key_id.startswith("arn:"):
                return {"Arn": key_id, "KeyManager": "UNKNOWN", "KeyState": "UNKNOWN"}
            raise KmsKeyNotUsable(
                f"KMS key {key_id!r} could not be resolved to a key ARN (kms:DescribeKey was refused): "
                "give the bucket's default encryption the key's ARN, or let the provisioner describe the key"
            ) from None
        raise


def is_aws_managed(key_id: str, metadata: Mapping[str, Any]) -> bool:
    return metadata.get("KeyManager") == "AWS" or key_id.endswith(AWS_MANAGED_S3_ALIAS)


def kms_actions(access: str) -> list[str]:
    return ["kms:Decrypt", "kms:GenerateDataKey"] if access == "import_export" else ["kms:Decrypt"]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _action_matches(patterns: Iterable[str], action: str) -> bool:
    return any(fnmatch.fnmatchcase(action.lower(), str(p).lower()) for p in patterns)


def key_policy_grant(policy: Mapping[str, Any], account_id: str, action: str) -> Grant:
    """Whether the key policy lets the connection's user use the key for `action`: "yes" when an Allow for the
    account's root (or the account id) covers it without conditions, so the user's IAM policy decides (AWS's
    default "Enable IAM User Permissions"); "conditional" when such an Allow, or one for every principal
    (`*`), has conditions this check does not evaluate (kms:CallerAccount, kms:ViaService, ...): not a reason
    to fail; "no" otherwise."""
    root = {
        f"arn:aws:iam::{account_id}:root",
        f"arn:aws-cn:iam::{account_id}:root",
        f"arn:aws-us-gov:iam::{account_id}:root",
        account_id,
    }
    found: Grant = "no"
    for statement in _as_list(policy.get("Statement")):
        if statement.get("Effect") != "Allow" or not _action_matches(
            _as_list(statement.get("Action")), action
        ):
            continue
        principal = statement.get("Principal")
        named = _as_list(principal.get("AWS")) if isinstance(principal, dict) else _as_list(principal)
        principals = {str(p) for p in named}
        if root & principals and not statement.get("Condition"):
            return "yes"
        if root & principals or "*" in principals:
            found = "conditional"
    return found


def key_policy_denies(policy: Mapping[str, Any], action: str) -> bool:
    """An unconditional Deny of `action` to everybody: no IAM policy can overcome it."""
    for statement in _as_list(policy.get("Statement")):
        if statement.get("Effect") != "Deny" or statement.get("Condition"):
            continue
        principal = statement.get("Principal")
        if principal not in ("*", {"AWS": "*"}):
            continue
        if _action_matches(_as_list(statement.get("Action")), action):
            return True
    return False


def check_key_policy(kms: Any, key_arn: str, account_id: str, access: str) -> str:
    """`ok`, `conditional` (allowed under conditions not checked here) or `unreadable`; raises KmsKeyNotUsable
    saying what the key policy needs."""
    try:
        document = json.loads(kms.get_key_policy(KeyId=key_arn, PolicyName="default")["Policy"])
    except ClientError as error:
        if error_code(error) in UNREADABLE:
            return "unreadable"
        raise
    needed = kms_actions(access)
    denied = [a for a in needed if key_policy_denies(document, a)]
    grants = {a: key_policy_grant(document, account_id, a) for a in needed}
    missing = [a for a, grant in grants.items() if grant == "no"]
    if denied or missing:
        raise KmsKeyNotUsable(
            f"the key policy of KMS key {key_arn} does not let IAM policies grant "
            f"{' and '.join(denied or missing)}, so the connection's key could never decrypt the bucket's "
            f"objects. The key policy needs a statement allowing principal "
            f'{{"AWS": "arn:aws:iam::{account_id}:root"}} the action(s) {", ".join(needed)} without '
            'conditions (AWS\'s default "Enable IAM User Permissions" statement does this)'
            + (f", and no Deny of {', '.join(denied)} to every principal" if denied else "")
            + "; the provisioner never edits a key policy"
        )
    return "ok" if all(grant == "yes" for grant in grants.values()) else "conditional"


def inspect_encryption(
    s3: Any, kms: Any, bucket: str, samples: Iterable[str], access: str, account_id: str
) -> dict[str, Any]:
    """The `encryption` of the connection: what the bucket uses and the customer keys the policy grants.
    `samples`: keys under the prefix (sample_objects) whose own encryption is looked at."""
    default = default_encryption(s3, bucket)
    objects = object_encryption(s3, bucket, samples)
    key_ids: list[str] = []
    if default.get("kms_key_id"):
        key_ids.append(default["kms_key_id"])
    key_ids += [o["kms_key_id"] for o in objects if o.get("kms_key_id")]
    customer_keys: list[str] = []
    key_policies: dict[str, str] = {}
    arns: dict[str, str] = {}
    for key_id in dict.fromkeys(key_ids):
        metadata = describe_key(kms, key_id)
        arns[key_id] = str(metadata["Arn"])
        if is_aws_managed(key_id, metadata):
            continue
        if metadata.get("KeyState") not in ("Enabled", "UNKNOWN"):
            raise KmsKeyNotUsable(
                f"KMS key {metadata['Arn']} used by bucket {bucket!r} is {metadata.get('KeyState')}: "
                "S3 cannot decrypt with it; enable the key or re-encrypt the objects"
            )
        arn = str(metadata["Arn"])
        if arn not in customer_keys:
            customer_keys.append(arn)
            key_policies[arn] = check_key_policy(kms, arn, account_id, access)
    found: dict[str, Any] = {"type": default["type"]}
    if default.get("kms_key_id"):
        found["kms_key_arn"] = arns.get(default["kms_key_id"], default["kms_key_id"])
        found["key_manager"] = "AWS" if found["kms_key_arn"] not in customer_keys else "CUSTOMER"
        found["bucket_key_enabled"] = default["bucket_key_enabled"]
    other = sorted(
        {arns[o["kms_key_id"]] for o in objects if o.get("kms_key_id")} - {found.get("kms_key_arn")}
    )
    if other:
        found["object_kms_key_arns"] = other
    found["objects_checked"] = len(objects)
    found["customer_kms_key_arns"] = customer_keys
    if key_policies:
        found["key_policies"] = key_policies
    return found


# -- Requester Pays


def requester_pays(s3: Any, bucket: str) -> Tri:
    try:
        payer = s3.get_bucket_request_payment(Bucket=bucket).get("Payer", "BucketOwner")
    except ClientError as error:
        if error_code(error) in UNREADABLE:
            return "unknown"
        raise
    if payer == "Requester":
        raise RequesterPaysBucket(
            f"bucket {bucket!r} has Requester Pays enabled (RequestPaymentConfiguration Payer=Requester): "
            "Labellerr does not send the x-amz-request-payer header, so every request it makes would be "
            "refused. Set the bucket's Payer to BucketOwner (`aws s3api put-bucket-request-payment --bucket "
            f"{bucket} --request-payment-configuration Payer=BucketOwner`) and try again"
        )
    return "no"


# -- bucket policy


def _condition_value(context: Mapping[str, Any], key: str) -> Any:
    """The value of a condition key for the issued user's requests; KeyError when it cannot be known."""
    lowered = {k.lower(): v for k, v in context.items()}
    if key.lower() in lowered:
        return lowered[key.lower()]
    raise KeyError(key)


def _matches_one(operator: str, actual: str, expected: str) -> bool:
    base = operator.removesuffix("IfExists")
    if base in ("StringEquals", "ArnEquals"):
        return actual == expected
    if base == "StringEqualsIgnoreCase":
        return actual.lower() == expected.lower()
    if base in ("StringLike", "ArnLike"):
        return fnmatch.fnmatchcase(actual, expected)
    if base == "Bool":
        return actual.lower() == expected.lower()
    if base == "IpAddress":
        return ipaddress.ip_address(actual) in ipaddress.ip_network(expected, strict=False)
    raise KeyError(operator)


_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
    "NotIpAddress": "IpAddress",
}


def condition_holds(condition: Mapping[str, Any], context: Mapping[str, Any]) -> Tri:
    """Every operator and key of a Condition block against the known context: yes, no, or unknown."""
    result: Tri = "yes"
    for operator, entries in condition.items():
        for key, values in (entries or {}).items():
            expected = [str(v) for v in _as_list(values)]
            try:
                actual = _condition_value(context, key)
            except KeyError:
                result = "unknown"
                continue
            if operator.startswith("ForAnyValue:") or operator.startswith("ForAllValues:"):
                result = "unknown"
                continue
            if operator == "Null":
                holds = (actual is None) == (expected[0].lower() == "true")
            elif actual is None:
                # An absent key: a negated operator (and ...IfExists) holds, any other does not.
                holds = operator.removesuffix("IfExists") in _NEGATED or operator.endswith("IfExists")
            else:
                values_ = [str(v) for v in _as_list(actual)]
                base = operator.removesuffix("IfExists")
                try:
                    if base in _NEGATED:
                        holds = not any(_matches_one(_NEGATED[base], a, e) for a in values_ for e in expected)
                    else:
                        holds = any(_matches_one(base, a, e) for a in values_ for e in expected)
                except (KeyError, ValueError):
                    result = "unknown"
                    continue
            if not holds:
                return "no"
    return result


def _principal_matches(statement: Mapping[str, Any], principal_arn: str, account_id: str) -> bool:
    def named(value: Any) -> bool:
        if value == "*":
            return True
        candidates = _as_list(value.get("AWS")) if isinstance(value, dict) else _as_list(value)
        return any(
            str(c) in ("*", principal_arn, account_id, f"arn:aws:iam::{account_id}:root") for c in candidates
        )

    if "NotPrincipal" in statement:
        return not named(statement["NotPrincipal"])
    return named(statement.get("Principal"))


def _resource_matches(statement: Mapping[str, Any], resource: str) -> bool:
    if "NotResource" in statement:
        return not any(fnmatch.fnmatchcase(resource, str(p)) for p in _as_list(statement["NotResource"]))
    return any(fnmatch.fnmatchcase(resource, str(p)) for p in _as_list(statement.get("Resource")))


def _statement_action_matches(statement: Mapping[str, Any], action: str) -> bool:
    if "NotAction" in statement:
        return not _action_matches(_as_list(statement["NotAction"]), action)
    return _action_matches(_as_list(statement.get("Action")), action)


def explicit_denies(
    policy: Mapping[str, Any],
    principal_arn: str,
    account_id: str,
    requests: Iterable[tuple[str, str]],
    context: Mapping[str, Any],
) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """(certain, possible): Deny statements that stop (action, resource) for the principal, with the context
    known for the issued key's requests; `possible` ones depend on a value unknown here (say aws:SourceIp)."""
    certain: list[dict[str, str]] = []
    possible: list[dict[str, str]] = []
    for index, statement in enumerate(_as_list(policy.get("Statement"))):
        if statement.get("Effect") != "Deny" or not _principal_matches(statement, principal_arn, account_id):
            continue
        for action, resource in requests:
            if not (_statement_action_matches(statement, action) and _resource_matches(statement, resource)):
                continue
            holds = condition_holds(statement.get("Condition") or {}, context)
            entry = {"sid": str(statement.get("Sid") or f"#{index}"), "action": action, "resource": resource}
            if holds == "yes":
                certain.append(entry)
                break
            if holds == "unknown":
                possible.append(entry)
                break
    return certain, possible


def inspect_bucket_policy(
    s3: Any,
    *,
    bucket: str,
    prefix: str,
    partition: str,
    access: str,
    principal_arn: str,
    account_id: str,
    sample_key: str,
) -> dict[str, Any]:
    try:
        text = s3.get_bucket_policy(Bucket=bucket)["Policy"]
    except ClientError as error:
        code = error_code(error)
        if code == "NoSuchBucketPolicy":
            return {"status": "none"}
        if code in UNREADABLE or code == "MethodNotAllowed":
            return {"status": "unreadable"}
        raise
    bucket_arn = f"arn:{partition}:s3:::{bucket}"
    object_arn = f"{bucket_arn}/{sample_key or prefix + 'example'}"
    requests = [("s3:ListBucket", bucket_arn), ("s3:GetObject", object_arn)]
    if access == "import_export":
        requests += [("s3:PutObject", object_arn), ("s3:DeleteObject", object_arn)]
    # What is known of every request the issued key will make: its principal, and TLS (Labellerr uses
    # HTTPS). Its source IP and VPC endpoint are Labellerr's: a VPC endpoint of this account it has none.
    context = {
        "aws:PrincipalArn": principal_arn,
        "aws:PrincipalAccount": account_id,
        "aws:PrincipalType": "User",
        "aws:username": principal_arn.rsplit("/", 1)[-1],
        "aws:SecureTransport": "true",
        "aws:SourceVpce": None,
        "aws:SourceVpc": None,
        "s3:prefix": prefix,
    }
    try:
        document = json.loads(text)
    except ValueError:
        return {"status": "unreadable"}
    certain, possible = explicit_denies(document, principal_arn, account_id, requests, context)
    if certain:
        first = certain[0]
        users = principal_arn.rsplit("/", 1)[0] + "/*"
        raise BucketPolicyDenies(
            f"the bucket policy of {bucket!r} has an explicit Deny (statement {first['sid']!r}) that stops "
            f"the connection's IAM user from {first['action']} on {first['resource']}: an explicit deny in a "
            "resource-based policy beats any permission the provisioner can grant. Exempt the user (for "
            f'example with a condition "ArnNotLike": {{"aws:PrincipalArn": "{users}"}}) '
            "or narrow the Deny, then try again"
        )
    found: dict[str, Any] = {"status": "read", "explicit_denies": []}
    if possible:
        found["possible_denies"] = sorted({entry["sid"] for entry in possible})
    return found
