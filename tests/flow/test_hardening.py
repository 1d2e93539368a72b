"""Issue "Hardening": serialization per bucket, transient and compensation faults, secret hygiene."""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.support.api import http, lifecycle, wait_for_status
from tests.support.buckets import CUSTOMER_RULE
from tests.support.executions import run_flow, unique_id
from tests.support.residue import cors_rules, leftovers

pytestmark = pytest.mark.flow
OTHER_CUSTOMER_RULE = {
    "ID": "customer-read",
    "AllowedOrigins": ["https://viewer.acme.example"],
    "AllowedMethods": ["GET"],
}


def _onboard(stack, sfn, bucket: str, connection_id: str):
    return run_flow(
        stack, sfn, {"connection_name": "c", "connection_id": connection_id, "bucket": bucket}, deadline_s=120
    )


def test_concurrent_runs_on_one_bucket_never_lose_a_rule(stack, sfn, s3, iam, secrets, bucket):
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [CUSTOMER_RULE, OTHER_CUSTOMER_RULE]})
    first_wave = [unique_id("wave1") for _ in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        runs = list(pool.map(lambda cid: _onboard(stack, sfn, bucket, cid), first_wave))
    assert [r.status for r in runs] == ["SUCCEEDED"] * 4, [r.cause for r in runs]

    # Offboard two while two more onboard, all on the same bucket at once.
    second_wave = [unique_id("wave2") for _ in range(2)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        deletions = [pool.submit(http, stack, "DELETE", f"/connections/{cid}") for cid in first_wave[:2]]
        onboardings = [pool.submit(_onboard, stack, sfn, bucket, cid) for cid in second_wave]
        assert [d.result()[0] for d in deletions] == [202, 202]
        assert [o.result().status for o in onboardings] == ["SUCCEEDED"] * 2
    for cid in first_wave[:2]:
        wait_for_status(stack, cid, {"DELETED"}, deadline_s=60)
        assert leftovers(iam, secrets, cid) == []
    for cid in first_wave[2:] + second_wave:
        assert wait_for_status(stack, cid, {"ACTIVE"})["verification"]["verified"] is True
    # Each live connection has its own rule, after the customer's; the deleted ones took theirs.
    assert [r["ID"] for r in cors_rules(s3, bucket)][:2] == ["customer-upload", "customer-read"]
    assert sorted(r["ID"] for r in cors_rules(s3, bucket)[2:]) == sorted(
        f"labellerr-{cid}" for cid in first_wave[2:] + second_wave
    )

    # Every connection out takes its rule with it; the customer's rules stay.
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda cid: http(stack, "DELETE", f"/connections/{cid}"), first_wave[2:] + second_wave))
    for cid in first_wave[2:] + second_wave:
        wait_for_status(stack, cid, {"DELETED"}, deadline_s=60)
    assert cors_rules(s3, bucket) == [CUSTOMER_RULE, OTHER_CUSTOMER_RULE]


@pytest.mark.parametrize(
    "operation", ["iam:CreateUser", "s3:PutBucketCors", "secretsmanager:CreateSecret", "dynamodb:PutItem"]
)
def test_a_fault_that_happens_once_ends_in_success(stack, sfn, bucket, faults, operation):
    faults([f"{operation}:1"])
    run = run_flow(stack, sfn, {"connection_name": "x", "connection_id": unique_id("blip"), "bucket": bucket})
    assert stack.injected_faults == [operation]
    assert run.status == "SUCCEEDED", run.cause


COMPENSATIONS = [
    "iam:DeleteUser",
    "iam:DetachUserPolicy",
    "iam:DeletePolicy",
    "iam:DeleteAccessKey",
    "secretsmanager:DeleteSecret",
]


@pytest.mark.parametrize("operation", COMPENSATIONS)
def test_rollback_that_fails_is_recorded_and_finished_by_delete(
    stack, sfn, iam, secrets, bucket, faults, operation
):
    connection_id = unique_id("rbf")
    faults(["s3:ListObjectsV2@VerifyAccess", operation])
    run = run_flow(stack, sfn, {"connection_name": "x", "connection_id": connection_id, "bucket": bucket})
    assert run.error == "RollbackFailed"
    record = wait_for_status(stack, connection_id, {"ROLLBACK_FAILED"})
    assert record["left_behind"]
    [event] = lifecycle(stack, connection_id, "Connection Rollback Failed")
    assert event["detail"]["left_behind"] == record["left_behind"]

    faults([])
    assert http(stack, "DELETE", f"/connections/{connection_id}")[0] == 202
    wait_for_status(stack, connection_id, {"DELETED"})
    assert leftovers(iam, secrets, connection_id) == []


@pytest.mark.parametrize(
    ("operation", "had_cors"),
    [*((op, True) for op in COMPENSATIONS), ("s3:PutBucketCors", True), ("s3:DeleteBucketCors", False)],
)
def test_offboarding_that_fails_is_resumed_by_delete(
    stack, sfn, s3, iam, secrets, bucket, faults, operation, had_cors
):
    if had_cors:
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [CUSTOMER_RULE]})
    connection_id = unique_id("obf")
    assert (
        run_flow(
            stack, sfn, {"connection_name": "x", "connection_id": connection_id, "bucket": bucket}
        ).status
        == "SUCCEEDED"
    )
    faults([operation])
    assert http(stack, "DELETE", f"/connections/{connection_id}")[0] == 202
    record = wait_for_status(stack, connection_id, {"ROLLBACK_FAILED"})
    assert record["left_behind"]
    assert lifecycle(stack, connection_id, "Connection Rollback Failed")

    faults([])
    assert http(stack, "DELETE", f"/connections/{connection_id}")[0] == 202
    wait_for_status(stack, connection_id, {"DELETED"})
    assert leftovers(iam, secrets, connection_id) == []
    assert cors_rules(s3, bucket) == ([CUSTOMER_RULE] if had_cors else None)


class _Capture(logging.Handler):
    def __init__(self, formatter: logging.Formatter | None) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.lock_ = threading.Lock()
        if formatter:
            self.setFormatter(formatter)

    def emit(self, record: logging.LogRecord) -> None:
        with self.lock_:
            self.lines.append(self.format(record))


def _histories(sfn, stack) -> list[Any]:
    found = []
    for arn in stack.state_machines.values():
        for execution in sfn.list_executions(stateMachineArn=arn, maxResults=1000)["executions"]:
            found.append(sfn.get_execution_history(executionArn=execution["executionArn"], maxResults=1000))
            found.append(sfn.describe_execution(executionArn=execution["executionArn"]))
    return found


def test_the_secret_is_found_only_in_secrets_manager(stack, sfn, s3, secrets, bucket, faults, monkeypatch):
    """Every door, success and failure; then look for every issued secret everywhere else."""
    from moto.iam.models import IAMBackend

    issued: list[str] = []
    create_access_key = IAMBackend.create_access_key

    def remember(backend, *args, **kwargs):
        key = create_access_key(backend, *args, **kwargs)
        issued.append(key.secret_access_key)
        return key

    # Rolled-back and offboarded keys are gone from IAM and Secrets Manager: note each one as it is made.
    monkeypatch.setattr(IAMBackend, "create_access_key", remember)
    service_logger = logging.getLogger("labellerr-provisioner")
    capture = _Capture(service_logger.handlers[0].formatter if service_logger.handlers else None)
    service_logger.addHandler(capture)
    # The Labellerr client and the stand-in log through the standard library, at every level.
    library_loggers = [logging.getLogger(name) for name in ("provisioner_core", "provisioner_local")]
    saved_levels = [each.level for each in library_loggers]
    for each in library_loggers:
        each.addHandler(capture)
        each.setLevel(logging.DEBUG)
    labellerr = stack.labellerr
    assert labellerr is not None, "the flow stack hands keys to the Labellerr stand-in"
    labellerr.clear_log()
    answers: list[Any] = []
    try:
        answers.append(
            http(
                stack,
                "POST",
                "/connections",
                {"connection_name": "api", "bucket": bucket, "access": "import_export"},
            )
        )
        stack.client("events").put_events(Entries=[{
            "EventBusName": stack.event_bus_name, "Source": "acme.onboarding", "DetailType": "Connection Requested",
            "Detail": json.dumps({"connection_name": "evt", "connection_id": unique_id("hyg"), "bucket": bucket}),
        }])  # fmt: skip
        run_flow(stack, sfn, {"connection_name": "sfn", "connection_id": unique_id("hyg"), "bucket": bucket})
        faults(["s3:GetObject"])
        run_flow(stack, sfn, {"connection_name": "bad", "connection_id": unique_id("hyg"), "bucket": bucket})
        faults(["s3:ListObjectsV2@VerifyAccess", "iam:DeleteAccessKey"])
        run_flow(
            stack, sfn, {"connection_name": "worse", "connection_id": unique_id("hyg"), "bucket": bucket}
        )
        # Register in Labellerr failing after a create took effect, with its reply lost, then rolled back.
        faults(["labellerr:create:lost@import", "labellerr:create@export"])
        run_flow(stack, sfn, {"connection_name": "lab", "connection_id": unique_id("hyg"), "bucket": bucket,
                              "access": "import_export"})  # fmt: skip
        faults([])
        wait_for_status(stack, answers[0][1]["connection_id"], {"ACTIVE"})
        for _ in range(3):
            answers.append(http(stack, "GET", "/connections?limit=100"))
        answers.append(http(stack, "DELETE", f"/connections/{answers[0][1]['connection_id']}"))
        wait_for_status(stack, answers[0][1]["connection_id"], {"DELETED"})
    finally:
        service_logger.removeHandler(capture)
        for each, level in zip(library_loggers, saved_levels, strict=True):
            each.removeHandler(capture)
            each.setLevel(level)
        faults([])

    assert len(issued) >= 6, "fewer keys than runs were issued: the test proves less than it says"
    # The key did travel to Labellerr, in the requests only: the stand-in can tell it was submitted.
    assert any(
        labellerr.secret_matches(c.connection_id, key) for c in labellerr.connections() for key in issued
    ), "no issued key reached Labellerr: the test proves nothing about the hand-off"
    assert any(e["status"] == 500 for e in labellerr.request_log), "the Labellerr failure path did not run"

    registry_items = stack.client("dynamodb").scan(TableName=stack.tables["ConnectionsTable"])["Items"]
    haystacks = {
        "execution histories": json.dumps(_histories(sfn, stack), default=str),
        "function logs": "\n".join(capture.lines),
        "events on the bus": json.dumps(stack.events(), default=str),
        "API responses": json.dumps(answers),
        "registry items": json.dumps(registry_items),
        "Labellerr stand-in request log": json.dumps(labellerr.request_log),
    }
    assert capture.lines, "no log line was captured: the test proves nothing"
    assert any("Labellerr" in line for line in capture.lines), "no Labellerr client log line was captured"
    assert len(labellerr.request_log) >= 10, "the stand-in saw too few requests to prove anything"
    for where, text in haystacks.items():
        for secret_access_key in issued:
            assert secret_access_key not in text, f"secret access key found in {where}"
        # Labellerr's api_secret: read from its secret by the Labellerr callers only, sent as a header.
        assert labellerr.api_secret not in text, f"Labellerr's api_secret found in {where}"
