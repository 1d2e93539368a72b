"""The hand-off to Labellerr through the real state machines, against the stand-in the flow stack runs.

What Labellerr holds is read from the stand-in itself (its connections, its request log), never from what
the flow reports: exactly the connections it should, with the right type, name and key; none after a
rollback or an offboarding; none when the request says no; never a second one after a retry.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from provisioner_core import objects_lease, registry
from provisioner_core.connection import PROBE_NAME_PREFIX, labellerr_marker, probe_key_for
from provisioner_core.labellerr import LabellerrClient, LabellerrCredentials, S3Credentials
from provisioner_core.labellerr_errors import LabellerrTestFailed
from provisioner_local.emulator import LocalStack
from provisioner_local.labellerr_access import AccessCheckFailed
from provisioner_local.labellerr_standin import LabellerrStandIn, StoredConnection
from provisioner_local.lease_clock import LEASE_CLOCK
from tests.support.executions import Run, history_of, offboard, run_flow, start, unique_id, wait_for_run
from tests.support.residue import leftovers

pytestmark = pytest.mark.flow


@pytest.fixture
def labellerr(stack: LocalStack) -> LabellerrStandIn:
    assert stack.labellerr is not None, "the flow stack runs with the Labellerr stand-in"
    stack.labellerr.clear_log()
    return stack.labellerr


def api_client(labellerr: LabellerrStandIn) -> LabellerrClient:
    """A user's own client of the stand-in, with the credentials serve prints."""
    values = labellerr.credentials
    credentials = LabellerrCredentials(values["api_key"], values["api_secret"], values["client_id"])
    return LabellerrClient(credentials, values["api_url"])


def marked(labellerr: LabellerrStandIn, connection_id: str) -> list[StoredConnection]:
    return [c for c in labellerr.connections() if labellerr_marker(connection_id) in c.description]


def calls(labellerr: LabellerrStandIn, operation: str) -> list[dict[str, Any]]:
    path = f"/connectors/connections/{operation}"
    return [entry for entry in labellerr.request_log if entry["path"] == path]


def attempts(run: Run, state: str) -> int:
    """How often a Task state invoked its function (1 plus its retries), from the execution history."""
    count, inside = 0, False
    for event in run.history:
        details = event.get("stateEnteredEventDetails") or event.get("stateExitedEventDetails") or {}
        if event["type"].endswith("StateEntered"):
            inside = details.get("name") == state
        elif event["type"] == "LambdaFunctionScheduled" and inside:
            count += 1
    return count


def task_output(run: Run, state: str) -> dict[str, Any]:
    exits = [e["stateExitedEventDetails"] for e in run.history if e["type"] == "TaskStateExited"]
    [found] = [json.loads(e["output"]) for e in exits if e["name"] == state][-1:]
    return found


def request(bucket: str, connection_id: str, **fields: Any) -> dict[str, Any]:
    return {"connection_name": "Satellite images", "connection_id": connection_id,
            "s3_uri": f"{bucket}/images/", **fields}  # fmt: skip


def test_import_creates_one_import_connection_labellerr_tested_with_the_issued_key(
    stack, sfn, secrets, bucket, labellerr
):
    connection_id = unique_id()
    run = run_flow(
        stack, sfn, request(bucket, connection_id, description="Raw tiles", labellerr_data_type="video")
    )
    assert run.status == "SUCCEEDED", run.cause
    [made] = marked(labellerr, connection_id)
    assert (made.connection_type, made.name, made.connector) == ("import", "Satellite images", "s3")
    assert made.description == f"Raw tiles {labellerr_marker(connection_id)}"
    # What Labellerr lists over its API, to anyone with the workspace's credentials.
    [listed] = api_client(labellerr).find_connections(description_marker=labellerr_marker(connection_id))
    assert (listed.connection_id, listed.connection_type, listed.name) == (
        made.connection_id, "import", "Satellite images",
    )  # fmt: skip
    # The stand-in can tell the key: the issued key id, and the secret that is in Secrets Manager.
    assert made.access_key_id == run.output["access_key_id"]
    secret = json.loads(secrets.get_secret_value(SecretId=run.output["secret_arn"])["SecretString"])
    assert labellerr.secret_matches(made.connection_id, secret["secret_access_key"])

    # Labellerr's test ran first, on the connection's bucket/prefix/, with the request's data type.
    [test] = calls(labellerr, "test")
    [create] = calls(labellerr, "create")
    assert labellerr.request_log.index(test) < labellerr.request_log.index(create)
    assert test["form"]["path"] == f"{bucket}/images/"
    assert (test["form"]["data_type"], test["form"]["connection_type"]) == ("video", "import")
    assert test["form"]["credentials"]["access_key_id"] == made.access_key_id

    labellerr_result = run.output["labellerr"]
    assert labellerr_result["registered"] is True
    assert labellerr_result["labellerr_connection_ids"] == [made.connection_id]
    assert labellerr_result["test"]["outcome"] == "passed"
    record = registry.get(stack.client("dynamodb"), connection_id, stack.tables["ConnectionsTable"])
    assert record is not None
    assert record["labellerr"]["labellerr_connection_ids"] == [made.connection_id]
    event = stack.wait_for_event(
        "Connection Provisioned", where=lambda e: e["detail"]["connection_id"] == connection_id
    )
    assert event["detail"]["labellerr_connection_ids"] == [made.connection_id]


def test_import_export_creates_one_import_and_one_export(stack, sfn, bucket, labellerr):
    connection_id = unique_id()
    run = run_flow(stack, sfn, request(bucket, connection_id, access="import_export"))
    assert run.status == "SUCCEEDED", run.cause
    made = marked(labellerr, connection_id)
    assert sorted(c.connection_type for c in made) == ["export", "import"]
    assert {c.access_key_id for c in made} == {run.output["access_key_id"]}
    by_type = {
        c["connection_type"]: c["labellerr_connection_id"] for c in run.output["labellerr"]["connections"]
    }
    assert by_type == {c.connection_type: c.connection_id for c in made}
    assert len(calls(labellerr, "create")) == 2


def test_register_in_labellerr_false_creates_nothing_there(stack, sfn, iam, secrets, bucket, labellerr):
    connection_id = unique_id()
    run = run_flow(stack, sfn, request(bucket, connection_id, register_in_labellerr=False))
    assert run.status == "SUCCEEDED", run.cause
    assert run.output["labellerr"] == {
        "registered": False,
        "labellerr_connection_ids": [],
        "reason": "register_in_labellerr is false",
    }
    assert attempts(run, "Register in Labellerr") == 0
    assert offboard(stack, sfn, connection_id).status == "SUCCEEDED"
    # Neither onboarding nor offboarding asked Labellerr anything.
    assert labellerr.request_log == []
    assert leftovers(iam, secrets, connection_id) == []


def test_offboarding_deletes_them_before_the_key(stack, sfn, iam, secrets, bucket, labellerr):
    connection_id = unique_id()
    assert run_flow(stack, sfn, request(bucket, connection_id, access="import_export")).status == "SUCCEEDED"
    ids = [c.connection_id for c in marked(labellerr, connection_id)]
    run = offboard(stack, sfn, connection_id)
    assert run.status == "SUCCEEDED", run.cause
    assert marked(labellerr, connection_id) == []
    assert leftovers(iam, secrets, connection_id) == []
    removed = task_output(run, "Remove connection")["removal"]["removed"]
    labellerr_entries = [i for i, entry in enumerate(removed) if entry.startswith("Labellerr ")]
    key_entry = next(i for i, entry in enumerate(removed) if entry.startswith("access key "))
    assert len(labellerr_entries) == 2
    assert max(labellerr_entries) < key_entry
    assert {entry.rsplit(" ", 1)[1] for entry in removed if entry.startswith("Labellerr ")} == set(ids)


def test_the_stand_in_test_fails_for_a_key_that_cannot_read_the_path(stack, sfn, secrets, bucket, labellerr):
    connection_id = unique_id()
    run = run_flow(stack, sfn, request(bucket, connection_id, register_in_labellerr=False))
    secret = json.loads(secrets.get_secret_value(SecretId=run.output["secret_arn"])["SecretString"])
    key = S3Credentials(secret["access_key_id"], secret["secret_access_key"])
    client = api_client(labellerr)
    assert client.test_connection(key, f"{bucket}/images/", "import")["status"] == "success"
    with pytest.raises(LabellerrTestFailed) as refused:
        client.test_connection(key, f"{bucket}/private/", "import")
    # Listing outside the prefix is refused first, as in AWS: the key's policy lists only under its prefix
    # (moto ignores that condition; the local stack's boundary check, with the user's fence tags, does not).
    assert f"cannot list s3://{bucket}/private/" in str(refused.value)
    # An import key cannot write, so an export test of the same path fails too.
    with pytest.raises(LabellerrTestFailed):
        client.test_connection(key, f"{bucket}/images/", "export")
    assert secret["secret_access_key"] not in str(refused.value)


def test_a_refused_test_fails_the_run_with_labellerrs_message_and_rolls_back(
    stack, sfn, iam, secrets, bucket, labellerr, monkeypatch
):
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AccessCheckFailed("Connection test failed: cannot list s3://x/ with the given credentials")

    # As when Labellerr's own network cannot reach the bucket (a VPC-only bucket policy, say).
    monkeypatch.setattr(labellerr._checker, "check", refuse)
    connection_id = unique_id()
    run = run_flow(stack, sfn, request(bucket, connection_id))
    assert run.status == "FAILED"
    assert run.error == "RegisterInLabellerr.LabellerrTestFailed"
    assert "Connection test failed: cannot list" in run.cause_json["message"]
    # A 4xx is not retried.
    assert attempts(run, "Register in Labellerr") == 1
    assert calls(labellerr, "create") == []
    assert leftovers(iam, secrets, connection_id) == []


def test_a_labellerr_fault_rolls_back_everything_including_labellerr(
    stack, sfn, iam, secrets, bucket, labellerr, faults
):
    # The import connection is created, then every export create fails: the rollback must find it.
    faults(["labellerr:create@export"])
    connection_id = unique_id()
    run = run_flow(stack, sfn, request(bucket, connection_id, access="import_export"))
    assert run.status == "FAILED"
    assert run.error == "RegisterInLabellerr.LabellerrUnavailable"
    created = [entry for entry in calls(labellerr, "create") if entry["status"] == 200]
    assert len(created) == 1
    assert marked(labellerr, connection_id) == []
    assert leftovers(iam, secrets, connection_id) == []
    assert any(entry.startswith("Labellerr import connection ") for entry in run.cause_json["rolled_back"])
    # Retried for about a minute in AWS (2, 4, 8, 16, 32 s), then rolled back.
    assert attempts(run, "Register in Labellerr") == 6


def test_retries_after_lost_create_replies_never_make_a_second_connection(
    stack, sfn, bucket, labellerr, faults
):
    faults(["labellerr:create:lost:2"])
    connection_id = unique_id()
    run = run_flow(stack, sfn, request(bucket, connection_id, access="import_export"))
    assert run.status == "SUCCEEDED", run.cause
    made = marked(labellerr, connection_id)
    assert sorted(c.connection_type for c in made) == ["export", "import"]
    assert [entry["status"] for entry in calls(labellerr, "create")] == [500, 500]
    assert sorted(run.output["labellerr"]["labellerr_connection_ids"]) == sorted(
        c.connection_id for c in made
    )
    assert [c["reused"] for c in run.output["labellerr"]["connections"]] == [True, True]


def test_a_failed_labellerr_delete_in_offboarding_is_left_behind_and_delete_again_finishes(
    stack, sfn, iam, secrets, bucket, labellerr, faults
):
    connection_id = unique_id()
    assert run_flow(stack, sfn, request(bucket, connection_id)).status == "SUCCEEDED"
    [made] = marked(labellerr, connection_id)
    faults(["labellerr:delete"])
    failed = offboard(stack, sfn, connection_id)
    assert failed.status == "FAILED"
    assert failed.error == "RollbackFailed"
    assert f"Labellerr import connection {made.connection_id}" in failed.cause_json["left_behind"]
    assert marked(labellerr, connection_id) == [made]
    faults([])
    assert offboard(stack, sfn, connection_id).status == "SUCCEEDED"
    assert marked(labellerr, connection_id) == []
    assert leftovers(iam, secrets, connection_id) == []


def test_labellerr_tests_the_prefix_only_while_no_other_runs_probe_is_there(
    stack, sfn, s3, bucket, labellerr, monkeypatch
):
    """Labellerr's test lists the prefix and reads what it found: another run's write probe, there for a
    moment, would vanish under it. The run waits for the bucket's objects lease, which probes hold."""
    leases, table = stack.client("dynamodb"), stack.tables["BucketLeasesTable"]
    other_probe = probe_key_for("images/", unique_id("other"))
    seen_probes: list[list[str]] = []
    check = labellerr._checker.check

    def check_and_look(*args: Any) -> Any:
        listed = s3.list_objects_v2(Bucket=bucket, Prefix="images/").get("Contents", [])
        seen_probes.append([o["Key"] for o in listed if PROBE_NAME_PREFIX in o["Key"]])
        return check(*args)

    monkeypatch.setattr(labellerr._checker, "check", check_and_look)
    # On the functions' lease clock (real time plus what runs skipped waiting alone), as another run's would be.
    generation = objects_lease.try_acquire(
        leases, bucket, objects_lease.WRITE_PROBES, table=table, clock=LEASE_CLOCK.epoch
    )
    assert generation is not None
    s3.put_object(Bucket=bucket, Key=other_probe, Body=b"another run's probe")
    connection_id = unique_id()
    arn = start(sfn, stack.state_machine_arn, request(bucket, connection_id))
    deadline = time.monotonic() + 60
    while not any(
        (e.get("stateEnteredEventDetails") or {}).get("name") == "Register in Labellerr"
        for e in history_of(sfn, arn)
    ):
        assert time.monotonic() < deadline, "the run never reached Register in Labellerr"
        time.sleep(0.05)
    # Inside the step, the run waits for the lease (up to 20 s before it is BucketBusy): it has marked the
    # lease wanted, so no new probe joins, and it has not tested yet.
    while "wanted" not in leases.get_item(TableName=table, Key=objects_lease.item_key(bucket)).get(
        "Item", {}
    ):
        assert time.monotonic() < deadline, "the run never asked for the bucket's objects lease"
        time.sleep(0.02)
    assert calls(labellerr, "test") == [], "Labellerr tested the prefix while another run's probe was there"
    # The other run's probe window ends as Verify access ends it: the object goes, then the lease.
    s3.delete_object(Bucket=bucket, Key=other_probe)
    objects_lease.release(leases, bucket, generation, table=table)
    run = wait_for_run(sfn, arn)
    assert run.status == "SUCCEEDED", run.cause
    assert seen_probes == [[]]
    assert len(marked(labellerr, connection_id)) == 1


def test_a_storm_on_one_prefix_never_shows_labellerr_a_probe(stack, sfn, s3, bucket, labellerr, monkeypatch):
    """Exporting and importing onboardings at once on one bucket and prefix: every probe and every Labellerr
    test takes its turn, none starves, and Labellerr never lists an object that another run is about to
    take away."""
    seen_probes: list[str] = []
    check = labellerr._checker.check

    def check_and_look(*args: Any) -> Any:
        listed = s3.list_objects_v2(Bucket=bucket, Prefix="images/").get("Contents", [])
        seen_probes.extend(o["Key"] for o in listed if PROBE_NAME_PREFIX in o["Key"])
        return check(*args)

    monkeypatch.setattr(labellerr._checker, "check", check_and_look)
    accesses = ["import_export", "import"] * 4
    ids = [unique_id("storm") for _ in accesses]
    with ThreadPoolExecutor(max_workers=len(ids)) as pool:
        runs = list(
            pool.map(
                lambda pair: run_flow(
                    stack, sfn, request(bucket, pair[0], access=pair[1]), deadline_s=180, settle=False
                ),
                zip(ids, accesses, strict=True),
            )
        )
    assert [r.status for r in runs] == ["SUCCEEDED"] * len(ids), [r.cause for r in runs]
    assert seen_probes == []
    assert len(calls(labellerr, "test")) == accesses.count("import_export") * 2 + accesses.count("import")
