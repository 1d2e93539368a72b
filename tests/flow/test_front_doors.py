"""Issue "front doors": the HTTP API, EventBridge and StartExecution converge on one flow and one record."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import pytest

from tests.support.api import http, lifecycle, wait_for_status
from tests.support.buckets import CUSTOMER_RULE
from tests.support.executions import run_flow, unique_id
from tests.support.residue import cors_rules, leftovers

pytestmark = pytest.mark.flow
LIFECYCLE_DETAIL = {
    "connection_id", "status", "bucket", "prefix", "s3_uri", "access", "iam_user_arn", "secret_arn",
    "execution_arn",
}  # fmt: skip
# Connection Provisioned also names what Register in Labellerr created there (empty when nothing).
PROVISIONED_DETAIL = LIFECYCLE_DETAIL | {"labellerr_connection_ids"}


def assert_provisioned(stack, secrets, record: dict[str, Any]) -> None:
    assert record["status"] == "ACTIVE"
    for field in ("bucket", "s3_uri", "access", "iam_user_arn", "policy_arn", "access_key_id",
                  "secret_arn", "verification", "execution_arn", "created_at", "updated_at"):  # fmt: skip
        assert record.get(field), field
    assert "prefix" in record  # may be "" (the whole bucket)
    [event] = lifecycle(stack, record["connection_id"], "Connection Provisioned")
    assert set(event["detail"]) == PROVISIONED_DETAIL
    assert event["detail"]["secret_arn"] == record["secret_arn"]
    secret = json.loads(secrets.get_secret_value(SecretId=record["secret_arn"])["SecretString"])
    assert secret["secret_access_key"] not in json.dumps(record)
    assert secret["secret_access_key"] not in json.dumps(event)


def test_post_onboards_and_get_follows_it_to_active(stack, secrets, bucket):
    status, body = http(
        stack, "POST", "/connections", {"connection_name": "Via API", "s3_uri": f"{bucket}/images/"}
    )
    assert status == 202, body
    assert body["status"] == "PROVISIONING"
    assert body["url"] == f"/connections/{body['connection_id']}"
    assert body["execution_arn"].endswith(f":{body['connection_id']}")
    record = wait_for_status(stack, body["connection_id"], {"ACTIVE", "FAILED"})
    assert_provisioned(stack, secrets, record)
    assert record["execution_arn"] == body["execution_arn"]


def test_event_onboards_like_the_api(stack, secrets, bucket):
    connection_id = unique_id("evt")
    request = {
        "connection_name": "Via event",
        "connection_id": connection_id,
        "bucket": bucket,
        "prefix": "images",
    }
    stack.client("events").put_events(
        Entries=[
            {
                "EventBusName": stack.event_bus_name,
                "Source": "acme.onboarding",
                "DetailType": "Connection Requested",
                "Detail": json.dumps(request),
            }
        ]
    )
    record = wait_for_status(stack, connection_id, {"ACTIVE", "FAILED"})
    assert_provisioned(stack, secrets, record)


@pytest.mark.parametrize("source", ["somebody.else", "labellerr.provisioner"])
def test_an_event_from_a_source_not_allowed_starts_nothing(stack, sfn, secrets, bucket, source):
    ignored, allowed = unique_id("src"), unique_id("src")
    stack.client("events").put_events(
        Entries=[
            {
                "EventBusName": stack.event_bus_name,
                "Source": source_,
                "DetailType": "Connection Requested",
                "Detail": json.dumps(
                    {"connection_name": "x", "connection_id": connection_id, "bucket": bucket}
                ),
            }
            for source_, connection_id in ((source, ignored), ("acme.onboarding", allowed))
        ]
    )
    # Delivered in order: once the allowed one has run, the other would have been started too.
    assert_provisioned(stack, secrets, wait_for_status(stack, allowed, {"ACTIVE", "FAILED"}))
    assert http(stack, "GET", f"/connections/{ignored}")[0] == 404
    machine = stack.state_machines["OnboardConnectionStateMachine"]
    inputs = [
        sfn.describe_execution(executionArn=execution["executionArn"])["input"]
        for execution in sfn.list_executions(stateMachineArn=machine)["executions"]
    ]
    assert [i for i in inputs if allowed in i]
    assert not [i for i in inputs if ignored in i]


def test_start_execution_registers_like_the_api(stack, sfn, secrets, bucket):
    connection_id = unique_id("sfn")
    run = run_flow(
        stack, sfn, {"connection_name": "Console", "connection_id": connection_id, "bucket": bucket}
    )
    assert run.status == "SUCCEEDED", run.cause
    assert_provisioned(stack, secrets, wait_for_status(stack, connection_id, {"ACTIVE"}))


def test_a_second_run_for_a_live_id_fails_without_touching_the_first(stack, sfn, iam, secrets, bucket):
    connection_id = unique_id()
    first = run_flow(stack, sfn, {"connection_name": "x", "connection_id": connection_id, "bucket": bucket})
    assert first.status == "SUCCEEDED"
    second = run_flow(stack, sfn, {"connection_name": "y", "connection_id": connection_id, "bucket": bucket})
    assert second.error == "ConnectionAlreadyExists"
    record = wait_for_status(stack, connection_id, {"ACTIVE"})
    assert record["execution_arn"] == first.output["execution_arn"]
    assert len(leftovers(iam, secrets, connection_id)) == 4  # user, key, policy, secret all still there
    status, body = http(
        stack,
        "POST",
        "/connections",
        {"connection_name": "z", "connection_id": connection_id, "bucket": bucket},
    )
    assert status == 409
    assert body["errors"][0]["field"] == "connection_id"


def test_bad_requests_get_400_naming_every_field(stack):
    status, body = http(
        stack,
        "POST",
        "/connections",
        {"connection_name": "", "s3_uri": "Bad_Bucket/x*", "access": "all", "extra": 1},
    )
    assert status == 400
    assert {e["field"] for e in body["errors"]} >= {"connection_name", "s3_uri", "access", "extra"}
    status, body = http(stack, "POST", "/connections", b"{not json")
    assert status == 400
    status, body = http(stack, "GET", "/connections/does-not-exist")
    assert status == 404


def test_idempotency_key_replays_and_guards(stack, sfn, bucket):
    key = str(uuid.uuid4())
    request = {"connection_name": "Idem", "bucket": bucket}
    first = http(stack, "POST", "/connections", request, {"Idempotency-Key": key})
    again = http(stack, "POST", "/connections", request, {"Idempotency-Key": key})
    assert first[0] == again[0] == 202
    assert first[1] == again[1]
    status, body = http(
        stack, "POST", "/connections", {**request, "access": "import_export"}, {"Idempotency-Key": key}
    )
    assert status == 422
    assert body["errors"][0]["field"] == "Idempotency-Key"
    wait_for_status(stack, first[1]["connection_id"], {"ACTIVE"})


def test_concurrent_posts_with_one_key_start_one_execution(stack, sfn, bucket):
    key = str(uuid.uuid4())
    request = {"connection_name": "Race", "bucket": bucket}
    answers: list[Any] = []
    threads = [
        threading.Thread(
            target=lambda: answers.append(
                http(stack, "POST", "/connections", request, {"Idempotency-Key": key})
            )
        )
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert [a[0] for a in answers] == [202, 202]
    assert answers[0][1]["connection_id"] == answers[1][1]["connection_id"]
    connection_id = answers[0][1]["connection_id"]
    executions = sfn.list_executions(stateMachineArn=stack.state_machine_arn)["executions"]
    assert len([e for e in executions if e["name"].startswith(connection_id)]) == 1
    wait_for_status(stack, connection_id, {"ACTIVE"})


def test_list_filters_by_bucket_and_status(stack, sfn, bucket):
    ids = [unique_id("list") for _ in range(3)]
    for connection_id in ids:
        assert (
            run_flow(
                stack, sfn, {"connection_name": "l", "connection_id": connection_id, "bucket": bucket}
            ).status
            == "SUCCEEDED"
        )
    seen, token = [], None
    while True:
        query = f"?bucket={bucket}&status=ACTIVE&limit=2" + (f"&next_token={token}" if token else "")
        status, page = http(stack, "GET", "/connections" + query)
        assert status == 200
        seen += [c["connection_id"] for c in page["connections"]]
        token = page.get("next_token")
        if not token:
            break
    assert sorted(seen) == sorted(ids)


def test_delete_removes_everything_of_ours_and_keeps_the_bucket_rules(stack, s3, iam, secrets, bucket):
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [CUSTOMER_RULE]})
    stack.settle()  # the customer's rule is not seconds old
    status, body = http(stack, "POST", "/connections", {"connection_name": "Gone soon", "bucket": bucket})
    connection_id = body["connection_id"]
    wait_for_status(stack, connection_id, {"ACTIVE"})
    assert len(cors_rules(s3, bucket)) == 2

    status, body = http(stack, "DELETE", f"/connections/{connection_id}")
    assert status == 202, body
    record = wait_for_status(stack, connection_id, {"DELETED", "ROLLBACK_FAILED"})
    assert record["status"] == "DELETED"
    assert leftovers(iam, secrets, connection_id) == []
    assert cors_rules(s3, bucket) == [CUSTOMER_RULE]
    [event] = lifecycle(stack, connection_id, "Connection Deleted")
    assert event["detail"]["status"] == "DELETED"
    # Repeating it is harmless.
    status, body = http(stack, "DELETE", f"/connections/{connection_id}")
    assert (status, body["status"]) == (202, "DELETED")


def test_deletion_event_offboards(stack, sfn, iam, secrets, bucket):
    connection_id = unique_id("evtdel")
    assert (
        run_flow(
            stack, sfn, {"connection_name": "x", "connection_id": connection_id, "bucket": bucket}
        ).status
        == "SUCCEEDED"
    )
    stack.client("events").put_events(
        Entries=[
            {
                "EventBusName": stack.event_bus_name,
                "Source": "acme.onboarding",
                "DetailType": "Connection Deletion Requested",
                "Detail": json.dumps({"connection_id": connection_id}),
            }
        ]
    )
    wait_for_status(stack, connection_id, {"DELETED"})
    assert leftovers(iam, secrets, connection_id) == []


def test_failed_onboarding_is_recorded_and_announced(stack, sfn, bucket, faults):
    faults(["iam:CreateAccessKey"])
    connection_id = unique_id("fail")
    run = run_flow(stack, sfn, {"connection_name": "x", "connection_id": connection_id, "bucket": bucket})
    assert run.error == "IssueAccessKey.InjectedFault"
    record = wait_for_status(stack, connection_id, {"FAILED"})
    assert record["error"]["error"] == "IssueAccessKey.InjectedFault"
    [event] = lifecycle(stack, connection_id, "Connection Failed")
    assert event["detail"]["error"]["error"] == "IssueAccessKey.InjectedFault"
