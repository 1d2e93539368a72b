"""The functions' IAM statements as they would be deployed: template.yaml's Policies with the parameters in.

Only what a policy needs is resolved: Ref (parameters, pseudo parameters, the stack's own resources, given as
the ARN or name CloudFormation would give them), Fn::Sub, Fn::GetAtt (an Arn), Fn::If on the template's
Conditions, Fn::Join. The account is `<account>` unless the caller's is known.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

_NO_VALUE: Final = object()
_SUB_VARIABLE: Final = re.compile(r"\$\{([^}]*)\}")


@dataclass(frozen=True)
class Statement:
    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    conditions: tuple[tuple[str, str, tuple[str, ...]], ...]  # (operator, key, values)
    function: str


@dataclass(frozen=True)
class Resolver:
    template: Mapping[str, Any]
    parameters: Mapping[str, str]
    stack_name: str
    region: str
    account: str = "<account>"
    partition: str = "aws"

    @property
    def resources(self) -> Mapping[str, Any]:
        return self.template.get("Resources") or {}

    # -- conditions

    def condition(self, name: str) -> bool:
        return self._truth((self.template.get("Conditions") or {})[name])

    def _truth(self, expression: Any) -> bool:
        [(function, argument)] = expression.items()
        if function == "Fn::Not":
            return not self._truth(argument[0])
        if function == "Fn::And":
            return all(self._truth(item) for item in argument)
        if function == "Fn::Or":
            return any(self._truth(item) for item in argument)
        if function == "Fn::Equals":
            left, right = (str(self.resolve(item)) for item in argument)
            return left == right
        if function == "Condition":
            return self.condition(str(argument))
        raise ValueError(f"condition function {function} is not supported")

    # -- values

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            [(key, argument)] = value.items()
            if key == "Ref":
                return self.ref(str(argument))
            if key == "Fn::Sub":
                text, variables = (argument, {}) if isinstance(argument, str) else argument
                return self._sub(str(text), {k: str(self.resolve(v)) for k, v in variables.items()})
            if key == "Fn::GetAtt":
                resource, attribute = argument if isinstance(argument, list) else str(argument).split(".", 1)
                return self.get_att(str(resource), str(attribute))
            if key == "Fn::If":
                name, when_true, when_false = argument
                return self.resolve(when_true if self.condition(str(name)) else when_false)
            if key == "Fn::Join":
                separator, items = argument
                return str(separator).join(str(item) for item in self.resolve(items))
        resolved = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not _NO_VALUE}

    def _sub(self, text: str, variables: Mapping[str, str]) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"  # ${!Literal} is the literal ${Literal}
            if name in variables:
                return variables[name]
            if "." in name and not name.startswith("AWS::"):
                resource, attribute = name.split(".", 1)
                return self.get_att(resource, attribute)
            return str(self.ref(name))

        return _SUB_VARIABLE.sub(replace, text)

    def ref(self, name: str) -> Any:
        pseudo = {
            "AWS::Partition": self.partition,
            "AWS::AccountId": self.account,
            "AWS::Region": self.region,
            "AWS::StackName": self.stack_name,
            "AWS::URLSuffix": "amazonaws.com",
        }
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        resource = self.resources.get(name)
        if resource is None:
            raise ValueError(f"Ref {name}: neither a parameter nor a resource of the template")
        return self._arn_or_name(name, resource)

    def get_att(self, logical_id: str, attribute: str) -> str:
        resource = self.resources.get(logical_id)
        if resource is None:
            raise ValueError(f"GetAtt {logical_id}.{attribute}: no such resource")
        if attribute != "Arn":
            return f"<{logical_id}.{attribute}>"
        kind = resource.get("Type")
        name = self._name(logical_id, resource)
        arns = {
            "AWS::DynamoDB::Table": f"dynamodb:{self.region}:{self.account}:table/{name}",
            "AWS::Events::EventBus": f"events:{self.region}:{self.account}:event-bus/{name}",
            "AWS::Serverless::Function": f"lambda:{self.region}:{self.account}:function:{name}",
        }
        if kind in arns:
            return f"arn:{self.partition}:{arns[kind]}"
        return str(self._arn_or_name(logical_id, resource))

    def _name(self, logical_id: str, resource: Mapping[str, Any]) -> str:
        properties = resource.get("Properties") or {}
        for key in ("ManagedPolicyName", "Name", "TableName", "FunctionName"):
            if key in properties:
                return str(self.resolve(properties[key]))
        return logical_id  # CloudFormation makes one up from the stack and the logical id

    def _arn_or_name(self, logical_id: str, resource: Mapping[str, Any]) -> str:
        """What Ref gives for the resource types the functions' policies name."""
        kind = resource.get("Type")
        name = self._name(logical_id, resource)
        if kind == "AWS::IAM::ManagedPolicy":
            path = str(self.resolve((resource.get("Properties") or {}).get("Path", "/")))
            return f"arn:{self.partition}:iam::{self.account}:policy{path}{name}"
        if kind == "AWS::Serverless::StateMachine":
            return f"arn:{self.partition}:states:{self.region}:{self.account}:stateMachine:{name}"
        return name


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(item) for item in value) if isinstance(value, list) else (str(value),)


def _statement(raw: Mapping[str, Any], function: str) -> Statement:
    conditions = tuple(
        (operator, key, _strings(values))
        for operator, pairs in (raw.get("Condition") or {}).items()
        for key, values in pairs.items()
    )
    resources = raw.get("Resource", raw.get("NotResource", "*"))
    return Statement(
        effect=str(raw.get("Effect", "Allow")),
        actions=_strings(raw.get("Action", ())),
        resources=_strings(resources),
        conditions=conditions,
        function=function,
    )


def function_statements(resolver: Resolver) -> list[Statement]:
    """Every statement of every function the stack would create, managed policies of the template included.

    A policy that is neither a statement list nor a managed policy of the template (an AWS managed policy, a
    SAM policy template) is kept as one statement whose action names it, so it is never silently dropped."""
    statements: list[Statement] = []
    for logical_id, resource in resolver.resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        if "Condition" in resource and not resolver.condition(str(resource["Condition"])):
            continue
        for policy in (resource.get("Properties") or {}).get("Policies") or []:
            statements += _policy_statements(resolver, policy, logical_id)
    return statements


def _policy_statements(resolver: Resolver, policy: Any, function: str) -> list[Statement]:
    if isinstance(policy, dict) and set(policy) == {"Ref"} and policy["Ref"] in resolver.resources:
        managed = resolver.resources[policy["Ref"]]
        document = (managed.get("Properties") or {}).get("PolicyDocument") or {}
        return [_statement(s, function) for s in resolver.resolve(document.get("Statement", []))]
    if isinstance(policy, dict) and "Statement" in policy:
        return [_statement(s, function) for s in resolver.resolve(policy["Statement"])]
    if isinstance(policy, dict):
        [(template_name, argument)] = policy.items()
        target = ", ".join(f"{k}={v}" for k, v in resolver.resolve(argument).items())
        return [Statement("Allow", (f"SAM policy template {template_name}",), (target,), (), function)]
    return [Statement("Allow", (f"managed policy {resolver.resolve(policy)}",), ("*",), (), function)]
