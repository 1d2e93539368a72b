"""Rules for the names a request supplies and the names a connection derives from them.

Pure functions with no pydantic, so the API, the validation step and the tests share one rulebook.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import string
import unicodedata

BUCKET_NAME_RULE = (
    "bucket names are 3-63 characters of lowercase letters, digits, '.' and '-', begin and end with a "
    "letter or digit, have no '..', are not IP addresses and avoid S3's reserved prefixes and suffixes"
)
_BUCKET_CHARS = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
# S3 refuses anything shaped like a dotted quad, valid IPv4 or not (256.1.1.1, 01.2.3.4).
_IP_SHAPED = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
_RESERVED_BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_BUCKET_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")

# Each of these widens an IAM resource ARN: `*` and `?` are wildcards, `${...}` is a policy variable.
_POLICY_WIDENING_CHARS = "*?${}"
PREFIX_MAX_BYTES = 1024
# Control characters, and invisible ones (zero-width space, line separator) that make a prefix lie.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})

CONNECTION_ID_PATTERN = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
CONNECTION_ID_MAX = 40
CONNECTION_NAME_PATTERN = re.compile(r"^[A-Za-z0-9 _.\-]+$")
CONNECTION_NAME_MAX = 64
_SUFFIX_LENGTH = 6
_SUFFIX_ALPHABET = string.ascii_lowercase + string.digits


def bucket_name_problem(name: str) -> str | None:
    """Why `name` is not a valid S3 bucket name, or None."""
    if not _BUCKET_CHARS.fullmatch(name) or ".." in name:
        return BUCKET_NAME_RULE
    if _IP_SHAPED.fullmatch(name):
        return "bucket names must not be formatted as an IP address"
    if name.startswith(_RESERVED_BUCKET_PREFIXES) or name.endswith(_RESERVED_BUCKET_SUFFIXES):
        return BUCKET_NAME_RULE
    return None


def normalize_prefix(prefix: str) -> str:
    """The prefix with no leading '/' and exactly one trailing '/' ('' for the whole bucket).

    Raises ValueError naming the rule when the prefix would widen the policy or is not a key prefix.
    """
    for char in prefix:
        if char in _POLICY_WIDENING_CHARS:
            return _raise(f"must not contain {char!r}: in an IAM policy it would widen the grant")
        if unicodedata.category(char) in _INVISIBLE_CATEGORIES:
            return _raise("must not contain control or invisible formatting characters")
    stripped = prefix.strip("/")
    if not stripped:
        if prefix:
            # "/" or "//" looks like a path but names none: granting the whole bucket must be on purpose.
            return _raise("must name at least one path segment; leave it empty for the whole bucket")
        return ""
    if any(segment in (".", "..") for segment in stripped.split("/")):
        return _raise("must not contain '.' or '..' path segments")
    if "" in stripped.split("/"):
        # "a//b/" names a key nobody means; Labellerr's path and the policy's ARN would disagree on it.
        return _raise("must not contain empty path segments ('//')")
    normalized = stripped + "/"
    if len(normalized.encode("utf-8")) > PREFIX_MAX_BYTES:
        return _raise(f"must be at most {PREFIX_MAX_BYTES} bytes (S3's key length)")
    return normalized


def split_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/prefix/` or `bucket/prefix/` into (bucket, raw prefix)."""
    if uri[:5].lower() == "s3://":
        uri = uri[5:]
    bucket, _, prefix = uri.partition("/")
    return bucket, prefix


def derive_connection_id(connection_name: str, seed: str | None = None) -> str:
    """A readable, unique id: the name's slug plus a short suffix (`satellite-images-k3x9qa`).

    The suffix is random, or derived from `seed` (an Idempotency-Key): then every repeat of a request
    derives the same id, so one that takes over a dead invocation's key finds the run that one started.
    """
    slug = re.sub(r"[^a-z0-9]+", "-", connection_name.lower()).strip("-")
    slug = slug[: CONNECTION_ID_MAX - _SUFFIX_LENGTH - 1].strip("-") or "connection"
    if seed is None:
        suffix = "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(_SUFFIX_LENGTH))
    else:
        digest = hashlib.sha256(seed.encode("utf-8")).digest()
        suffix = "".join(_SUFFIX_ALPHABET[byte % len(_SUFFIX_ALPHABET)] for byte in digest[:_SUFFIX_LENGTH])
    return f"{slug}-{suffix}"


def _raise(message: str) -> str:
    raise ValueError(message)
