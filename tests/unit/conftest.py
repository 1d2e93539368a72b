from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from provisioner_core.config import Settings
from provisioner_core.connection import Connection

EXECUTION_ARN = "arn:aws:states:us-east-1:123456789012:execution:OnboardConnectionStateMachine:run-1"
SETTINGS = Settings(
    iam_name_prefix="labellerr-",
    iam_path="/labellerr/",
    secret_name_prefix="labellerr/connections/",
    cors_allowed_origins=("https://*.labellerr.com",),
    partition="aws",
    region="us-east-1",
)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield


@pytest.fixture
def iam(aws: None) -> Any:
    return boto3.client("iam")


@pytest.fixture
def s3(aws: None) -> Any:
    return boto3.client("s3")


@pytest.fixture
def secrets(aws: None) -> Any:
    return boto3.client("secretsmanager")


def make_connection(**overrides: Any) -> Connection:
    connection: dict[str, Any] = {
        "connection_id": "satellite-images",
        "connection_name": "Satellite images",
        "description": "",
        "bucket": "acme-datasets",
        "prefix": "images/",
        "s3_uri": "acme-datasets/images/",
        "access": "import",
        "apply_cors": True,
        "whole_bucket": False,
        "region": "us-east-1",
        "iam_user_name": "labellerr-satellite-images",
        "iam_path": "/labellerr/",
        "policy_name": "labellerr-satellite-images",
        "secret_name": "labellerr/connections/satellite-images",
        "execution_arn": EXECUTION_ARN,
        "register_in_labellerr": False,
        "labellerr_data_type": "image",
    }
    connection.update(overrides)
    return Connection(**connection)  # type: ignore[typeddict-item]


@pytest.fixture
def connection() -> Connection:
    return make_connection()


@pytest.fixture
def bucket(s3: Any, connection: Connection) -> str:
    s3.create_bucket(Bucket=connection["bucket"])
    s3.put_object(Bucket=connection["bucket"], Key="images/cat.png", Body=b"\x89PNG fake")
    s3.put_object(Bucket=connection["bucket"], Key="private/secret.png", Body=b"\x89PNG private")
    return connection["bucket"]


@pytest.fixture
def dynamodb(aws: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The registry table as template.yaml defines it, named through the same environment variable."""
    client = boto3.client("dynamodb")
    client.create_table(
        TableName="ConnectionsTable",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "connection_id", "AttributeType": "S"},
            {"AttributeName": "bucket", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "connection_id", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-bucket",
                "KeySchema": [
                    {"AttributeName": "bucket", "KeyType": "HASH"},
                    {"AttributeName": "connection_id", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    client.create_table(
        TableName="BucketLeasesTable",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "bucket", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "bucket", "KeyType": "HASH"}],
    )
    monkeypatch.setenv("CONNECTIONS_TABLE", "ConnectionsTable")
    monkeypatch.setenv("BUCKET_LEASES_TABLE", "BucketLeasesTable")
    return client


@pytest.fixture
def events(aws: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A bus whose every event lands in an SQS queue, so tests can read what was published."""
    client: Any = boto3.client("events")
    sqs = boto3.client("sqs")
    client.create_event_bus(Name="connections")
    queue_url = sqs.create_queue(QueueName="lifecycle")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    client.put_rule(
        Name="all", EventBusName="connections", EventPattern='{"source": ["labellerr.provisioner"]}'
    )
    client.put_targets(Rule="all", EventBusName="connections", Targets=[{"Id": "q", "Arn": queue_arn}])
    monkeypatch.setenv("EVENT_BUS_NAME", "connections")
    client.published = lambda: [
        json.loads(m["Body"])
        for m in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    ]
    return client


@pytest.fixture
def sfn(aws: None) -> Any:
    return boto3.client("stepfunctions")
