"""Many ACTIVE connections, seeded cheaply for the health sweep: a few onboarded through the state machine,
the rest cloned from them.

Onboarding 1,000 connections through the state machine takes about 5 minutes here; cloning takes seconds.
Each clone is what onboarding leaves, made with the benchmark's own key (its calls are not counted): an IAM
user on the stack's path with the template's boundary and tags, the template's policy document for the
clone's prefix attached to it, an Active key, the secret holding it, the clone's CORS rule in the bucket
(S3 allows 100 rules a configuration, hence several buckets), one object under its prefix, the Labellerr
connection(s) made with its key, and the registry record. Everything is the template's with the template's
connection id (which is also its prefix) replaced by the clone's; the sweep's own verdict, every clone
HEALTHY with the template's findings, is the check that nothing was missed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from bench.clients import Clients

ID_PREFIX: Final = "bench-hs-"
# Under S3's limit of 100 CORS rules a bucket, with room for the bucket's own.
PER_BUCKET: Final = 90
OBJECT_BODY: Final = b"\x89PNG\r\n\x1a\nbench health sweep\n"


def template_id(bucket_index: int) -> str:
    return f"{ID_PREFIX}t{bucket_index:02d}"


def clone_id(index: int) -> str:
    return f"{ID_PREFIX}{index:05d}"


def bucket_name(bucket_index: int) -> str:
    return f"{ID_PREFIX}b{bucket_index:02d}"


def plan(connections: int) -> list[tuple[str, int]]:
    """(connection id, bucket index) of every connection the sweep will check: one template per bucket,
    then clones, PER_BUCKET to a bucket in all."""
    buckets = max(1, -(-connections // PER_BUCKET))
    planned = [(template_id(b), b) for b in range(buckets)]
    planned += [(clone_id(i), i % buckets) for i in range(1, connections - buckets + 1)]
    return planned


@dataclass
class Template:
    """One onboarded connection, as read back with the benchmark's key."""

    connection_id: str
    bucket: str
    item: dict[str, Any]
    user: dict[str, Any]
    user_tags: list[dict[str, str]]
    policy_document: str
    policy_path: str
    secret: dict[str, Any]
    secret_value: dict[str, Any]
    cors_rule: dict[str, Any]
    labellerr_types: list[str] = field(default_factory=list)


def read_template(admin: Clients, table: str, connection_id: str, bucket: str) -> Template:
    iam, secrets = admin("iam"), admin("secretsmanager")
    item = admin("dynamodb").get_item(
        TableName=table, Key={"connection_id": {"S": connection_id}}, ConsistentRead=True
    )["Item"]
    user = iam.get_user(UserName=item["iam_user_name"]["S"])["User"]
    policy = iam.get_policy(PolicyArn=item["policy_arn"]["S"])["Policy"]
    version = iam.get_policy_version(PolicyArn=policy["Arn"], VersionId=policy["DefaultVersionId"])[
        "PolicyVersion"
    ]
    document = version["Document"]
    secret = secrets.describe_secret(SecretId=item["secret_arn"]["S"])
    value = json.loads(secrets.get_secret_value(SecretId=item["secret_arn"]["S"])["SecretString"])
    rule_id = item["cors"]["M"]["rule_id"]["S"]
    rules = admin("s3").get_bucket_cors(Bucket=bucket)["CORSRules"]
    labellerr = item.get("labellerr", {}).get("M", {}).get("connections", {}).get("L", [])
    return Template(
        connection_id=connection_id,
        bucket=bucket,
        item=item,
        user=user,
        user_tags=iam.list_user_tags(UserName=user["UserName"])["Tags"],
        # botocore decodes the URL-encoded document into a dict; IAM compares by content.
        policy_document=document if isinstance(document, str) else json.dumps(document),
        policy_path=str(policy.get("Path", "/")),
        secret=secret,
        secret_value=value,
        cors_rule=next(rule for rule in rules if rule.get("ID") == rule_id),
        labellerr_types=[str(c["M"]["connection_type"]["S"]) for c in labellerr],
    )


def _swap(text: str, pairs: Sequence[tuple[str, str]]) -> str:
    for old, new in pairs:
        text = text.replace(old, new)
    return text


def clone(
    admin: Clients,
    table: str,
    template: Template,
    connection_id: str,
    make_labellerr: Callable[[str, str, str, str], str] | None,
) -> None:
    """One clone of `template` as `connection_id`, on the template's bucket, its CORS rule left to the
    caller (one PutBucketCors a bucket). `make_labellerr(key id, secret, type, name)` -> Labellerr's id."""
    iam, secrets = admin("iam"), admin("secretsmanager")
    tid = template.connection_id
    swap: list[tuple[str, str]] = [(tid, connection_id)]
    user_name = _swap(template.user["UserName"], swap)
    iam.create_user(
        Path=template.user["Path"],
        UserName=user_name,
        PermissionsBoundary=template.user["PermissionsBoundary"]["PermissionsBoundaryArn"],
        Tags=[{"Key": t["Key"], "Value": _swap(t["Value"], swap)} for t in template.user_tags],
    )
    policy_arn = iam.create_policy(
        PolicyName=_swap(template.item["policy_name"]["S"], swap),
        Path=template.policy_path,
        PolicyDocument=_swap(template.policy_document, swap),
    )["Policy"]["Arn"]
    iam.attach_user_policy(UserName=user_name, PolicyArn=policy_arn)
    key = iam.create_access_key(UserName=user_name)["AccessKey"]
    value = {
        name: _swap(str(v), swap) if isinstance(v, str) else v for name, v in template.secret_value.items()
    }
    value["access_key_id"], value["secret_access_key"] = key["AccessKeyId"], key["SecretAccessKey"]
    secret_arn = secrets.create_secret(
        Name=_swap(template.secret["Name"], swap),
        Description=_swap(template.secret.get("Description", ""), swap),
        SecretString=json.dumps(value),
        Tags=[{"Key": t["Key"], "Value": _swap(t["Value"], swap)} for t in template.secret.get("Tags", [])],
    )["ARN"]
    admin("s3").put_object(Bucket=template.bucket, Key=f"{connection_id}/sample.png", Body=OBJECT_BODY)
    pairs = [
        (template.item["secret_arn"]["S"], secret_arn),
        (template.item["access_key_id"]["S"], key["AccessKeyId"]),
    ]
    labellerr = template.item.get("labellerr", {}).get("M", {}).get("connections", {}).get("L", [])
    if make_labellerr is not None:
        for made, kind in zip(labellerr, template.labellerr_types, strict=True):
            new_id = make_labellerr(
                key["AccessKeyId"], key["SecretAccessKey"], kind, f"Bench {connection_id}"
            )
            pairs.append((made["M"]["labellerr_connection_id"]["S"], new_id))
    item = json.loads(_swap(json.dumps(template.item), [*pairs, *swap]))
    admin("dynamodb").put_item(TableName=table, Item=item)


def add_cors_rules(admin: Clients, bucket: str, template: Template, connection_ids: Sequence[str]) -> None:
    """The clones' rules after the bucket's, in onboarding order, as Apply CORS would leave them."""
    s3 = admin("s3")
    rules = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    for connection_id in connection_ids:
        rule = json.loads(_swap(json.dumps(template.cors_rule), [(template.connection_id, connection_id)]))
        rules.append(rule)
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})
