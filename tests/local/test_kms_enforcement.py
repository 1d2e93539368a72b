"""SSE-KMS for issued keys, from the KMS key-access rules AWS documents (kms_enforcement)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from provisioner_local.kms_enforcement import KmsUse, object_key_id, put_key_id, refusal, state_refusal

ACCOUNT = "123456789012"
USER = f"arn:aws:iam::{ACCOUNT}:user/labellerr/labellerr-x"
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1111"
DEFAULT_KEY_POLICY = {"Statement": [{"Sid": "Enable IAM User Permissions", "Effect": "Allow",
                                     "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*",
                                     "Resource": "*"}]}  # fmt: skip
VIA_S3 = {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}


def _use(action: str = "kms:Decrypt") -> KmsUse:
    return KmsUse(USER, ACCOUNT, action, KEY, "us-east-1", "arn:aws:s3:::acme/images/a.png")


def _identity(action: Any = "kms:Decrypt", condition: dict[str, Any] | None = None, effect: str = "Allow"):
    statement: dict[str, Any] = {"Effect": effect, "Action": action, "Resource": [KEY]}
    if condition:
        statement["Condition"] = condition
    return [{"Statement": [statement]}]


def test_the_default_key_policy_lets_the_iam_policy_decide():
    assert refusal(DEFAULT_KEY_POLICY, _identity(condition=VIA_S3), _use()) is None


def test_no_identity_statement_is_refused_naming_the_kms_action():
    message = refusal(DEFAULT_KEY_POLICY, [], _use())
    assert message == (
        f"User: {USER} is not authorized to perform: kms:Decrypt on resource: {KEY} "
        "because no identity-based policy allows the kms:Decrypt action"
    )


def test_writing_needs_generate_data_key():
    assert refusal(DEFAULT_KEY_POLICY, _identity(), _use("kms:GenerateDataKey")) is not None
    both = _identity(["kms:Decrypt", "kms:GenerateDataKey"], VIA_S3)
    assert refusal(DEFAULT_KEY_POLICY, both, _use("kms:GenerateDataKey")) is None


def test_via_another_service_or_region_does_not_count():
    other = {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}}
    assert refusal(DEFAULT_KEY_POLICY, _identity(condition=other), _use()) is not None


def test_a_key_policy_without_the_account_refuses_whatever_iam_says():
    key_policy = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/admin"},
                                 "Action": "kms:*", "Resource": "*"}]}  # fmt: skip
    message = refusal(key_policy, _identity(), _use())
    assert message is not None
    assert "no resource-based policy allows the kms:Decrypt action" in message


def test_a_key_policy_naming_the_user_needs_no_iam_policy():
    key_policy = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": USER}, "Action": "kms:Decrypt",
                                 "Resource": "*"}]}  # fmt: skip
    assert refusal(key_policy, [], _use()) is None


@pytest.mark.parametrize("where", ["key", "identity"])
def test_an_explicit_deny_wins(where):
    deny = {"Effect": "Deny", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"}
    key_policy = (
        {"Statement": [*DEFAULT_KEY_POLICY["Statement"], deny]} if where == "key" else DEFAULT_KEY_POLICY
    )
    identity = _identity() + ([{"Statement": [{**deny, "Principal": None}]}] if where == "identity" else [])
    for document in identity:
        for statement in document["Statement"]:
            statement.pop("Principal", None)
    message = refusal(key_policy, identity, _use())
    assert message is not None
    assert "explicit deny" in message


def test_which_key_an_object_and_a_put_use():
    assert object_key_id(SimpleNamespace(encryption="aws:kms", kms_key_id="alias/x")) == "alias/x"
    assert object_key_id(SimpleNamespace(encryption="aws:kms", kms_key_id=None)) == "alias/aws/s3"
    assert object_key_id(SimpleNamespace(encryption="AES256", kms_key_id=None)) is None
    kms_default = SimpleNamespace(
        encryption={
            "Rule": {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KEY}}
        }
    )
    assert put_key_id(kms_default, {}) == KEY
    assert put_key_id(kms_default, {"x-amz-server-side-encryption": "AES256"}) is None
    assert (
        put_key_id(SimpleNamespace(encryption=None), {"X-Amz-Server-Side-Encryption": "aws:kms"})
        == "alias/aws/s3"
    )
    assert put_key_id(SimpleNamespace(encryption=None), {}) is None


def test_a_disabled_key_or_one_pending_deletion_is_refused_by_name_and_an_enabled_one_is_not():
    arn = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    assert state_refusal("Disabled", arn) == ("KMS.DisabledException", f"{arn} is disabled.")
    assert state_refusal("PendingDeletion", arn) == (
        "KMS.KMSInvalidStateException",
        f"{arn} is pending deletion.",
    )
    assert state_refusal("Enabled", arn) is None
