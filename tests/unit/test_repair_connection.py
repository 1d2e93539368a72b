"""Repair connection puts back what is ours, reading the world itself, and nothing else."""

from __future__ import annotations

import json

from functions.repair_connection.app import repair_connection
from provisioner_core import registry
from tests.unit.conftest import SETTINGS
from tests.unit.health_setup import onboarded

WIDE = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
)
CUSTOMER_RULE = {"ID": "website", "AllowedOrigins": ["https://www.acme.example"], "AllowedMethods": ["GET"]}


def _rules(s3, bucket):
    return s3.get_bucket_cors(Bucket=bucket)["CORSRules"]


def test_a_detached_policy_is_attached_again(iam, s3, secrets, dynamodb, connection, bucket):
    record = onboarded(iam, secrets, dynamodb, connection)
    iam.detach_user_policy(UserName=record["iam_user_name"], PolicyArn=record["policy_arn"])
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [CUSTOMER_RULE]})
    result = repair_connection(connection["connection_id"], dynamodb, iam, s3, SETTINGS)
    attached = iam.list_attached_user_policies(UserName=record["iam_user_name"])["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [record["policy_arn"]]
    assert (
        f"policy {record['policy_arn']} attached to IAM user {record['iam_user_name']} again"
        in result["repaired"]
    )
    # Terraform's rewrite dropped our rule: it is merged back after the customer's, which stays as it was.
    rules = _rules(s3, bucket)
    assert [r.get("ID") for r in rules] == ["website", f"labellerr-{connection['connection_id']}"]
    assert rules[0]["AllowedOrigins"] == CUSTOMER_RULE["AllowedOrigins"]


def test_a_new_default_version_goes_back_to_ours_and_the_others_are_deleted(
    iam, s3, secrets, dynamodb, connection, bucket
):
    record = onboarded(iam, secrets, dynamodb, connection)
    arn = record["policy_arn"]
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=WIDE, SetAsDefault=True)
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=WIDE, SetAsDefault=False)
    result = repair_connection(connection["connection_id"], dynamodb, iam, s3, SETTINGS)
    versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
    assert [(v["VersionId"], v["IsDefaultVersion"]) for v in versions] == [("v1", True)]
    assert (
        result["repaired"][0]
        == f"version v1 of policy {arn} (the provisioner's document) is the default again"
    )


def test_without_a_version_holding_our_document_it_says_so_and_changes_nothing(
    iam, s3, secrets, dynamodb, connection, bucket
):
    record = onboarded(iam, secrets, dynamodb, connection)
    arn = record["policy_arn"]
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=WIDE, SetAsDefault=True)
    iam.delete_policy_version(PolicyArn=arn, VersionId="v1")
    result = repair_connection(connection["connection_id"], dynamodb, iam, s3, SETTINGS)
    assert [v["VersionId"] for v in iam.list_policy_versions(PolicyArn=arn)["Versions"]] == ["v2"]
    assert "no version of policy" in result["not_repaired"][0]


def test_a_customer_rule_that_grants_the_same_is_left_alone_and_ours_is_not_added(
    iam, s3, secrets, dynamodb, connection, bucket
):
    onboarded(iam, secrets, dynamodb, connection)
    equivalent = {
        "ID": "granted-by-terraform",
        "AllowedOrigins": ["https://*.labellerr.com"],
        "AllowedMethods": ["GET", "HEAD"],
        "AllowedHeaders": ["*"],
        "ExposeHeaders": ["ETag", "Content-Length", "Content-Type", "Content-Range", "Accept-Ranges"],
        "MaxAgeSeconds": 3600,
    }
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [equivalent]})
    result = repair_connection(connection["connection_id"], dynamodb, iam, s3, SETTINGS)
    assert [r["ID"] for r in _rules(s3, bucket)] == ["granted-by-terraform"]
    assert result == {"repaired": [], "not_repaired": []}


def test_a_connection_being_offboarded_is_not_repaired(iam, s3, secrets, dynamodb, connection, bucket):
    record = onboarded(iam, secrets, dynamodb, connection)
    iam.detach_user_policy(UserName=record["iam_user_name"], PolicyArn=record["policy_arn"])
    registry.update(
        dynamodb, connection["connection_id"], {"status": "DEPROVISIONING"},
        owner_field="execution_arn", owner=connection["execution_arn"],
    )  # fmt: skip
    result = repair_connection(connection["connection_id"], dynamodb, iam, s3, SETTINGS)
    assert result["repaired"] == []
    assert iam.list_attached_user_policies(UserName=record["iam_user_name"])["AttachedPolicies"] == []
