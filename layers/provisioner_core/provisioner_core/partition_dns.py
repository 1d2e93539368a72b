"""The DNS suffix of a region's partition: amazonaws.com, amazonaws.com.cn in China, others in ISO partitions.

S3's endpoints and the `kms:ViaService` values S3 sends end in it, so a hard-coded `amazonaws.com` is wrong
outside the commercial and GovCloud partitions. Taken from botocore's partition data, by the bucket's region
rather than from the function's environment: botocore is imported anyway (boto3), and reading its small
partitions file once costs about a millisecond, only in the steps that build a URL or a KMS condition.
"""

from __future__ import annotations

import re
from functools import lru_cache

from botocore.exceptions import DataNotFoundError
from botocore.loaders import Loader

DEFAULT_DNS_SUFFIX = "amazonaws.com"
# Should botocore's data ever be missing: the partitions whose regions this provisioner is likely to meet.
_FALLBACK = ((re.compile(r"^cn-\w+-\d+$"), frozenset[str](), "amazonaws.com.cn"),)

_Partition = tuple[re.Pattern[str], frozenset[str], str]


@lru_cache(maxsize=1)
def _partitions() -> tuple[_Partition, ...]:
    try:
        data = Loader().load_data("partitions")
    except DataNotFoundError:
        return _FALLBACK
    return tuple(
        (
            re.compile(partition["regionRegex"]),
            frozenset(partition.get("regions") or ()),
            str(partition["outputs"]["dnsSuffix"]),
        )
        for partition in data["partitions"]
    )


@lru_cache(maxsize=64)
def dns_suffix(region: str) -> str:
    """The DNS suffix of `region`'s partition: the one listing it, else the one whose name pattern it fits."""
    partitions = _partitions()
    for _, regions, suffix in partitions:
        if region in regions:
            return suffix
    for pattern, _, suffix in partitions:
        if pattern.match(region):
            return suffix
    return DEFAULT_DNS_SUFFIX


def s3_host(region: str) -> str:
    """S3's regional host, `s3.<region>.<suffix>`: also the `kms:ViaService` value of S3's calls to KMS."""
    return f"s3.{region}.{dns_suffix(region)}"
