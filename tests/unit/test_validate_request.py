from __future__ import annotations

import pytest

from functions.validate_request.app import validate_request
from provisioner_core.errors import BucketNotFound, InvalidRequest
from tests.unit.conftest import EXECUTION_ARN, SETTINGS


def test_valid_request_becomes_a_connection_with_derived_names(s3, bucket):
    connection = validate_request(
        s3,
        {"connection_name": "Satellite images", "s3_uri": f"s3://{bucket}/images"},
        EXECUTION_ARN,
        SETTINGS,
    )
    assert connection["bucket"] == bucket
    assert connection["prefix"] == "images/"
    assert connection["s3_uri"] == f"{bucket}/images/"
    assert connection["region"] == "us-east-1"
    assert connection["access"] == "import"
    assert connection["connection_id"].startswith("satellite-images-")
    assert connection["iam_user_name"] == f"labellerr-{connection['connection_id']}"
    assert connection["secret_name"] == f"labellerr/connections/{connection['connection_id']}"
    assert connection["execution_arn"] == EXECUTION_ARN


def test_missing_bucket_fails_before_anything_is_created(s3, iam):
    with pytest.raises(BucketNotFound, match="does-not-exist"):
        validate_request(s3, {"connection_name": "x", "bucket": "does-not-exist"}, EXECUTION_ARN, SETTINGS)
    assert iam.list_users(PathPrefix="/labellerr/")["Users"] == []


def test_invalid_request_is_rejected_without_calling_aws(s3):
    with pytest.raises(InvalidRequest) as raised:
        validate_request(
            s3,
            {"connection_name": "x", "bucket": "ab", "access": "admin", "role": "x"},
            EXECUTION_ARN,
            SETTINGS,
        )
    fields = {error["field"] for error in raised.value.errors}
    assert fields == {"bucket", "access", "role"}
