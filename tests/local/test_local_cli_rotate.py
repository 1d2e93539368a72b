"""provisioner-local rotate as a user runs it, in-process against a fresh stack of the project's template:
the trace, the consumer flag, and never a secret in what it prints."""

from __future__ import annotations

import re

import pytest

from provisioner_local.cli import main

pytestmark = pytest.mark.flow


def test_rotate_with_a_switching_consumer_retires_the_old_key(capsys):
    code = main(["rotate", "cli-rotation-demo", "--consumer-switches"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "Onboarded cli-rotation-demo first" in out
    assert "(consumer) listed s3://" in out
    for state in ("Begin rotation", "Issue rotation key", "Verify access", "Hand over rotation key",
                  "Deactivate old key", "Delete old key", "Record rotation outcome"):  # fmt: skip
        assert re.search(rf"^  {re.escape(state)} +succeeded", out, re.MULTILINE), state
    # Each waiting loop is one line with its counts, not one line per check.
    assert re.search(r"^  Check key adoption x\d+, Adopted\? x\d+", out, re.MULTILINE)
    assert out.count("Check rotation grace") == 1
    assert "Rotation SUCCEEDED" in out
    assert re.search(r"Rotation cli-rotation-demo-rotation-[0-9a-f]+: ROTATED", out)
    # One key left, the one the consumer used; no secret access key anywhere in the output.
    assert len(re.findall(r"^  AKIA[A-Z0-9]{16}  Active", out, re.MULTILINE)) == 1
    assert not re.search(r"[A-Za-z0-9/+]{40}", out)


def test_rotate_without_a_consumer_stalls_and_says_how_to_play_one(capsys):
    code = main(["rotate", "cli-rotation-stall"])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "Rotation FAILED: RotationStalled" in out
    assert re.search(r"Rotation cli-rotation-stall-rotation-[0-9a-f]+: STALLED", out)
    assert len(re.findall(r"^  AKIA[A-Z0-9]{16}  Active", out, re.MULTILINE)) == 2
    assert "--consumer-switches plays the consumer" in out
