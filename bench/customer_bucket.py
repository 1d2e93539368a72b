"""The customer bucket the benchmark onboards, and the onboarding request that names it."""

from __future__ import annotations

from typing import Any, Final

PREFIX: Final = "images/"
SAMPLE_KEYS: Final = ("images/cat-1.png", "images/cat-2.png", "images/nested/dog.png")
OUTSIDE_KEY: Final = "private/payroll.csv"


def seed_bucket(s3: Any, bucket: str) -> None:
    """A customer bucket without CORS: a few small objects under the prefix and one outside it."""
    s3.create_bucket(Bucket=bucket)
    for key in SAMPLE_KEYS:
        s3.put_object(Bucket=bucket, Key=key, Body=b"\x89PNG\r\n\x1a\n" + key.encode())
    s3.put_object(Bucket=bucket, Key=OUTSIDE_KEY, Body=b"name,salary\n")


def onboarding_request(connection_id: str, bucket: str) -> dict[str, Any]:
    return {
        "connection_name": f"Bench {connection_id}",
        "connection_id": connection_id,
        "s3_uri": f"{bucket}/{PREFIX}",
        "access": "import",
    }
