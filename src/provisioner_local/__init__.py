"""The embedded local stack: the SAM template's resources and functions on an in-process moto.

`provisioner-local serve` / `provisioner-local onboard` (see cli.py), or in Python:

    with LocalStack(faults=["iam:CreateAccessKey"]) as stack:
        stack.client("stepfunctions").start_execution(stateMachineArn=stack.state_machine_arn, ...)
        urllib.request.urlopen(f"{stack.api_url}/connections")           # the HTTP API, on loopback
        stack.wait_for_event("Connection Provisioned")                     # lifecycle events put on any bus
"""

from provisioner_local.emulator import LocalStack, LocalStackError
from provisioner_local.template import SamTemplate, TemplateError

__all__ = ["LocalStack", "LocalStackError", "SamTemplate", "TemplateError"]
