"""The floor: the flow's AWS calls from one plain sequential boto3 script, no orchestration.

What the flow's time is compared with: the same calls, in its order and with its parameters, with nothing
between them. run_minimal_floor, for information, makes only the calls an onboarding cannot do without.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from botocore.exceptions import ClientError

from bench.clients import Clients
from bench.customer_bucket import PREFIX, onboarding_request

LISTED_KEYS: Final = 20

# The floor's names keep out of what the checks count: its own IAM path and secret prefix, connection ids
# with this prefix in the registry (the checks skip them).
FLOOR_ID_PREFIX: Final = "bench-floor-"
FLOOR_IAM_PATH: Final = "/bench-floor/"
FLOOR_SECRET_PREFIX: Final = "bench-floor/connections/"  # noqa: S105 - a name prefix
MINIMAL_IAM_PATH: Final = "/bench-minimal/"


@dataclass(frozen=True)
class FloorRun:
    index: int
    wall_ms: float
    # Client-side milliseconds of each call, in order ("service:Operation").
    calls_ms: tuple[tuple[str, float], ...]


class _Laps:
    def __init__(self) -> None:
        self.timings: list[tuple[str, float]] = []
        self.started = self._mark = time.perf_counter()

    def __call__(self, operation: str) -> None:
        now = time.perf_counter()
        self.timings.append((operation, (now - self._mark) * 1000))
        self._mark = now

    def run(self, index: int) -> FloorRun:
        return FloorRun(index=index, wall_ms=(self._mark - self.started) * 1000, calls_ms=tuple(self.timings))


def floor_connection_id(index: int) -> str:
    return f"{FLOOR_ID_PREFIX}{index:02d}"


def run_floor(clients: Clients, bucket: str, index: int, environment: Mapping[str, str]) -> FloorRun:
    """The flow's 24 AWS calls and 2 preflights, in its order and with its parameters, from one plain script.

    Validate (HeadBucket, then the bucket inspection: GetBucketRequestPayment, ListObjectsV2,
    GetBucketEncryption, HeadObject of each sampled object, GetBucketPolicy), claim the registry record
    (conditional PutItem), create the user, create the policy, attach it, take the bucket lease (conditional
    PutItem), read and write CORS, release the lease (conditional DeleteItem), create the key, store it in
    a secret; then read the secret back and, with the new key, list, read one byte, read CORS, send the two
    unsigned preflights; then mark the record ACTIVE (conditional UpdateItem returning it) and publish the
    event. Parameters that need no response are built before the clock starts; the benchmark's clients exist
    beforehand, as warm functions' do; the new key's client is made inside, as verification does.
    """
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

    from provisioner_core import bucket_facts, cors_probe
    from provisioner_core.config import Settings
    from provisioner_core.connection import ownership_tags
    from provisioner_core.cors import labellerr_rule, rule_id_for
    from provisioner_core.policy import build_policy_document, serialize_policy
    from provisioner_core.request import parse_request, to_connection

    serializer, deserializer = TypeSerializer(), TypeDeserializer()
    settings = dataclasses.replace(
        Settings.from_env(), iam_path=FLOOR_IAM_PATH, secret_name_prefix=FLOOR_SECRET_PREFIX
    )
    connection_id = floor_connection_id(index)
    execution_arn = f"arn:aws:states:{clients.region}:123456789012:execution:bench-floor:{connection_id}"
    request = parse_request(onboarding_request(connection_id, bucket))
    connections_table, leases_table = environment["CONNECTIONS_TABLE"], environment["BUCKET_LEASES_TABLE"]
    iam, s3, dynamodb = clients("iam"), clients("s3"), clients("dynamodb")
    secrets, events = clients("secretsmanager"), clients("events")
    laps = _Laps()

    def now() -> str:
        return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    response = s3.head_bucket(Bucket=bucket)
    laps("s3:HeadBucket")
    region = str(response.get("BucketRegion") or settings.region)
    connection = to_connection(request, settings, execution_arn=execution_arn, region=region)
    # The bucket inspection, as Validate request makes it (provisioner_core.bucket_facts).
    requester_pays = bucket_facts.requester_pays(s3, bucket)
    laps("s3:GetBucketRequestPayment")
    samples = bucket_facts.sample_objects(s3, bucket, connection["prefix"])
    laps("s3:ListObjectsV2 (inspection)")
    encryption = bucket_facts.inspect_encryption(
        s3, clients("kms"), bucket, samples, "import", "123456789012"
    )
    laps("s3:GetBucketEncryption + s3:HeadObject")
    bucket_policy = bucket_facts.inspect_bucket_policy(
        s3,
        bucket=bucket,
        prefix=connection["prefix"],
        partition=settings.partition,
        access="import",
        principal_arn=f"arn:aws:iam::123456789012:user{connection['iam_path']}{connection['iam_user_name']}",
        account_id="123456789012",
        sample_key=samples[0] if samples else "",
    )
    laps("s3:GetBucketPolicy")
    connection = {
        **connection,
        "encryption": encryption,
        "bucket_policy": bucket_policy,
        "requester_pays": requester_pays,
    }
    tags = ownership_tags(connection)
    document = serialize_policy(
        build_policy_document(
            partition=settings.partition,
            bucket=connection["bucket"],
            prefix=connection["prefix"],
            access=connection["access"],
        )
    )
    claimed_at = now()
    record = {**connection, "created_at": claimed_at, "status": "PROVISIONING", "updated_at": now()}
    dynamodb.put_item(
        TableName=connections_table,
        Item={key: serializer.serialize(value) for key, value in record.items() if value is not None},
        ConditionExpression="attribute_not_exists(connection_id) OR #status IN (:failed, :deleted) "
        "OR (#status = :provisioning AND execution_arn = :execution_arn)",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={
            ":failed": {"S": "FAILED"},
            ":deleted": {"S": "DELETED"},
            ":provisioning": {"S": "PROVISIONING"},
            ":execution_arn": {"S": execution_arn},
        },
    )
    laps("dynamodb:PutItem (registry)")

    boundary = settings.permissions_boundary_arn
    user = iam.create_user(
        UserName=connection["iam_user_name"],
        Path=connection["iam_path"],
        Tags=tags,
        **({"PermissionsBoundary": boundary} if boundary else {}),
    )["User"]
    laps("iam:CreateUser")
    policy = iam.create_policy(
        PolicyName=connection["policy_name"],
        Path=connection["iam_path"],
        PolicyDocument=document,
        Description=f"Labellerr connection {connection_id}: {connection['access']} "
        f"on s3://{connection['s3_uri']}"[:1000],
        Tags=tags,
    )["Policy"]
    laps("iam:CreatePolicy")
    iam.attach_user_policy(UserName=user["UserName"], PolicyArn=policy["Arn"])
    laps("iam:AttachUserPolicy")

    lease_now = int(time.time())
    dynamodb.put_item(
        TableName=leases_table,
        Item={
            "bucket": {"S": bucket},
            "holder": {"S": f"connection:{connection['connection_id']}"},
            "expires_at": {"N": str(lease_now + 60)},
        },
        ConditionExpression="attribute_not_exists(#bucket) OR expires_at < :now OR holder = :holder",
        ExpressionAttributeNames={"#bucket": "bucket"},
        ExpressionAttributeValues={
            ":now": {"N": str(lease_now)},
            ":holder": {"S": f"connection:{connection['connection_id']}"},
        },
    )
    laps("dynamodb:PutItem (lease)")
    try:
        rules = list(s3.get_bucket_cors(Bucket=bucket)["CORSRules"])
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "NoSuchCORSConfiguration":
            raise
        rules = []
    laps("s3:GetBucketCors")
    rule = labellerr_rule(settings.cors_allowed_origins, rule_id_for(connection["connection_id"]))
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [*rules, rule]})
    laps("s3:PutBucketCors")
    # As Apply CORS: read the write back before the lease is released (bucket configuration lags).
    s3.get_bucket_cors(Bucket=bucket)
    laps("s3:GetBucketCors (read back)")
    dynamodb.delete_item(
        TableName=leases_table,
        Key={"bucket": {"S": bucket}},
        ConditionExpression="holder = :holder",
        ExpressionAttributeValues={":holder": {"S": f"connection:{connection['connection_id']}"}},
    )
    laps("dynamodb:DeleteItem (lease)")
    cors = {
        "applied": True,
        "rule_id": rule["ID"],
        "rule_added": True,
        "bucket_had_cors": bool(rules),
        "rules_total": len(rules) + 1,
    }

    key = iam.create_access_key(UserName=user["UserName"])["AccessKey"]
    laps("iam:CreateAccessKey")
    value = {
        "access_key_id": key["AccessKeyId"],
        "secret_access_key": key["SecretAccessKey"],
        "bucket": connection["bucket"],
        "prefix": connection["prefix"],
        "s3_uri": connection["s3_uri"],
        "region": connection["region"],
    }
    kms_key = settings.secrets_kms_key_arn
    secret = secrets.create_secret(
        Name=connection["secret_name"],
        Description=f"Labellerr connection {connection_id} (s3://{connection['s3_uri']})",
        SecretString=json.dumps(value),
        Tags=tags,
        **({"KmsKeyId": kms_key} if kms_key else {}),
    )
    laps("secretsmanager:CreateSecret")

    stored = json.loads(secrets.get_secret_value(SecretId=secret["ARN"])["SecretString"])
    laps("secretsmanager:GetSecretValue")
    keyed = clients.with_key("s3", stored["access_key_id"], stored["secret_access_key"], connection["region"])
    listing = keyed.list_objects_v2(Bucket=bucket, Prefix=connection["prefix"], MaxKeys=LISTED_KEYS)
    laps("s3:ListObjectsV2 (new key, incl. client)")
    first = next(item["Key"] for item in listing.get("Contents", []) if item.get("Size", 0) > 0)
    keyed.get_object(Bucket=bucket, Key=first, Range="bytes=0-0")["Body"].read()
    laps("s3:GetObject (new key)")
    if not any(r.get("ID") == rule["ID"] for r in keyed.get_bucket_cors(Bucket=bucket)["CORSRules"]):
        raise RuntimeError(f"floor {connection_id}: the CORS rule is not in place")
    laps("s3:GetBucketCors (new key)")
    # The browser's preflight, and the foreign origin's that must be refused: unsigned HTTP, as the flow.
    url = cors_probe.object_url(bucket, first, connection["region"], cors_probe.endpoint_override())
    origin = cors_probe.probe_origins(settings.cors_allowed_origins, settings.cors_probe_origins)[0]
    for sender in (origin, cors_probe.foreign_origin(origin)):
        cors_probe.send_request(url, cors_probe.preflight_headers(sender))
    laps("s3 preflights (unsigned OPTIONS)")
    verification = {
        "verified": True,
        "as_user": connection["iam_user_name"],
        "checks": [
            {"operation": "s3:ListObjectsV2", "outcome": "passed", "detail": "listed"},
            {"operation": "s3:GetObject", "outcome": "passed", "detail": f"read '{first}'"},
            {"operation": "s3:GetBucketCors", "outcome": "passed", "detail": "rule in place"},
        ],
    }

    changes = {
        "status": "ACTIVE",
        "iam_user_arn": user["Arn"],
        "policy_arn": policy["Arn"],
        "access_key_id": key["AccessKeyId"],
        "secret_arn": secret["ARN"],
        "cors": cors,
        "verification": verification,
        "activated_at": now(),
        "updated_at": now(),
    }
    names = {f"#f{i}": name for i, name in enumerate(changes)}
    names.update({"#owner": "execution_arn", "#r0": "error", "#r1": "left_behind"})
    values = {f":v{i}": serializer.serialize(change) for i, change in enumerate(changes.values())}
    values[":owner"] = serializer.serialize(execution_arn)
    updated = dynamodb.update_item(
        TableName=connections_table,
        Key={"connection_id": {"S": connection_id}},
        UpdateExpression="SET "
        + ", ".join(f"#f{i} = :v{i}" for i in range(len(changes)))
        + " REMOVE #r0, #r1",
        ConditionExpression="#owner = :owner",
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
        ReturnValues="ALL_NEW",
    )["Attributes"]
    laps("dynamodb:UpdateItem (registry)")
    active = {name: deserializer.deserialize(item) for name, item in updated.items()}
    detail = {
        field: active.get(field)
        for field in ("connection_id", "status", "bucket", "prefix", "s3_uri", "access", "iam_user_arn")
    }
    detail.update({"secret_arn": active.get("secret_arn"), "execution_arn": execution_arn})
    published = events.put_events(
        Entries=[
            {
                "EventBusName": environment["EVENT_BUS_NAME"],
                "Source": "labellerr.provisioner",
                "DetailType": "Connection Provisioned",
                "Detail": json.dumps(detail, default=str),
            }
        ]
    )
    if published.get("FailedEntryCount"):
        raise RuntimeError(f"floor {connection_id}: PutEvents failed: {published['Entries']}")
    laps("events:PutEvents")
    return laps.run(index)


def run_minimal_floor(clients: Clients, bucket: str, index: int) -> FloorRun:
    """For information: the 9 calls an onboarding cannot do without (user, policy, attach, CORS read and
    write, key, secret, then with the new key a listing and a 1-byte read); no registry, lease, event,
    validation or verification of CORS."""
    from provisioner_core.config import Settings
    from provisioner_core.cors import labellerr_rule, rule_id_for
    from provisioner_core.policy import build_policy_document, serialize_policy

    settings = Settings.from_env()
    name = f"bench-minimal-{index:02d}"
    iam, s3, secrets = clients("iam"), clients("s3"), clients("secretsmanager")
    tags = [{"Key": "labellerr:connection-id", "Value": name}]
    document = serialize_policy(
        build_policy_document(partition=settings.partition, bucket=bucket, prefix=PREFIX, access="import")
    )
    rule = labellerr_rule(settings.cors_allowed_origins, rule_id_for(name))
    laps = _Laps()
    iam.create_user(UserName=name, Path=MINIMAL_IAM_PATH, Tags=tags)
    laps("iam:CreateUser")
    policy_arn = iam.create_policy(
        PolicyName=name, Path=MINIMAL_IAM_PATH, PolicyDocument=document, Tags=tags
    )["Policy"]["Arn"]
    laps("iam:CreatePolicy")
    iam.attach_user_policy(UserName=name, PolicyArn=policy_arn)
    laps("iam:AttachUserPolicy")
    try:
        rules = list(s3.get_bucket_cors(Bucket=bucket)["CORSRules"])
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "NoSuchCORSConfiguration":
            raise
        rules = []
    laps("s3:GetBucketCors")
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [*rules, rule]})
    laps("s3:PutBucketCors")
    key = iam.create_access_key(UserName=name)["AccessKey"]
    laps("iam:CreateAccessKey")
    secret_value = {
        "access_key_id": key["AccessKeyId"],
        "secret_access_key": key["SecretAccessKey"],
        "bucket": bucket,
        "prefix": PREFIX,
    }
    secrets.create_secret(Name=f"bench-minimal/{index:02d}", SecretString=json.dumps(secret_value), Tags=tags)
    laps("secretsmanager:CreateSecret")
    keyed = clients.with_key("s3", key["AccessKeyId"], key["SecretAccessKey"], clients.region)
    listing = keyed.list_objects_v2(Bucket=bucket, Prefix=PREFIX, MaxKeys=LISTED_KEYS)
    laps("s3:ListObjectsV2 (new key, incl. client)")
    first = next(item["Key"] for item in listing.get("Contents", []) if item.get("Size", 0) > 0)
    keyed.get_object(Bucket=bucket, Key=first, Range="bytes=0-0")["Body"].read()
    laps("s3:GetObject (new key)")
    return laps.run(index)


def call_mismatch(flow: Mapping[str, float], floor: Mapping[str, float]) -> list[str]:
    """How the floor's calls (`service:Operation` -> count) differ from the flow's; empty when they agree."""
    problems = []
    for operation in sorted(set(flow) | set(floor)):
        wanted, made = flow.get(operation, 0), floor.get(operation, 0)
        if wanted != made:
            problems.append(f"{operation}: the flow makes {wanted:g}, the floor {made:g}")
    return problems
