from __future__ import annotations

from datetime import UTC, datetime, timedelta

from functions.start_due_rotations.app import due, start_due_rotations

NOW = datetime(2026, 12, 2, tzinfo=UTC)


def _record(connection_id, status, days_old, rotated=False):
    stamp = (NOW - timedelta(days=days_old)).isoformat().replace("+00:00", "Z")
    return {
        "connection_id": connection_id,
        "status": status,
        ("key_rotated_at" if rotated else "activated_at"): stamp,
    }


def test_only_active_connections_whose_key_is_older_are_due():
    records = [
        _record("old", "ACTIVE", 91),
        _record("young", "ACTIVE", 10),
        _record("rotated-lately", "ACTIVE", 5, rotated=True),
        _record("busy", "ROTATING", 200),
        _record("gone", "DELETED", 400),
    ]
    assert due(records, timedelta(days=90), NOW) == ["old"]


class FakeSfn:
    def __init__(self):
        self.names = set()

    def start_execution(self, stateMachineArn, name, input):  # noqa: N803 - boto3's argument names
        from botocore.exceptions import ClientError

        if name in self.names:
            raise ClientError(
                {"Error": {"Code": "ExecutionAlreadyExists", "Message": name}}, "StartExecution"
            )
        self.names.add(name)
        return {"executionArn": f"{stateMachineArn}:{name}"}


def test_a_second_run_on_the_same_day_starts_nothing_new(dynamodb, monkeypatch):
    from provisioner_core import registry

    dynamodb.put_item(TableName="ConnectionsTable", Item=registry.to_item(_record("old", "ACTIVE", 91)))
    sfn = FakeSfn()
    first = start_due_rotations(dynamodb, sfn, "arn:sm", 90, NOW)
    second = start_due_rotations(dynamodb, sfn, "arn:sm", 90, NOW)
    assert (first["started"], second["started"], second["already_started_today"]) == (["old"], [], ["old"])
