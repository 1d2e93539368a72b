"""dynamodb_atomicity: of concurrent conditional writes that exclude each other, exactly one succeeds, as
DynamoDB guarantees for a condition expression evaluated at the moment of the write."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import boto3
import pytest
from moto import mock_aws

from provisioner_local import dynamodb_atomicity


@pytest.fixture
def table(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        # monkeypatch puts moto back after the test.
        dynamodb_atomicity.install(
            SimpleNamespace(set=lambda target, value: monkeypatch.setattr(target.owner(), target.name, value))
        )
        client = boto3.client("dynamodb")
        client.create_table(
            TableName="claims", BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        )  # fmt: skip
        yield client


class _SlowCondition:
    """moto's condition, evaluated slowly: every thread reaches the check before any writes, so only a lock
    around the whole request can keep two of them from both winning."""

    def __init__(self, condition):
        self.condition = condition

    def expr(self, item):
        time.sleep(0.05)
        return self.condition.expr(item)


def test_of_concurrent_claims_of_one_item_exactly_one_wins(table, monkeypatch):
    from moto.dynamodb.models import table as moto_table

    original = moto_table.get_filter_expression
    monkeypatch.setattr(
        moto_table, "get_filter_expression", lambda *a, **k: _SlowCondition(original(*a, **k))
    )
    winners: list[int] = []
    start = threading.Barrier(8)

    def claim(number: int) -> None:
        start.wait()
        try:
            table.put_item(
                TableName="claims",
                Item={"id": {"S": "connection-1"}, "holder": {"N": str(number)}},
                ConditionExpression="attribute_not_exists(id)",
            )
        except table.exceptions.ConditionalCheckFailedException:
            return
        winners.append(number)

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(winners) == 1
    item = table.get_item(TableName="claims", Key={"id": {"S": "connection-1"}})["Item"]
    assert item["holder"] == {"N": str(winners[0])}
