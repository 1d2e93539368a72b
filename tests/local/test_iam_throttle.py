"""IAM's throttling, modelled (iam_throttle): its SPEC, its buckets, and what moto's IAM answers through it."""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from provisioner_local.emulator import LocalStack, LocalStackError
from provisioner_local.iam_throttle import (
    MUTATING,
    READ,
    BucketSpec,
    IamThrottle,
    TokenBucket,
    api_class,
    parse_throttle,
)

FIXTURE_TEMPLATE = Path(__file__).parent / "fixtures" / "template.yaml"
# botocore's max_attempts counts retries; total_max_attempts counts the first attempt too.
NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_rate_alone_is_both_buckets_with_one_second_of_burst():
    assert parse_throttle("5") == {MUTATING: BucketSpec(5, 5), READ: BucketSpec(5, 5)}
    assert parse_throttle(" 2.5 , 10 ") == {MUTATING: BucketSpec(2.5, 10), READ: BucketSpec(2.5, 10)}
    assert parse_throttle("0.5") == {MUTATING: BucketSpec(0.5, 1), READ: BucketSpec(0.5, 1)}


def test_each_class_can_have_its_own_bucket_or_none():
    assert parse_throttle("mutating=5,10;read=20,40") == {
        MUTATING: BucketSpec(5, 10),
        READ: BucketSpec(20, 40),
    }
    assert parse_throttle("mutating=5") == {MUTATING: BucketSpec(5, 5)}


@pytest.mark.parametrize(
    "spec", ["", "soon", "0", "-1", "5,0.5", "5,10,20", "inf", "writes=5", "read=5;read=6", "mutating=x"]
)
def test_a_bad_spec_says_why(spec):
    with pytest.raises(ValueError, match=r"RATE|BURST|mutating"):
        parse_throttle(spec)


@pytest.mark.parametrize(
    ("action", "kind"),
    [("CreateUser", MUTATING), ("DeleteAccessKey", MUTATING), ("AttachUserPolicy", MUTATING),
     ("TagUser", MUTATING), ("UntagPolicy", MUTATING), ("PutUserPolicy", MUTATING),
     ("UpdateAccessKey", MUTATING), ("GetUser", READ), ("ListAccessKeys", READ)],
)  # fmt: skip
def test_gets_and_lists_are_reads_the_rest_mutate(action, kind):
    assert api_class(action) == kind


def test_a_bucket_serves_its_burst_then_refills_at_its_rate():
    clock = FakeClock()
    bucket = TokenBucket(rate=2, burst=3, clock=clock)
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    clock.now += 0.4
    assert not bucket.take()
    clock.now += 0.1
    assert bucket.take()
    clock.now += 60
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]


def test_the_mutating_and_read_buckets_are_independent_and_counted():
    clock = FakeClock()
    throttle = IamThrottle(parse_throttle("1,2"), clock=clock)
    assert [throttle.admit("CreateUser") for _ in range(3)] == [True, True, False]
    assert [throttle.admit("GetUser") for _ in range(3)] == [True, True, False]
    assert not throttle.admit("DeleteUser", attempt=2)
    assert throttle.counts() == {
        "admitted": {"CreateUser": 2, "GetUser": 2},
        "throttled": {"CreateUser": 1, "GetUser": 1, "DeleteUser": 1},
        "sdk_retries": {"DeleteUser": 1},
    }


def test_a_class_left_out_is_never_throttled():
    throttle = IamThrottle(parse_throttle("mutating=1,1"), clock=FakeClock())
    assert all(throttle.admit("ListUsers") for _ in range(50))
    assert throttle.admit("CreateUser")
    assert not throttle.admit("CreateUser")


def test_a_bad_spec_fails_the_stack_before_it_starts():
    with pytest.raises(LocalStackError, match="--iam-throttle"):
        LocalStack(template_path=FIXTURE_TEMPLATE, iam_throttle="fast")


@pytest.fixture(scope="module")
def stack():
    with LocalStack(template_path=FIXTURE_TEMPLATE) as running:
        yield running


def _create_users(iam, prefix: str, count: int) -> list[str]:
    """The error code of each CreateUser, "" for one that was served."""
    codes = []
    for index in range(count):
        try:
            iam.create_user(UserName=f"{prefix}-{index}")
            codes.append("")
        except ClientError as error:
            codes.append(error.response["Error"]["Code"])
    return codes


def test_iam_does_not_throttle_by_default(stack):
    assert stack.iam_throttle is None
    assert _create_users(stack.client("iam", config=NO_RETRIES), "unthrottled", 30) == [""] * 30


def test_past_its_burst_iam_answers_throttling_400_rate_exceeded_until_the_bucket_refills(stack):
    clock = FakeClock()
    stack.iam_throttle = IamThrottle(parse_throttle("mutating=4,3;read=50,50"), clock=clock)
    try:
        iam = stack.client("iam", config=NO_RETRIES)
        assert _create_users(iam, "burst", 3) == ["", "", ""]
        with pytest.raises(ClientError) as raised:
            iam.create_user(UserName="burst-refused")
        error = raised.value.response
        assert error["Error"]["Code"] == "Throttling"
        assert error["Error"]["Message"] == "Rate exceeded"
        assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
        # Refused, not half done: the user does not exist.
        with pytest.raises(ClientError, match="NoSuchEntity"):
            iam.get_user(UserName="burst-refused")
        # The read bucket is another bucket: reads go on while writes are refused.
        assert iam.list_users(PathPrefix="/")["Users"]
        clock.now += 0.3
        assert _create_users(iam, "refilled", 2) == ["", "Throttling"]
        assert stack.iam_throttle.throttled["CreateUser"] == 2
    finally:
        stack.iam_throttle = None


def test_an_sdk_retry_of_a_throttled_call_is_counted_and_can_get_through(stack):
    stack.iam_throttle = throttle = IamThrottle(parse_throttle("mutating=2,1"))
    try:
        iam = stack.client("iam", config=Config(retries={"mode": "standard", "total_max_attempts": 8}))
        iam.create_user(UserName="retried-0")
        # The bucket is empty: botocore's standard mode retries Throttling with backoff until a token is back.
        iam.create_user(UserName="retried-1")
        assert throttle.throttled["CreateUser"] >= 1
        assert throttle.sdk_retries["CreateUser"] == throttle.throttled["CreateUser"]
        assert throttle.admitted["CreateUser"] == 2
    finally:
        stack.iam_throttle = None


def test_serve_takes_the_flag_and_refuses_a_bad_spec(capsys):
    from provisioner_local.cli import build_parser, main
    from provisioner_local.cli_common import make_stack

    args = build_parser().parse_args(["serve", "--iam-throttle", "5,10"])
    made = make_stack(args, port=0, environment={})
    assert made.iam_throttle is not None
    assert made.iam_throttle.describe() == "mutating 5/s, burst 10; read 5/s, burst 10"
    # In-process: a console script would run the installed checkout's code, not this one's.
    assert main(["serve", "--port", "0", "--template", str(FIXTURE_TEMPLATE), "--iam-throttle", "fast"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "--iam-throttle 'fast'" in captured.err
