"""Template resolution for the front doors: tables, buses, EventBridge rules, HTTP API routes, Ref/GetAtt."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
import yaml

from provisioner_local.template import CloudFormationLoader, SamTemplate, TemplateError, api_id

FIXTURES = Path(__file__).parent / "fixtures"
FRONT_DOORS = FIXTURES / "front_doors.yaml"
REPO_ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"


def _template(text: str, base_dir: Path = FIXTURES) -> SamTemplate:
    document = yaml.load(textwrap.dedent(text), Loader=CloudFormationLoader)  # noqa: S506 - a SafeLoader
    return SamTemplate(document, base_dir=base_dir)


RESOURCES = """
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      KeySchema: [{AttributeName: id, KeyType: HASH}]
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      BillingMode: PAY_PER_REQUEST
  Named:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub ${AWS::StackName}-t
      KeySchema: [{AttributeName: id, KeyType: HASH}]
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      BillingMode: PAY_PER_REQUEST
      StreamSpecification: {StreamViewType: NEW_IMAGE}
  Simple:
    Type: AWS::Serverless::SimpleTable
    Properties:
      PrimaryKey: {Name: key, Type: Number}
  Bus:
    Type: AWS::Events::EventBus
    Properties:
      Name: !Sub ${AWS::StackName}-bus
  Machine:
    Type: AWS::Serverless::StateMachine
  Api:
    Type: AWS::Serverless::HttpApi
  Value:
    Type: Custom::Thing
    Properties:
      TableName: !Ref Table
      TableArn: !GetAtt Table.Arn
      Index: !Sub ${Table.Arn}/index/by-x
      NamedArn: !GetAtt Named.Arn
      BusName: !Ref Bus
      BusArn: !GetAtt Bus.Arn
      BusName2: !GetAtt Bus.Name
      Machine: !Ref Machine
      ApiId: !Ref Api
      Endpoint: !GetAtt Api.ApiEndpoint
"""


def test_refs_and_getatts_of_the_new_resources():
    template = _template(RESOURCES)

    properties = template.resolve(template.resources["Value"]["Properties"])

    api = api_id("Api")
    assert re.fullmatch(r"[a-z0-9]{10}", api)
    assert properties == {
        "TableName": "Table",
        "TableArn": f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/Table",
        "Index": f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/Table/index/by-x",
        "NamedArn": f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/labellerr-provisioner-local-t",
        "BusName": "labellerr-provisioner-local-bus",
        "BusArn": f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/labellerr-provisioner-local-bus",
        "BusName2": "labellerr-provisioner-local-bus",
        "Machine": f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:Machine",
        "ApiId": api,
        "Endpoint": f"https://{api}.execute-api.us-east-1.amazonaws.com",
    }


def test_table_specs():
    tables = {table.logical_id: table for table in _template(RESOURCES).tables()}

    assert tables["Named"].name == "labellerr-provisioner-local-t"
    assert tables["Named"].create_arguments["StreamSpecification"] == {
        "StreamEnabled": True,
        "StreamViewType": "NEW_IMAGE",
    }
    assert tables["Simple"].create_arguments == {
        "TableName": "Simple",
        "KeySchema": [{"AttributeName": "key", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "key", "AttributeType": "N"}],
        "BillingMode": "PAY_PER_REQUEST",
    }
    assert tables["Table"].arn == f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/Table"


def test_front_doors_fixture_specs():
    template = SamTemplate.load(FRONT_DOORS)

    (items, named) = template.tables()
    assert items.ttl_attribute == "expires_at"
    assert items.point_in_time_recovery is True
    assert items.create_arguments["SSESpecification"] == {"Enabled": True}
    assert named.ttl_attribute is None
    rules = {f"{rule.owner_logical_id}.{rule.event_id}": rule for rule in template.event_rules()}
    assert set(rules) == {
        "EchoStateMachine.DetailOnly",
        "EchoStateMachine.WholeEvent",
        "EchoStateMachine.Constant",
        "EchoStateMachine.Transformed",
        "EchoStateMachine.OnDefaultBus",
        "EchoStateMachine.Disabled",
        "HttpFunction.Pinged",
    }
    # EventBusName given as the bus's ARN is the same bus.
    assert rules["EchoStateMachine.WholeEvent"].event_bus_name == "labellerr-provisioner-local-front-doors"
    assert rules["EchoStateMachine.OnDefaultBus"].event_bus_name == "default"
    assert rules["EchoStateMachine.Disabled"].state == "DISABLED"
    assert rules["HttpFunction.Pinged"].target == {
        "Id": "PingedLambdaTarget",
        "Arn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:HttpFunction",
    }
    (api,) = template.http_apis()
    assert api.logical_id == "FixtureApi"
    assert api.stage_name == "$default"
    routes = {route.route_key: route for route in api.routes}
    assert routes["GET /items/{item_id}"].iam_auth is True
    assert routes["GET /public"].iam_auth is False
    assert routes["ANY /files/{proxy+}"].function_logical_id == "HttpFunction"


def test_implicit_api_and_default_route(tmp_path):
    (tmp_path / "fn").mkdir()
    (tmp_path / "fn" / "app.py").write_text("def lambda_handler(event, context):\n    return event\n")
    template = _template(
        """
        Resources:
          Fn:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: fn/
              Handler: app.lambda_handler
              Environment: {Variables: {API: !Ref ServerlessHttpApi}}
              Events:
                Everything: {Type: HttpApi}
                One: {Type: HttpApi, Properties: {Method: get, Path: /one}}
        """,
        base_dir=tmp_path,
    )

    (api,) = template.http_apis()
    assert api.logical_id == "ServerlessHttpApi"
    assert sorted(route.route_key for route in api.routes) == ["$default", "GET /one"]
    assert template.functions()[0].environment == {"API": api.api_id}


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ("{Type: HttpApi, Properties: {Method: GET}}", "give both Method and Path"),
        ("{Type: HttpApi, Properties: {Method: FETCH, Path: /x}}", "is not an HTTP method"),
        ("{Type: HttpApi, Properties: {Method: GET, Path: x}}", "must start with /"),
        ("{Type: HttpApi, Properties: {Method: GET, Path: '/{a+}/b'}}", "greedy"),
        ("{Type: HttpApi, Properties: {Method: GET, Path: '/a{b}'}}", "either literal or one"),
        ("{Type: HttpApi, Properties: {Method: GET, Path: /x, PayloadFormatVersion: '1.0'}}", "only 2.0"),
        (
            "{Type: HttpApi, Properties: {ApiId: !Ref Table, Method: GET, Path: /x}}",
            "not an AWS::Serverless::HttpApi",
        ),
    ],
)
def test_bad_routes_fail_clearly(event, message):
    template = _template(
        f"""
        Resources:
          Table:
            Type: AWS::DynamoDB::Table
          Fn:
            Type: AWS::Serverless::Function
            Properties:
              Events:
                Route: {event}
        """
    )
    with pytest.raises(TemplateError, match=message):
        template.http_apis()


def test_duplicate_route_keys_fail():
    template = _template(
        """
        Resources:
          Fn:
            Type: AWS::Serverless::Function
            Properties:
              Events:
                A: {Type: HttpApi, Properties: {Method: GET, Path: /x}}
          Other:
            Type: AWS::Serverless::Function
            Properties:
              Events:
                B: {Type: HttpApi, Properties: {Method: GET, Path: /x}}
        """
    )
    with pytest.raises(TemplateError, match=r"route 'GET /x' is declared by both Fn.A and Other.B"):
        template.http_apis()


@pytest.mark.parametrize(
    ("properties", "message"),
    [
        ("{EventBusName: b}", "needs a non-empty event pattern"),
        ("{Pattern: {source: [x]}, Input: '{}', InputPath: $.detail}", "at most one of Input, InputPath"),
        ("{Pattern: {source: [x]}, Input: 'not json'}", "Input: not valid JSON"),
        ("{Pattern: {source: [x]}, InputTransformer: {InputPathsMap: {}}}", "needs InputTemplate"),
    ],
)
def test_bad_eventbridge_rules_fail_clearly(properties, message):
    template = _template(
        f"""
        Resources:
          Machine:
            Type: AWS::Serverless::StateMachine
            Properties:
              Events:
                Rule: {{Type: EventBridgeRule, Properties: {properties}}}
        """
    )
    with pytest.raises(TemplateError, match=message):
        template.event_rules()


def test_table_without_keys_or_throughput_fails():
    template = _template(
        """
        Resources:
          T:
            Type: AWS::DynamoDB::Table
            Properties:
              KeySchema: [{AttributeName: id, KeyType: HASH}]
              AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
        """
    )
    with pytest.raises(TemplateError, match="ProvisionedThroughput is required with BillingMode PROVISIONED"):
        template.tables()


def test_every_missing_handler_is_named(tmp_path):
    template = _template(
        """
        Resources:
          One:
            Type: AWS::Serverless::Function
            Properties: {CodeUri: one/, Handler: app.lambda_handler}
          Two:
            Type: AWS::Serverless::Function
            Properties: {CodeUri: two/, Handler: handler.main}
        """,
        base_dir=tmp_path,
    )
    with pytest.raises(TemplateError) as raised:
        template.functions()

    message = str(raised.value)
    assert re.search(r"Resources.One.Properties: handler module .*one/app.py does not exist", message)
    assert re.search(r"Resources.Two.Properties: handler module .*two/handler.py does not exist", message)
    assert "Handler 'handler.main'" in message


def test_unknown_bus_of_a_rule_fails_before_anything_starts(tmp_path):
    from provisioner_local.emulator import LocalStack, LocalStackError

    template = tmp_path / "template.yaml"
    template.write_text(
        textwrap.dedent(
            """
            Resources:
              Machine:
                Type: AWS::Serverless::StateMachine
                Properties:
                  Definition: {StartAt: A, States: {A: {Type: Pass, End: true}}}
                  Events:
                    Rule:
                      Type: EventBridgeRule
                      Properties: {EventBusName: somebody-elses-bus, Pattern: {source: [x]}}
            """
        )
    )
    with pytest.raises(LocalStackError, match="'somebody-elses-bus' is neither the default bus nor one"):
        LocalStack(template_path=template).start()


@pytest.mark.skipif(not (REPO_ROOT / "template.yaml").exists(), reason="no template.yaml yet")
def test_project_template_front_doors():
    template = SamTemplate.load(REPO_ROOT / "template.yaml")

    assert {table.name for table in template.tables()} >= {"ConnectionsTable", "IdempotencyTable"}
    assert [bus.name for bus in template.event_buses()] == ["labellerr-provisioner-local-connections"]
    rules = {rule.owner_logical_id: rule for rule in template.event_rules()}
    onboarding = rules["OnboardConnectionStateMachine"]
    assert onboarding.event_bus_name == "labellerr-provisioner-local-connections"
    assert onboarding.target["InputPath"] == "$.detail"
    assert onboarding.target["Arn"].endswith(":stateMachine:labellerr-provisioner-local-onboard")
    (api,) = template.http_apis()
    assert {route.route_key for route in api.routes} >= {
        "POST /connections",
        "GET /connections/{connection_id}",
    }
    assert template.resolve({"Fn::Sub": "${ConnectionsTable.Arn}/index/by-bucket"}) == (
        f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/ConnectionsTable/index/by-bucket"
    )


OPERATIONS = """
Resources:
  Key:
    Type: AWS::KMS::Key
    Properties:
      KeyPolicy: {}
  KeyAlias:
    Type: AWS::KMS::Alias
    Properties:
      AliasName: !Sub alias/${AWS::StackName}-alarms
      TargetKeyId: !Ref Key
  Topic:
    Type: AWS::SNS::Topic
    Properties:
      KmsMasterKeyId: !Ref Key
  Queue:
    Type: AWS::SQS::Queue
  Alarm:
    Type: AWS::CloudWatch::Alarm
    Properties:
      Dimensions: [{Name: QueueName, Value: !GetAtt Queue.QueueName}]
  Logs:
    Type: AWS::Logs::LogGroup
    Properties:
      LogGroupName: /aws/lambda/f
  Value:
    Type: Custom::Thing
    Properties:
      KeyId: !Ref Key
      KeyArn: !GetAtt Key.Arn
      KeyId2: !GetAtt Key.KeyId
      Alias: !Ref KeyAlias
      AlarmArn: !GetAtt Alarm.Arn
      LogsArn: !GetAtt Logs.Arn
      ViaService: !Sub s3.*.${AWS::URLSuffix}
"""


def test_refs_and_getatts_of_keys_alarms_and_log_groups():
    template = _template(OPERATIONS)

    properties = template.resolve(template.resources["Value"]["Properties"])

    key_id = properties["KeyId"]
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", key_id)
    assert properties == {
        "KeyId": key_id,
        "KeyArn": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{key_id}",
        "KeyId2": key_id,
        "Alias": "alias/labellerr-provisioner-local-alarms",
        "AlarmArn": f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:Alarm",
        "LogsArn": f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/lambda/f:*",
        "ViaService": "s3.*.amazonaws.com",
    }
    # One key, the same id every time the template is read; two keys, two ids.
    assert _template(OPERATIONS).resolve({"Ref": "Key"}) == key_id
    two = _template(OPERATIONS + "  OtherKey:\n    Type: AWS::KMS::Key\n")
    assert two.resolve({"Ref": "OtherKey"}) not in ("OtherKey", key_id)


@pytest.mark.skipif(not (REPO_ROOT / "template.yaml").exists(), reason="no template.yaml yet")
@pytest.mark.parametrize("rotation_days", ["0", "30"])
def test_every_resource_of_the_project_template_resolves(rotation_days):
    template = SamTemplate.load(REPO_ROOT / "template.yaml", {"KeyRotationDays": rotation_days})

    for logical_id, resource in template.resources.items():
        if "Condition" in resource and not template._condition(resource["Condition"], logical_id):
            continue
        template.resolve(resource.get("Properties") or {}, f"Resources.{logical_id}")

    topic_key = template.resolve({"Ref": "AlarmTopicKey"})
    assert template.resolve(template.resources["AlarmTopic"]["Properties"])["KmsMasterKeyId"] == topic_key
    assert template.resolve({"Fn::GetAtt": ["AlarmTopicKey", "Arn"]}).endswith(f":key/{topic_key}")
