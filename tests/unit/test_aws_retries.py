"""The functions' clients retry IAM's throttling longer than other services' errors (provisioner_core.aws)."""

from __future__ import annotations

import pytest

from provisioner_core import aws


@pytest.fixture(autouse=True)
def fresh_clients(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    aws.reset_clients()
    yield
    aws.reset_clients()


def test_iam_clients_make_six_attempts_in_standard_mode():
    retries = aws.client("iam").meta.config.retries
    assert retries["mode"] == "standard"
    assert retries["total_max_attempts"] == 6


def test_other_clients_keep_five_attempts():
    retries = aws.client("s3").meta.config.retries
    assert retries["mode"] == "standard"
    # botocore turns max_attempts=4 (retries) into total_max_attempts=5.
    assert retries["total_max_attempts"] == 5
