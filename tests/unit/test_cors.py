"""Merging a connection's own CORS rule into a bucket's configuration, and taking it out again."""

from __future__ import annotations

import copy
from typing import Any, cast

import pytest

from provisioner_core.config import Settings
from provisioner_core.cors import (
    MAX_CORS_RULES,
    find_customer_equivalent,
    labellerr_rule,
    merge_rule,
    rule_id_for,
    without_rule,
)
from provisioner_core.errors import CorsRuleLimitExceeded

ORIGINS = ("https://*.labellerr.com", "https://app.labellerr.com")
CORS_RULE_ID = rule_id_for("satellite-images")
OURS = labellerr_rule(ORIGINS, CORS_RULE_ID)


def other_rule(index: int) -> dict[str, Any]:
    return {
        "ID": f"customer-{index}",
        "AllowedOrigins": [f"https://site{index}.example.com"],
        "AllowedMethods": ["GET", "PUT"],
        "AllowedHeaders": ["Authorization"],
        "ExposeHeaders": ["ETag"],
        "MaxAgeSeconds": 60,
    }


def test_labellerr_rule_shape() -> None:
    rule = labellerr_rule(ORIGINS, CORS_RULE_ID)
    assert rule == {
        "ID": "labellerr-satellite-images",
        "AllowedOrigins": ["https://*.labellerr.com", "https://app.labellerr.com"],
        "AllowedMethods": ["GET", "HEAD"],
        "AllowedHeaders": ["*"],
        "ExposeHeaders": ["ETag", "Content-Length", "Content-Type", "Content-Range", "Accept-Ranges"],
        "MaxAgeSeconds": 3600,
    }
    assert rule["ID"] == CORS_RULE_ID
    assert isinstance(rule["AllowedOrigins"], list)


def test_merge_into_empty_configuration() -> None:
    assert merge_rule([], OURS) == [OURS]


def test_merge_keeps_existing_rules_in_order_and_appends_ours() -> None:
    existing = [other_rule(1), {"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}, other_rule(2)]
    before = copy.deepcopy(existing)
    merged = merge_rule(existing, OURS)
    assert merged == [*before, OURS]
    assert existing == before, "the input configuration must not be modified"


@pytest.mark.parametrize(
    "equivalent",
    [
        {**OURS, "ID": "someone-else"},
        {
            "AllowedOrigins": list(reversed(ORIGINS)),
            "AllowedMethods": ["HEAD", "GET"],
            "AllowedHeaders": ["*"],
            "ExposeHeaders": ["Accept-Ranges", "Content-Range", "Content-Type", "Content-Length", "ETag"],
            "MaxAgeSeconds": 3600,
        },
    ],
    ids=["other-id", "no-id-reordered"],
)
def test_a_customer_rule_with_the_same_effect_is_found(equivalent: dict[str, Any]) -> None:
    rules = [other_rule(1), equivalent, other_rule(2)]
    assert find_customer_equivalent(rules, OURS) is equivalent


def test_another_connections_rule_is_never_an_equivalent() -> None:
    # It leaves with its own connection; relying on it would leave this one without CORS.
    theirs = {**OURS, "ID": rule_id_for("other-connection")}
    assert find_customer_equivalent([theirs], OURS) is None
    assert merge_rule([theirs], OURS) == [theirs, OURS]


def test_our_own_rule_already_there_means_nothing_to_do() -> None:
    assert merge_rule([other_rule(1), dict(OURS)], OURS) is None


@pytest.mark.parametrize(
    "near_miss",
    [
        {"MaxAgeSeconds": 60},
        {"AllowedMethods": ["GET", "HEAD", "PUT"]},
        {"ExposeHeaders": ["ETag"]},
        {"AllowedOrigins": ["https://*.labellerr.com"]},
        {"AllowedHeaders": ["Authorization"]},
    ],
    ids=["max-age", "methods", "expose-headers", "origins", "headers"],
)
def test_rule_that_differs_in_one_field_is_not_equivalent(near_miss: dict[str, Any]) -> None:
    existing = {**OURS, "ID": "customer-rule", **near_miss}
    assert find_customer_equivalent([existing], OURS) is None
    assert merge_rule([existing], OURS) == [existing, OURS]


@pytest.mark.parametrize(
    "change",
    [{"AllowedOrigins": ["https://evil.example.com"]}, {"AllowedMethods": ["GET", "HEAD", "PUT"]}],
    ids=["origins", "methods"],
)
def test_our_id_with_other_content_is_brought_up_to_date_in_place(change: dict[str, Any]) -> None:
    # One live run per connection id: a rule with its ID is its own (say, from before a parameter change).
    stale = {**OURS, **change}
    assert merge_rule([other_rule(1), stale, other_rule(2)], OURS) == [other_rule(1), OURS, other_rule(2)]


def test_merge_may_fill_the_last_free_rule() -> None:
    rules = [other_rule(i) for i in range(MAX_CORS_RULES - 1)]
    merged = merge_rule(rules, OURS)
    assert merged is not None
    assert len(merged) == MAX_CORS_RULES == 100
    assert merged[-1] == OURS


def test_merge_into_full_configuration_is_refused() -> None:
    rules = [other_rule(i) for i in range(MAX_CORS_RULES)]
    with pytest.raises(CorsRuleLimitExceeded, match="already has 100 CORS rules; S3 allows 100"):
        merge_rule(rules, OURS)


def test_full_configuration_with_our_rule_needs_nothing() -> None:
    rules = [*(other_rule(i) for i in range(MAX_CORS_RULES - 1)), dict(OURS)]
    assert merge_rule(rules, OURS) is None


def test_without_rule_removes_only_ours_and_keeps_order() -> None:
    no_id = {"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}
    rules = [other_rule(1), OURS, no_id, other_rule(2)]
    assert without_rule(rules, CORS_RULE_ID) == [other_rule(1), no_id, other_rule(2)]
    assert len(rules) == 4, "the input configuration must not be modified"


def test_without_rule_when_absent_keeps_everything() -> None:
    rules = [other_rule(1), other_rule(2)]
    assert without_rule(rules, CORS_RULE_ID) == rules
    assert without_rule([], CORS_RULE_ID) == []


def test_merge_then_remove_restores_the_original() -> None:
    rules = [other_rule(1), other_rule(2)]
    merged = merge_rule(rules, OURS)
    assert merged is not None
    assert without_rule(merged, CORS_RULE_ID) == rules


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ("https://*.labellerr.com",)),
        (
            " https://a.example.com, ,https://b.example.com ,",
            ("https://a.example.com", "https://b.example.com"),
        ),
    ],
    ids=["default", "comma-separated"],
)
def test_allowed_origins_from_environment(
    monkeypatch: pytest.MonkeyPatch, value: str | None, expected: tuple[str, ...]
) -> None:
    if value is None:
        monkeypatch.delenv("CORS_ALLOWED_ORIGINS", raising=False)
    else:
        monkeypatch.setenv("CORS_ALLOWED_ORIGINS", value)
    assert Settings.from_env().cors_allowed_origins == expected


class _LaggingS3:
    """GetBucketCors answers the configuration before the last write for `lag` reads."""

    def __init__(self, lag: int) -> None:
        self.lag = lag
        self.visible: list[dict[str, Any]] = []
        self.latest: list[dict[str, Any]] = []
        self.writes = 0

    def put_bucket_cors(self, Bucket: str, CORSConfiguration: dict[str, Any]) -> None:  # noqa: N803
        self.latest, self.writes = CORSConfiguration["CORSRules"], self.writes + 1

    def delete_bucket_cors(self, Bucket: str) -> None:  # noqa: N803
        self.latest, self.writes = [], self.writes + 1

    def get_bucket_cors(self, Bucket: str) -> dict[str, Any]:  # noqa: N803
        if self.lag:
            self.lag -= 1
        else:
            self.visible = self.latest
        return {"CORSRules": self.visible}


def test_a_writer_waits_until_s3_answers_its_own_write(monkeypatch: pytest.MonkeyPatch) -> None:
    from provisioner_core import aws, cors

    paused: list[float] = []
    monkeypatch.setattr(aws, "PAUSE", paused.append)
    s3 = _LaggingS3(lag=3)
    rule = cors.labellerr_rule(["https://*.labellerr.com"], "labellerr-a")
    assert cors.write_rules(cast(Any, s3), "bucket", [rule]) is True
    assert s3.writes == 1
    assert paused == [0.25, 0.5, 1.0]


def test_a_writer_gives_up_after_a_bounded_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    from provisioner_core import aws, cors

    paused: list[float] = []
    monkeypatch.setattr(aws, "PAUSE", paused.append)
    lagging = cast(Any, _LaggingS3(lag=1000))
    assert cors.write_rules(lagging, "bucket", [{"ID": "x", "AllowedOrigins": ["*"]}]) is False
    assert cors.SETTLE_WAIT_SECONDS <= sum(paused) <= cors.SETTLE_WAIT_SECONDS + 2
