"""provisioner-smoke: onboard a scratch prefix of your bucket on a deployed stack, check it from outside,
offboard it, and check that nothing of it is left.

It touches only its own connection (`smoke-<random>`, prefix `labellerr-smoke-<random>/`): it writes no
object, and the stack's offboarding removes exactly what the onboarding made. Ctrl-C or SIGTERM stops the
checks and offboards the connection before exiting. The issued secret access key is read into memory to
prove the key lists the prefix; only the secret's ARN is ever printed.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Final, TextIO

import boto3

from provisioner_ops import smoke_checks as checks
from provisioner_ops.smoke_checks import Outcome
from provisioner_ops.smoke_http import HttpFailure, SignedApi, api_region, object_url
from provisioner_ops.teardown import stack_outputs

ONBOARDED: Final = frozenset({"ACTIVE", "FAILED", "ROLLBACK_FAILED"})
OFFBOARDED: Final = frozenset({"DELETED", "ROLLBACK_FAILED"})
DEFAULT_ORIGIN: Final = "https://pro.labellerr.com"
POLL_SECONDS: Final = 1.0


class Interrupted(BaseException):
    """SIGINT or SIGTERM: a BaseException, so no check's `except` swallows it."""


class SmokeError(Exception):
    """The run cannot go on (no API answer, a bad argument): the message says why."""


@dataclass
class Step:
    name: str
    outcome: Outcome
    seconds: float


@dataclass
class Report:
    out: TextIO
    steps: list[Step] = field(default_factory=list)

    def run(self, name: str, check: Callable[[], Outcome]) -> Outcome:
        started = time.monotonic()
        try:
            outcome = check()
        except checks.AWS_ERRORS as error:
            outcome = checks.failed(f"{type(error).__name__}: {error}")
        except (HttpFailure, SmokeError) as error:
            outcome = checks.failed(str(error))
        except KeyError as error:
            outcome = checks.failed(f"the registry record has no {error}")
        step = Step(name, outcome, time.monotonic() - started)
        self.steps.append(step)
        mark = {True: "PASS", False: "FAIL", None: "SKIP"}[outcome.passed]
        print(f"{mark}  {name:<28} {step.seconds:7.2f} s  {outcome.detail}", file=self.out, flush=True)
        return outcome

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(step.outcome.passed is not False for step in self.steps)


@dataclass
class Smoke:
    api: SignedApi
    session: boto3.session.Session
    bucket: str
    endpoint_url: str | None
    origin: str
    timeout_s: float
    labellerr: bool
    report: Report
    connection_id: str = field(default_factory=lambda: f"smoke-{uuid.uuid4().hex[:10]}")
    started: bool = False
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def prefix(self) -> str:
        return f"labellerr-{self.connection_id}/"

    def client(self, name: str) -> Any:
        return self.session.client(name, endpoint_url=self.endpoint_url)  # type: ignore[call-overload]

    def get(self) -> dict[str, Any]:
        answer = self.api.call("GET", self.api.connection_path(self.connection_id))
        if answer.status == 404:
            return {}
        if answer.status != 200 or not isinstance(answer.body, dict):
            raise SmokeError(
                f"GET {self.api.connection_path(self.connection_id)}: {answer.status} {answer.body}"
            )
        return dict(answer.body)

    def wait_for(self, statuses: frozenset[str]) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout_s
        while True:
            record = self.get()
            if record.get("status") in statuses or time.monotonic() > deadline:
                return record
            time.sleep(POLL_SECONDS)

    # -- the steps

    def onboard(self) -> Outcome:
        request = {
            "connection_name": f"Smoke check {self.connection_id}",
            "connection_id": self.connection_id,
            "bucket": self.bucket,
            "prefix": self.prefix,
            "access": "import",
            "register_in_labellerr": self.labellerr,
        }
        self.started = True  # from here on, cleanup asks for an offboarding whatever the answer was
        answer = self.api.call("POST", "/connections", request, {"Idempotency-Key": self.connection_id})
        if answer.status != 202:
            return checks.failed(f"POST /connections answered {answer.status}: {answer.body}")
        return checks.passed(f"202, execution {answer.body.get('execution_arn')}")

    def wait_onboarded(self) -> Outcome:
        self.record = self.wait_for(ONBOARDED)
        status = self.record.get("status")
        if status == "ACTIVE":
            return checks.passed("the registry record is ACTIVE")
        return checks.failed(f"the registry record is {status}: {self.record.get('error') or 'timed out'}")

    def offboard(self) -> Outcome:
        """DELETE, repeated while the onboarding still holds the connection (409), then wait for the end."""
        path = self.api.connection_path(self.connection_id)
        deadline = time.monotonic() + self.timeout_s
        while True:
            answer = self.api.call("DELETE", path)
            if answer.status == 404:
                return checks.passed("no record: the onboarding never started")
            if answer.status == 202 or time.monotonic() > deadline:
                break
            if answer.status != 409:
                return checks.failed(f"DELETE {path} answered {answer.status}: {answer.body}")
            time.sleep(POLL_SECONDS)
        if answer.status != 202:
            return checks.failed(f"DELETE {path} still answered {answer.status} after {self.timeout_s:g} s")
        final = self.wait_for(OFFBOARDED)
        if final.get("status") == "DELETED":
            self.record = {**self.record, **final}
            return checks.passed("the registry record is DELETED")
        return checks.failed(f"the registry record is {final.get('status')}: {final.get('left_behind')}")

    def active_checks(self) -> None:
        record, run = self.record, self.report.run
        iam, secrets, s3 = self.client("iam"), self.client("secretsmanager"), self.client("s3")
        user_arn, policy_arn, secret_arn = record["iam_user_arn"], record["policy_arn"], record["secret_arn"]
        run("IAM user and policy", lambda: checks.user_and_policy(iam, user_arn, policy_arn))
        run("secret exists", lambda: checks.secret_exists(secrets, secret_arn))
        run(
            "issued key lists prefix",
            lambda: checks.key_lists_prefix(
                secrets, secret_arn, bucket=self.bucket, prefix=self.prefix, endpoint_url=self.endpoint_url
            ),
        )
        cors = record.get("cors") or {}
        if cors.get("rule_added"):
            run("CORS rule", lambda: checks.cors_rule(s3, self.bucket, str(cors["rule_id"])))
        else:
            run("CORS rule", lambda: Outcome(None, f"none of ours added: {cors}"))
        key = f"{self.prefix}labellerr-smoke-probe"
        url = object_url(self.bucket, key, str(record.get("region")), self.endpoint_url)
        run("CORS preflight", lambda: checks.cors_preflight(url, self.origin))
        sfn = self.client("stepfunctions")
        run("lifecycle event", lambda: checks.lifecycle_event(sfn, record["execution_arn"]))
        if self.labellerr:
            run("Labellerr hand-off", lambda: checks.labellerr_handoff(record.get("labellerr") or {}))

    def gone_checks(self) -> None:
        record, iam, report = self.record, self.client("iam"), self.report
        if not record.get("iam_user_arn"):
            report.run(
                "nothing left", lambda: Outcome(None, "never ACTIVE: the record's status says what is left")
            )
            return
        report.run("user gone", lambda: checks.user_gone(iam, record["iam_user_arn"]))
        report.run("policy gone", lambda: checks.policy_gone(iam, record["policy_arn"]))
        report.run(
            "secret gone", lambda: checks.secret_gone(self.client("secretsmanager"), record["secret_arn"])
        )
        rule_id = (record.get("cors") or {}).get("rule_id")
        if rule_id:
            report.run(
                "CORS rule gone", lambda: checks.cors_rule_gone(self.client("s3"), self.bucket, str(rule_id))
            )
        if record.get("offboarding_execution_arn"):
            report.run("lifecycle event (delete)", lambda: checks.lifecycle_event(
                self.client("stepfunctions"), record["offboarding_execution_arn"]
            ))  # fmt: skip

    def run(self) -> None:
        print(
            f"Smoke check: connection {self.connection_id}, s3://{self.bucket}/{self.prefix}",
            file=self.report.out,
        )
        try:
            if (
                self.report.run("start onboarding", self.onboard).passed
                and self.report.run("onboarding finished", self.wait_onboarded).passed
            ):
                self.active_checks()
        finally:
            self.finish()

    def finish(self) -> None:
        """Offboard whatever was started, even after an interrupt; a second signal does not stop this."""
        if not self.started:
            return
        with _signals(_ignore(self.report.out)):
            if self.report.run("offboarding", self.offboard).passed:
                self.gone_checks()


def _ignore(out: TextIO) -> Callable[[int, FrameType | None], None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        print("Still offboarding the smoke connection; it stops by itself when done.", file=out, flush=True)

    return handler


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signal.Signals(signum).name)


@contextmanager
def _signals(handler: Callable[[int, FrameType | None], None]) -> Iterator[None]:
    saved = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, previous in saved.items():
            signal.signal(sig, previous)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="provisioner-smoke",
        description="Onboard and offboard a scratch prefix of BUCKET on a deployed stack, checking each "
        "result from outside; exit 0 when every check passed, 1 otherwise.",
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--stack-name", help="the deployed stack (its ApiUrl output is used)")
    target.add_argument("--api-url", help="the HTTP API's base URL instead (e.g. the local stack's)")
    parser.add_argument("--bucket", required=True, help="a bucket the stack may use (within AllowedBuckets)")
    parser.add_argument("--region", help="AWS region (default: the SDK's)")
    parser.add_argument("--endpoint-url", help="an AWS endpoint to use instead of AWS's (the local stack's)")
    parser.add_argument("--origin", default=DEFAULT_ORIGIN, help=f"CORS preflight origin ({DEFAULT_ORIGIN})")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per wait (default 300)")
    parser.add_argument(
        "--with-labellerr", action="store_true",
        help="also hand the key to Labellerr (creates, then deletes, a connection in your workspace)",
    )  # fmt: skip
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    args = _parser().parse_args(argv)
    with _signals(_interrupt):
        try:
            return _run(args, out)
        except Interrupted as signal_name:
            # Only before the onboarding starts: Smoke.run catches it from there on, and offboards.
            print(f"Interrupted ({signal_name}) before anything was created.", file=out)
            return 1


def _run(args: argparse.Namespace, out: TextIO) -> int:
    session = boto3.session.Session(region_name=args.region)
    credentials = session.get_credentials()
    if credentials is None:
        print(
            "provisioner-smoke: no AWS credentials: the HTTP API takes SigV4-signed requests only",
            file=sys.stderr,
        )
        return 1
    try:
        api_url = args.api_url or _api_url(session, args.stack_name, args.endpoint_url)
    except (SmokeError, *checks.AWS_ERRORS) as error:
        print(f"provisioner-smoke: {error}", file=sys.stderr)
        return 1
    region = api_region(api_url, session.region_name)
    if not region:
        print("provisioner-smoke: no region: pass --region or set AWS_DEFAULT_REGION", file=sys.stderr)
        return 1
    report = Report(out)
    smoke = Smoke(
        SignedApi(api_url, credentials, region), session, args.bucket,
        args.endpoint_url, args.origin, args.timeout, args.with_labellerr, report,
    )  # fmt: skip
    interrupted = None
    try:
        smoke.run()
    except Interrupted as signal_name:
        interrupted = str(signal_name)
        print(
            f"Interrupted ({interrupted}); the smoke connection was offboarded as reported above.", file=out
        )
    total = sum(step.seconds for step in report.steps)
    failed = [step.name for step in report.steps if step.outcome.passed is False]
    if report.ok and not interrupted:
        print(f"Smoke check all checks passed ({len(report.steps)} steps, {total:.1f} s)", file=out)
        return 0
    reasons = ", ".join(failed) or "interrupted"
    print(f"Smoke check failed: {reasons} ({len(report.steps)} steps, {total:.1f} s)", file=out)
    return 1


def _api_url(session: boto3.session.Session, stack_name: str, endpoint_url: str | None) -> str:
    cloudformation = session.client("cloudformation", endpoint_url=endpoint_url)
    outputs = stack_outputs(cloudformation, stack_name)
    if "ApiUrl" not in outputs:
        raise SmokeError(f"stack {stack_name} has no ApiUrl output (outputs: {', '.join(outputs) or 'none'})")
    return outputs["ApiUrl"]


if __name__ == "__main__":
    raise SystemExit(main())
