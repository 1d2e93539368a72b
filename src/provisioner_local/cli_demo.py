"""onboard's bucket: a demo bucket with sample images, or the one --bucket names (created when missing)."""

from __future__ import annotations

import argparse
import secrets
import string
import struct
import zlib
from typing import Final, TextIO

from botocore.exceptions import ClientError

from provisioner_local.cli_args import DEMO_PREFIX
from provisioner_local.cli_common import emit
from provisioner_local.emulator import LocalStack


def tiny_png(rgb: tuple[int, int, int], size: int = 8) -> bytes:
    """A valid size x size PNG of one colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    row = b"\x00" + bytes(rgb) * size
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * size))
        + chunk(b"IEND", b"")
    )


SAMPLE_IMAGES: Final = {
    "red.png": (220, 40, 40),
    "green.png": (40, 180, 70),
    "blue.png": (40, 90, 220),
}


def _random_suffix(length: int = 6) -> str:
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def choose_bucket(args: argparse.Namespace) -> tuple[str, str | None, bool]:
    """(bucket, prefix, demo): a made-up demo bucket name, or --bucket's; nothing is created yet."""
    if args.bucket is None:
        prefix = args.prefix if args.prefix is not None else DEMO_PREFIX
        return f"labellerr-demo-{_random_suffix()}", prefix, True
    return args.bucket, args.prefix, False


def prepare_bucket(stack: LocalStack, bucket: str, prefix: str | None, *, demo: bool, out: TextIO) -> None:
    """The demo bucket with its sample images under the prefix, or --bucket's, created (empty) when missing.

    Only for a request that passed validation (cli_onboard.request_problems): an invalid name is never made.
    """
    s3 = stack.client("s3")
    # Outside us-east-1, S3 wants the region as the bucket's LocationConstraint.
    location = (
        {}
        if stack.region == "us-east-1"
        else {"CreateBucketConfiguration": {"LocationConstraint": stack.region}}
    )
    if demo:
        prefix = prefix or ""
        s3.create_bucket(Bucket=bucket, **location)
        for name, rgb in SAMPLE_IMAGES.items():
            s3.put_object(Bucket=bucket, Key=f"{prefix}{name}", Body=tiny_png(rgb), ContentType="image/png")
        emit(out, f"Demo bucket {bucket} with {len(SAMPLE_IMAGES)} sample images under {prefix or '/'}")
        return
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError:
        s3.create_bucket(Bucket=bucket, **location)
        emit(out, f"Bucket {bucket} did not exist in the fresh local emulator: created it, empty")
