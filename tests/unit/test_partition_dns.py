"""S3 hosts and kms:ViaService take the partition's DNS suffix from the region, never a fixed amazonaws.com."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from provisioner_core import partition_dns
from provisioner_core.cors_probe import object_url
from provisioner_core.partition_dns import dns_suffix, s3_host
from provisioner_core.policy import build_policy_document

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("region", "suffix"),
    [
        ("us-east-1", "amazonaws.com"),
        ("eu-west-3", "amazonaws.com"),
        ("us-gov-west-1", "amazonaws.com"),
        ("cn-north-1", "amazonaws.com.cn"),
        ("cn-northwest-1", "amazonaws.com.cn"),
        # Not listed in botocore's data yet: the partition's region pattern decides.
        ("cn-south-9", "amazonaws.com.cn"),
        ("us-iso-east-1", "c2s.ic.gov"),
    ],
)
def test_the_suffix_is_the_regions_partitions(region: str, suffix: str) -> None:
    assert dns_suffix(region) == suffix


def test_the_china_regions_s3_host_and_urls() -> None:
    assert s3_host("cn-north-1") == "s3.cn-north-1.amazonaws.com.cn"
    assert object_url("acme-datasets", "images/a.png", "cn-north-1") == (
        "https://acme-datasets.s3.cn-north-1.amazonaws.com.cn/images/a.png"
    )
    assert object_url("acme.data", "k", "cn-north-1") == "https://s3.cn-north-1.amazonaws.com.cn/acme.data/k"


def test_the_connection_policy_names_s3_of_the_china_partition_as_the_kms_caller() -> None:
    document = build_policy_document(
        partition="aws-cn", bucket="acme-datasets", prefix="images/", access="import",
        kms_key_arns=["arn:aws-cn:kms:cn-north-1:123456789012:key/k"], region="cn-north-1",
    )  # fmt: skip
    [kms] = [s for s in document["Statement"] if s["Sid"] == "UseBucketKmsKeysThroughS3"]
    assert kms["Condition"] == {"StringEquals": {"kms:ViaService": "s3.cn-north-1.amazonaws.com.cn"}}


def test_without_botocores_partition_data_china_still_gets_its_suffix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(partition_dns, "_partitions", lambda: partition_dns._FALLBACK)
    partition_dns.dns_suffix.cache_clear()
    try:
        assert dns_suffix("cn-north-1") == "amazonaws.com.cn"
        assert dns_suffix("eu-west-1") == "amazonaws.com"
    finally:
        partition_dns.dns_suffix.cache_clear()


def test_no_code_in_the_layer_or_functions_hard_codes_amazonaws_com() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for folder in ("layers", "functions")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if path.name != "partition_dns.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"amazonaws\.com", line)
    ]
    assert offenders == []
