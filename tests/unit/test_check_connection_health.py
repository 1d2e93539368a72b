"""What the health check reads of what the connection owns (provisioner_core.health_owned), one hand change
at a time, and the status a set of findings makes. The key's own reads and Labellerr's test are driven
through the real state machine in tests/flow/test_connection_health.py."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.check_connection_health.app import check_connection_health
from provisioner_core import health, health_owned, registry
from tests.unit.conftest import SETTINGS
from tests.unit.health_setup import onboarded

WIDE = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
)


def _owned(iam: Any, secrets: Any, record: Any) -> list[Any]:
    key, secret = health_owned.secret_key(secrets, record)
    found = [secret, *health_owned.user_findings(iam, record, key.access_key_id if key else None)]
    return [*found, *health_owned.policy_findings(iam, record, SETTINGS)]


def _problems(found: list[Any]) -> dict[str, tuple[str, bool]]:
    return {f["check"]: (f["outcome"], f["repairable"]) for f in found if f["outcome"] != "passed"}


def test_as_onboarding_left_it_everything_passes(iam, secrets, dynamodb, connection):
    record = onboarded(iam, secrets, dynamodb, connection)
    found = _owned(iam, secrets, record)
    assert _problems(found) == {}
    assert {f["check"] for f in found} == {"secret", "user", "tags", "key", "policy_attached", "policy"}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("detach_policy", {"policy_attached": ("failed", True)}),
        ("deactivate_key", {"key": ("failed", False)}),
        ("delete_key", {"key": ("failed", False)}),
        ("second_key", {"keys": ("warning", False)}),
        ("inline_policy", {"widening": ("warning", False)}),
        ("customer_policy", {"widening": ("warning", False)}),
        ("group", {"widening": ("warning", False)}),
        ("new_policy_version", {"policy": ("warning", True)}),
        ("remove_tags", {"tags": ("warning", False)}),
        ("delete_secret", {"secret": ("failed", False)}),
        ("schedule_secret_deletion", {"secret": ("failed", False)}),
    ],
)
def test_each_hand_change_is_found_as_what_it_is(iam, secrets, dynamodb, connection, change, expected):
    record = onboarded(iam, secrets, dynamodb, connection)
    user, key = record["iam_user_name"], record["access_key_id"]
    if change == "detach_policy":
        iam.detach_user_policy(UserName=user, PolicyArn=record["policy_arn"])
    elif change == "deactivate_key":
        iam.update_access_key(UserName=user, AccessKeyId=key, Status="Inactive")
    elif change == "delete_key":
        iam.delete_access_key(UserName=user, AccessKeyId=key)
    elif change == "second_key":
        iam.create_access_key(UserName=user)
    elif change == "inline_policy":
        iam.put_user_policy(UserName=user, PolicyName="debug", PolicyDocument=WIDE)
    elif change == "customer_policy":
        arn = iam.create_policy(PolicyName="team-wide", PolicyDocument=WIDE)["Policy"]["Arn"]
        iam.attach_user_policy(UserName=user, PolicyArn=arn)
    elif change == "group":
        iam.create_group(GroupName="auditors")
        iam.add_user_to_group(GroupName="auditors", UserName=user)
    elif change == "new_policy_version":
        iam.create_policy_version(PolicyArn=record["policy_arn"], PolicyDocument=WIDE, SetAsDefault=True)
    elif change == "remove_tags":
        iam.untag_user(UserName=user, TagKeys=["labellerr-fence-bucket"])
    elif change == "delete_secret":
        secrets.delete_secret(SecretId=record["secret_arn"], ForceDeleteWithoutRecovery=True)
    elif change == "schedule_secret_deletion":
        secrets.delete_secret(SecretId=record["secret_arn"], RecoveryWindowInDays=7)
    found = _owned(iam, secrets, record)
    assert _problems(found) == expected
    # No secret in any finding, whatever was found.
    secret_value = (
        json.loads(secrets.get_secret_value(SecretId=record["secret_arn"])["SecretString"])
        if ("secret" not in expected)
        else None
    )
    if secret_value:
        assert secret_value["secret_access_key"] not in json.dumps(found)


def test_a_deleted_user_is_one_finding_and_nothing_else_is_looked_at(iam, secrets, dynamodb, connection):
    record = onboarded(iam, secrets, dynamodb, connection)
    user = record["iam_user_name"]
    iam.detach_user_policy(UserName=user, PolicyArn=record["policy_arn"])
    iam.delete_access_key(UserName=user, AccessKeyId=record["access_key_id"])
    iam.delete_user(UserName=user)
    assert [(f["check"], f["outcome"]) for f in health_owned.user_findings(iam, record, None)] == [
        ("user", "failed")
    ]


def test_a_connection_that_is_not_active_is_not_checked(iam, secrets, dynamodb, connection):
    onboarded(iam, secrets, dynamodb, connection)
    registry.update(
        dynamodb,
        connection["connection_id"],
        {"status": "DEPROVISIONING"},
        owner_field="execution_arn",
        owner=connection["execution_arn"],
    )
    result = check_connection_health(connection["connection_id"], dynamodb, iam, secrets, SETTINGS)
    assert (result["checked"], result["skipped"]) == (False, "the connection is DEPROVISIONING")


@pytest.mark.parametrize(
    ("outcomes", "status"),
    [
        (["passed", "not_tried"], "HEALTHY"),
        (["passed", "warning"], "DEGRADED"),
        (["warning", "failed"], "BROKEN"),
    ],
)
def test_failed_is_broken_a_warning_is_degraded_and_not_tried_changes_nothing(outcomes, status):
    assert health.status_of([health.finding(f"c{i}", o, "") for i, o in enumerate(outcomes)]) == status


def test_only_a_new_status_or_a_new_set_of_problems_is_news():
    broken = [health.finding("policy_attached", "failed", "detached at 10:00")]
    reworded = [health.finding("policy_attached", "failed", "detached, seen at 11:00")]
    assert health.changed(None, "HEALTHY", []) is False
    assert health.changed(None, "BROKEN", broken) is True
    before = {"status": "BROKEN", "findings": broken}
    assert health.changed(before, "BROKEN", reworded) is False
    assert health.changed(before, "BROKEN", [*broken, health.finding("keys", "warning", "")]) is True
    assert health.changed(before, "HEALTHY", []) is True


def test_a_boundary_removed_or_replaced_by_hand_is_a_widening_a_person_must_undo():
    wanted = "arn:aws:iam::123456789012:policy/stack-connection-boundary"
    ours = {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": wanted}
    assert health_owned.boundary_finding("u", ours, wanted)["outcome"] == "passed"
    removed = health_owned.boundary_finding("u", {}, wanted)
    assert (removed["outcome"], removed["repairable"]) == ("warning", False)
    assert f"--permissions-boundary {wanted}" in removed["detail"]
    other = {
        "PermissionsBoundaryType": "Policy",
        "PermissionsBoundaryArn": "arn:aws:iam::123456789012:policy/wide",
    }
    assert "policy/wide" in health_owned.boundary_finding("u", other, wanted)["detail"]
