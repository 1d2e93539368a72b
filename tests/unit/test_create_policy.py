from __future__ import annotations

import json

import pytest

from functions.create_policy.app import create_policy
from provisioner_core.errors import InvalidRequest, PolicyAlreadyExists
from tests.unit.conftest import SETTINGS, make_connection


def _document(iam, policy_arn):
    version = iam.get_policy(PolicyArn=policy_arn)["Policy"]["DefaultVersionId"]
    document = iam.get_policy_version(PolicyArn=policy_arn, VersionId=version)["PolicyVersion"]["Document"]
    return json.loads(document) if isinstance(document, str) else document


def test_creates_the_bucket_scoped_policy_on_the_path(iam, connection):
    policy = create_policy(iam, connection, SETTINGS)
    assert policy["policy_arn"] == "arn:aws:iam::123456789012:policy/labellerr/labellerr-satellite-images"
    statements = {s["Sid"]: s for s in _document(iam, policy["policy_arn"])["Statement"]}
    assert statements["ReadObjects"]["Resource"] == "arn:aws:s3:::acme-datasets/images/*"
    assert "WriteObjects" not in statements
    assert policy["document_chars"] <= 6144
    tags = iam.list_policy_tags(PolicyArn=policy["policy_arn"])["Tags"]
    assert {"Key": "labellerr:connection-id", "Value": "satellite-images"} in tags


def test_existing_policy_with_our_name_is_a_clear_failure(iam, connection):
    iam.create_policy(
        PolicyName=connection["policy_name"],
        Path="/labellerr/",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}],
            }
        ),
    )
    with pytest.raises(PolicyAlreadyExists, match=connection["policy_name"]):
        create_policy(iam, connection, SETTINGS)


def test_retry_of_the_same_execution_adopts_its_own_policy(iam, connection):
    first = create_policy(iam, connection, SETTINGS)
    again = create_policy(iam, connection, SETTINGS)
    assert again["policy_arn"] == first["policy_arn"]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [({"bucket": "*"}, "bucket"), ({"bucket": "a?b"}, "bucket"), ({"prefix": "a/*/"}, "prefix"),
     ({"prefix": "../x/"}, "prefix"), ({"prefix": "images"}, "prefix")],
)  # fmt: skip
def test_the_location_is_checked_again_where_the_policy_is_built(iam, overrides, field):
    with pytest.raises(InvalidRequest) as raised:
        create_policy(iam, make_connection(**overrides), SETTINGS)
    assert raised.value.errors[0]["field"] == field
    assert iam.list_policies(Scope="Local", PathPrefix="/labellerr/")["Policies"] == []


def test_a_prefix_beyond_latin_1_is_created_as_iam_accepts_it(iam):
    connection = make_connection(prefix="\u753b\u50cf/2024/", s3_uri="acme-datasets/\u753b\u50cf/2024/")
    policy = create_policy(iam, connection, SETTINGS)
    statements = {s["Sid"]: s for s in _document(iam, policy["policy_arn"])["Statement"]}
    assert statements["ReadObjects"]["Resource"] == "arn:aws:s3:::acme-datasets/\u753b\u50cf/2024/*"
    description = iam.get_policy(PolicyArn=policy["policy_arn"])["Policy"]["Description"]
    assert description.endswith("on s3://acme-datasets/\\u753b\\u50cf/2024/")
    assert max(map(ord, description)) <= 0xFF
