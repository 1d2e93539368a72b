from __future__ import annotations

import dataclasses

import pytest

from functions.create_user.app import create_user
from provisioner_core.config import TAG_CONNECTION_ID, TAG_EXECUTION_ARN
from provisioner_core.errors import UserAlreadyExists
from provisioner_core.fence import TAG_FENCE_BUCKET, TAG_FENCE_PREFIX
from tests.unit.conftest import EXECUTION_ARN, SETTINGS, make_connection


def test_creates_tagged_user_on_the_path(iam, connection):
    user = create_user(iam, connection, SETTINGS)
    assert user["user_name"] == "labellerr-satellite-images"
    assert user["user_arn"].endswith(":user/labellerr/labellerr-satellite-images")
    tags = {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=user["user_name"])["Tags"]}
    assert tags == {
        TAG_CONNECTION_ID: "satellite-images",
        TAG_EXECUTION_ARN: EXECUTION_ARN,
        TAG_FENCE_BUCKET: connection["bucket"],
        TAG_FENCE_PREFIX: connection["prefix"],
    }


@pytest.mark.parametrize(
    ("prefix", "fenced"),
    [
        ("", False),
        ("images/", True),
        ("Bilder über 2024/", True),
        ("runs(1)/", False),
        ("a" * 257 + "/", False),
    ],
)
def test_the_prefix_tag_only_when_a_tag_value_can_hold_it(iam, prefix, fenced):
    connection = make_connection(prefix=prefix)
    create_user(iam, connection, SETTINGS)
    tags = {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=connection["iam_user_name"])["Tags"]}
    assert tags[TAG_FENCE_BUCKET] == connection["bucket"]
    assert tags.get(TAG_FENCE_PREFIX) == (prefix if fenced else None)


def test_retry_of_the_same_execution_adopts_its_own_user(iam, connection):
    first = create_user(iam, connection, SETTINGS)
    assert create_user(iam, connection, SETTINGS) == first


def test_foreign_user_with_our_name_is_a_clear_failure(iam, connection):
    iam.create_user(UserName=connection["iam_user_name"], Path="/labellerr/")
    with pytest.raises(UserAlreadyExists, match="labellerr-satellite-images"):
        create_user(iam, connection, SETTINGS)
    other_run = make_connection(execution_arn=EXECUTION_ARN + "-other")
    iam.tag_user(
        UserName=connection["iam_user_name"], Tags=[{"Key": TAG_EXECUTION_ARN, "Value": "someone-else"}]
    )
    with pytest.raises(UserAlreadyExists):
        create_user(iam, other_run, SETTINGS)


def test_every_user_gets_the_stack_boundary(iam, connection):
    """moto drops boundaries silently, so the request itself is checked."""
    sent = []
    iam.meta.events.register("before-parameter-build.iam.CreateUser", lambda params, **_: sent.append(params))
    boundary = "arn:aws:iam::123456789012:policy/stack-connection-boundary"
    create_user(iam, connection, dataclasses.replace(SETTINGS, permissions_boundary_arn=boundary))
    assert sent[0]["PermissionsBoundary"] == boundary
