"""What each call needs authorized (role_requests), and the template's roles judged by the evaluator: the
provisioner's own permissions as AWS would check them, from the Service Authorization Reference's actions,
resources and condition keys."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from provisioner_local.policy_evaluation import evaluate
from provisioner_local.role_calls import Call, UnknownOperation
from provisioner_local.role_requests import requests_for
from provisioner_local.template import SamTemplate

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
BOUNDARY = "arn:aws:iam::123456789012:policy/ConnectionBoundaryPolicy"
TAGS: list[Any] = [
    {"Key": "labellerr:connection-id", "Value": "c-1"},
    {"Key": "labellerr:execution-arn", "Value": "arn:aws:states:us-east-1:123456789012:execution:x:y"},
    {"Key": "labellerr-fence-bucket", "Value": "acme"},
]


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def roles(**overrides: str) -> dict:
    return SamTemplate.load(ROOT / "template.yaml", overrides).function_roles()


def allowed(function: str, call: Call, **overrides: str) -> bool:
    role = roles(**overrides)[function]
    return all(evaluate(role.documents, request).allowed for request in requests_for(call))


def iam_call(operation: str, **params: object) -> Call:
    return Call("iam", operation, params, REGION)


def test_an_existing_users_arn_has_its_path_and_its_tags_are_the_resource_tags(aws: None) -> None:
    iam = boto3.client("iam", region_name=REGION)
    iam.create_user(UserName="labellerr-c-1", Path="/labellerr/", Tags=TAGS)
    (request,) = requests_for(iam_call("ListAccessKeys", UserName="labellerr-c-1"))
    assert request.action == "iam:ListAccessKeys"
    assert request.resource == "arn:aws:iam::123456789012:user/labellerr/labellerr-c-1"
    assert request.context["aws:ResourceTag/labellerr:connection-id"] == "c-1"


def test_a_user_that_does_not_exist_is_matched_without_a_path(aws: None) -> None:
    (request,) = requests_for(iam_call("ListUserTags", UserName="labellerr-gone"))
    assert request.resource == "arn:aws:iam::123456789012:user/labellerr-gone"
    assert request.context == {}


def test_create_user_with_tags_is_also_tag_user_under_both_readings_of_its_resource_tags(aws: None) -> None:
    call = iam_call(
        "CreateUser", UserName="labellerr-c-1", Path="/labellerr/", Tags=TAGS, PermissionsBoundary=BOUNDARY
    )
    create, *tagging = requests_for(call)
    assert create.context["iam:PermissionsBoundary"] == BOUNDARY
    assert create.context["aws:TagKeys"] == [tag["Key"] for tag in TAGS]
    assert [request.action for request in tagging] == ["iam:TagUser", "iam:TagUser"]
    assert "aws:ResourceTag/labellerr:connection-id" not in tagging[0].context
    assert tagging[1].context["aws:ResourceTag/labellerr:connection-id"] == "c-1"


def test_s3_operations_are_authorized_as_s3_actions(aws: None) -> None:
    (listing,) = requests_for(Call("s3", "ListObjectsV2", {"Bucket": "acme", "Prefix": "images/"}, REGION))
    assert (listing.action, listing.resource, listing.context["s3:prefix"]) == (
        "s3:ListBucket",
        "arn:aws:s3:::acme",
        "images/",
    )
    (head,) = requests_for(Call("s3", "HeadObject", {"Bucket": "acme", "Key": "a/b.png"}, REGION))
    assert (head.action, head.resource) == ("s3:GetObject", "arn:aws:s3:::acme/a/b.png")
    (cors,) = requests_for(Call("s3", "DeleteBucketCors", {"Bucket": "acme"}, REGION))
    assert cors.action == "s3:PutBucketCORS"
    (version,) = requests_for(
        Call("s3", "DeleteObject", {"Bucket": "acme", "Key": "k", "VersionId": "v"}, REGION)
    )
    assert version.action == "s3:DeleteObjectVersion"


def test_secrets_manager_uses_a_customer_key_on_the_callers_behalf(aws: None) -> None:
    key = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["Arn"]
    secrets = boto3.client("secretsmanager", region_name=REGION)
    arn = secrets.create_secret(Name="labellerr/connections/c-1", SecretString="{}", KmsKeyId=key)["ARN"]
    read, decrypt = requests_for(Call("secretsmanager", "GetSecretValue", {"SecretId": arn}, REGION))
    assert (read.action, read.resource) == ("secretsmanager:GetSecretValue", arn)
    assert (decrypt.action, decrypt.resource) == ("kms:Decrypt", key)
    assert decrypt.context["kms:ViaService"] == f"secretsmanager.{REGION}.amazonaws.com"
    plain = secrets.create_secret(Name="labellerr/connections/c-2", SecretString="{}")["ARN"]
    assert len(requests_for(Call("secretsmanager", "GetSecretValue", {"SecretId": plain}, REGION))) == 1


def test_an_operation_the_local_stack_does_not_describe_is_refused() -> None:
    with pytest.raises(UnknownOperation):
        requests_for(Call("iam", "CreateRole", {"RoleName": "x"}, REGION))
    with pytest.raises(UnknownOperation):
        requests_for(Call("sqs", "SendMessage", {}, REGION))


# -- the template's roles


def test_every_function_has_a_role_the_local_stack_can_read() -> None:
    template = SamTemplate.load(ROOT / "template.yaml")
    assert set(template.function_roles()) == {spec.logical_id for spec in template.functions()}


def test_create_user_may_create_its_tagged_user_with_the_boundary_only(aws: None) -> None:
    call = dict(UserName="labellerr-c-1", Path="/labellerr/", Tags=TAGS, PermissionsBoundary=BOUNDARY)
    assert allowed("CreateUserFunction", iam_call("CreateUser", **call))
    assert not allowed(
        "CreateUserFunction", iam_call("CreateUser", **{**call, "PermissionsBoundary": "arn:x"})
    )
    foreign_tag = [*TAGS, {"Key": "team", "Value": "x"}]
    assert not allowed("CreateUserFunction", iam_call("CreateUser", **{**call, "Tags": foreign_tag}))
    # No other role may change a tag at all.
    assert not allowed("RollbackFunction", iam_call("TagUser", UserName="labellerr-c-1", Tags=TAGS))


def test_cleanup_reads_a_gone_user_as_gone_not_as_denied(aws: None) -> None:
    for function in ("RollbackFunction", "RemoveConnectionFunction"):
        for operation in ("ListUserTags", "ListAccessKeys", "ListAttachedUserPolicies"):
            assert allowed(function, iam_call(operation, UserName="labellerr-gone")), (function, operation)
    assert allowed("PlanOnboardingFunction", iam_call("GetUser", UserName="labellerr-gone"))


def test_rollback_removes_keys_only_from_users_with_the_connection_tag(aws: None) -> None:
    iam = boto3.client("iam", region_name=REGION)
    iam.create_user(UserName="labellerr-ours", Path="/labellerr/", Tags=TAGS)
    iam.create_user(UserName="labellerr-theirs", Path="/labellerr/")
    assert allowed(
        "RollbackFunction", iam_call("DeleteAccessKey", UserName="labellerr-ours", AccessKeyId="AKIA1")
    )
    assert not allowed(
        "RollbackFunction", iam_call("DeleteAccessKey", UserName="labellerr-theirs", AccessKeyId="AKIA1")
    )


def test_offboarding_removes_from_users_of_our_name_and_path_only_tags_or_not(aws: None) -> None:
    """Remove connection proves a user is the connection's by the record too (a person may remove its tags):
    its removals reach the provisioner's names on its path, and no other user."""
    iam = boto3.client("iam", region_name=REGION)
    iam.create_user(UserName="labellerr-untagged", Path="/labellerr/")
    iam.create_user(UserName="someone", Path="/labellerr/", Tags=TAGS)
    iam.create_user(UserName="labellerr-elsewhere", Path="/", Tags=TAGS)
    removals = {
        "DeleteAccessKey": {"AccessKeyId": "AKIA1"},
        "DeleteUser": {},
        "GetUser": {},
        "ListUserPolicies": {},
        "DeleteUserPolicy": {"PolicyName": "p"},
        "DetachUserPolicy": {"PolicyArn": "arn:aws:iam::123456789012:policy/team"},
        "ListGroupsForUser": {},
        "DeleteLoginProfile": {},
        "ListMFADevices": {},
        "DeactivateMFADevice": {"SerialNumber": "arn:aws:iam::123456789012:mfa/x"},
        "ListSigningCertificates": {},
        "DeleteSigningCertificate": {"CertificateId": "C1"},
        "ListSSHPublicKeys": {},
        "DeleteSSHPublicKey": {"SSHPublicKeyId": "APKA1"},
        "ListServiceSpecificCredentials": {},
        "DeleteServiceSpecificCredential": {"ServiceSpecificCredentialId": "ACCA1"},
    }
    for operation, params in removals.items():
        call = iam_call(operation, UserName="labellerr-untagged", **params)
        assert allowed("RemoveConnectionFunction", call), operation
        for other in ("someone", "labellerr-elsewhere"):
            assert not allowed("RemoveConnectionFunction", iam_call(operation, UserName=other, **params)), (
                operation,
                other,
            )
    # Rollback gains none of it.
    assert not allowed("RollbackFunction", iam_call("DeleteUser", UserName="labellerr-untagged"))
    assert not allowed(
        "RollbackFunction", iam_call("DeleteUserPolicy", UserName="labellerr-untagged", PolicyName="p")
    )


def test_group_membership_is_authorized_on_the_group_and_no_role_may_remove_it(aws: None) -> None:
    iam = boto3.client("iam", region_name=REGION)
    iam.create_user(UserName="labellerr-ours", Path="/labellerr/", Tags=TAGS)
    iam.create_group(GroupName="auditors", Path="/team/")
    (request,) = requests_for(
        iam_call("RemoveUserFromGroup", GroupName="auditors", UserName="labellerr-ours")
    )
    assert (request.action, request.resource) == (
        "iam:RemoveUserFromGroup",
        "arn:aws:iam::123456789012:group/team/auditors",
    )
    for function in roles():
        call = iam_call("RemoveUserFromGroup", GroupName="auditors", UserName="labellerr-ours")
        assert not allowed(function, call), function


def test_every_role_that_reads_or_writes_a_secret_may_use_the_customer_key(aws: None) -> None:
    key = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["Arn"]
    secrets = boto3.client("secretsmanager", region_name=REGION)
    arn = secrets.create_secret(Name="labellerr/connections/c-1", SecretString="{}", KmsKeyId=key)["ARN"]
    readers = [
        "IssueAccessKeyFunction",
        "VerifyAccessFunction",
        "RegisterInLabellerrFunction",
        "IssueRotationKeyFunction",
        "HandOverRotationKeyFunction",
        "UndoRotationFunction",
    ]
    read = Call("secretsmanager", "GetSecretValue", {"SecretId": arn}, REGION)
    for function in readers:
        assert allowed(function, read, SecretsKmsKeyArn=key), function
    write = Call("secretsmanager", "PutSecretValue", {"SecretId": arn, "SecretString": "{}"}, REGION)
    for function in ("IssueAccessKeyFunction", "IssueRotationKeyFunction"):
        assert allowed(function, write, SecretsKmsKeyArn=key), function
    # Without the parameter no role may use the key.
    assert not allowed("VerifyAccessFunction", read)
