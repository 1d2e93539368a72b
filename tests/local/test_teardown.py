"""Offboarding every connection before the stack goes: against the local stack's real flows."""

from __future__ import annotations

import io
import json
import uuid

import pytest

from provisioner_local.emulator import LocalStack
from provisioner_ops.teardown import offboard_all
from tests.support.executions import wait_for_execution

pytestmark = pytest.mark.flow


@pytest.fixture(scope="module")
def stack():
    with LocalStack(port=0) as local:
        yield local


def _onboard(stack: LocalStack, bucket: str, connection_id: str, faults: list[str]) -> str:
    stack.set_faults(faults)
    sfn = stack.client("stepfunctions")
    arn = sfn.start_execution(
        stateMachineArn=stack.state_machine_arn, name=connection_id,
        input=json.dumps({"connection_name": "t", "connection_id": connection_id, "bucket": bucket}),
    )["executionArn"]  # fmt: skip
    status = wait_for_execution(sfn, arn)["status"]
    stack.set_faults([])
    return str(status)


def test_every_connection_is_offboarded_and_the_report_says_nothing_remains(stack):
    s3, iam = stack.client("s3"), stack.client("iam")
    bucket = f"acme-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="cat.png", Body=b"png")
    active, broken, failed = (f"{stem}-{uuid.uuid4().hex[:6]}" for stem in ("active", "broken", "failed"))
    assert _onboard(stack, bucket, active, []) == "SUCCEEDED"
    # Its rollback cannot delete the user: ROLLBACK_FAILED, with the user left.
    assert _onboard(stack, bucket, broken, ["iam:CreateAccessKey", "iam:DeleteUser"]) == "FAILED"
    assert _onboard(stack, bucket, failed, ["iam:CreateAccessKey"]) == "FAILED"
    table = stack.tables["ConnectionsTable"]
    out = io.StringIO()
    report = offboard_all(
        stack.client("dynamodb"), stack.client("stepfunctions"), table=table,
        offboard_state_machine_arn=stack.state_machines["OffboardConnectionStateMachine"], out=out,
        timeout_s=120,
    )  # fmt: skip
    # moto's state is process-wide: connections of other suites' stacks may be in the table too.
    assert not {active, broken, failed} & set(report.remaining), report.remaining
    assert {active, broken} <= set(report.offboarded)
    assert failed not in report.offboarded  # FAILED holds nothing: not offboarded again
    # moto's state is process-wide: other suites' users may be there, ours must not.
    ours = {f"labellerr-{cid}" for cid in (active, broken, failed)}
    assert ours.isdisjoint(u["UserName"] for u in iam.list_users(PathPrefix="/labellerr/")["Users"])
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix=".labellerr")
    with pytest.raises(s3.exceptions.ClientError):
        s3.get_bucket_cors(Bucket=bucket)


def test_what_cannot_be_removed_is_reported(stack):
    s3 = stack.client("s3")
    bucket = f"acme-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    connection_id = f"stuck-{uuid.uuid4().hex[:6]}"
    assert _onboard(stack, bucket, connection_id, []) == "SUCCEEDED"
    stack.set_faults(["iam:DeleteUser"])
    try:
        report = offboard_all(
            stack.client("dynamodb"), stack.client("stepfunctions"), table=stack.tables["ConnectionsTable"],
            offboard_state_machine_arn=stack.state_machines["OffboardConnectionStateMachine"],
            out=io.StringIO(), timeout_s=60,
        )  # fmt: skip
    finally:
        stack.set_faults([])
    assert not report.clean
    assert report.remaining[connection_id]["status"] == "ROLLBACK_FAILED"
    assert any("IAM user" in item for item in report.remaining[connection_id]["left_behind"])
