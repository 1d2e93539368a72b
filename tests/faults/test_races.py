"""Races and inputs the fault matrix does not reach: concurrent DELETEs, two connections on one bucket
leaving at once, and inputs that are not JSON objects at every door."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.api import http, record_of
from tests.support.buckets import FAULTS_CUSTOMER_RULE, new_bucket
from tests.support.clients import Clients
from tests.support.executions import wait_until_ended
from tests.support.residue import world

pytestmark = pytest.mark.faults


def _onboard(c: Clients, bucket: str, connection_id: str) -> None:
    status, answer = http(
        c.stack, "POST", "/connections",
        {"connection_name": "r", "connection_id": connection_id, "s3_uri": f"{bucket}/images/"},
    )  # fmt: skip
    assert status == 202, answer
    wait_until_ended(c.sfn, answer["execution_arn"])


def test_ten_deletes_at_once_start_one_offboarding(clients: Clients) -> None:
    c = clients
    c.stack.set_faults([])
    bucket = new_bucket(c, customer_cors=False)
    connection_id = f"race-{uuid.uuid4().hex[:8]}"
    _onboard(c, bucket, connection_id)
    barrier = threading.Barrier(10)

    def delete(_: int) -> tuple[int, object]:
        barrier.wait()
        return http(c.stack, "DELETE", f"/connections/{connection_id}")

    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(delete, range(10)))
    assert [status for status, _ in answers] == [202] * 10, answers
    arns = {answer["execution_arn"] for _, answer in answers}  # type: ignore[index]
    assert len(arns) == 1, arns
    machine = c.stack.state_machines["OffboardConnectionStateMachine"]
    runs = c.sfn.list_executions(stateMachineArn=machine)["executions"]
    assert [r["executionArn"] for r in runs if f":{connection_id}-offboard-" in r["executionArn"]] == list(
        arns
    )
    assert wait_until_ended(c.sfn, arns.pop()) == "SUCCEEDED"
    assert record_of(c.stack, connection_id)["status"] == "DELETED"  # type: ignore[index]
    assert world(c, connection_id, bucket, "images/") == set()


def test_a_connection_leaving_while_another_fails_on_the_same_bucket_leaves_no_rule(clients: Clients) -> None:
    """Once the bug: A kept the shared rule for B (still onboarding), then B failed and kept it because B had
    not added it. With one rule per connection, each takes exactly its own."""
    c = clients
    c.stack.set_faults([])
    bucket = new_bucket(c, customer_cors=True)
    first, second = f"ra-{uuid.uuid4().hex[:8]}", f"rb-{uuid.uuid4().hex[:8]}"
    _onboard(c, bucket, first)
    c.stack.set_faults(["s3:ListObjectsV2@VerifyAccessFunction"])
    with ThreadPoolExecutor(max_workers=2) as pool:
        failing = pool.submit(_onboard, c, bucket, second)
        deleting = pool.submit(http, c.stack, "DELETE", f"/connections/{first}")
        failing.result()
        status, answer = deleting.result()
    assert status == 202, answer
    wait_until_ended(c.sfn, answer["execution_arn"])
    c.stack.set_faults([])
    assert record_of(c.stack, first)["status"] == "DELETED"  # type: ignore[index]
    assert record_of(c.stack, second)["status"] == "FAILED"  # type: ignore[index]
    assert c.s3.get_bucket_cors(Bucket=bucket)["CORSRules"] == [FAULTS_CUSTOMER_RULE]


@pytest.mark.parametrize("raw", ["[1, 2]", '"satellite"', "7", "null", "true"], ids=str)
def test_a_non_object_input_at_start_execution_is_a_named_invalid_request(clients: Clients, raw: str) -> None:
    c = clients
    c.stack.set_faults([])
    name = f"bad-{uuid.uuid4().hex[:8]}"
    onboard = c.sfn.start_execution(stateMachineArn=c.stack.state_machine_arn, name=name, input=raw)
    assert wait_until_ended(c.sfn, onboard["executionArn"]) == "FAILED"
    described = c.sfn.describe_execution(executionArn=onboard["executionArn"])
    assert described["error"] == "ValidateRequest.InvalidRequest"
    assert json.loads(described["cause"])["failed_step"] == "Validate request"
    execution = onboard["executionArn"]
    event = c.stack.wait_for_event(
        "Connection Failed",
        source="labellerr.provisioner",
        where=lambda e: e["detail"]["execution_arn"] == execution,
    )
    assert event["detail"]["connection_id"] is None
    offboard = c.sfn.start_execution(
        stateMachineArn=c.stack.state_machines["OffboardConnectionStateMachine"], name=name, input=raw
    )
    assert wait_until_ended(c.sfn, offboard["executionArn"]) == "FAILED"
    described = c.sfn.describe_execution(executionArn=offboard["executionArn"])
    assert described["error"] == "BeginOffboarding.InvalidRequest"
    assert json.loads(described["cause"])["errors"][0]["field"] == "request"


def test_a_body_that_gives_a_key_twice_is_a_400_naming_it(clients: Clients) -> None:
    body = b'{"connection_name": "d", "bucket": "acme-datasets", "prefix": "images/", "prefix": "private/"}'
    request = urllib.request.Request(  # noqa: S310 - loopback URL of the local stack
        clients.stack.api_url + "/connections", data=body, method="POST",
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=10)  # noqa: S310
    assert raised.value.code == 400
    [error] = json.loads(raised.value.read())["errors"]
    assert error["field"] == "prefix"
