"""The running local stack: Lambda dispatch, typed errors in the ASL, fast retries, IAM and faults."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from provisioner_local.emulator import LocalStack
from provisioner_local.faults import FaultSpecError
from provisioner_local.lambda_runtime import split_function_name

FIXTURE_TEMPLATE = Path(__file__).parent / "fixtures" / "template.yaml"
DUMMY = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@pytest.fixture(scope="module")
def stack():
    with LocalStack(template_path=FIXTURE_TEMPLATE) as running:
        yield running


@pytest.fixture
def no_faults(stack):
    yield stack
    stack.set_faults([])


def _client(stack, service, **credentials):
    return boto3.client(
        service,
        endpoint_url=stack.endpoint_url,
        region_name="us-east-1",
        **(credentials or DUMMY),
    )


def _invoke(stack, name, payload):
    response = _client(stack, "lambda").invoke(FunctionName=name, Payload=json.dumps(payload).encode())
    return response.get("FunctionError"), json.loads(response["Payload"].read())


# --- start-up


def test_environment_is_set_for_the_functions(stack):
    assert os.environ["AWS_ENDPOINT_URL"] == stack.endpoint_url == f"http://127.0.0.1:{stack.port}"
    assert os.environ["MOTO_PORT"] == str(stack.port)
    assert os.environ["AWS_REGION"] == os.environ["AWS_DEFAULT_REGION"] == "us-east-1"
    assert os.environ["FIXTURE_GREETING"] == "hello-us-east-1"
    assert sorted(stack.functions) == ["CallAwsFunction", "EchoFunction", "FailFunction"]


def test_state_machine_is_created_from_the_template(stack):
    machines = _client(stack, "stepfunctions").list_state_machines()["stateMachines"]

    assert stack.state_machines == {
        "FixtureStateMachine": (
            "arn:aws:states:us-east-1:123456789012:stateMachine:labellerr-provisioner-local-fixture"
        )
    }
    assert stack.state_machine_arn in {machine["stateMachineArn"] for machine in machines}


# --- Lambda dispatch


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("EchoFunction", ("EchoFunction", None)),
        ("EchoFunction:$LATEST", ("EchoFunction", "$LATEST")),
        ("arn:aws:lambda:us-east-1:123456789012:function:EchoFunction", ("EchoFunction", None)),
        ("arn:aws:lambda:us-east-1:123456789012:function:EchoFunction:live", ("EchoFunction", "live")),
        ("123456789012:function:EchoFunction", ("EchoFunction", None)),
    ],
)
def test_function_names_in_every_form(name, expected):
    assert split_function_name(name) == expected


@pytest.mark.parametrize(
    "name",
    ["EchoFunction", "EchoFunction:$LATEST", "arn:aws:lambda:us-east-1:123456789012:function:EchoFunction"],
)
def test_invoke_dispatches_to_the_handler_with_a_lambda_context(stack, name):
    error, payload = _invoke(stack, name, {"a": 1})

    assert error is None
    assert payload["greeting"] == "hello-us-east-1"
    assert payload["function_name"] == "EchoFunction"
    assert payload["invoked_function_arn"] == "arn:aws:lambda:us-east-1:123456789012:function:EchoFunction"
    assert payload["memory_limit_in_mb"] == 512
    assert 0 < payload["remaining_ms"] <= 5000
    assert payload["keys"] == ["a"]


def test_unknown_function_is_not_found(stack):
    with pytest.raises(ClientError) as raised:
        _invoke(stack, "NoSuchFunction", {})

    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_handler_exception_is_reported_like_the_python_runtime(stack):
    error, payload = _invoke(stack, "FailFunction", {"mode": "quota", "who": "acme"})

    assert error == "Unhandled"
    assert payload["errorType"] == "QuotaExceeded"
    assert payload["errorMessage"] == "quota exceeded for acme"
    assert "fail/app.py" in payload["stackTrace"][0]
    # The handler's frames only, as the runtime shows them: none of the local stack's own.
    assert not any(
        name in frame for frame in payload["stackTrace"] for name in ("emulator.py", "lambda_runtime.py")
    )


def test_exception_class_is_the_error_a_catch_matches(stack, run_execution):
    sfn = _client(stack, "stepfunctions")
    description = run_execution(sfn, stack.state_machine_arn, {"mode": "quota", "who": "acme"})

    assert description["status"] == "SUCCEEDED"
    output = json.loads(description["output"])
    assert output["label"] == "caught-by-labellerr"
    assert output["failure"]["Error"] == "QuotaExceeded"
    assert json.loads(output["failure"]["Cause"])["errorMessage"] == "quota exceeded for acme"


def test_successful_run_passes_results_between_states(stack, run_execution):
    sfn = _client(stack, "stepfunctions")
    description = run_execution(sfn, stack.state_machine_arn, {"mode": "ok"})

    assert description["status"] == "SUCCEEDED"
    assert json.loads(description["output"])["mode"] == "ok"


def test_retry_intervals_are_shortened(stack, run_execution):
    sfn = _client(stack, "stepfunctions")
    before = stack.invocations.count("FailFunction")
    started = time.monotonic()

    # The ASL retries FlakyError twice, 30 s and 60 s apart.
    description = run_execution(sfn, stack.state_machine_arn, {"mode": "flaky"})

    assert time.monotonic() - started < 5
    assert description["status"] == "FAILED"
    assert description["error"] == "FlakyError"
    assert stack.invocations.count("FailFunction") - before == 3


def test_wait_states_are_shortened_and_plain_arn_tasks_surface_the_error_type(stack, run_execution):
    sfn = _client(stack, "stepfunctions")
    fail_arn = stack.functions["FailFunction"].spec.arn
    definition = {
        "StartAt": "Wait a minute",
        "States": {
            "Wait a minute": {"Type": "Wait", "Seconds": 60, "Next": "Fail"},
            "Fail": {
                "Type": "Task",
                "Resource": fail_arn,
                "Catch": [{"ErrorEquals": ["QuotaExceeded"], "ResultPath": "$.caught", "Next": "Done"}],
                "End": True,
            },
            # Not "$.caught.Error": moto returns a top-level string output without JSON quotes.
            "Done": {"Type": "Pass", "OutputPath": "$.caught", "End": True},
        },
    }
    machine_arn = sfn.create_state_machine(
        name="wait-then-fail",
        definition=json.dumps(definition),
        roleArn="arn:aws:iam::123456789012:role/test",
    )["stateMachineArn"]
    started = time.monotonic()

    description = run_execution(sfn, machine_arn, {"mode": "quota"})

    assert time.monotonic() - started < 5
    assert description["status"] == "SUCCEEDED"
    assert json.loads(description["output"])["Error"] == "QuotaExceeded"


# --- IAM enforcement for issued keys only


@pytest.fixture(scope="module")
def scoped_user(stack):
    admin_s3, iam = _client(stack, "s3"), _client(stack, "iam")
    admin_s3.create_bucket(Bucket="enforced-bucket")
    for key in ("p/x", "q/x"):
        admin_s3.put_object(Bucket="enforced-bucket", Key=key, Body=b"data")
    iam.create_user(UserName="scoped-user")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::enforced-bucket/p/*"}
        ],
    }
    iam.put_user_policy(UserName="scoped-user", PolicyName="read-p", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="scoped-user")["AccessKey"]
    return {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}


def _error_code(call):
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value.response["Error"]["Code"]


def test_issued_key_is_authorized_by_its_policy(stack, scoped_user):
    s3 = _client(stack, "s3", **scoped_user)

    assert s3.get_object(Bucket="enforced-bucket", Key="p/x")["Body"].read() == b"data"
    assert _error_code(lambda: s3.get_object(Bucket="enforced-bucket", Key="q/x")) == "AccessDenied"
    assert (
        _error_code(lambda: s3.put_object(Bucket="enforced-bucket", Key="p/y", Body=b"x")) == "AccessDenied"
    )
    iam = _client(stack, "iam", **scoped_user)
    assert _error_code(iam.list_users) == "AccessDenied"


def test_wrong_secret_does_not_match(stack, scoped_user):
    s3 = _client(stack, "s3", **{**scoped_user, "aws_secret_access_key": "wrong"})

    assert _error_code(lambda: s3.get_object(Bucket="enforced-bucket", Key="p/x")) == "SignatureDoesNotMatch"


def test_other_credentials_are_not_checked(stack, scoped_user):
    # Dummy keys (tests, the functions' own role stand-in, the interpreter's "ak") pass unchecked.
    for credentials in (DUMMY, {"aws_access_key_id": "ak", "aws_secret_access_key": "sk"}):
        s3 = _client(stack, "s3", **credentials)
        assert s3.get_object(Bucket="enforced-bucket", Key="q/x")["Body"].read() == b"data"


def test_deleted_key_is_rejected(stack):
    iam = _client(stack, "iam")
    iam.create_user(UserName="short-lived")
    key = iam.create_access_key(UserName="short-lived")["AccessKey"]
    s3 = _client(
        stack, "s3", aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"]
    )
    assert _error_code(s3.list_buckets) == "AccessDenied"

    iam.delete_access_key(UserName="short-lived", AccessKeyId=key["AccessKeyId"])

    assert _error_code(s3.list_buckets) == "InvalidAccessKeyId"


# --- fault injection


def test_fault_fails_the_functions_clients_only(no_faults):
    stack = no_faults
    from provisioner_core import aws

    stack.set_faults(["iam:ListUsers"])

    with pytest.raises(ClientError) as raised:
        aws.client("iam").list_users()
    assert raised.value.response["Error"]["Code"] == "InjectedFault"
    assert raised.value.response["Error"]["Message"] == (
        "Injected fault for iam:ListUsers (provisioner-local --fault)"
    )
    # Another operation of the same service, and anybody else's client, go through.
    aws.client("iam").list_roles()
    _client(stack, "iam").list_users()
    stack.client("iam").list_users()
    assert stack.injected_faults == ["iam:ListUsers"]


def test_fault_reaches_a_handler_through_the_state_machine_path(no_faults):
    stack = no_faults
    stack.set_faults(["secretsmanager:ListSecrets"])

    error, payload = _invoke(
        stack, "CallAwsFunction", {"service": "secretsmanager", "method": "list_secrets"}
    )

    assert error == "Unhandled"
    assert payload["errorType"] == "ClientError"
    assert "InjectedFault" in payload["errorMessage"]

    stack.set_faults([])
    assert _invoke(stack, "CallAwsFunction", {"service": "secretsmanager", "method": "list_secrets"}) == (
        None,
        {"keys": ["SecretList"]},
    )


def test_fault_with_a_count_fails_only_the_first_calls(no_faults):
    stack = no_faults
    from provisioner_core import aws

    stack.set_faults(["s3:ListBuckets:2"])

    for _ in range(2):
        with pytest.raises(ClientError):
            aws.client("s3").list_buckets()
    aws.client("s3").list_buckets()
    assert stack.injected_faults == ["s3:ListBuckets", "s3:ListBuckets"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("iam", "expected SERVICE:Operation"),
        ("iam:createaccesskey", "did you mean CreateAccessKey"),
        ("nosuchservice:Foo", "unknown AWS service"),
        ("iam:CreateUser:0", "positive number"),
    ],
)
def test_bad_fault_specs_are_rejected(no_faults, spec, message):
    with pytest.raises(FaultSpecError, match=message):
        no_faults.set_faults([spec])


def test_a_call_the_functions_role_does_not_allow_is_refused_as_aws_refuses_it(no_faults):
    stack = no_faults
    error, payload = _invoke(stack, "CallAwsFunction", {"service": "sts", "method": "get_caller_identity"})
    # GetCallerIdentity needs no permission at all.
    assert (error, payload) == (None, {"keys": ["Account", "Arn", "UserId"]})
    error, payload = _invoke(
        stack,
        "CallAwsFunction",
        {"service": "secretsmanager", "method": "list_secret_version_ids", "params": {"SecretId": "x"}},
    )
    assert error == "Unhandled"
    assert "AccessDeniedException" in payload["errorMessage"]
    assert (
        "assumed-role/CallAwsFunctionRole/CallAwsFunction is not authorized to perform"
        in payload["errorMessage"]
    )
    assert stack.roles is not None
    assert ("CallAwsFunction", "secretsmanager:ListSecretVersionIds") in [r[:2] for r in stack.roles.refusals]
