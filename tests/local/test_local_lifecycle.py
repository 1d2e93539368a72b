"""Starting and stopping: what a LocalStack changes in the process, it puts back; bad set-ups fail first."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from provisioner_local.emulator import LocalStack, LocalStackError

FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE_TEMPLATE = FIXTURES / "template.yaml"


FIXTURE_MODULES = ("labellerr_fn_echo_app", "labellerr_fn_fail_app", "labellerr_fn_call_aws_app")


def test_stop_restores_the_process(monkeypatch):
    # Another suite's stack may be running (its patches and variables are then the "before").
    from moto.awslambda_simple.models import LambdaSimpleBackend
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.core.config import default_user_config

    monkeypatch.setenv("AWS_PROFILE", "someone")
    monkeypatch.delenv("FIXTURE_GREETING", raising=False)
    original_invoke = LambdaSimpleBackend.invoke
    original_authorize = ActionAuthenticatorMixin._authenticate_and_authorize_action
    original_sfn_config = dict(default_user_config["stepfunctions"])
    path_before = list(sys.path)
    environ_before = dict(os.environ)
    current_before = LocalStack.current()

    with LocalStack(template_path=FIXTURE_TEMPLATE) as stack:
        assert "AWS_PROFILE" not in os.environ
        assert os.environ["FIXTURE_GREETING"] == "hello-us-east-1"
        assert all(name in sys.modules for name in FIXTURE_MODULES)
        assert LocalStack.current() is stack
        with pytest.raises(LocalStackError, match="already running"):
            stack.start()

    assert dict(os.environ) == environ_before
    assert sys.path == path_before
    assert LambdaSimpleBackend.invoke is original_invoke
    assert ActionAuthenticatorMixin._authenticate_and_authorize_action is original_authorize
    assert dict(default_user_config["stepfunctions"]) == original_sfn_config
    assert not any(name in sys.modules for name in FIXTURE_MODULES)
    assert LocalStack.current() is current_before


def test_two_stacks_share_moto_and_each_others_functions(tmp_path):
    echo = FIXTURES / "functions" / "echo"
    other = _write_template(
        tmp_path,
        f"""
Resources:
  OtherEcho:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: {echo}
      Handler: app.lambda_handler
      Environment: {{Variables: {{FIXTURE_GREETING: other}}}}
""",
    )
    with LocalStack(template_path=FIXTURE_TEMPLATE) as first, LocalStack(template_path=other) as second:
        first.client("s3").create_bucket(Bucket="shared-by-both")
        assert "shared-by-both" in {
            bucket["Name"] for bucket in second.client("s3").list_buckets()["Buckets"]
        }
        # Through either server, either stack's functions run.
        for name in ("EchoFunction", "OtherEcho"):
            response = first.client("lambda").invoke(FunctionName=name, Payload=b"{}")
            assert json.loads(response["Payload"].read())["function_name"] == name
        assert os.environ["AWS_ENDPOINT_URL"] == second.endpoint_url

    assert LocalStack.current() is not first
    assert LocalStack.current() is not second


def _write_template(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(body)
    return path


def test_conflicting_environments_fail_before_anything_starts(tmp_path):
    echo = FIXTURES / "functions" / "echo"
    template = _write_template(
        tmp_path,
        f"""
Resources:
  One:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: {echo}
      Handler: app.lambda_handler
      Environment: {{Variables: {{FIXTURE_GREETING: a, SHARED: same}}}}
  Two:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: {echo}
      Handler: app.lambda_handler
      Environment: {{Variables: {{FIXTURE_GREETING: b, SHARED: same}}}}
""",
    )
    environ_before = dict(os.environ)

    with pytest.raises(LocalStackError, match="FIXTURE_GREETING is 'a' in One but 'b' in Two"):
        LocalStack(template_path=template).start()

    assert dict(os.environ) == environ_before
    assert LocalStack.current() is None or LocalStack.current().template_path != template


def test_a_handler_that_fails_to_import_is_named(tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "app.py").write_text("raise RuntimeError('no config')\n")
    template = _write_template(
        tmp_path,
        """
Resources:
  Broken:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: broken/, Handler: app.lambda_handler}
""",
    )

    with pytest.raises(
        LocalStackError, match=r"Broken: importing .*broken/app.py failed: RuntimeError: no config"
    ):
        LocalStack(template_path=template).start()
    assert LocalStack.current() is None or LocalStack.current().template_path != template


def test_a_taken_port_fails_at_once():
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        environ_before = dict(os.environ)

        with pytest.raises(LocalStackError, match=f"cannot listen on 127.0.0.1:{port}"):
            LocalStack(template_path=FIXTURE_TEMPLATE, port=port).start()

    assert dict(os.environ) == environ_before


def test_stop_restores_eventbridge_and_closes_the_http_api():
    import socket

    from moto.events.models import EventsBackend, Rule
    from moto.events.responses import EventsHandler

    # Another suite's stack may be running: its patches are then the "before".
    originals = (Rule.send_to_targets, EventsBackend.put_events, EventsHandler.put_events)
    first = LocalStack.current() is None

    with LocalStack(template_path=FIXTURES / "front_doors.yaml") as stack:
        if first:
            assert Rule.send_to_targets is not originals[0]
        port = stack.http_apis["FixtureApi"].port
        socket.create_connection(("127.0.0.1", port), timeout=2).close()

    assert stack.http_apis == {}
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
    assert (Rule.send_to_targets, EventsBackend.put_events, EventsHandler.put_events) == originals


def test_a_state_machine_left_by_an_earlier_stack_gets_this_templates_definition(tmp_path):
    def template(result: str) -> Path:
        folder = tmp_path / result
        folder.mkdir()
        return _write_template(
            folder,
            f"""
Resources:
  Machine:
    Type: AWS::Serverless::StateMachine
    Properties:
      Name: lifecycle-shared-name
      Definition:
        StartAt: Only
        States:
          Only: {{Type: Pass, Result: {{value: {result}}}, End: true}}
""",
        )

    for result in ("first", "second"):
        with LocalStack(template_path=template(result)) as stack:
            sfn = stack.client("stepfunctions")
            arn = stack.state_machines["Machine"]
            definition = json.loads(sfn.describe_state_machine(stateMachineArn=arn)["definition"])
            execution = sfn.start_execution(stateMachineArn=arn, name=f"run-{result}", input="{}")[
                "executionArn"
            ]
            for _ in range(200):
                described = sfn.describe_execution(executionArn=execution)
                if described["status"] != "RUNNING":
                    break
                time.sleep(0.01)

            assert definition["States"]["Only"]["Result"] == {"value": result}
            assert json.loads(described["output"]) == {"value": result}


def test_a_table_left_by_an_earlier_stack_with_other_indexes_is_made_anew(tmp_path):
    def template(folder: str, index: str = "", indexes: str = "") -> Path:
        (tmp_path / folder).mkdir()
        return _write_template(
            tmp_path / folder,
            f"""
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: lifecycle-shared-table
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - {{AttributeName: id, AttributeType: S}}
{index}
      KeySchema:
        - {{AttributeName: id, KeyType: HASH}}
{indexes}
""",
        )

    plain = template("plain")
    indexed = template(
        "indexed",
        "        - {AttributeName: bucket, AttributeType: S}",
        """      GlobalSecondaryIndexes:
        - IndexName: by-bucket
          KeySchema: [{AttributeName: bucket, KeyType: HASH}]
          Projection: {ProjectionType: ALL}""",
    )
    with LocalStack(template_path=plain) as stack:
        stack.client("dynamodb").put_item(TableName="lifecycle-shared-table", Item={"id": {"S": "a"}})
    with LocalStack(template_path=indexed) as stack:
        described = stack.client("dynamodb").describe_table(TableName="lifecycle-shared-table")["Table"]
        assert [index["IndexName"] for index in described["GlobalSecondaryIndexes"]] == ["by-bucket"]
    # Kept when it already has the template's keys and indexes, items and all.
    with LocalStack(template_path=indexed) as stack:
        dynamodb = stack.client("dynamodb")
        dynamodb.put_item(TableName="lifecycle-shared-table", Item={"id": {"S": "b"}, "bucket": {"S": "x"}})
    with LocalStack(template_path=indexed) as stack:
        items = stack.client("dynamodb").scan(TableName="lifecycle-shared-table")["Items"]
        assert [item["id"]["S"] for item in items] == ["b"]


def _function_with_sibling(root: Path, name: str, module: str, text: str) -> Path:
    code = root / name
    code.mkdir()
    (code / f"{module}.py").write_text(text)
    (code / "app.py").write_text(
        f"import {module}\n\n\ndef lambda_handler(event, context):\n    return {{'value': {module}.VALUE}}\n"
    )
    return code


def test_a_handler_imports_the_modules_next_to_it_fresh_and_stop_puts_back_what_was_there(tmp_path):
    code = _function_with_sibling(
        tmp_path, "sibling", "sibling_settings", "import os\n\nVALUE = os.environ['SIBLING_VALUE']\n"
    )
    template = _write_template(
        tmp_path,
        """
Resources:
  Sibling:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: sibling/
      Handler: app.lambda_handler
      Environment: {Variables: {SIBLING_VALUE: from-the-template}}
""",
    )
    # What an earlier import left (as the unit tests' import of the API function does): not the stack's.
    stale = type(sys)("sibling_settings")
    stale.VALUE = "stale"
    sys.modules["sibling_settings"] = stale
    path_before = list(sys.path)
    try:
        with LocalStack(template_path=template) as stack:
            assert str(code) in sys.path
            response = stack.client("lambda").invoke(FunctionName="Sibling", Payload=b"{}")
            assert json.loads(response["Payload"].read()) == {"value": "from-the-template"}
        assert sys.modules["sibling_settings"] is stale
        assert sys.path == path_before
    finally:
        sys.modules.pop("sibling_settings", None)


def test_two_functions_with_one_module_name_fail_before_anything_starts(tmp_path):
    _function_with_sibling(tmp_path, "one", "helpers", "VALUE = 1\n")
    _function_with_sibling(tmp_path, "two", "helpers", "VALUE = 2\n")
    template = _write_template(
        tmp_path,
        """
Resources:
  One:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: one/, Handler: app.lambda_handler}
  Two:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: two/, Handler: app.lambda_handler}
""",
    )
    with pytest.raises(LocalStackError, match=r"Two: module 'helpers' of .*two is also in .*one"):
        LocalStack(template_path=template).start()
    assert "helpers" not in sys.modules


def test_a_function_module_named_like_an_installed_one_fails_before_anything_starts(tmp_path):
    # moto depends on `responses`: a function's responses.py would be that package in this process.
    _function_with_sibling(tmp_path, "shadow", "responses", "VALUE = 1\n")
    template = _write_template(
        tmp_path,
        """
Resources:
  Shadow:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: shadow/, Handler: app.lambda_handler}
""",
    )
    with pytest.raises(
        LocalStackError, match=r"Shadow: module 'responses' of .* has the name of .*responses"
    ):
        LocalStack(template_path=template).start()
