"""The health check's promise under every fault: a verdict is never better than the world (HEALTHY only when
what is ours is as we made it), a repair leaves nothing half-made, the connection stays ACTIVE, and one
DELETE afterwards leaves nothing of ours.

The operations are discovered, not listed by hand: a repair journey (a policy detached, a new default policy
version, the bucket's CORS rewritten) records every AWS call the health machine's functions make, and each
gets a permanent fault, a fault that happens once and, where a call was answered, one whose reply is lost.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.support.api import http, record_of, wait_for_status
from tests.support.buckets import new_bucket
from tests.support.clients import Clients
from tests.support.executions import history_of, run_flow, wait_until_ended
from tests.support.residue import leftovers, world
from tests.support.shards import Shard

pytestmark = pytest.mark.faults

HEALTH_FUNCTIONS = (
    "SelectConnectionsFunction",
    "CheckConnectionHealthFunction",
    "RepairConnectionFunction",
    "RecordHealthFunction",
)
KINDS = {"permanent": "", "once": ":1", "lost": ":lost"}
READS = ("Get", "List", "Describe", "Scan", "Query")
WIDE = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
)
CUSTOMER_RULE = {"ID": "website", "AllowedOrigins": ["https://www.acme.example"], "AllowedMethods": ["GET"]}


def _onboarded_and_changed(c: Clients) -> tuple[str, str, dict[str, Any]]:
    bucket = new_bucket(c, customer_cors=False)
    connection_id = f"h-{uuid.uuid4().hex[:10]}"
    request = {
        "connection_name": "h",
        "connection_id": connection_id,
        "bucket": bucket,
        "access": "import_export",
    }
    assert run_flow(c.stack, c.sfn, request).status == "SUCCEEDED"
    record = record_of(c.stack, connection_id)
    assert record is not None
    user = f"labellerr-{connection_id}"
    c.iam.detach_user_policy(UserName=user, PolicyArn=record["policy_arn"])
    c.iam.create_policy_version(PolicyArn=record["policy_arn"], PolicyDocument=WIDE, SetAsDefault=True)
    c.s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [CUSTOMER_RULE]})
    c.stack.settle()
    return connection_id, bucket, record


def _repair(c: Clients, connection_id: str) -> str:
    status, answer = http(c.stack, "POST", f"/connections/{connection_id}/repairs")
    assert status == 202, answer
    wait_until_ended(c.sfn, answer["execution_arn"])
    return str(answer["execution_arn"])


def _world_is_as_we_made_it(c: Clients, connection_id: str, bucket: str, record: dict[str, Any]) -> list[str]:
    """What of ours is not as onboarding made it (empty: the world is healthy for what a repair can put back)."""
    wrong = []
    user = f"labellerr-{connection_id}"
    attached = [p["PolicyArn"] for p in c.iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]]
    if record["policy_arn"] not in attached:
        wrong.append("policy detached")
    versions = c.iam.list_policy_versions(PolicyArn=record["policy_arn"])["Versions"]
    if [v["VersionId"] for v in versions if v["IsDefaultVersion"]] != ["v1"]:
        wrong.append("another default version")
    c.stack.settle()
    rules = c.s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    if f"labellerr-{connection_id}" not in [r.get("ID") for r in rules]:
        wrong.append("CORS rule gone")
    if "website" not in [r.get("ID") for r in rules]:
        wrong.append("the customer's rule was lost")
    return wrong


@pytest.fixture(scope="module")
def health_calls(clients: Clients) -> list[tuple[str, str, str, str]]:
    """(function, service, operation, kind) for every call a repair journey makes, each kind that applies."""
    c = clients
    connection_id, _, _ = _onboarded_and_changed(c)
    c.stack.set_faults([])
    _repair(c, connection_id)
    calls = {(f, s, o) for f, s, o in c.stack.function_calls if f in HEALTH_FUNCTIONS}
    answered = {(str(f), s, o) for f, s, o in c.stack.answered_calls if f in HEALTH_FUNCTIONS}
    c.stack.set_faults([])
    wait_for_status(c.stack, connection_id, {"ACTIVE"})
    assert http(c.stack, "DELETE", f"/connections/{connection_id}")[0] == 202
    wait_for_status(c.stack, connection_id, {"DELETED"})
    # A lost reply matters where the call changed something (a read's lost reply is a failed read).
    cases = [
        (str(f), s, o, kind) for f, s, o in sorted(calls, key=str) for kind in KINDS
        if kind != "lost" or ((str(f), s, o) in answered and not o.startswith(READS))
    ]  # fmt: skip
    # Every step that calls AWS is reached, or the matrix would prove nothing about it (Select connections
    # reads the registry only for a sweep).
    assert {f for f, _, _, _ in cases} == set(HEALTH_FUNCTIONS) - {"SelectConnectionsFunction"}
    return cases


@pytest.mark.parametrize("shard", Shard.all(3), ids=str)
def test_every_fault_in_a_health_check_and_repair_keeps_the_promise(
    clients: Clients, health_calls: Any, shard: Shard
) -> None:
    c = clients
    broken = []
    for function, service, operation, kind in shard.of(health_calls):
        fault = f"{service}:{operation}{KINDS[kind]}@{function}"
        connection_id, bucket, record = _onboarded_and_changed(c)
        c.stack.set_faults([fault])
        execution_arn = _repair(c, connection_id)
        fired = c.stack.injected_faults
        c.stack.set_faults([])
        after = record_of(c.stack, connection_id) or {}
        wrong = _world_is_as_we_made_it(c, connection_id, bucket, record)
        health = after.get("health") or {}
        problems = []
        if after.get("status") != "ACTIVE":
            problems.append(f"status {after.get('status')}")
        if health.get("status") == "HEALTHY" and wrong:
            problems.append(f"HEALTHY while {wrong}")
        if not health and "health_check_error" not in after:
            # Only Record health's own registry calls may keep it from recording anything; then the run's
            # history says so (and the record keeps no verdict that the check contradicted).
            entered = [
                e["stateEnteredEventDetails"]["name"]
                for e in history_of(c.sfn, execution_arn)
                if "stateEnteredEventDetails" in e
            ]
            if (function, service) != (
                "RecordHealthFunction",
                "dynamodb",
            ) or "Health not recorded" not in entered:
                problems.append("neither a verdict nor the check's failure is recorded")
        status, _ = http(c.stack, "DELETE", f"/connections/{connection_id}")
        final = (
            wait_for_status(c.stack, connection_id, {"DELETED", "ROLLBACK_FAILED"}) if status == 202 else {}
        )
        if final.get("status") != "DELETED" or leftovers(c.iam, c.secrets, connection_id):
            problems.append(f"DELETE ended {final.get('status')}")
        if world(c, connection_id, bucket, "images/") or world(c, connection_id, bucket, ""):
            problems.append("something of ours is left after DELETED")
        if problems:
            broken.append(f"{fault} (fired {fired}): {'; '.join(problems)}")
    assert broken == [], "\n".join(broken)
