"""Key rotation through the real rotation state machine: what IAM, Secrets Manager, the registry, the
events and the Labellerr stand-in hold at each stage, and which keys S3 accepts."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from provisioner_core.connection import labellerr_marker
from tests.support.api import http
from tests.support.clients import key_of, signed_with
from tests.support.executions import wait_for_run
from tests.support.residue import leftovers
from tests.support.rotations import keys_on_user, record, start_rotation, wait_for_stage
from tests.support.secret_values import SecretValue

pytestmark = pytest.mark.flow


def _works(stack, key: dict[str, str], bucket: str) -> bool:
    """True when S3 accepts the key; False when it refuses it as unknown (Inactive or deleted)."""
    try:
        signed_with(stack, key).list_objects_v2(Bucket=bucket, Prefix="images/")
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if code != "InvalidAccessKeyId":
            raise
        return False
    return True


def _event(stack, detail_type: str, connection_id: str) -> dict[str, Any]:
    return stack.wait_for_event(
        detail_type, where=lambda e: e["detail"].get("connection_id") == connection_id
    )


def test_a_rotation_hands_over_a_verified_key_and_retires_the_old_one_only_after_use(
    stack, clients, connection
):
    cid, bucket, secret_arn = connection["connection_id"], connection["bucket"], connection["secret_arn"]
    user = connection["iam_user_name"]
    old = key_of(clients.secrets, secret_arn)
    stack.labellerr.clear_log()
    status, started = http(stack, "POST", f"/connections/{cid}/rotations")
    assert status == 202, started
    assert started["status"] == "ROTATION_STARTED"

    promoted = wait_for_stage(clients, cid, "PROMOTED")
    assert promoted["status"] == "ROTATING"
    new = key_of(clients.secrets, secret_arn)  # AWSCURRENT now holds the new key
    assert new["access_key_id"] == promoted["rotation"]["new_access_key_id"] != old["access_key_id"]
    assert (
        key_of(clients.secrets, secret_arn, VersionStage="AWSPREVIOUS")["access_key_id"]
        == old["access_key_id"]
    )
    stages = clients.secrets.describe_secret(SecretId=secret_arn)["VersionIdsToStages"]
    assert sorted(s for labels in stages.values() for s in labels) == ["AWSCURRENT", "AWSPREVIOUS"]
    # Labellerr tested the new key, for both connection types, before the hand-over.
    tested = [e for e in stack.labellerr.request_log if e["path"] == "/connectors/connections/test"]
    assert len(tested) == 2
    pending = _event(stack, "Connection Key Rotation Pending", cid)["detail"]
    assert (pending["new_access_key_id"], pending["old_access_key_id"]) == (
        new["access_key_id"],
        old["access_key_id"],
    )
    old_secret, new_secret = SecretValue(old["secret_access_key"]), SecretValue(new["secret_access_key"])
    leaked = old_secret.found_in(pending), new_secret.found_in(pending)
    assert leaked == (False, False), "(old, new) secret access key in the Pending event, marked True"
    # Both keys work until the consumer adopts the new one; the old one only until it is deactivated.
    assert _works(stack, old, bucket)
    assert _works(stack, new, bucket)

    # The consumer switches: its first request with the new key is the adoption.
    signed_with(stack, new).get_object(Bucket=bucket, Key="images/cat.png")
    inactive = wait_for_stage(clients, cid, "OLD_KEY_INACTIVE")
    assert inactive["rotation"]["adopted_by"] == "use"
    assert keys_on_user(clients.iam, user) == {
        old["access_key_id"]: "Inactive",
        new["access_key_id"]: "Active",
    }
    assert not _works(stack, old, bucket)
    assert _works(stack, new, bucket)

    run = wait_for_run(clients.sfn, started["execution_arn"])
    assert run.status == "SUCCEEDED", run.cause
    # Only ids and ARNs travelled: neither secret is anywhere in the rotation's history or its log lines.
    history = json.dumps(run.history, default=str)
    leaked = old_secret.found_in(history), new_secret.found_in(history)
    assert leaked == (False, False), "(old, new) secret access key in the rotation's history, marked True"
    assert "secret_access_key" not in history
    assert keys_on_user(clients.iam, user) == {new["access_key_id"]: "Active"}
    done = record(clients, cid)
    assert (done["status"], done["access_key_id"], done["rotation"]["stage"]) == (
        "ACTIVE", new["access_key_id"], "ROTATED",
    )  # fmt: skip
    rotated = _event(stack, "Connection Key Rotated", cid)["detail"]
    assert rotated["access_key_id"] == new["access_key_id"]
    status, shown = http(stack, "GET", f"/connections/{cid}")
    assert status == 200
    [key] = shown["keys"]
    assert (key["access_key_id"], key["status"], key["current"]) == (new["access_key_id"], "Active", True)
    assert key["last_used_at"]
    assert key["last_used_service"] == "s3"
    assert key["age_days"] >= 0


def test_a_consumer_that_never_adopts_stalls_the_rotation_with_both_keys_active(stack, clients, connection):
    cid, secret_arn, user = connection["connection_id"], connection["secret_arn"], connection["iam_user_name"]
    old = key_of(clients.secrets, secret_arn)
    run = wait_for_run(clients.sfn, start_rotation(stack, clients.sfn, cid))
    assert (run.status, run.error) == ("FAILED", "RotationStalled")
    new = key_of(clients.secrets, secret_arn)
    assert keys_on_user(clients.iam, user) == {old["access_key_id"]: "Active", new["access_key_id"]: "Active"}
    stalled = record(clients, cid)
    assert (stalled["status"], stalled["access_key_id"], stalled["rotation"]["stage"]) == (
        "ACTIVE", new["access_key_id"], "STALLED",
    )  # fmt: skip
    assert stalled["rotation_left_behind"] == [
        f"old access key {old['access_key_id']} on user {user} (still active)"
    ]
    assert (
        _event(stack, "Connection Key Rotation Stalled", cid)["detail"]["old_access_key_id"]
        == old["access_key_id"]
    )
    # The next rotation refuses to make room by deleting a key: the user must choose which one goes.
    again = wait_for_run(clients.sfn, start_rotation(stack, clients.sfn, cid))
    assert (again.status, again.error) == ("FAILED", "BeginRotation.TooManyAccessKeys")
    assert len(keys_on_user(clients.iam, user)) == 2


def test_a_rollback_in_the_grace_period_brings_the_old_key_back(stack, clients, connection):
    cid, bucket, secret_arn = connection["connection_id"], connection["bucket"], connection["secret_arn"]
    old = key_of(clients.secrets, secret_arn)
    status, started = http(stack, "POST", f"/connections/{cid}/rotations")
    rotation_id = started["rotation_id"]
    wait_for_stage(clients, cid, "PROMOTED")
    # Too early: the old key is still active, there is nothing to roll back yet.
    early, answer = http(stack, "POST", f"/connections/{cid}/rotations/{rotation_id}/rollback")
    assert early == 409
    assert "OLD_KEY_INACTIVE" in answer["errors"][0]["message"]
    status, answer = http(stack, "POST", f"/connections/{cid}/rotations/{rotation_id}/confirm")
    assert status == 202, answer
    wait_for_stage(clients, cid, "OLD_KEY_INACTIVE")
    assert not _works(stack, old, bucket)
    status, answer = http(stack, "POST", f"/connections/{cid}/rotations/{rotation_id}/rollback")
    assert status == 202, answer

    run = wait_for_run(clients.sfn, started["execution_arn"])
    assert run.status == "SUCCEEDED", run.cause
    assert keys_on_user(clients.iam, connection["iam_user_name"]) == {old["access_key_id"]: "Active"}
    assert key_of(clients.secrets, secret_arn)["access_key_id"] == old["access_key_id"]
    assert _works(stack, old, bucket)
    rolled_back = record(clients, cid)
    assert (rolled_back["status"], rolled_back["access_key_id"], rolled_back["rotation"]["stage"]) == (
        "ACTIVE", old["access_key_id"], "ROLLED_BACK",
    )  # fmt: skip
    _event(stack, "Connection Key Rotation Rolled Back", cid)


def test_a_new_key_that_fails_verification_is_removed_and_the_old_one_stays(
    stack, clients, connection, faults
):
    cid, bucket, secret_arn = connection["connection_id"], connection["bucket"], connection["secret_arn"]
    old = key_of(clients.secrets, secret_arn)
    faults(["S3:ListObjectsV2@VerifyAccessFunction"])
    run = wait_for_run(clients.sfn, start_rotation(stack, clients.sfn, cid))
    faults([])
    assert (run.status, run.error) == ("FAILED", "RotationFailed")
    assert keys_on_user(clients.iam, connection["iam_user_name"]) == {old["access_key_id"]: "Active"}
    stages = clients.secrets.describe_secret(SecretId=secret_arn)["VersionIdsToStages"]
    assert [labels for labels in stages.values() if labels] == [["AWSCURRENT"]]
    assert key_of(clients.secrets, secret_arn)["access_key_id"] == old["access_key_id"]
    assert _works(stack, old, bucket)
    failed = record(clients, cid)
    assert (failed["status"], failed["access_key_id"], failed["rotation"]["stage"]) == (
        "ACTIVE", old["access_key_id"], "FAILED",
    )  # fmt: skip
    assert _event(stack, "Connection Key Rotation Failed", cid)["detail"]["error"]["error"]


def test_a_user_with_two_keys_is_refused_and_keeps_both(stack, clients, connection):
    cid, user = connection["connection_id"], connection["iam_user_name"]
    extra = clients.iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    try:
        run = wait_for_run(clients.sfn, start_rotation(stack, clients.sfn, cid))
        assert (run.status, run.error) == ("FAILED", "BeginRotation.TooManyAccessKeys")
        assert "never deletes an active key" in json.loads(run.cause or "{}")["message"]
        assert set(keys_on_user(clients.iam, user)) == {connection["access_key_id"], extra}
        assert record(clients, cid)["status"] == "ACTIVE"
    finally:
        clients.iam.delete_access_key(UserName=user, AccessKeyId=extra)


def test_the_api_refuses_a_rotation_unless_active(stack, clients, connection):
    cid = connection["connection_id"]
    status, started = http(stack, "POST", f"/connections/{cid}/rotations")
    assert status == 202
    wait_for_stage(clients, cid, "PROMOTED")
    again, answer = http(stack, "POST", f"/connections/{cid}/rotations")
    assert again == 409
    assert "ROTATING" in answer["errors"][0]["message"]
    assert http(stack, "POST", "/connections/no-such-connection/rotations")[0] == 404
    assert http(stack, "POST", f"/connections/{cid}/rotations/not-this-one/confirm")[0] == 404
    http(stack, "POST", f"/connections/{cid}/rotations/{started['rotation_id']}/confirm")
    assert wait_for_run(clients.sfn, started["execution_arn"]).status == "SUCCEEDED"


def test_offboarding_during_a_rotation_stops_it_and_removes_both_keys(stack, clients, connection):
    cid = connection["connection_id"]
    rotation_arn = start_rotation(stack, clients.sfn, cid)
    wait_for_stage(clients, cid, "PROMOTED")
    assert len(keys_on_user(clients.iam, connection["iam_user_name"])) == 2
    status, answer = http(stack, "DELETE", f"/connections/{cid}")
    assert status == 202, answer
    offboarding = wait_for_run(clients.sfn, answer["execution_arn"])
    assert offboarding.status == "SUCCEEDED", offboarding.cause
    assert wait_for_run(clients.sfn, rotation_arn).status == "ABORTED"
    assert leftovers(clients.iam, clients.secrets, cid) == []
    assert record(clients, cid)["status"] == "DELETED"
    assert not [c for c in stack.labellerr.connections() if labellerr_marker(cid) in c.description]


def test_a_rotation_requested_on_the_event_bus_runs_like_the_api(stack, clients, connection):
    cid = connection["connection_id"]
    clients_events = stack.client("events")
    clients_events.put_events(
        Entries=[{"EventBusName": stack.event_bus_name, "Source": "acme.security",
                  "DetailType": "Connection Key Rotation Requested", "Detail": json.dumps({"connection_id": cid})}]
    )  # fmt: skip
    # The rotation stays PROMOTED (its Waits are stepped) until the confirmation is in.
    promoted = wait_for_stage(clients, cid, "PROMOTED")
    status, _ = http(
        stack, "POST", f"/connections/{cid}/rotations/{promoted['rotation']['rotation_id']}/confirm"
    )
    assert status == 202
    run = wait_for_run(clients.sfn, promoted["rotation_execution_arn"])
    assert run.status == "SUCCEEDED", run.cause
    assert record(clients, cid)["rotation"]["adopted_by"] == "confirmation"


def test_a_failed_rotation_leaves_a_key_a_person_deactivated_inactive(stack, clients, connection, faults):
    cid, bucket, user = connection["connection_id"], connection["bucket"], connection["iam_user_name"]
    old = key_of(clients.secrets, connection["secret_arn"])
    # During an incident, somebody switched the connection's key off.
    clients.iam.update_access_key(UserName=user, AccessKeyId=old["access_key_id"], Status="Inactive")
    faults(["S3:ListObjectsV2@VerifyAccessFunction"])
    run = wait_for_run(clients.sfn, start_rotation(stack, clients.sfn, cid))
    faults([])
    assert (run.status, run.error) == ("FAILED", "RotationFailed")
    # Undone: the new key is gone and the old one is as the person left it, not Active again.
    assert keys_on_user(clients.iam, user) == {old["access_key_id"]: "Inactive"}
    assert not _works(stack, old, bucket)
    failed = record(clients, cid)
    assert failed["rotation"]["old_key_status"] == "Inactive"
    assert (failed["status"], failed["access_key_id"], failed["rotation"]["stage"]) == (
        "ACTIVE", old["access_key_id"], "FAILED",
    )  # fmt: skip


def test_a_rotation_of_a_connection_whose_secret_is_gone_says_so_with_its_event(stack, clients, connection):
    cid, secret_arn = connection["connection_id"], connection["secret_arn"]
    clients.secrets.delete_secret(SecretId=secret_arn, ForceDeleteWithoutRecovery=True)
    run = wait_for_run(clients.sfn, start_rotation(stack, clients.sfn, cid))
    assert (run.status, run.error) == ("FAILED", "BeginRotation.SecretGone")
    assert f"secret {secret_arn} is gone" in run.cause_json["message"]
    detail = _event(stack, "Connection Key Rotation Failed", cid)["detail"]
    assert detail["error"] == "BeginRotation.SecretGone"
    assert f"secret {secret_arn} is gone" in json.loads(detail["cause"])["message"]
    assert record(clients, cid)["status"] == "ACTIVE"


def test_a_rotation_of_a_connection_whose_user_is_gone_says_so_with_its_event(stack, clients, connection):
    cid, user = connection["connection_id"], connection["iam_user_name"]
    for key in keys_on_user(clients.iam, user):
        clients.iam.delete_access_key(UserName=user, AccessKeyId=key)
    for policy in clients.iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]:
        clients.iam.detach_user_policy(UserName=user, PolicyArn=policy["PolicyArn"])
    clients.iam.delete_user(UserName=user)
    run = wait_for_run(clients.sfn, start_rotation(stack, clients.sfn, cid))
    assert (run.status, run.error) == ("FAILED", "BeginRotation.UserGone")
    assert f"user {user} is gone" in run.cause_json["message"]
    detail = _event(stack, "Connection Key Rotation Failed", cid)["detail"]
    assert detail["error"] == "BeginRotation.UserGone"
    assert f"user {user} is gone" in json.loads(detail["cause"])["message"]
    assert record(clients, cid)["status"] == "ACTIVE"


def test_a_detached_policy_fails_the_rotation_at_once_not_as_propagation(stack, clients, connection):
    cid, user = connection["connection_id"], connection["iam_user_name"]
    old = key_of(clients.secrets, connection["secret_arn"])
    policy_name = record(clients, cid)["policy_name"]
    attached = clients.iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]
    ours = next(p for p in attached if p["PolicyName"] == policy_name)
    clients.iam.detach_user_policy(UserName=user, PolicyArn=ours["PolicyArn"])
    try:
        # IAM propagation would be waited for about 2 minutes; a detached policy is named at once.
        run = wait_for_run(clients.sfn, start_rotation(stack, clients.sfn, cid), deadline_s=45)
        assert (run.status, run.error) == ("FAILED", "RotationFailed")
        failed = record(clients, cid)
        assert failed["rotation"]["stage"] == "FAILED"
        assert failed["rotation"]["error"]["error"] == "PolicyDetached"
        assert f"policy {policy_name} is no longer attached" in failed["rotation"]["error"]["message"]
        assert keys_on_user(clients.iam, user) == {old["access_key_id"]: "Active"}
    finally:
        clients.iam.attach_user_policy(UserName=user, PolicyArn=ours["PolicyArn"])
