"""Which prefixes the boundary can fence through a principal tag: IAM's tag value rule (IAM API reference,
"Tag": at most 256 characters of `[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]`)."""

from __future__ import annotations

import pytest

from provisioner_core.fence import (
    TAG_FENCE_BUCKET,
    TAG_FENCE_PREFIX,
    fence_tags,
    prefix_fenced,
    tag_value_problem,
)
from provisioner_core.naming import normalize_prefix


@pytest.mark.parametrize(
    "prefix",
    ["images/", "a/b/c/", "Bilder über 2024/", "日本語/", "v1.2_final-3/", "user@example.com/", "k=v+w:x/",
     "x" * 255 + "/"],
)  # fmt: skip
def test_prefixes_a_tag_value_holds_are_fenced(prefix):
    assert normalize_prefix(prefix) == prefix
    assert tag_value_problem(prefix) is None
    assert prefix_fenced(prefix)
    assert fence_tags("acme", prefix) == [
        {"Key": TAG_FENCE_BUCKET, "Value": "acme"},
        {"Key": TAG_FENCE_PREFIX, "Value": prefix},
    ]


@pytest.mark.parametrize(
    ("prefix", "problem"),
    [("runs(1)/", "'('"), ("it's/", "\"'\""), ("a,b/", "','"), ("50%/", "'%'"), ("#tag/", "'#'"),
     ("~home/", "'~'"), ("price€/", "'€'"), ("cats🐱/", "'🐱'"), ("e\u0301/", "'\u0301'"),
     ("x" * 256 + "/", "longer than 256")],
)  # fmt: skip
def test_prefixes_no_tag_value_can_hold_fall_back_to_the_bucket(prefix, problem):
    assert normalize_prefix(prefix) == prefix  # the request model accepts them
    found = tag_value_problem(prefix)
    assert found is not None
    assert problem in found
    assert not prefix_fenced(prefix)
    assert fence_tags("acme", prefix) == [{"Key": TAG_FENCE_BUCKET, "Value": "acme"}]


def test_the_whole_bucket_has_no_prefix_tag():
    assert fence_tags("acme", "") == [{"Key": TAG_FENCE_BUCKET, "Value": "acme"}]


def test_every_bucket_name_fits_a_tag_value():
    assert tag_value_problem("acme.datasets-2024") is None


def test_a_character_beyond_u_ffff_counts_twice_towards_the_tag_value_length():
    # U+20000 is a CJK ideograph (a letter, \p{L}); UTF-16, as IAM's Java service counts, needs two units.
    fits = "\U00020000" * 127 + "/"
    assert tag_value_problem(fits) is None
    too_long = "\U00020000" * 128 + "/"
    assert len(too_long) == 129
    problem = tag_value_problem(too_long)
    assert problem is not None
    assert "longer than 256" in problem
    assert fence_tags("acme", too_long) == [{"Key": TAG_FENCE_BUCKET, "Value": "acme"}]
