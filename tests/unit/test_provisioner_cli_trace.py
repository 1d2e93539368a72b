"""The client's trace names a failure as the flow does, with its own copy of the product's rule."""

from __future__ import annotations

import json

from provisioner_cli import trace
from provisioner_core import step


def test_the_client_keeps_the_products_list_of_errors_that_carry_an_aws_code() -> None:
    assert trace.CARRIES_AWS_CODE == step.CARRIES_AWS_CODE


def test_a_refused_call_is_named_by_its_aws_code_as_rollback_names_it() -> None:
    message = "CreateUser failed with AccessDenied: not allowed"
    cause = json.dumps({"errorType": "AwsCallRefused", "errorMessage": message})
    assert (
        trace.error_name({"error": "AwsCallRefused", "cause": cause}, "LambdaFunctionFailed")
        == "AccessDenied"
    )
    assert step.aws_code_in("AwsCallRefused", message) == "AccessDenied"
    assert trace.error_name({"error": "LabellerrUnavailable", "cause": cause}, "x") == "LabellerrUnavailable"
