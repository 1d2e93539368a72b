"""Offboard every connection of a stack before the stack itself is deleted.

The IAM users, policies, secrets and CORS rules the flows create are not stack resources: `sam delete`
would leave them all behind, and with them the only record of what they are. This removes them the way a
DELETE does, through the stack's own offboarding state machine, one run per live connection, and says
which connections, if any, still hold something. `make delete` runs it and deletes the stack only when
nothing is left.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

import boto3
from boto3.dynamodb.types import TypeDeserializer

# Nothing of these exists in the account any more (the flows' promise); everything else may hold resources.
SETTLED_CLEAN = frozenset({"DELETED", "FAILED"})
FINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
HELD = frozenset({"PROVISIONING", "DEPROVISIONING"})
_deserializer = TypeDeserializer()


@dataclass
class Report:
    offboarded: list[str] = field(default_factory=list)
    # connection id -> its status after the attempt, with what is left when the record says
    remaining: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return not self.remaining


def live_connections(dynamodb: Any, table: str) -> list[dict[str, Any]]:
    """Every record that may still hold resources, read consistently, all pages."""
    records: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = dynamodb.scan(**kwargs)
        for item in page.get("Items", []):
            record = {key: _deserializer.deserialize(value) for key, value in item.items()}
            if record.get("status") not in SETTLED_CLEAN:
                records.append(record)
        if "LastEvaluatedKey" not in page:
            return records
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _wait(sfn: Any, execution_arn: str, deadline: float, sleep: Callable[[float], None]) -> str:
    while True:
        status = str(sfn.describe_execution(executionArn=execution_arn)["status"])
        if status in FINAL or time.monotonic() > deadline:
            return status
        sleep(0.5)


def offboard_all(
    dynamodb: Any,
    sfn: Any,
    *,
    table: str,
    offboard_state_machine_arn: str,
    timeout_s: float = 900,
    out: TextIO = sys.stdout,
    sleep: Callable[[float], None] = time.sleep,
) -> Report:
    """Start one offboarding per live connection (the state machine refuses one still onboarding, so those
    are retried until their onboarding ends or the timeout), wait for all, and report what remains."""
    deadline = time.monotonic() + timeout_s
    report = Report()
    pending = {record["connection_id"] for record in live_connections(dynamodb, table)}
    while pending and time.monotonic() < deadline:
        runs = {}
        for connection_id in sorted(pending):
            name = f"{connection_id}-teardown-{uuid.uuid4().hex[:8]}"
            runs[connection_id] = sfn.start_execution(
                stateMachineArn=offboard_state_machine_arn,
                name=name,
                input=json.dumps({"connection_id": connection_id}),
            )["executionArn"]
        for connection_id, execution_arn in runs.items():
            status = _wait(sfn, execution_arn, deadline, sleep)
            print(f"{connection_id}: offboarding {status}", file=out)
        live = {r["connection_id"]: r for r in live_connections(dynamodb, table)}
        report.offboarded += [cid for cid in pending if cid not in live]
        # A run still holds these (an onboarding refused the offboarding as busy): try again shortly. One
        # that ended ROLLBACK_FAILED is reported: trying again at once would fail the same way.
        pending = {cid for cid in pending if live.get(cid, {}).get("status") in HELD}
        if pending:
            sleep(2)
    for record in live_connections(dynamodb, table):
        report.remaining[record["connection_id"]] = {
            "status": record.get("status"),
            "left_behind": record.get("left_behind", []),
        }
    return report


def stack_outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    [stack] = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="provisioner-offboard-all",
        description="Offboard every connection of a stack (before `sam delete`); exit 1 if any remain.",
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--stack-name", help="the stack whose connections to remove (reads its outputs)")
    target.add_argument(
        "--table", help="the connections table, with --state-machine-arn (e.g. the local stack's)"
    )
    parser.add_argument("--state-machine-arn", help="the offboarding state machine, with --table")
    parser.add_argument("--region", help="AWS region (default: the SDK's)")
    parser.add_argument("--endpoint-url", help="an AWS endpoint to use instead (the local stack's)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait in all (default 900)")
    args = parser.parse_args(argv)
    session = boto3.session.Session(region_name=args.region)

    def client(name: str) -> Any:
        return session.client(name, endpoint_url=args.endpoint_url)  # type: ignore[call-overload]

    if args.stack_name:
        outputs = stack_outputs(client("cloudformation"), args.stack_name)
        table, machine = outputs["ConnectionsTableName"], outputs["OffboardConnectionStateMachineArn"]
    elif args.state_machine_arn:
        table, machine = args.table, args.state_machine_arn
    else:
        parser.error("--table needs --state-machine-arn")
    report = offboard_all(
        client("dynamodb"), client("stepfunctions"), table=table, offboard_state_machine_arn=machine,
        timeout_s=args.timeout,
    )  # fmt: skip
    print(json.dumps({"offboarded": sorted(report.offboarded), "remaining": report.remaining}, indent=2))
    return 0 if report.clean else 1


if __name__ == "__main__":
    raise SystemExit(main())
