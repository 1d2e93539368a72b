"""A connection's health over its life, through the real state machines and the HTTP API: after each kind of
hand change a person (or a customer's Terraform) makes, the check finds it with the right status and finding,
the event fires once, a repair puts back what is ours and nothing else, and DELETE then ends DELETED with
nothing of ours left."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from provisioner_core.labellerr import LabellerrClient, LabellerrCredentials
from tests.support.api import http, record_of, wait_for_status
from tests.support.buckets import new_bucket
from tests.support.clients import Clients
from tests.support.executions import run_flow, start, unique_id, wait_for_run
from tests.support.residue import leftovers, world

pytestmark = pytest.mark.flow

WIDE = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
)
CUSTOMER_RULE = {"ID": "website", "AllowedOrigins": ["https://www.acme.example"], "AllowedMethods": ["GET"]}


@dataclass
class Onboarded:
    connection_id: str
    user: str
    record: dict[str, Any]
    bucket: str


@dataclass
class HandChange:
    make: Callable[[Any, Onboarded], None]
    status: str
    finding: str
    repaired: bool = False
    labellerr: bool = False


def _detach(c: Clients, o: Onboarded) -> None:
    c.iam.detach_user_policy(UserName=o.user, PolicyArn=o.record["policy_arn"])


def _new_version(c: Clients, o: Onboarded) -> None:
    c.iam.create_policy_version(PolicyArn=o.record["policy_arn"], PolicyDocument=WIDE, SetAsDefault=True)


def _delete_key(c: Clients, o: Onboarded) -> None:
    c.iam.delete_access_key(UserName=o.user, AccessKeyId=o.record["access_key_id"])


def _deactivate_key(c: Clients, o: Onboarded) -> None:
    c.iam.update_access_key(UserName=o.user, AccessKeyId=o.record["access_key_id"], Status="Inactive")


def _delete_secret(c: Clients, o: Onboarded) -> None:
    c.secrets.delete_secret(SecretId=o.record["secret_arn"], ForceDeleteWithoutRecovery=True)


def _deny(c: Clients, o: Onboarded) -> None:
    statement = {
        "Effect": "Deny",
        "Principal": {"AWS": o.record["iam_user_arn"]},
        "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{o.bucket}", f"arn:aws:s3:::{o.bucket}/*"],
    }
    policy = {"Version": "2012-10-17", "Statement": [statement]}
    c.s3.put_bucket_policy(Bucket=o.bucket, Policy=json.dumps(policy))


def _delete_user(c: Clients, o: Onboarded) -> None:
    _delete_key(c, o)
    _detach(c, o)
    c.iam.delete_user(UserName=o.user)


def _delete_bucket(c: Clients, o: Onboarded) -> None:
    for version in c.s3.list_object_versions(Bucket=o.bucket).get("Versions", []):
        c.s3.delete_object(Bucket=o.bucket, Key=version["Key"], VersionId=version["VersionId"])
    for listed in c.s3.list_objects_v2(Bucket=o.bucket).get("Contents", []):
        c.s3.delete_object(Bucket=o.bucket, Key=listed["Key"])
    c.s3.delete_bucket(Bucket=o.bucket)


def _untag(c: Clients, o: Onboarded) -> None:
    tags = c.iam.list_user_tags(UserName=o.user)["Tags"]
    c.iam.untag_user(UserName=o.user, TagKeys=[t["Key"] for t in tags])


def _inline(c: Clients, o: Onboarded) -> None:
    c.iam.put_user_policy(UserName=o.user, PolicyName="debugging", PolicyDocument=WIDE)


def _customer_policy(c: Clients, o: Onboarded) -> None:
    arn = c.iam.create_policy(PolicyName=f"team-{o.connection_id}", PolicyDocument=WIDE)["Policy"]["Arn"]
    c.iam.attach_user_policy(UserName=o.user, PolicyArn=arn)


def _second_key(c: Clients, o: Onboarded) -> None:
    c.iam.create_access_key(UserName=o.user)


CHANGES: dict[str, HandChange] = {
    # Terraform owning the bucket's CORS: PutBucketCors replaces every rule, ours included.
    "cors_overwritten": HandChange(
        lambda c, o: c.s3.put_bucket_cors(Bucket=o.bucket, CORSConfiguration={"CORSRules": [CUSTOMER_RULE]}),
        "DEGRADED", "cors", repaired=True,
    ),
    "cors_deleted": HandChange(lambda c, o: c.s3.delete_bucket_cors(Bucket=o.bucket), "DEGRADED", "cors", True),
    "policy_detached": HandChange(_detach, "BROKEN", "policy_attached", repaired=True),
    "policy_version": HandChange(_new_version, "DEGRADED", "policy", repaired=True),
    "key_deleted": HandChange(_delete_key, "BROKEN", "key"),
    "key_deactivated": HandChange(_deactivate_key, "BROKEN", "key"),
    "secret_deleted": HandChange(_delete_secret, "BROKEN", "secret"),
    "bucket_policy_deny": HandChange(_deny, "BROKEN", "bucket_policy"),
    "user_deleted": HandChange(_delete_user, "BROKEN", "user"),
    "bucket_deleted": HandChange(_delete_bucket, "BROKEN", "bucket"),
    # Without its fence tags the boundary no longer fences the key (its Unfenced statements): a widening.
    "tags_removed": HandChange(_untag, "DEGRADED", "tags"),
    "inline_policy": HandChange(_inline, "DEGRADED", "widening"),
    "customer_policy": HandChange(_customer_policy, "DEGRADED", "widening"),
    "second_key": HandChange(_second_key, "DEGRADED", "keys"),
}  # fmt: skip


def _onboard(stack: Any, sfn: Any, bucket: str, stem: str, *, labellerr: bool = False) -> Onboarded:
    connection_id = unique_id(stem)
    request = {
        "connection_name": "Health",
        "connection_id": connection_id,
        "bucket": bucket,
        "register_in_labellerr": labellerr,
    }
    run = run_flow(stack, sfn, request)
    assert run.status == "SUCCEEDED", run.cause
    record = record_of(stack, connection_id)
    assert record is not None
    return Onboarded(connection_id, f"labellerr-{connection_id}", record, bucket)


def _check(stack: Any, sfn: Any, connection_id: str, door: str = "health-checks") -> dict[str, Any]:
    status, answer = http(stack, "POST", f"/connections/{connection_id}/{door}")
    assert status == 202, answer
    run = wait_for_run(sfn, answer["execution_arn"])
    assert run.status == "SUCCEEDED", run.cause
    record = record_of(stack, connection_id)
    assert record is not None
    assert record["health"]["execution_arn"] == answer["execution_arn"]
    return record


def _problems(record: dict[str, Any]) -> dict[str, str]:
    return {f["check"]: f["outcome"] for f in record["health"]["findings"] if f["outcome"] != "passed"}


def _health_news(stack: Any, connection_id: str) -> list[dict[str, Any]]:
    """Record health publishes before its execution ends, so the events are all there once a check ended."""
    return [
        e
        for e in stack.events(detail_type="Connection Health Changed")
        if e["detail"].get("connection_id") == connection_id
    ]


def _delete(stack: Any, connection_id: str) -> dict[str, Any]:
    assert http(stack, "DELETE", f"/connections/{connection_id}")[0] == 202
    return wait_for_status(stack, connection_id, {"DELETED", "ROLLBACK_FAILED"})


def test_a_fresh_connection_is_healthy_and_a_first_healthy_check_is_no_news(stack, sfn, bucket):
    onboarded = _onboard(stack, sfn, bucket, "healthy", labellerr=True)
    record = _check(stack, sfn, onboarded.connection_id)
    assert record["health"]["status"] == "HEALTHY", record["health"]
    assert record["status"] == "ACTIVE"
    checks = {f["check"] for f in record["health"]["findings"]}
    assert {
        "secret",
        "user",
        "tags",
        "key",
        "policy_attached",
        "policy",
        "read",
        "cors",
        "labellerr_test",
    } <= checks
    assert _health_news(stack, onboarded.connection_id) == []


@pytest.mark.parametrize("kind", sorted(CHANGES))
def test_each_hand_change_is_found_repaired_if_ours_and_delete_leaves_nothing(
    stack, sfn, iam, secrets, bucket, kind
):
    change = CHANGES[kind]
    clients = Clients.of(stack)
    onboarded = _onboard(stack, sfn, bucket, kind.replace("_", "-")[:12], labellerr=change.labellerr)
    cid = onboarded.connection_id
    change.make(clients, onboarded)
    # S3 shows a bucket configuration change seconds later (the stack emulates it): the check after that.
    stack.settle()
    secret_value = None
    if kind != "secret_deleted":
        secret_value = json.loads(
            secrets.get_secret_value(SecretId=onboarded.record["secret_arn"])["SecretString"]
        )

    found = _check(stack, sfn, cid)
    assert found["health"]["status"] == change.status, _problems(found)
    assert change.finding in _problems(found), found["health"]
    assert found["status"] == "ACTIVE"
    # Checked twice, the same problems are news once.
    _check(stack, sfn, cid)
    [event] = _health_news(stack, cid)
    assert event["detail"]["status"] == change.status
    assert change.finding in {f["check"] for f in event["detail"]["findings"]}
    if secret_value is not None:
        assert secret_value["secret_access_key"] not in json.dumps([found, event])

    bucket_gone = kind == "bucket_deleted"
    world_before = None if change.repaired or bucket_gone else world(clients, cid, bucket, "")
    repaired = _check(stack, sfn, cid, door="repairs")
    if change.repaired:
        assert repaired["health"]["status"] == "HEALTHY", repaired["health"]
        assert repaired["health"]["repaired"]
    else:
        # Not ours to put back: the repair changes nothing, and the finding stays for a person.
        assert repaired["health"].get("repaired", []) == []
        assert change.finding in _problems(repaired)
        if world_before is not None:
            assert world(clients, cid, bucket, "") == world_before

    record = _delete(stack, cid)
    assert record["status"] == "DELETED", record
    assert leftovers(iam, secrets, cid) == []
    if not bucket_gone:
        assert world(clients, cid, bucket, "") == set()


def test_a_repair_after_terraform_rewrote_cors_keeps_the_customers_rules(stack, sfn, s3, bucket):
    onboarded = _onboard(stack, sfn, bucket, "terraform")
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [CUSTOMER_RULE]})
    stack.settle()
    repaired = _check(stack, sfn, onboarded.connection_id, door="repairs")
    assert repaired["health"]["status"] == "HEALTHY"
    rules = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert [r.get("ID") for r in rules] == ["website", f"labellerr-{onboarded.connection_id}"]
    assert rules[0]["AllowedOrigins"] == CUSTOMER_RULE["AllowedOrigins"]


def test_a_connection_deleted_in_labellerr_is_degraded_and_delete_still_finishes(
    stack, sfn, iam, secrets, bucket
):
    onboarded = _onboard(stack, sfn, bucket, "labellerr", labellerr=True)
    assert stack.labellerr is not None
    values = stack.labellerr.credentials
    person = LabellerrClient(
        LabellerrCredentials(values["api_key"], values["api_secret"], values["client_id"]), values["api_url"]
    )
    [made] = onboarded.record["labellerr"]["connections"]
    assert person.delete_connection(made["labellerr_connection_id"]) is True

    found = _check(stack, sfn, onboarded.connection_id)
    assert found["health"]["status"] == "DEGRADED", found["health"]
    assert _problems(found) == {"labellerr_connection": "warning"}
    [event] = _health_news(stack, onboarded.connection_id)
    assert event["detail"]["findings"][0]["check"] == "labellerr_connection"

    record = _delete(stack, onboarded.connection_id)
    assert record["status"] == "DELETED", record
    assert leftovers(iam, secrets, onboarded.connection_id) == []


def test_a_sweep_checks_every_active_connection_a_few_at_a_time(stack, sfn, iam, bucket):
    sick = _onboard(stack, sfn, bucket, "sweep-a")
    well = _onboard(stack, sfn, bucket, "sweep-b")
    _detach(Clients.of(stack), sick)
    arn = stack.state_machines["ConnectionHealthStateMachine"]
    run = wait_for_run(sfn, start(sfn, arn, {"sweep": True}))
    assert run.status == "SUCCEEDED", run.cause
    assert record_of(stack, sick.connection_id)["health"]["status"] == "BROKEN"
    assert record_of(stack, well.connection_id)["health"]["status"] == "HEALTHY"
    # The sweep never repairs unless asked (AutoRepair false): the policy is still detached.
    assert iam.list_attached_user_policies(UserName=sick.user)["AttachedPolicies"] == []
    maps = [e for e in run.history if e["type"] == "MapStateStarted"]
    assert maps


def test_a_health_check_requested_on_the_bus_repairs_and_records(stack, sfn, iam, bucket):
    onboarded = _onboard(stack, sfn, bucket, "bus")
    _detach(Clients.of(stack), onboarded)
    stack.client("events").put_events(
        Entries=[
            {
                "EventBusName": stack.event_bus_name,
                "Source": "acme.security",
                "DetailType": "Connection Health Check Requested",
                "Detail": json.dumps({"connection_id": onboarded.connection_id, "repair": True}),
            }
        ]
    )
    deadline = time.monotonic() + 30
    while (record_of(stack, onboarded.connection_id) or {}).get("health") is None:
        assert time.monotonic() < deadline, "no health check ran for the event"
        time.sleep(0.05)
    health = record_of(stack, onboarded.connection_id)["health"]
    assert health["status"] == "HEALTHY", health
    assert health["repaired"] == [
        f"policy {onboarded.record['policy_arn']} attached to IAM user {onboarded.user} again"
    ]
    attached = iam.list_attached_user_policies(UserName=onboarded.user)["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [onboarded.record["policy_arn"]]


def test_a_sweep_hands_the_rest_of_its_connections_to_a_new_execution(stack, sfn, bucket, monkeypatch):
    """Each execution checks one page, then starts the next (states:startExecution of itself), so no history
    outgrows Step Functions' limit at IAM's 5,000 users. A page of 2 here, of 250 in AWS."""
    ours = [_onboard(stack, sfn, bucket, f"page-{i}") for i in range(3)]
    monkeypatch.setattr(sys.modules["labellerr_fn_select_connections_app"], "SWEEP_PAGE", 2)
    arn = stack.state_machines["ConnectionHealthStateMachine"]
    before = {e["executionArn"] for e in sfn.list_executions(stateMachineArn=arn)["executions"]}
    first = start(sfn, arn, {"sweep": True})
    run = wait_for_run(sfn, first)
    assert run.status == "SUCCEEDED", (run.error, run.cause)
    deadline = time.monotonic() + 120
    while any(
        o.connection_id not in json.dumps((record_of(stack, o.connection_id) or {}).get("health") or {})
        and (record_of(stack, o.connection_id) or {}).get("health", {}).get("checked_at", "") < ""
        for o in ours
    ) or any(e["status"] == "RUNNING" for e in sfn.list_executions(stateMachineArn=arn)["executions"]):
        assert time.monotonic() < deadline, "the sweep's executions did not end"
        time.sleep(0.1)
    runs = [
        e for e in sfn.list_executions(stateMachineArn=arn)["executions"] if e["executionArn"] not in before
    ]
    assert len(runs) >= 2
    assert {e["status"] for e in runs} == {"SUCCEEDED"}
    for onboarded in ours:
        health = record_of(stack, onboarded.connection_id)["health"]
        assert health["status"] == "HEALTHY"
        assert health["execution_arn"] in {e["executionArn"] for e in runs}


def test_a_disabled_kms_key_breaks_the_connection_and_no_repair_touches_it(stack, sfn, iam, secrets):
    clients = Clients.of(stack)
    bucket = new_bucket(clients, customer_cors=False)
    onboarded = _onboard(stack, sfn, bucket, "kms")
    key_arn = onboarded.record["encryption"]["customer_kms_key_arns"][0].split("/")[-1]
    kms = stack.client("kms")
    kms.disable_key(KeyId=key_arn)

    found = _check(stack, sfn, onboarded.connection_id)
    assert found["health"]["status"] == "BROKEN", _problems(found)
    assert _problems(found).get("kms") == "failed", found["health"]
    repaired = _check(stack, sfn, onboarded.connection_id, door="repairs")
    assert repaired["health"].get("repaired", []) == []
    assert kms.describe_key(KeyId=key_arn)["KeyMetadata"]["KeyState"] == "Disabled"

    kms.enable_key(KeyId=key_arn)
    record = _delete(stack, onboarded.connection_id)
    assert record["status"] == "DELETED", record
    assert leftovers(iam, secrets, onboarded.connection_id) == []
