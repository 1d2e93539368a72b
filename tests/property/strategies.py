"""Hypothesis strategies for onboarding requests that mix valid values with hostile ones.

Valid building blocks are common enough that a good share of the generated requests is accepted, so the
properties of accepted requests (the policy, the names) are exercised as much as the rejections.
"""

from __future__ import annotations

import string
from typing import Any

from hypothesis import strategies as st

from provisioner_core.request import ConnectionRequest

FIELDS = tuple(ConnectionRequest.model_fields)
_LOWER_ALNUM = string.ascii_lowercase + string.digits
PARTITIONS = ("aws", "aws-cn", "aws-us-gov")

# Each of these widens an IAM resource or escapes the prefix when it reaches a policy.
HOSTILE_TOKENS = (
    "*", "?", "$", "{", "}", "${aws:username}", "..", ".", "/", "//", "\\", '"', "\x00", "\n", "\r", "\t",
    "\x1f", "\x7f", "\u200b", "\u2028", "\u2029", "\ufeff", "\ud800", "arn:aws:s3:::*", "%2A", " ",
)  # fmt: skip

wrong_types = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)

hostile_tokens = st.sampled_from(HOSTILE_TOKENS)


def mostly(valid: st.SearchStrategy[Any], hostile: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`valid` about 3 times in 4 (and when shrinking), `hostile` otherwise."""
    return st.integers(min_value=0, max_value=7).flatmap(lambda roll: valid if roll < 6 else hostile)


@st.composite
def long_strings(draw: Any, alphabet: str = 'a"\\*/.-') -> str:
    """Up to a little over S3's 1,024-byte key limit, of one repeated character (cheap to generate)."""
    return draw(st.sampled_from(alphabet)) * draw(st.integers(min_value=200, max_value=1100))


@st.composite
def mixed_text(draw: Any, safe: st.SearchStrategy[str]) -> str:
    """Pieces of safe text, arbitrary unicode and hostile tokens, joined."""
    pieces = draw(st.lists(st.one_of(safe, safe, st.text(max_size=8), hostile_tokens), max_size=6))
    return "".join(pieces)


def hostile_strings(safe: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(mixed_text(safe), st.text(), long_strings())


# --- the fields ----------------------------------------------------------------------------------------

valid_names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9 _.\-]{0,63}", fullmatch=True)
long_names = st.text(alphabet=string.ascii_letters + string.digits + " _.-", min_size=30, max_size=64)
names = mostly(valid_names, st.one_of(hostile_strings(valid_names), wrong_types))

valid_ids = st.from_regex(r"[a-z0-9]{1,10}(-[a-z0-9]{1,8}){0,3}", fullmatch=True)
ids = mostly(valid_ids, st.one_of(hostile_strings(valid_ids), wrong_types))

descriptions = mostly(st.text(max_size=300), wrong_types)

valid_buckets = st.one_of(
    st.sampled_from(("acme-datasets", "a.b.c", "abc", "a" * 63, "1-2-3", "xn-a", "my.bucket-01")),
    # S3's character rule; some of these still break another rule ('..', IP-shaped, reserved affixes).
    st.builds(
        lambda first, middle, last: first + middle + last,
        st.sampled_from(_LOWER_ALNUM),
        st.text(alphabet=_LOWER_ALNUM + ".-", min_size=1, max_size=61),
        st.sampled_from(_LOWER_ALNUM),
    ),
)
buckets = mostly(
    valid_buckets,
    st.one_of(
        hostile_strings(valid_buckets),
        st.sampled_from(("192.168.0.1", "xn--abc", "abc-s3alias", "a..b", "ABC", "ab", "a" * 64)),
        wrong_types,
    ),
)

key_segments = mostly(
    st.one_of(st.from_regex(r"[A-Za-z0-9_.\-]{1,12}", fullmatch=True), st.text(min_size=1, max_size=6)),
    hostile_tokens,
)


@st.composite
def raw_prefixes(draw: Any) -> str:
    """Segments joined by '/', with or without leading and trailing slashes; sometimes very long."""
    if draw(st.integers(min_value=0, max_value=9)) == 0:
        return draw(long_strings())
    segments = draw(st.lists(key_segments, max_size=5))
    lead = draw(st.sampled_from(("", "", "/", "//")))
    trail = draw(st.sampled_from(("", "/", "/", "//")))
    return lead + "/".join(segments) + (trail if segments else "")


prefixes = mostly(raw_prefixes(), wrong_types)
# Prefixes the rules accept: plain key segments, slash-separated, with or without the trailing slash.
valid_prefixes = st.lists(
    st.from_regex(r"[A-Za-z0-9_\-][A-Za-z0-9_.\-]{0,11}", fullmatch=True), min_size=1, max_size=4
).map("/".join)


@st.composite
def long_keys(draw: Any) -> str:
    """A key of one repeated character, any plane, up to S3's 1,024 bytes: the longest policies."""
    char = draw(st.characters(exclude_categories=["Cs"], min_codepoint=0x20))
    most = 1024 // len(char.encode())
    return char * draw(st.integers(min_value=1, max_value=most))


# Any S3 object key: up to 1,024 bytes of UTF-8 (S3 User Guide, "Naming Amazon S3 objects"), so any code point
# but a lone surrogate, which UTF-8 cannot encode.
s3_keys = st.one_of(
    st.text(alphabet=st.characters(exclude_categories=["Cs"]), min_size=1, max_size=60),
    st.lists(
        st.sampled_from(("\u753b\u50cf", "2024", "\u20ac", "\U0001f431", "donn\u00e9es", "a b")), min_size=1
    ).map("/".join),
    long_keys(),
).filter(lambda key: len(key.encode()) <= 1024)
# One character of these anywhere in a prefix must get it rejected.
WIDENING_OR_INVISIBLE = st.one_of(
    st.sampled_from("*?${}"),
    st.characters(categories=["Cc", "Cf", "Zl", "Zp"]),
)


@st.composite
def raw_s3_uris(draw: Any) -> str:
    scheme = draw(mostly(st.sampled_from(("", "s3://", "S3://")), st.sampled_from(("s3:/", "https://"))))
    bucket = draw(mostly(valid_buckets, hostile_strings(valid_buckets)))
    separator = draw(mostly(st.just("/"), st.sampled_from(("", "//"))))
    return scheme + bucket + separator + draw(raw_prefixes())


s3_uris = mostly(raw_s3_uris(), wrong_types)
accesses = mostly(
    st.sampled_from(("import", "import_export")),
    st.one_of(st.sampled_from(("IMPORT", "export", "import ", "", "*")), wrong_types),
)
apply_cors_values = mostly(st.booleans(), st.one_of(st.sampled_from(("true", 1, 0, "")), wrong_types))
extra_keys = st.dictionaries(
    st.one_of(
        st.text(max_size=12), hostile_tokens, st.sampled_from(("Bucket", "connection-name", "prefix "))
    ),
    st.one_of(st.text(max_size=5), wrong_types),
    max_size=2,
).map(lambda extra: {key: value for key, value in extra.items() if key not in FIELDS})


@st.composite
def raw_requests(draw: Any) -> dict[str, Any]:
    """A request dict: each field present or not, valid or hostile; s3_uri or bucket/prefix, both or none."""
    raw: dict[str, Any] = {}
    if draw(st.integers(min_value=0, max_value=9)) > 0:
        raw["connection_name"] = draw(names)
    form = draw(mostly(st.sampled_from(("s3_uri", "bucket")), st.sampled_from(("both", "neither"))))
    if form in ("s3_uri", "both"):
        raw["s3_uri"] = draw(s3_uris)
    if form in ("bucket", "both"):
        raw["bucket"] = draw(buckets)
        if draw(st.booleans()):
            raw["prefix"] = draw(prefixes)
    for field, strategy in (
        ("connection_id", ids),
        ("description", descriptions),
        ("access", accesses),
        ("apply_cors", apply_cors_values),
    ):
        if draw(st.booleans()):
            raw[field] = draw(strategy)
    if draw(st.integers(min_value=0, max_value=5)) == 0:
        raw.update(draw(extra_keys))
    return raw


any_requests = mostly(raw_requests(), st.one_of(wrong_types, st.text(max_size=5)))


@st.composite
def location_requests(draw: Any) -> dict[str, Any]:
    """Requests that differ only in where they point: mostly valid buckets, prefixes from raw_prefixes."""
    bucket = draw(mostly(valid_buckets, hostile_strings(valid_buckets)))
    prefix = draw(raw_prefixes())
    access = draw(st.sampled_from(("import", "import_export")))
    if draw(st.booleans()):
        return {"connection_name": "Policy", "s3_uri": f"{bucket}/{prefix}", "access": access}
    return {"connection_name": "Policy", "bucket": bucket, "prefix": prefix, "access": access}
