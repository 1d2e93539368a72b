"""What the Labellerr stand-in does with a submitted key: the real connection test, against the local S3.

Labellerr's test lists and reads the path with the customer's key (and, for an export connection, writes
there); the stand-in does the same against the local stack's S3, which enforces the IAM policies of keys
that its IAM issued, so a key that cannot read the path really fails.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Final

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

_LISTED_KEYS: Final = 20
_CREDENTIAL_ERRORS: Final = frozenset({"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidClientTokenId"})
# Short, and no SDK retries: Labellerr's own test is quick to answer, and a hang would hide a bug.
_CONFIG: Final = Config(
    connect_timeout=2,
    read_timeout=5,
    retries={"max_attempts": 1, "mode": "standard"},
    s3={"addressing_style": "path"},
)


class AccessCheckFailed(Exception):
    """The key cannot do what the connection needs; `status` is what the stand-in answers (4xx, or 502)."""

    def __init__(self, message: str, status: int = 400) -> None:
        self.status = status
        super().__init__(message)


@dataclass(frozen=True)
class S3Path:
    bucket: str
    prefix: str

    @classmethod
    def parse(cls, path: str) -> S3Path:
        """`bucket/prefix/` as Labellerr's form takes it, with or without `s3://`."""
        text = path.strip()
        if text.startswith("s3://"):
            text = text[len("s3://") :]
        bucket, _, prefix = text.partition("/")
        if not bucket:
            raise AccessCheckFailed(f"Invalid S3 path {path!r}: expected bucket/prefix/")
        return cls(bucket, prefix)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


# S3's AuthorizationHeaderMalformed for a request signed for the wrong region names the right one.
_EXPECTED_REGION = re.compile(r"expecting '([a-z0-9-]+)'")


# Clients kept (by key and region): a connection's test makes two, each 10-20 ms of CPU to create.
_MAX_CLIENTS: Final = 32


class S3AccessChecker:
    """Runs the connection test with a submitted key; boto3 sessions are not thread-safe, hence the lock
    (the clients they make are)."""

    def __init__(self, endpoint_url: str, region: str) -> None:
        self.endpoint_url = endpoint_url
        self.region = region
        self._session = boto3.session.Session()
        self._lock = threading.Lock()
        self._clients: OrderedDict[tuple[str, str, str], Any] = OrderedDict()

    def _bucket_region(self, access_key_id: str, secret_access_key: str, path: S3Path) -> str:
        """The bucket's region, as a client learns it from S3's answer to a request signed for another."""
        try:
            self._client(access_key_id, secret_access_key).get_bucket_location(Bucket=path.bucket)
        except ClientError as error:
            found = _EXPECTED_REGION.search(str(error.response.get("Error", {}).get("Message", "")))
            if found:
                return found.group(1)
        except BotoCoreError:
            pass
        return self.region

    def _client(self, access_key_id: str, secret_access_key: str, region: str | None = None) -> Any:
        key = (access_key_id, secret_access_key, region or self.region)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = self._clients[key] = self._session.client(
                    "s3",
                    endpoint_url=self.endpoint_url,
                    region_name=key[2],
                    aws_access_key_id=access_key_id,
                    aws_secret_access_key=secret_access_key,
                    config=_CONFIG,
                )
            self._clients.move_to_end(key)
            while len(self._clients) > _MAX_CLIENTS:
                self._clients.popitem(last=False)
            return client

    def check(
        self, access_key_id: str, secret_access_key: str, path: S3Path, connection_type: str
    ) -> list[dict[str, str]]:
        """The checks that passed, in order; AccessCheckFailed at the first that does not."""
        s3 = self._client(
            access_key_id, secret_access_key, self._bucket_region(access_key_id, secret_access_key, path)
        )
        listing = _call(
            "list", path, s3.list_objects_v2, Bucket=path.bucket, Prefix=path.prefix, MaxKeys=_LISTED_KEYS
        )
        objects = listing.get("Contents", [])
        checks = [{"check": "list", "detail": f"listed {len(objects)} object(s) under {path}"}]
        readable = next((item for item in objects if item.get("Size", 0) > 0), None)
        if readable is not None:
            body = _call(
                "read", path, s3.get_object, Bucket=path.bucket, Key=readable["Key"], Range="bytes=0-0"
            )
            body["Body"].read()
            checks.append({"check": "read", "detail": f"read the first byte of {readable['Key']!r}"})
        if connection_type == "export":
            probe = f"{path.prefix}.labellerr-connection-test-{uuid.uuid4().hex}"
            _call(
                "write",
                path,
                s3.put_object,
                Bucket=path.bucket,
                Key=probe,
                Body=b"labellerr connection test\n",
            )
            _call("delete", path, s3.delete_object, Bucket=path.bucket, Key=probe)
            checks.append({"check": "write", "detail": f"wrote and deleted {probe!r}"})
        return checks


def _call(check: str, path: S3Path, call: Any, **kwargs: Any) -> Any:
    try:
        return call(**kwargs)
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", "Unknown"))
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
    except BotoCoreError as error:
        # The stand-in cannot reach S3: a Labellerr-side failure, which Labellerr would answer with a 5xx.
        raise AccessCheckFailed(f"Connection test could not reach S3 ({type(error).__name__})", 502) from None
    if code in _CREDENTIAL_ERRORS:
        raise AccessCheckFailed(f"Connection test failed: invalid AWS credentials ({code})") from None
    if code in ("NoSuchBucket", "404"):
        raise AccessCheckFailed(f"Connection test failed: bucket {path.bucket!r} does not exist") from None
    if status >= 500:
        raise AccessCheckFailed(
            f"Connection test failed: S3 answered {code} to {check} {path}", 502
        ) from None
    verb = {"list": "list", "read": "read objects under", "write": "write to", "delete": "delete from"}[check]
    raise AccessCheckFailed(
        f"Connection test failed: cannot {verb} {path} with the given credentials ({code})"
    )
