"""The stack's front doors from a fixture template: tables, buses and rules, EventBridge delivery, the event
log, and the HTTP API served on loopback."""

from __future__ import annotations

import base64
import http.client
import json
import logging
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from provisioner_local.emulator import LocalStack, LocalStackError

FRONT_DOORS = Path(__file__).parent / "fixtures" / "front_doors.yaml"
STACK = "labellerr-provisioner-local"
BUS = f"{STACK}-front-doors"
ACCOUNT = "123456789012"


@pytest.fixture(scope="module")
def stack():
    with LocalStack(template_path=FRONT_DOORS) as running:
        yield running


def _executions(stack) -> set[str]:
    sfn = stack.client("stepfunctions")
    arn = stack.state_machines["EchoStateMachine"]
    return {execution["executionArn"] for execution in sfn.list_executions(stateMachineArn=arn)["executions"]}


def _put(stack, detail_type, detail, *, source="fixture.front-doors", bus=BUS):
    entry = {"Source": source, "DetailType": detail_type, "Detail": json.dumps(detail)}
    if bus is not None:
        entry["EventBusName"] = bus
    response = stack.client("events").put_events(Entries=[entry])
    assert response["FailedEntryCount"] == 0, response
    return response["Entries"][0]["EventId"]


def _delivered(stack, before: set[str], timeout: float = 10.0) -> list[dict]:
    """The executions started since `before`, once each has ended."""
    sfn = stack.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while True:
        new = _executions(stack) - before
        descriptions = [sfn.describe_execution(executionArn=arn) for arn in new]
        if new and all(d["status"] != "RUNNING" for d in descriptions):
            return descriptions
        if time.monotonic() > deadline:
            pytest.fail(f"no finished execution after {timeout} s: {descriptions}")
        time.sleep(0.02)


# --- resources from the template


def test_tables_are_created_with_keys_indexes_and_ttl(stack):
    dynamodb = stack.client("dynamodb")

    assert stack.tables == {"ItemsTable": "ItemsTable", "NamedTable": f"{STACK}-named"}
    table = dynamodb.describe_table(TableName="ItemsTable")["Table"]
    assert table["TableArn"] == f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/ItemsTable"
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    (index,) = table["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "by-owner"
    assert index["KeySchema"] == [
        {"AttributeName": "owner", "KeyType": "HASH"},
        {"AttributeName": "id", "KeyType": "RANGE"},
    ]
    ttl = dynamodb.describe_time_to_live(TableName="ItemsTable")["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    backups = dynamodb.describe_continuous_backups(TableName="ItemsTable")["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"

    named = dynamodb.describe_table(TableName=f"{STACK}-named")["Table"]
    assert named["ProvisionedThroughput"]["ReadCapacityUnits"] == 1
    dynamodb.put_item(TableName=f"{STACK}-named", Item={"pk": {"S": "a"}, "sk": {"N": "1"}})


def test_bus_and_one_rule_per_eventbridge_event(stack):
    events = stack.client("events")

    assert stack.event_buses == {"FixtureBus": BUS}
    assert stack.event_bus_name == BUS
    assert BUS in {bus["Name"] for bus in events.list_event_buses()["EventBuses"]}
    rules = {rule["Name"]: rule for rule in events.list_rules(EventBusName=BUS)["Rules"]}
    assert set(rules) == {
        "EchoStateMachineDetailOnly",
        "EchoStateMachineWholeEvent",
        "EchoStateMachineConstant",
        "EchoStateMachineTransformed",
        "EchoStateMachineDisabled",
        "HttpFunctionPinged",
    }
    assert json.loads(rules["EchoStateMachineDetailOnly"]["EventPattern"]) == {
        "source": ["fixture.front-doors"],
        "detail-type": ["Echo Detail"],
    }
    assert rules["EchoStateMachineDisabled"]["State"] == "DISABLED"
    (target,) = events.list_targets_by_rule(Rule="EchoStateMachineDetailOnly", EventBusName=BUS)["Targets"]
    assert target["Arn"] == stack.state_machines["EchoStateMachine"]
    assert target["InputPath"] == "$.detail"
    (constant,) = events.list_targets_by_rule(Rule="EchoStateMachineConstant", EventBusName=BUS)["Targets"]
    assert constant["Input"] == '{"constant": true}'
    # No EventBusName: the default bus.
    assert "EchoStateMachineOnDefaultBus" in {rule["Name"] for rule in events.list_rules()["Rules"]}
    assert stack.event_rules["EchoStateMachine.OnDefaultBus"] == (
        f"arn:aws:events:us-east-1:{ACCOUNT}:rule/EchoStateMachineOnDefaultBus"
    )


def test_function_environment_resolves_refs_and_getatts(stack):
    with urllib.request.urlopen(f"{stack.api_url}/env") as response:  # noqa: S310 - loopback
        environment = json.loads(response.read())

    assert environment == {
        "ITEMS_TABLE": "ItemsTable",
        "EVENT_BUS_NAME": BUS,
        "ECHO_STATE_MACHINE_ARN": stack.state_machines["EchoStateMachine"],
        "ITEMS_TABLE_ARN": f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/ItemsTable",
        "ITEMS_INDEX_ARN": f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/ItemsTable/index/by-owner",
        "NAMED_TABLE": f"{STACK}-named",
        "EVENT_BUS_ARN": f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/{BUS}",
        "API_ID": stack.http_apis["FixtureApi"].spec.api_id,
    }
    assert stack.state_machines["EchoStateMachine"].endswith(f":stateMachine:{STACK}-echo")


# --- EventBridge -> state machines, functions, SQS


def test_input_path_delivers_the_detail(stack):
    before = _executions(stack)

    _put(stack, "Echo Detail", {"connection_name": "x", "n": [1, 2]})

    (execution,) = _delivered(stack, before)
    assert execution["status"] == "SUCCEEDED"
    assert json.loads(execution["output"]) == {"connection_name": "x", "n": [1, 2]}
    # A fresh uuid per delivery.
    assert len(execution["name"]) == 36


def test_pattern_matching_is_motos_own(stack):
    before = _executions(stack)

    # Right detail-type, wrong source: the DetailOnly rule's pattern does not match.
    _put(stack, "Echo Detail", {"a": 1}, source="somebody.else")

    assert _executions(stack) == before


def test_whole_event_by_default(stack):
    before = _executions(stack)

    event_id = _put(stack, "Echo Whole Event", {"a": 1})

    (execution,) = _delivered(stack, before)
    event = json.loads(execution["output"])
    assert event["id"] == event_id
    assert event["detail-type"] == "Echo Whole Event"
    assert event["source"] == "fixture.front-doors"
    assert event["detail"] == {"a": 1}
    assert event["account"] == ACCOUNT
    assert event["region"] == "us-east-1"
    assert event["version"] == "0"
    assert event["resources"] == []
    assert time.strptime(event["time"], "%Y-%m-%dT%H:%M:%SZ")
    assert "ingestion-time" not in event


def test_constant_input(stack):
    before = _executions(stack)

    _put(stack, "Echo Constant", {"ignored": True})

    (execution,) = _delivered(stack, before)
    assert json.loads(execution["output"]) == {"constant": True}


def test_input_transformer(stack):
    before = _executions(stack)

    _put(stack, "Echo Transformed", {"name": 'say "hi"', "size": 3})

    (execution,) = _delivered(stack, before)
    assert json.loads(execution["output"]) == {
        "greeting": 'hello say "hi"',
        "name": 'say "hi"',
        "size": 3,
        "kind": "Echo Transformed",
        "nothing": None,
        "rule": "EchoStateMachineTransformed",
    }


def test_rule_on_the_default_bus(stack):
    before = _executions(stack)

    _put(stack, "Anything", {"on": "default"}, source="fixture.default-bus", bus=None)

    (execution,) = _delivered(stack, before)
    assert json.loads(execution["output"]) == {"on": "default"}


def test_disabled_rule_does_not_fire(stack):
    before = _executions(stack)

    # Delivery happens inside PutEvents: had the rule fired, the execution would exist already.
    _put(stack, "Echo Disabled", {"a": 1})

    assert _executions(stack) == before


def test_function_target_is_invoked_in_process(stack):
    received = stack.functions["HttpFunction"].module.RECEIVED
    received.clear()

    _put(stack, "Ping Function", {"ping": 1})

    deadline = time.monotonic() + 5
    while not received and time.monotonic() < deadline:
        time.sleep(0.02)
    (event,) = received
    assert event["detail-type"] == "Ping Function"
    assert event["detail"] == {"ping": 1}


def test_a_users_sqs_rule_receives_lifecycle_events(stack):
    sqs, events = stack.client("sqs"), stack.client("events")
    queue_url = sqs.create_queue(QueueName="lifecycle-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(
        Name="lifecycle-to-sqs",
        EventBusName=BUS,
        EventPattern=json.dumps({"source": ["labellerr.provisioner"]}),
    )
    events.put_targets(
        Rule="lifecycle-to-sqs",
        EventBusName=BUS,
        Targets=[
            {"Id": "whole", "Arn": queue_arn},
            {"Id": "detail", "Arn": queue_arn, "InputPath": "$.detail"},
        ],
    )
    try:
        _put(stack, "Connection Provisioned", {"connection_id": "c-1"}, source="labellerr.provisioner")

        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
        bodies = sorted((json.loads(message["Body"]) for message in messages), key=len)
        assert bodies[0] == {"connection_id": "c-1"}
        assert bodies[1]["detail-type"] == "Connection Provisioned"
        assert bodies[1]["detail"] == {"connection_id": "c-1"}
    finally:
        events.remove_targets(Rule="lifecycle-to-sqs", EventBusName=BUS, Ids=["whole", "detail"])
        events.delete_rule(Name="lifecycle-to-sqs", EventBusName=BUS)


# --- the event log


def test_event_log_keeps_every_event_even_without_a_rule(stack):
    stack.clear_events()

    event_id = _put(stack, "Connection Provisioned", {"connection_id": "c-2"}, source="labellerr.provisioner")
    _put(stack, "Connection Failed", {"connection_id": "c-3"}, source="labellerr.provisioner")
    _put(stack, "Elsewhere", {"x": 1}, source="fixture.other", bus=None)

    (provisioned,) = stack.events(bus_name=BUS, detail_type="Connection Provisioned")
    assert provisioned["id"] == event_id
    assert provisioned["bus"] == BUS
    assert provisioned["source"] == "labellerr.provisioner"
    assert provisioned["detail"] == {"connection_id": "c-2"}
    assert time.strptime(provisioned["time"], "%Y-%m-%dT%H:%M:%SZ")
    assert [event["detail-type"] for event in stack.events(bus_name=BUS)] == [
        "Connection Provisioned",
        "Connection Failed",
    ]
    assert [event["bus"] for event in stack.events(source="fixture.other")] == ["default"]
    assert len(stack.events()) == 3
    # Copies: the log cannot be changed from outside.
    stack.events()[0]["detail"]["connection_id"] = "changed"
    assert stack.events()[0]["detail"]["connection_id"] == "c-2"


def test_wait_for_event(stack):
    import threading

    threading.Timer(
        0.1,
        lambda: _put(stack, "Connection Deleted", {"connection_id": "c-4"}, source="labellerr.provisioner"),
    ).start()

    event = stack.wait_for_event("Connection Deleted", bus_name=BUS, timeout=5)

    assert event["detail"] == {"connection_id": "c-4"}
    with pytest.raises(LocalStackError, match="no event"):
        stack.wait_for_event("Never Sent", timeout=0.05)


# --- the HTTP API


def _request(stack, method, path, body=None, headers=None):
    """(status, headers as a list, body bytes) of one request, errors included."""
    connection = http.client.HTTPConnection("127.0.0.1", stack.http_apis["FixtureApi"].port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        connection.close()


def _event(stack, method, path, body=None, headers=None):
    status, _, data = _request(stack, method, path, body, headers)
    assert status == 200, data
    payload = json.loads(data)
    assert payload["function_name"] == "HttpFunction"
    return payload["event"]


def test_api_url_is_loopback_without_trailing_slash(stack):
    assert stack.api_url == f"http://127.0.0.1:{stack.http_apis['FixtureApi'].port}"
    assert stack.api_urls == {"FixtureApi": stack.api_url}


def test_event_has_path_parameters_query_headers_and_cookies(stack):
    headers = [
        ("X-Multi", "a"),
        ("X-Multi", "b"),
        ("Cookie", "c1=v1; c2=v2"),
        ("User-Agent", "front-doors-test/1"),
        ("Connection", "keep-alive"),
        (
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20260101/us-east-1/execute-api/aws4_request",
        ),
    ]
    connection = http.client.HTTPConnection("127.0.0.1", stack.http_apis["FixtureApi"].port, timeout=10)
    connection.putrequest("GET", "/items/abc%20d?x=1&x=2&empty=&sp=a%20b", skip_accept_encoding=True)
    for name, value in headers:
        connection.putheader(name, value)
    connection.endheaders()
    response = connection.getresponse()
    event = json.loads(response.read())["event"]
    connection.close()

    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /items/{item_id}"
    assert event["rawPath"] == "/items/abc%20d"
    assert event["rawQueryString"] == "x=1&x=2&empty=&sp=a%20b"
    assert event["queryStringParameters"] == {"x": "1,2", "empty": "", "sp": "a b"}
    assert event["pathParameters"] == {"item_id": "abc d"}
    assert event["cookies"] == ["c1=v1", "c2=v2"]
    assert event["headers"]["x-multi"] == "a,b"
    assert "cookie" not in event["headers"]
    assert "connection" not in event["headers"]
    assert event["headers"]["user-agent"] == "front-doors-test/1"
    assert event["headers"]["x-forwarded-for"] == "127.0.0.1"
    assert all(name == name.lower() for name in event["headers"])
    assert event["isBase64Encoded"] is False
    assert "body" not in event
    assert "stageVariables" not in event
    context = event["requestContext"]
    api_id = stack.http_apis["FixtureApi"].spec.api_id
    assert context["accountId"] == ACCOUNT
    assert context["apiId"] == api_id
    assert context["domainName"] == f"127.0.0.1:{stack.http_apis['FixtureApi'].port}"
    assert context["domainPrefix"] == "127"
    assert context["http"] == {
        "method": "GET",
        "path": "/items/abc%20d",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "front-doors-test/1",
    }
    assert context["routeKey"] == "GET /items/{item_id}"
    assert context["stage"] == "$default"
    assert context["requestId"]
    assert abs(context["timeEpoch"] / 1000 - time.time()) < 60
    assert time.strptime(context["time"], "%d/%b/%Y:%H:%M:%S +0000")
    assert context["authorizer"]["iam"]["accessKey"] == "AKIAEXAMPLE"


def test_literal_route_beats_a_path_parameter(stack):
    assert _event(stack, "GET", "/items/special")["routeKey"] == "GET /items/special"


def test_route_without_iam_auth_has_no_authorizer(stack):
    status, _, data = _request(stack, "GET", "/public")

    assert status == 200
    assert "authorizer" not in json.loads(data)["event"]["requestContext"]


def test_json_body_arrives_as_text(stack):
    event = _event(stack, "POST", "/items", b'{"name": "x"}', {"Content-Type": "application/json"})

    assert event["routeKey"] == "POST /items"
    assert event["body"] == '{"name": "x"}'
    assert event["isBase64Encoded"] is False
    assert event["headers"]["content-type"] == "application/json"


def test_binary_body_arrives_base64_encoded(stack):
    data = bytes(range(256))

    event = _event(stack, "POST", "/items", data, {"Content-Type": "application/octet-stream"})

    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == data


def test_greedy_path_and_any_method(stack):
    event = _event(stack, "DELETE", "/files/a/b/c.txt")

    assert event["routeKey"] == "ANY /files/{proxy+}"
    assert event["pathParameters"] == {"proxy": "a/b/c.txt"}
    assert event["requestContext"]["http"]["method"] == "DELETE"


@pytest.mark.parametrize(("method", "path"), [("GET", "/nowhere"), ("POST", "/boom"), ("GET", "/files/")])
def test_unknown_route_is_404(stack, method, path):
    status, headers, data = _request(stack, method, path)

    assert status == 404
    assert json.loads(data) == {"message": "Not Found"}
    assert dict(headers)["Content-Type"] == "application/json"


def test_handler_exception_is_500_and_only_its_type_is_logged(stack, caplog):
    with caplog.at_level(logging.INFO, logger="provisioner_local"):
        status, headers, data = _request(stack, "GET", "/boom")

    assert status == 500
    assert json.loads(data) == {"message": "Internal Server Error"}
    assert "apigw-requestid" in dict(headers)
    assert "ValueError" in caplog.text
    assert "must stay out of the logs" not in caplog.text


def test_malformed_response_is_500(stack):
    status, _, data = _request(stack, "GET", "/malformed")

    assert status == 500
    assert json.loads(data) == {"message": "Internal Server Error"}


def test_plain_dict_result_is_200_json(stack):
    status, headers, data = _request(stack, "GET", "/plain")

    assert status == 200
    assert dict(headers)["Content-Type"] == "application/json"
    assert json.loads(data) == {"plain": True, "n": 1}


def test_string_result_is_the_body(stack):
    status, headers, data = _request(stack, "GET", "/text")

    assert status == 200
    assert dict(headers)["Content-Type"] == "application/json"
    assert data == b"just text"


def test_structured_response_with_binary_body_headers_and_cookies(stack):
    status, headers, data = _request(stack, "GET", "/binary")

    assert status == 201
    assert data == b"\x00\x01\xff"
    assert ("content-type", "application/octet-stream") in headers
    assert ("x-one", "1") in headers
    assert [value for name, value in headers if name == "x-many"] == ["a", "b"]
    assert [value for name, value in headers if name == "Set-Cookie"] == ["a=1; Path=/", "b=2"]


def test_urllib_sees_the_status_codes(stack):
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(f"{stack.api_url}/nowhere")  # noqa: S310 - loopback

    assert raised.value.code == 404


def test_one_invocation_at_a_time_per_function_like_one_lambda_environment(stack):
    from concurrent.futures import ThreadPoolExecutor

    running = stack.functions["HttpFunction"].module.RUNNING
    running["most"] = 0

    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = list(pool.map(lambda _: _request(stack, "GET", "/slow")[0], range(4)))

    assert statuses == [200] * 4
    assert running["most"] == 1
