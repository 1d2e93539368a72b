"""Each function's execution role as SAM builds it from the function's `Policies`.

SAM turns `Policies` into the role it creates for the function (`<Function>Role`): a managed policy's ARN
(a `!Ref` of the template's AWS::IAM::ManagedPolicy, or an ARN) is attached as it is, and a `Statement` map
becomes an inline policy. SAM's policy templates (`S3ReadPolicy: {...}`) and AWS managed policies by name are
not resolved here: the template uses neither, and a role the local stack cannot see entirely must not be
enforced as if it could, so both fail loudly. `AWSLambdaBasicExecutionRole`, which SAM always attaches, grants
only CloudWatch Logs, which the functions never call themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from provisioner_local.template.errors import TemplateError
from provisioner_local.template.naming import ACCOUNT_ID, PARTITION
from provisioner_local.template.resources import ResourceReader


@dataclass(frozen=True)
class FunctionRole:
    """A function's role: its ARN, and its policy documents (attached managed ones first, then inline)."""

    function: str
    arn: str
    documents: tuple[Mapping[str, Any], ...]

    @property
    def session_arn(self) -> str:
        """The principal a function's calls are made as: an assumed-role session named after the function."""
        name = self.arn.rsplit("/", 1)[-1]
        return f"arn:{PARTITION}:sts::{ACCOUNT_ID}:assumed-role/{name}/{self.function}"


class RoleReader(ResourceReader):
    def function_roles(self) -> dict[str, FunctionRole]:
        """Function logical id -> its role, for every AWS::Serverless::Function the template creates."""
        managed = self.managed_policies()
        roles: dict[str, FunctionRole] = {}
        for logical_id, resource in self._of_type("AWS::Serverless::Function"):
            properties = resource.get("Properties") or {}
            where = f"Resources.{logical_id}.Properties"
            if "Role" in properties:
                raise TemplateError(f"{where}.Role: the local stack enforces only the roles SAM makes")
            policies = self.resolve(properties.get("Policies") or [], f"{where}.Policies")
            if isinstance(policies, dict | str):
                policies = [policies]
            documents: list[Mapping[str, Any]] = []
            for index, policy in enumerate(policies):
                here = f"{where}.Policies[{index}]"
                if isinstance(policy, str):
                    if policy not in managed:
                        raise TemplateError(f"{here}: {policy} is not a managed policy of this template")
                    documents.insert(0, managed[policy])
                elif isinstance(policy, dict) and "Statement" in policy:
                    documents.append({"Version": "2012-10-17", **policy})
                else:
                    raise TemplateError(
                        f"{here}: only managed policies of the template and Statement maps are known to the "
                        f"local stack, not {policy!r}"
                    )
            arn = f"arn:{PARTITION}:iam::{ACCOUNT_ID}:role/{logical_id}Role"
            roles[logical_id] = FunctionRole(function=logical_id, arn=arn, documents=tuple(documents))
        return roles
