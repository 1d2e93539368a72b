"""Offboarding converges whatever a person changed on the connection's user: removed tags do not make the user
foreign, and what a person attached to it that blocks DeleteUser is removed (or named, when the provisioner
may not remove it), so DELETE ends DELETED with nothing left, or ROLLBACK_FAILED saying exactly what is left."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.api import http, lifecycle, wait_for_status
from tests.support.clients import Clients
from tests.support.executions import run_flow, unique_id
from tests.support.residue import leftovers, world

pytestmark = pytest.mark.flow

READ_ONLY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}],
    }
)


def _onboarded(stack: Any, sfn: Any, bucket: str, stem: str) -> tuple[str, str]:
    connection_id = unique_id(stem)
    request = {
        "connection_name": "By hand",
        "connection_id": connection_id,
        "bucket": bucket,
        "register_in_labellerr": False,
    }
    run = run_flow(stack, sfn, request)
    assert run.status == "SUCCEEDED", run.cause
    return connection_id, f"labellerr-{connection_id}"


def _delete(stack: Any, connection_id: str, wanted: set[str]) -> dict[str, Any]:
    assert http(stack, "DELETE", f"/connections/{connection_id}")[0] == 202
    return wait_for_status(stack, connection_id, wanted)


def test_a_user_whose_tags_were_removed_is_still_ours_and_delete_leaves_nothing(
    stack, sfn, iam, secrets, bucket
):
    connection_id, user = _onboarded(stack, sfn, bucket, "untagged")
    tags = iam.list_user_tags(UserName=user)["Tags"]
    # A person runs UntagUser: every tag, the connection id and the fence among them.
    iam.untag_user(UserName=user, TagKeys=[tag["Key"] for tag in tags])
    [key] = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]

    record = _delete(stack, connection_id, {"DELETED", "ROLLBACK_FAILED"})

    assert record["status"] == "DELETED", record
    assert leftovers(iam, secrets, connection_id) == []
    assert world(Clients.of(stack), connection_id, bucket, "") == set()
    assert f"IAM user {user}" in record["removed"]
    assert f"access key {key['AccessKeyId']}" in record["removed"]
    [event] = lifecycle(stack, connection_id, "Connection Deleted")
    assert event["detail"]["removed"] == record["removed"]


def test_what_a_person_attached_to_our_user_is_removed_and_named_and_theirs_is_kept(
    stack, sfn, iam, secrets, bucket
):
    connection_id, user = _onboarded(stack, sfn, bucket, "attached")
    iam.put_user_policy(UserName=user, PolicyName="debugging", PolicyDocument=READ_ONLY)
    customer = iam.create_policy(PolicyName=f"team-{connection_id}", PolicyDocument=READ_ONLY)["Policy"][
        "Arn"
    ]
    iam.attach_user_policy(UserName=user, PolicyArn=customer)
    iam.create_login_profile(UserName=user, Password="Aa1!-a-long-enough-password")

    record = _delete(stack, connection_id, {"DELETED", "ROLLBACK_FAILED"})

    assert record["status"] == "DELETED", record
    assert leftovers(iam, secrets, connection_id) == []
    # The customer's policy is detached, never deleted.
    assert iam.get_policy(PolicyArn=customer)["Policy"]["AttachmentCount"] == 0
    removed = record["removed"]
    assert f"inline policy debugging of IAM user {user} (deleted)" in removed
    assert f"policy {customer} detached from IAM user {user} (the policy is kept)" in removed
    assert f"console password (login profile) of IAM user {user}" in removed
    assert f"IAM user {user}" in removed
    iam.delete_policy(PolicyArn=customer)


def test_a_group_membership_is_named_as_what_is_left_and_one_delete_finishes_after_the_persons_fix(
    stack, sfn, iam, secrets, bucket
):
    """RemoveUserFromGroup is authorized on the group alone, so the provisioner is not granted it (it would
    reach every user in every group): the membership is named, and the group is never touched."""
    connection_id, user = _onboarded(stack, sfn, bucket, "grouped")
    group = f"auditors-{connection_id}"
    iam.create_group(GroupName=group)
    iam.add_user_to_group(GroupName=group, UserName=user)

    record = _delete(stack, connection_id, {"DELETED", "ROLLBACK_FAILED"})

    assert record["status"] == "ROLLBACK_FAILED", record
    membership = f"membership of IAM user {user} in group {group}"
    assert membership in record["left_behind"]
    assert f"IAM user {user}" in record["left_behind"]
    cause = json.loads(record["error"]["cause"])
    assert f"{membership}: RemoveUserFromGroup failed with AccessDenied" in cause["errors"]
    assert f"IAM user {user}: DeleteUser failed with DeleteConflict" in cause["errors"]
    [event] = lifecycle(stack, connection_id, "Connection Rollback Failed")
    assert event["detail"]["left_behind"] == record["left_behind"]

    iam.remove_user_from_group(GroupName=group, UserName=user)
    record = _delete(stack, connection_id, {"DELETED"})
    assert leftovers(iam, secrets, connection_id) == []
    assert iam.get_group(GroupName=group)["Group"]["GroupName"] == group
    iam.delete_group(GroupName=group)
