"""Properties of the request model: every request is either rejected field by field, or accepted safely.

Requests mix valid values with hostile ones (arbitrary unicode, IAM wildcards and policy variables, '..'
segments, slashes, control characters, very long strings, wrong types and unknown keys).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from provisioner_core.config import Settings
from provisioner_core.connection import s3_uri
from provisioner_core.errors import InvalidRequest
from provisioner_core.naming import (
    CONNECTION_ID_MAX,
    CONNECTION_ID_PATTERN,
    PREFIX_MAX_BYTES,
    bucket_name_problem,
    derive_connection_id,
)
from provisioner_core.request import ConnectionRequest, parse_request, to_connection
from tests.property.strategies import (
    FIELDS,
    WIDENING_OR_INVISIBLE,
    any_requests,
    long_names,
    raw_requests,
    valid_buckets,
    valid_names,
    valid_prefixes,
)

# IAM: user (and policy) names are 1-64 of [\w+=,.@-], \w being ASCII letters, digits and '_'.
IAM_NAME = re.compile(r"[\w+=,.@-]{1,64}", re.ASCII)
EXECUTION_ARN = "arn:aws:states:us-east-1:123456789012:execution:Onboard:run-1"
# The template's defaults (IamNamePrefix, IamPath, SecretNamePrefix), not the environment's.
SETTINGS = Settings(
    iam_name_prefix="labellerr-",
    iam_path="/labellerr/",
    secret_name_prefix="labellerr/connections/",
    cors_allowed_origins=("https://*.labellerr.com",),
    partition="aws",
    region="us-east-1",
)
PROPERTY = settings(max_examples=300, deadline=None)


def outcome(raw: Any) -> ConnectionRequest | InvalidRequest:
    """The parsed request, or the InvalidRequest it raised; any other exception fails the test."""
    try:
        request = parse_request(raw)
    except InvalidRequest as invalid:
        event("rejected")
        return invalid
    event("accepted")
    return request


def assert_prefix_is_safe(prefix: str) -> None:
    assert prefix == "" or (prefix.endswith("/") and not prefix.startswith("/")), prefix
    assert not any(char in "*?${}" for char in prefix), prefix
    assert not any(unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp", "Cs") for char in prefix), prefix
    assert not any(segment in (".", "..") for segment in prefix.split("/")[:-1]), prefix
    assert "//" not in prefix, prefix
    assert len(prefix.encode("utf-8")) <= PREFIX_MAX_BYTES


@PROPERTY
@given(any_requests)
def test_every_request_is_rejected_field_by_field_or_accepted_safely(raw: Any) -> None:
    result = outcome(raw)
    if isinstance(result, InvalidRequest):
        unknown_keys = set(raw) - set(FIELDS) if isinstance(raw, dict) else set()
        real_fields = {*FIELDS, *unknown_keys, "request"}
        assert result.errors, "InvalidRequest must list at least one violation"
        for error in result.errors:
            assert set(error) == {"field", "message"}, error
            assert error["field"] in real_fields, (error, raw)
            assert isinstance(error["message"], str)
            assert error["message"].strip(), error
        return
    assert isinstance(raw, dict)
    assert set(raw) <= set(FIELDS)
    bucket, prefix = result.location()
    assert bucket_name_problem(bucket) is None, bucket
    assert_prefix_is_safe(prefix)
    # Exactly one form: s3_uri, or bucket (with an optional prefix).
    assert (raw.get("s3_uri") is None) != (raw.get("bucket") is None)
    assert result.access in ("import", "import_export")
    assert isinstance(result.apply_cors, bool)


@PROPERTY
@given(raw_requests())
def test_an_accepted_location_reparses_to_itself_in_either_form(raw: dict[str, Any]) -> None:
    result = outcome(raw)
    if isinstance(result, InvalidRequest):
        return
    bucket, prefix = result.location()
    name = result.connection_name
    for form in (
        {"s3_uri": s3_uri(bucket, prefix)},
        {"s3_uri": f"s3://{bucket}/{prefix}"},
        {"bucket": bucket, "prefix": prefix},
    ):
        again = parse_request({"connection_name": name, **form})
        assert again.location() == (bucket, prefix), form


@PROPERTY
@given(raw_requests())
def test_the_connection_id_and_iam_names_of_an_accepted_request_follow_the_rules(raw: dict[str, Any]) -> None:
    result = outcome(raw)
    if isinstance(result, InvalidRequest):
        return
    connection = to_connection(result, SETTINGS, execution_arn=EXECUTION_ARN, region="us-east-1")
    connection_id = connection["connection_id"]
    assert CONNECTION_ID_PATTERN.fullmatch(connection_id), connection_id
    assert 1 <= len(connection_id) <= CONNECTION_ID_MAX
    if result.connection_id is not None:
        assert connection_id == result.connection_id
    assert IAM_NAME.fullmatch(connection["iam_user_name"]), connection["iam_user_name"]
    assert IAM_NAME.fullmatch(connection["policy_name"]), connection["policy_name"]
    assert connection["secret_name"] == f"labellerr/connections/{connection_id}"
    assert connection["s3_uri"] == s3_uri(*result.location())


@PROPERTY
@given(st.one_of(valid_names, long_names, st.text(max_size=80)))
@example("x" * 64)
@example("a-" * 32)
@example("--- ...")
def test_a_derived_connection_id_always_follows_the_id_and_iam_user_name_rules(name: str) -> None:
    connection_id = derive_connection_id(name)
    assert CONNECTION_ID_PATTERN.fullmatch(connection_id), (name, connection_id)
    assert 1 <= len(connection_id) <= CONNECTION_ID_MAX
    assert IAM_NAME.fullmatch(f"{SETTINGS.iam_name_prefix}{connection_id}")


@PROPERTY
@given(valid_buckets, valid_prefixes, WIDENING_OR_INVISIBLE, st.data())
def test_one_widening_or_invisible_character_anywhere_in_a_prefix_rejects_the_request(
    bucket: str, prefix: str, char: str, data: st.DataObject
) -> None:
    position = data.draw(st.integers(min_value=0, max_value=len(prefix)), label="position")
    hostile = prefix[:position] + char + prefix[position:]
    for raw, field in (
        ({"connection_name": "x", "bucket": bucket, "prefix": hostile}, "prefix"),
        ({"connection_name": "x", "s3_uri": f"{bucket}/{hostile}"}, "s3_uri"),
    ):
        result = outcome(raw)
        assert isinstance(result, InvalidRequest), (raw, result)
        assert field in {error["field"] for error in result.errors}, result.errors
