from __future__ import annotations

from functions.attach_policy.app import attach_policy
from functions.create_policy.app import create_policy
from functions.create_user.app import create_user
from tests.unit.conftest import SETTINGS


def test_attaches_the_policy_and_is_idempotent(iam, connection):
    user = create_user(iam, connection, SETTINGS)
    policy = create_policy(iam, connection, SETTINGS)
    for _ in range(2):
        attach_policy(iam, user["user_name"], policy["policy_arn"])
    attached = iam.list_attached_user_policies(UserName=user["user_name"])["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [policy["policy_arn"]]
