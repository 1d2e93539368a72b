"""The propagation model: its SPEC, its draws, and its clock (iam_propagation)."""

from __future__ import annotations

import random
import statistics

import pytest

from provisioner_local.iam_propagation import (
    EmulatedClock,
    FixedDelay,
    LogNormalDelay,
    Propagation,
    parse_delay,
)


def test_a_number_is_a_fixed_delay():
    assert parse_delay("8") == FixedDelay(8.0)
    assert parse_delay(" 2.5 ") == FixedDelay(2.5)


def test_a_lognormal_has_the_median_and_p95_it_was_given():
    model = parse_delay("lognormal:median=6,p95=15")
    assert model == LogNormalDelay(6.0, 15.0)
    rng = random.Random(7)  # noqa: S311 - draws of a model, not secrets
    draws = sorted(model.draw(rng) for _ in range(20000))
    assert statistics.median(draws) == pytest.approx(6, rel=0.05)
    assert draws[int(0.95 * len(draws))] == pytest.approx(15, rel=0.07)


@pytest.mark.parametrize(
    "spec",
    ["", "-1", "inf", "soon", "normal:median=6,p95=15", "lognormal:median=6", "lognormal:median=9,p95=3",
     "lognormal:median=x,p95=3", "lognormal:median=6,p95=15,p99=30"],
)  # fmt: skip
def test_a_bad_spec_says_why(spec):
    with pytest.raises(ValueError, match=r"spec|median|seconds|distribution|name=number|number"):
        parse_delay(spec)


def test_the_clock_moves_on_by_what_was_skipped():
    clock = EmulatedClock()
    before = clock.now()
    clock.skip(30)
    clock.skip(-5)
    assert clock.skipped == 30
    assert clock.now() - before >= 30


def test_a_new_key_and_a_new_attachment_are_pending_for_their_delay():
    propagation = Propagation(FixedDelay(10))
    propagation.key_created("AKIA1")
    propagation.policy_attached("user-1", "arn:aws:iam::123456789012:policy/p")
    assert propagation.key_pending("AKIA1")
    assert not propagation.key_pending("AKIA-unknown")
    assert propagation.pending_attachments("user-1") == ["arn:aws:iam::123456789012:policy/p"]
    assert propagation.pending_attachments("user-2") == []
    propagation.clock.skip(10)
    assert not propagation.key_pending("AKIA1")
    assert propagation.pending_attachments("user-1") == []
    assert [delay for _, delay, _ in propagation.drawn] == [10, 10]


def test_serve_takes_the_flag_and_refuses_a_bad_spec():
    import subprocess

    from provisioner_local.cli import build_parser
    from tests.support.local_cli import FIXTURE_TEMPLATE, cli_command

    args = build_parser().parse_args(["serve", "--propagation-delay", "lognormal:median=6,p95=15"])
    assert args.propagation_delay == "lognormal:median=6,p95=15"
    result = subprocess.run(  # noqa: S603 - our own console script, fixed arguments
        cli_command(
            "serve", "--port", "0", "--template", str(FIXTURE_TEMPLATE), "--propagation-delay", "soon"
        ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert "--propagation-delay 'soon'" in result.stderr
