"""Correctness after the runs: outputs match requests, keys are fenced to their bucket, nothing is left over.

Each check returns the problems it found, as sentences; an empty list means it passed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from bench.clients import Clients
from bench.customer_bucket import PREFIX
from bench.floor import FLOOR_ID_PREFIX
from bench.workload import Execution

DENIED = frozenset({"AccessDenied"})


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", "Unknown"))


def _paginate(client: Any, operation: str, key: str, **kwargs: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for page in client.get_paginator(operation).paginate(**kwargs, PaginationConfig={"MaxItems": 10_000}):
        items += page.get(key, [])
    return items


def secret_value(admin: Clients, secret_arn: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(
        admin("secretsmanager").get_secret_value(SecretId=secret_arn)["SecretString"]
    )
    return value


def output_problems(run: Execution, admin: Clients, environment: Mapping[str, str]) -> list[str]:
    """The output, the secret and the names belong to this run's request and to nobody else's."""
    who = run.connection_id
    if run.status != "SUCCEEDED" or run.output is None:
        return [f"{who}: {run.status} {run.error or ''} {(run.cause or '')[:300]}".rstrip()]
    output = run.output
    problems = []
    expected = {
        "connection_id": run.connection_id,
        "bucket": run.bucket,
        "prefix": PREFIX,
        "s3_uri": f"{run.bucket}/{PREFIX}",
        "iam_user_name": f"{environment['IAM_NAME_PREFIX']}{run.connection_id}",
        "status": "ACTIVE",
    }
    for field, wanted in expected.items():
        if output.get(field) != wanted:
            problems.append(f"{who}: output {field} is {output.get(field)!r}, expected {wanted!r}")
    secret_name = f"{environment['SECRET_NAME_PREFIX']}{run.connection_id}"
    described = admin("secretsmanager").describe_secret(SecretId=output["secret_arn"])
    if described["Name"] != secret_name:
        problems.append(f"{who}: secret is {described['Name']!r}, expected {secret_name!r}")
    value = secret_value(admin, output["secret_arn"])
    in_secret: dict[str, Any] = {
        "bucket": run.bucket,
        "prefix": PREFIX,
        "access_key_id": output.get("access_key_id"),
    }
    for key, wanted in in_secret.items():
        if value.get(key) != wanted:
            problems.append(f"{who}: secret {key} is {value.get(key)!r}, expected {wanted!r}")
    return problems


def key_fence_problems(runs: Sequence[Execution], admin: Clients) -> list[str]:
    """Each issued key lists its own bucket's prefix and is refused on the next run's bucket."""
    problems: list[str] = []
    succeeded = [(run, run.output) for run in runs if run.output is not None]
    for index, (run, output) in enumerate(succeeded):
        value = secret_value(admin, output["secret_arn"])
        s3 = admin.with_key("s3", value["access_key_id"], value["secret_access_key"])
        try:
            listed = s3.list_objects_v2(Bucket=run.bucket, Prefix=PREFIX, MaxKeys=20)
            if not listed.get("Contents"):
                problems.append(f"{run.connection_id}: its key lists nothing under {run.bucket}/{PREFIX}")
        except ClientError as error:
            problems.append(f"{run.connection_id}: its key cannot list its own bucket: {_code(error)}")
        if len(succeeded) < 2:
            continue
        other, _ = succeeded[(index + 1) % len(succeeded)]
        try:
            s3.list_objects_v2(Bucket=other.bucket, Prefix=PREFIX, MaxKeys=20)
            problems.append(f"{run.connection_id}: its key lists {other.bucket}, another run's bucket")
        except ClientError as error:
            if _code(error) not in DENIED:
                problems.append(
                    f"{run.connection_id}: on {other.bucket} its key got {_code(error)}, not AccessDenied"
                )
    return problems


def leftover_problems(
    admin: Clients,
    connection_ids: Iterable[str],
    environment: Mapping[str, str],
    *,
    only_prefix: str = "",
    rolled_back: Iterable[str] = (),
) -> list[str]:
    """Exactly one user (one key, one policy attached), policy, secret and ACTIVE record per connection.

    `only_prefix`: only connections whose id starts with it are looked at (one phase's runs);
    `rolled_back`: connections whose registry record rightly stays (it tells the failure), owning nothing."""
    ids = set(connection_ids)
    kept_records = set(rolled_back)
    name_prefix, path = environment["IAM_NAME_PREFIX"] + only_prefix, environment["IAM_PATH"]
    secret_prefix = environment["SECRET_NAME_PREFIX"] + only_prefix
    iam = admin("iam")
    problems: list[str] = []

    def compare(kind: str, found: list[str], expected: set[str]) -> None:
        duplicates = sorted({name for name in found if found.count(name) > 1})
        missing = sorted(expected - set(found))
        extra = sorted(set(found) - expected)
        for label, names in (("missing", missing), ("extra", extra), ("duplicated", duplicates)):
            if names:
                problems.append(f"{kind} {label}: {', '.join(names[:10])}{' ...' if len(names) > 10 else ''}")

    base = environment["IAM_NAME_PREFIX"]
    users = [
        user["UserName"]
        for user in _paginate(iam, "list_users", "Users", PathPrefix=path)
        if str(user["UserName"]).startswith(name_prefix)
    ]
    compare("IAM users", users, {f"{base}{cid}" for cid in ids})
    policies = [
        policy
        for policy in _paginate(iam, "list_policies", "Policies", Scope="Local", PathPrefix=path)
        if str(policy["PolicyName"]).startswith(name_prefix)
    ]
    compare("IAM policies", [policy["PolicyName"] for policy in policies], {f"{base}{cid}" for cid in ids})
    for user in users:
        keys = _paginate(iam, "list_access_keys", "AccessKeyMetadata", UserName=user)
        if len(keys) != 1:
            problems.append(f"{user}: {len(keys)} access keys, expected 1")
        attached = [
            policy["PolicyName"]
            for policy in _paginate(iam, "list_attached_user_policies", "AttachedPolicies", UserName=user)
        ]
        if attached != [user]:
            problems.append(f"{user}: attached policies {attached}, expected [{user!r}]")
    secrets = [
        secret["Name"]
        for secret in _paginate(admin("secretsmanager"), "list_secrets", "SecretList")
        if str(secret["Name"]).startswith(secret_prefix)
    ]
    compare("secrets", secrets, {f"{environment['SECRET_NAME_PREFIX']}{cid}" for cid in ids})
    records = [
        record
        for record in _paginate(
            admin("dynamodb"),
            "scan",
            "Items",
            TableName=environment["CONNECTIONS_TABLE"],
            ConsistentRead=True,
        )
        # The floor's records: written by the benchmark's plain script, not by onboardings.
        if not str(record["connection_id"]["S"]).startswith(FLOOR_ID_PREFIX)
        and str(record["connection_id"]["S"]).startswith(only_prefix)
        and record["connection_id"]["S"] not in kept_records
    ]
    compare("registry records", [record["connection_id"]["S"] for record in records], ids)
    for record in records:
        status = record.get("status", {}).get("S")
        if record["connection_id"]["S"] in ids and status != "ACTIVE":
            problems.append(f"registry: {record['connection_id']['S']} is {status}, expected ACTIVE")
    return problems
