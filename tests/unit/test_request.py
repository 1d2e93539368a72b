"""The onboarding request: validation, normalization, connection id derivation and to_connection."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest

from provisioner_core.config import TAG_CONNECTION_ID, TAG_EXECUTION_ARN, Settings
from provisioner_core.connection import made_by, ownership_tags, probe_key
from provisioner_core.errors import InvalidRequest
from provisioner_core.naming import CONNECTION_ID_PATTERN, derive_connection_id
from provisioner_core.request import parse_request, to_connection

ARN = "arn:aws:states:us-east-1:123456789012:execution:Onboard:run-1"
BASE: dict[str, Any] = {"connection_name": "Satellite images", "s3_uri": "acme-datasets/images/"}
SUFFIX = r"-[a-z0-9]{6}"


def request(**fields: Any) -> dict[str, Any]:
    """BASE with fields replaced; a value of None drops the field."""
    raw = {**BASE, **fields}
    return {key: value for key, value in raw.items() if value is not None}


def errors_of(raw: Any) -> list[dict[str, str]]:
    with pytest.raises(InvalidRequest) as raised:
        parse_request(raw)
    errors = raised.value.errors
    assert errors, "InvalidRequest must list at least one violation"
    for error in errors:
        assert set(error) == {"field", "message"}
        assert error["field"]
        assert error["message"]
    return errors


def messages_for(raw: Any, field: str) -> str:
    """Every message about `field`, joined; fails when the request was rejected only for other fields."""
    errors = errors_of(raw)
    messages = [error["message"] for error in errors if error["field"] == field]
    assert messages, f"no error names {field!r}: {errors}"
    return " | ".join(messages)


# --- simple fields -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("connection_name", "x" * 64),
        ("connection_name", "Sat_images.v2 - raw"),
        ("connection_id", "a" * 40),
        ("connection_id", "sat-images-01"),
        ("description", "d" * 256),
    ],
)
def test_accepts_field_value(field: str, value: Any) -> None:
    parsed = parse_request(request(**{field: value}))
    assert getattr(parsed, field) == value


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("connection_name", "", "at least 1 character"),
        ("connection_name", "x" * 65, "at most 64 characters"),
        ("connection_name", "   ", "not be blank"),
        ("connection_name", "bad/name", "only letters, digits, space"),
        ("connection_name", "na\u00efve", "only letters, digits, space"),
        ("connection_id", "a" * 41, "at most 40 characters"),
        ("connection_id", "Sat-images", "lowercase"),
        ("connection_id", "sat--images", "single hyphens"),
        ("connection_id", "sat-images-", "single hyphens"),
        ("description", "d" * 257, "at most 256 characters"),
        ("access", "read", "'import' or 'import_export'"),
        ("apply_cors", "true", "valid boolean"),
        ("apply_cors", 1, "valid boolean"),
    ],
)
def test_rejects_field_naming_field_and_rule(field: str, value: Any, fragment: str) -> None:
    assert fragment in messages_for(request(**{field: value}), field)


def test_defaults() -> None:
    parsed = parse_request(BASE)
    assert (parsed.access, parsed.apply_cors, parsed.description, parsed.connection_id) == (
        "import",
        True,
        None,
        None,
    )


def test_null_optional_fields_count_as_absent() -> None:
    parsed = parse_request({**BASE, "description": None, "connection_id": None})
    assert parsed.description is None
    assert parsed.connection_id is None


def test_missing_connection_name_is_required() -> None:
    assert messages_for({"s3_uri": "acme-datasets"}, "connection_name") == "required"


def test_unknown_field_is_rejected_and_allowed_fields_are_listed() -> None:
    message = messages_for(request(role="admin"), "role")
    assert "unknown field" in message
    assert "connection_name" in message
    assert "s3_uri" in message


def test_non_object_request_is_rejected() -> None:
    assert errors_of(["connection_name", "x"]) == [{"field": "request", "message": "must be a JSON object"}]


def test_every_violation_is_reported_at_once() -> None:
    raw = {
        "connection_name": "",
        "connection_id": "A",
        "description": "d" * 257,
        "bucket": "ab",
        "prefix": "a*",
        "access": "read",
        "apply_cors": "yes",
        "role": "admin",
    }
    by_field = {error["field"]: error["message"] for error in errors_of(raw)}
    assert set(by_field) == {
        "connection_name",
        "connection_id",
        "description",
        "bucket",
        "prefix",
        "access",
        "apply_cors",
        "role",
    }
    assert "'*'" in by_field["prefix"]
    assert "3-63 characters" in by_field["bucket"]


# --- location form -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "field", "fragment"),
    [
        ({"s3_uri": "acme-datasets/images/", "bucket": "acme-datasets"}, "s3_uri", "not both"),
        ({"s3_uri": "acme-datasets", "prefix": "images/"}, "prefix", "inside s3_uri"),
        ({}, "s3_uri", "required"),
        ({"prefix": "images/"}, "s3_uri", "required"),
    ],
)
def test_location_form_rules(raw: dict[str, Any], field: str, fragment: str) -> None:
    errors = errors_of({"connection_name": "x", **raw})
    assert len(errors) == 1
    assert errors[0]["field"] == field
    assert fragment in errors[0]["message"]


# --- bucket names --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bucket",
    ["abc", "a" * 63, "my.bucket-01", "192.168.1.1a", "xn-abc"],
)
def test_accepts_bucket_name(bucket: str) -> None:
    parsed = parse_request({"connection_name": "x", "bucket": bucket})
    assert parsed.location() == (bucket, "")


@pytest.mark.parametrize(
    ("bucket", "fragment"),
    [
        ("ab", "3-63 characters"),
        ("a" * 64, "3-63 characters"),
        ("Bad_Bucket", "lowercase letters"),
        ("-abc", "begin and end with a letter or digit"),
        ("my..bucket", "no '..'"),
        ("192.168.1.1", "must not be formatted as an IP address"),
        ("256.256.256.256", "must not be formatted as an IP address"),
        ("192.168.01.1", "must not be formatted as an IP address"),
        ("xn--abc", "reserved prefixes"),
        ("sthree-abc", "reserved prefixes"),
        ("amzn-s3-demo-bucket", "reserved prefixes"),
        ("abc-s3alias", "reserved prefixes and suffixes"),
        ("abc--ol-s3", "reserved prefixes and suffixes"),
        ("abc.mrap", "reserved prefixes and suffixes"),
        ("abc--x-s3", "reserved prefixes and suffixes"),
        ("abc--table-s3", "reserved prefixes and suffixes"),
    ],
)
def test_rejects_bucket_name(bucket: str, fragment: str) -> None:
    assert fragment in messages_for({"connection_name": "x", "bucket": bucket}, "bucket")


@pytest.mark.parametrize(
    ("uri", "fragment"),
    [
        ("s3://Bad_Bucket/images/", "names bucket 'Bad_Bucket'"),
        ("s3://192.168.1.1/x/", "IP address"),
    ],
)
def test_rejects_bucket_inside_s3_uri(uri: str, fragment: str) -> None:
    assert fragment in messages_for(request(s3_uri=uri), "s3_uri")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"s3_uri": None, "bucket": "acme-datasets\n"}, "bucket"),
        ({"s3_uri": "s3://acme-datasets\n"}, "s3_uri"),
        ({"connection_name": "Satellite images\n"}, "connection_name"),
        ({"connection_id": "sat-images\n"}, "connection_id"),
    ],
)
def test_rejects_trailing_newline(fields: dict[str, Any], field: str) -> None:
    messages_for(request(**fields), field)


# --- prefixes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "normalized"),
    [
        ("images", "images/"),
        ("/images/", "images/"),
        ("//a/b//", "a/b/"),
        ("", ""),
        (".hidden/..x/", ".hidden/..x/"),
        ("a" * 1023, "a" * 1023 + "/"),
    ],
)
def test_normalizes_prefix(prefix: str, normalized: str) -> None:
    parsed = parse_request({"connection_name": "x", "bucket": "acme-datasets", "prefix": prefix})
    assert parsed.location() == ("acme-datasets", normalized)


@pytest.mark.parametrize(
    ("prefix", "fragment"),
    [
        ("a/*/", "must not contain '*'"),
        ("a?", "must not contain '?'"),
        ("${aws:username}/", "must not contain '$'"),
        ("{a", "must not contain '{'"),
        ("a}", "must not contain '}'"),
        ("../x", "'.' or '..' path segments"),
        ("a/./b", "'.' or '..' path segments"),
        ("a/..", "'.' or '..' path segments"),
        ("a\x00b", "control or invisible formatting characters"),
        ("a\nb", "control or invisible formatting characters"),
        ("a" * 1024, "at most 1024 bytes"),
        ("\u00e9" * 512, "at most 1024 bytes"),  # 512 characters, 1025 bytes with the '/'
        ("/", "at least one path segment"),
        ("//", "at least one path segment"),
        ("0///0/", "empty path segments"),
        ("a//b", "empty path segments"),
    ],
)
def test_rejects_prefix(prefix: str, fragment: str) -> None:
    raw = {"connection_name": "x", "bucket": "acme-datasets", "prefix": prefix}
    assert fragment in messages_for(raw, "prefix")


@pytest.mark.parametrize(
    ("uri", "fragment"),
    [
        ("acme-datasets/a/*/", "prefix must not contain '*'"),
        ("s3://acme-datasets/../x", "prefix must not contain '.' or '..'"),
        # "bucket/" names the whole bucket on purpose; "bucket//" looks like a path and names none.
        ("s3://acme-datasets//", "at least one path segment"),
        ("acme-datasets///", "at least one path segment"),
    ],
)
def test_rejects_prefix_inside_s3_uri(uri: str, fragment: str) -> None:
    assert fragment in messages_for(request(s3_uri=uri), "s3_uri")


# --- connection id derivation --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Satellite images", "satellite-images"),
        ("  Sat__images..V2 ", "sat-images-v2"),
        ("._-", "connection"),
        ("x" * 32 + " " + "y" * 31, "x" * 32),  # cut at 33 characters, trailing '-' dropped
    ],
)
def test_derived_connection_id_is_slug_plus_suffix(name: str, slug: str) -> None:
    derived = derive_connection_id(name)
    assert re.fullmatch(re.escape(slug) + SUFFIX, derived)
    assert len(derived) <= 40
    assert CONNECTION_ID_PATTERN.match(derived)
    # The derived id must itself pass the request's connection_id rule.
    assert parse_request(request(connection_id=derived)).connection_id == derived


def test_derived_connection_ids_are_unique() -> None:
    assert len({derive_connection_id("Satellite images") for _ in range(50)}) == 50


# --- to_connection -------------------------------------------------------------------------------


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name in ("IAM_NAME_PREFIX", "IAM_PATH", "SECRET_NAME_PREFIX", "RESOURCE_PARTITION"):
        monkeypatch.delenv(name, raising=False)
    return Settings.from_env()


def test_to_connection_uses_the_default_names(settings: Settings) -> None:
    raw = {
        "connection_name": "Satellite images",
        "connection_id": "sat-images",
        "description": "Raw tiles",
        "s3_uri": "s3://acme-datasets//images",
        "access": "import_export",
        "apply_cors": False,
    }
    connection = to_connection(parse_request(raw), settings, execution_arn=ARN, region="eu-west-1")
    assert connection == {
        "connection_id": "sat-images",
        "connection_name": "Satellite images",
        "description": "Raw tiles",
        "bucket": "acme-datasets",
        "prefix": "images/",
        "s3_uri": "acme-datasets/images/",
        "access": "import_export",
        "apply_cors": False,
        "whole_bucket": False,
        "region": "eu-west-1",
        "iam_user_name": "labellerr-sat-images",
        "iam_path": "/labellerr/",
        "policy_name": "labellerr-sat-images",
        "secret_name": "labellerr/connections/sat-images",
        "execution_arn": ARN,
        "register_in_labellerr": False,
        "labellerr_data_type": "image",
    }


def test_to_connection_derives_the_id_once_for_every_name(settings: Settings) -> None:
    connection = to_connection(parse_request(BASE), settings, execution_arn=ARN, region="us-east-1")
    connection_id = connection["connection_id"]
    assert re.fullmatch("satellite-images" + SUFFIX, connection_id)
    assert connection["iam_user_name"] == connection["policy_name"] == f"labellerr-{connection_id}"
    assert connection["secret_name"] == f"labellerr/connections/{connection_id}"


@pytest.mark.parametrize(
    ("location", "bucket", "prefix", "uri"),
    [
        ({"s3_uri": "s3://acme-datasets/images"}, "acme-datasets", "images/", "acme-datasets/images/"),
        ({"s3_uri": "S3://acme-datasets/"}, "acme-datasets", "", "acme-datasets"),
        ({"bucket": "acme-datasets", "prefix": "/a/b"}, "acme-datasets", "a/b/", "acme-datasets/a/b/"),
    ],
)
def test_to_connection_canonical_s3_uri(
    settings: Settings, location: dict[str, str], bucket: str, prefix: str, uri: str
) -> None:
    parsed = parse_request({"connection_name": "x", "connection_id": "x", **location})
    connection = to_connection(parsed, settings, execution_arn=ARN, region="us-east-1")
    assert (connection["bucket"], connection["prefix"], connection["s3_uri"]) == (bucket, prefix, uri)
    if "s3_uri" in location:
        assert parsed.s3_uri == uri


def test_ownership_tags_prove_which_execution_made_a_resource(settings: Settings) -> None:
    parsed = parse_request(request(connection_id="sat-images"))
    connection = to_connection(parsed, settings, execution_arn=ARN, region="us-east-1")
    tags = ownership_tags(connection)
    assert tags == [
        {"Key": TAG_CONNECTION_ID, "Value": "sat-images"},
        {"Key": TAG_EXECUTION_ARN, "Value": ARN},
    ]
    assert made_by(tags, ARN)
    assert not made_by(tags, ARN + "-other")
    assert not made_by([{"Key": TAG_CONNECTION_ID, "Value": ARN}], ARN)


def test_probe_key_lives_under_the_prefix(settings: Settings) -> None:
    parsed = parse_request(request(connection_id="sat-images"))
    connection = to_connection(parsed, settings, execution_arn=ARN, region="us-east-1")
    assert probe_key(connection) == "images/.labellerr-connection-check-sat-images"


# --- the hand-off to Labellerr ----------------------------------------------------------------------------


def test_register_in_labellerr_defaults_to_whether_the_stack_has_credentials(settings: Settings) -> None:
    with_credentials = dataclasses.replace(
        settings, labellerr_credentials_secret_arn="arn:aws:secretsmanager:x"
    )
    parsed = parse_request(BASE, labellerr_available=True)
    assert to_connection(parsed, with_credentials, execution_arn=ARN, region="us-east-1")[
        "register_in_labellerr"
    ]
    assert not to_connection(parse_request(BASE), settings, execution_arn=ARN, region="us-east-1")[
        "register_in_labellerr"
    ]
    off = parse_request({**BASE, "register_in_labellerr": False}, labellerr_available=True)
    assert not to_connection(off, with_credentials, execution_arn=ARN, region="us-east-1")[
        "register_in_labellerr"
    ]


def test_register_in_labellerr_true_without_credentials_names_the_field() -> None:
    with pytest.raises(InvalidRequest) as raised:
        parse_request({**BASE, "register_in_labellerr": True})
    assert [e["field"] for e in raised.value.errors] == ["register_in_labellerr"]
    assert "LabellerrCredentialsSecretArn" in raised.value.errors[0]["message"]
    assert parse_request({**BASE, "register_in_labellerr": False}).register_in_labellerr is False


@pytest.mark.parametrize("data_type", ["image", "video", "audio", "document", "text"])
def test_labellerr_data_types(data_type: str) -> None:
    assert parse_request({**BASE, "labellerr_data_type": data_type}).labellerr_data_type == data_type


@pytest.mark.parametrize("bad", [{"labellerr_data_type": "pointcloud"}, {"register_in_labellerr": "yes"}])
def test_labellerr_fields_are_strict(bad: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest) as raised:
        parse_request({**BASE, **bad}, labellerr_available=True)
    assert [e["field"] for e in raised.value.errors] == list(bad)


@pytest.mark.parametrize(
    ("char", "access"),
    [("\u753b", "import_export"), ("\u20ac", "import_export"), ("\U0001f431", "import"),
     ("\U0001f431", "import_export")],
)  # fmt: skip
def test_a_long_non_latin_prefix_is_a_400_naming_prefix_and_the_quota(char: str, access: str) -> None:
    # Within S3's 1,024 bytes, but each character is a 6- or 12-character escape in the policy.
    prefix = char * (1023 // len(char.encode())) + "/"
    with pytest.raises(InvalidRequest) as raised:
        parse_request(
            {"connection_name": "Pictures", "bucket": "acme-datasets", "prefix": prefix, "access": access}
        )
    (problem,) = raised.value.errors
    assert problem["field"] == "prefix"
    assert "IAM allows 6144" in problem["message"]
    assert "above U+00FF counts as 6" in problem["message"]


@pytest.mark.parametrize("prefix", ["\u753b\u50cf/2024/", "\u753b" * 341 + "/", "\u00e9" * 511 + "/"])
def test_non_latin_prefixes_whose_policy_fits_are_accepted(prefix: str) -> None:
    request = parse_request({"connection_name": "Pictures", "s3_uri": f"acme-datasets/{prefix}"})
    assert request.location() == ("acme-datasets", prefix)
