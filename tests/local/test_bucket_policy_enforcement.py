"""Explicit Deny in bucket policies, from AWS's documented evaluation rules (bucket_policy_enforcement)."""

from __future__ import annotations

from typing import Any

import pytest

from provisioner_local.bucket_policy_enforcement import S3Request, check, explicit_deny

ACCOUNT = "123456789012"
USER = f"arn:aws:iam::{ACCOUNT}:user/labellerr/labellerr-x"
BUCKET = "arn:aws:s3:::acme"


def _request(action: str = "s3:GetObject", resource: str = f"{BUCKET}/images/a.png", **kw: Any) -> S3Request:
    return S3Request(principal_arn=USER, account_id=ACCOUNT, user_name="labellerr-x", user_id="AIDA1",
                     action=action, resource=resource, **kw)  # fmt: skip


def _policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _deny(**fields: Any) -> dict[str, Any]:
    return {
        "Sid": "D",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": f"{BUCKET}/*",
        **fields,
    }


def test_the_message_is_s3s_and_names_the_resource_based_policy():
    message = check('{"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", '
                    f'"Resource": "{BUCKET}/*"}}]}}', _request())  # fmt: skip
    assert message == (
        f'User: {USER} is not authorized to perform: s3:GetObject on resource: "{BUCKET}/images/a.png" '
        "with an explicit deny in a resource-based policy"
    )


@pytest.mark.parametrize(
    ("statement", "denied"),
    [
        (_deny(), True),
        (
            _deny(Condition={"StringNotEquals": {"aws:SourceVpce": "vpce-1"}}),
            True,
        ),  # absent key: negation holds
        (_deny(Condition={"StringEquals": {"aws:SourceVpce": "vpce-1"}}), False),  # absent key: no match
        (_deny(Condition={"Bool": {"aws:SecureTransport": "false"}}), False),
        (_deny(Condition={"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}), True),
        (_deny(Condition={"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}), True),
        (_deny(Condition={"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/labellerr/*"}}), False),
        (_deny(Condition={"StringNotEqualsIfExists": {"aws:SourceVpce": "vpce-1"}}), True),
        (_deny(Condition={"Null": {"aws:SourceVpce": "true"}}), True),
        (_deny(Principal={"AWS": f"arn:aws:iam::{ACCOUNT}:root"}), True),
        (_deny(Principal={"AWS": f"arn:aws:iam::{ACCOUNT}:user/someone-else"}), False),
        (_deny(Principal=None, NotPrincipal={"AWS": USER}), False),
        (_deny(Action="s3:PutObject"), False),
        (_deny(Action="S3:GETOBJECT"), True),  # action names are case-insensitive
        (_deny(Action=None, NotAction="s3:PutObject"), True),
        (_deny(Resource=f"{BUCKET}/private/*"), False),
        (_deny(Resource=None, NotResource=f"{BUCKET}/images/*"), False),
        ({**_deny(), "Effect": "Allow"}, False),
    ],
)
def test_which_deny_applies(statement, denied):
    statement = {k: v for k, v in statement.items() if v is not None}
    assert (explicit_deny(_policy(statement), _request()) is not None) is denied


def test_a_list_request_matches_on_the_bucket_and_its_prefix():
    policy = _policy(_deny(Resource=BUCKET, Condition={"StringLike": {"s3:prefix": "private/*"}}))
    assert explicit_deny(policy, _request("s3:ListBucket", BUCKET, prefix="private/x")) == "D"
    assert explicit_deny(policy, _request("s3:ListBucket", BUCKET, prefix="images/")) is None


def test_no_policy_or_an_unparsable_one_denies_nothing():
    assert check(None, _request()) is None
    assert check(b"not json", _request()) is None
