"""The Step Functions integration (`arn:aws:states:::states:startExecution`) as AWS runs it.

A Task's Parameters name the API's fields as the ASL documents them (`StateMachineArn`, `Input`, `Name`);
boto3 names them `stateMachineArn`, `input`, `name`. moto 5.2.5 passes the ASL's names to a client that does
not validate parameters, which then sends none of them, and the StartExecution fails. The health sweep hands
the rest of its connections to a new execution of itself through this integration.
"""

from __future__ import annotations

from typing import Any

from provisioner_local.moto_targets import SFN_INTEGRATION_PARAMETERS, PatchSet


def boto_name(field: str) -> str:
    return field[:1].lower() + field[1:]


def install(patches: PatchSet) -> None:
    original = SFN_INTEGRATION_PARAMETERS.original()

    def normalise(
        self: Any,
        parameters: dict[str, Any],
        boto_service_name: str | None = None,
        service_action_name: str | None = None,
    ) -> None:
        original(self, parameters, boto_service_name, service_action_name)
        # Only the request's own parameters: a response (service_action_name given) keeps its names.
        if service_action_name is None:
            for field in list(parameters):
                parameters[boto_name(field)] = parameters.pop(field)

    patches.set(SFN_INTEGRATION_PARAMETERS, normalise)
