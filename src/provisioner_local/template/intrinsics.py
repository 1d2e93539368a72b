"""Intrinsic functions: Ref, Fn::Sub, Fn::GetAtt, Fn::If and the rest, pseudo parameters, and Conditions.

What a Ref or a GetAtt of a resource gives is in resources.py; IntrinsicResolver only declares it.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from provisioner_local.template.document import TemplateDocument
from provisioner_local.template.errors import TemplateError
from provisioner_local.template.naming import (
    ACCOUNT_ID,
    IMPLICIT_HTTP_API,
    PARTITION,
    STACK_NAME,
    api_id,
)
from provisioner_local.template.values import NO_VALUE, as_cfn_string

SUB_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")


class IntrinsicResolver(TemplateDocument):
    """Resolves a node of the template: intrinsic functions, Refs and Conditions."""

    if TYPE_CHECKING:
        # Defined by ResourceReader (resources.py) and HttpApiReader (http_apis.py).
        def _resource_ref(self, logical_id: str, where: str) -> str: ...

        def _get_att(self, logical_id: str, attribute: str, where: str) -> Any: ...

        def _uses_implicit_http_api(self) -> bool: ...

    def resolve(self, node: Any, where: str = "template") -> Any:
        if isinstance(node, list):
            items = [self.resolve(item, f"{where}[{i}]") for i, item in enumerate(node)]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, argument),) = node.items()
            if key == "Ref":
                return self._ref(argument, where)
            if key.startswith("Fn::"):
                return self._intrinsic(key, argument, where)
        resolved = {key: self.resolve(value, f"{where}.{key}") for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value is not NO_VALUE}

    def resolve_string(self, node: Any, where: str) -> str:
        return as_cfn_string(self.resolve(node, where), where)

    def _intrinsic(self, name: str, argument: Any, where: str) -> Any:
        here = f"{where}.{name}"
        if name == "Fn::Sub":
            return self._sub(argument, here)
        if name == "Fn::Join":
            if not (isinstance(argument, list) and len(argument) == 2):
                raise TemplateError(f"{here}: expected [delimiter, [values]]")
            delimiter = self.resolve_string(argument[0], here)
            values = self.resolve(argument[1], here)
            if not isinstance(values, list):
                raise TemplateError(f"{here}: the second argument must resolve to a list")
            return delimiter.join(as_cfn_string(value, here) for value in values)
        if name == "Fn::GetAtt":
            if isinstance(argument, str):
                resource, _, attribute = argument.partition(".")
            elif isinstance(argument, list) and len(argument) == 2:
                resource = self.resolve_string(argument[0], here)
                attribute = self.resolve_string(argument[1], here)
            else:
                raise TemplateError(f"{here}: expected [Resource, Attribute]")
            return self._get_att(resource, attribute, here)
        if name == "Fn::If":
            if not (isinstance(argument, list) and len(argument) == 3):
                raise TemplateError(f"{here}: expected [condition, value_if_true, value_if_false]")
            chosen = argument[1] if self._condition(str(argument[0]), here) else argument[2]
            return self.resolve(chosen, here)
        if name == "Fn::Select":
            if not (isinstance(argument, list) and len(argument) == 2):
                raise TemplateError(f"{here}: expected [index, list]")
            index = int(self.resolve_string(argument[0], here))
            values = self.resolve(argument[1], here)
            if not isinstance(values, list) or not 0 <= index < len(values):
                raise TemplateError(f"{here}: index {index} out of range")
            return values[index]
        if name == "Fn::Split":
            if not (isinstance(argument, list) and len(argument) == 2):
                raise TemplateError(f"{here}: expected [delimiter, string]")
            return self.resolve_string(argument[1], here).split(self.resolve_string(argument[0], here))
        if name == "Fn::FindInMap":
            if not (isinstance(argument, list) and len(argument) >= 3):
                raise TemplateError(f"{here}: expected [MapName, TopLevelKey, SecondLevelKey]")
            keys = [self.resolve_string(part, here) for part in argument[:3]]
            try:
                return self.resolve(self._mappings[keys[0]][keys[1]][keys[2]], here)
            except (KeyError, TypeError) as error:
                raise TemplateError(f"{here}: no mapping entry {'.'.join(keys)}") from error
        if name == "Fn::ToJsonString":
            return json.dumps(self.resolve(argument, here), separators=(",", ":"))
        if name in ("Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or"):
            return self._evaluate_condition({name: argument}, here)
        raise TemplateError(f"{here}: {name} cannot be resolved by the local stack")

    def _sub(self, argument: Any, where: str) -> str:
        if isinstance(argument, str):
            text, variables = argument, {}
        elif isinstance(argument, list) and len(argument) == 2 and isinstance(argument[0], str):
            text = argument[0]
            if not isinstance(argument[1], dict):
                raise TemplateError(f"{where}: the variables of Fn::Sub must be a mapping")
            variables = {
                key: self.resolve_string(value, f"{where}.{key}") for key, value in argument[1].items()
            }
        else:
            raise TemplateError(f"{where}: expected a string or [string, {{variables}}]")

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1).strip()
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return variables[name]
            if "." in name and name.split(".", 1)[0] in self.resources:
                resource, _, attribute = name.partition(".")
                return as_cfn_string(self._get_att(resource, attribute, where), where)
            return as_cfn_string(self._ref(name, where), where)

        return SUB_PLACEHOLDER.sub(substitute, text)

    def _ref(self, name: Any, where: str) -> Any:
        if not isinstance(name, str):
            raise TemplateError(f"{where}: Ref needs a name, got {name!r}")
        pseudo = {
            "AWS::Partition": PARTITION,
            "AWS::Region": self.region,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::StackName": STACK_NAME,
            "AWS::StackId": (
                f"arn:{PARTITION}:cloudformation:{self.region}:{ACCOUNT_ID}:stack/{STACK_NAME}/local"
            ),
            "AWS::URLSuffix": "amazonaws.com",
        }
        if name in pseudo:
            return pseudo[name]
        if name == "AWS::NoValue":
            return NO_VALUE
        if name == "AWS::NotificationARNs":
            return []
        if name in self.parameters:
            return self.parameters[name]
        declared = self.document.get("Parameters") or {}
        if name in declared:
            raise TemplateError(
                f"{where}: parameter {name} has no Default; give it in the parameter overrides"
            )
        if name in self.resources:
            return self._resource_ref(name, where)
        if name == IMPLICIT_HTTP_API and self._uses_implicit_http_api():
            return api_id(name)
        raise TemplateError(f"{where}: Ref to {name!r}, which is neither a parameter nor a resource")

    # -- conditions

    def _condition(self, name: str, where: str) -> bool:
        if name not in self._condition_values:
            if name not in self._conditions:
                raise TemplateError(f"{where}: no condition named {name!r}")
            self._condition_values[name] = self._evaluate_condition(
                self._conditions[name], f"Conditions.{name}"
            )
        return self._condition_values[name]

    def _evaluate_condition(self, node: Any, where: str) -> bool:
        if not (isinstance(node, dict) and len(node) == 1):
            raise TemplateError(f"{where}: not a condition: {node!r}")
        ((key, argument),) = node.items()
        if key == "Condition":
            return self._condition(str(argument), where)
        if not isinstance(argument, list):
            raise TemplateError(f"{where}: {key} takes a list")
        if key == "Fn::Equals":
            if len(argument) != 2:
                raise TemplateError(f"{where}: Fn::Equals takes two values")
            left, right = (self.resolve(value, where) for value in argument)
            return bool(left == right)
        if key == "Fn::Not":
            return not self._evaluate_condition(argument[0], where)
        if key == "Fn::And":
            return all(self._evaluate_condition(item, where) for item in argument)
        if key == "Fn::Or":
            return any(self._evaluate_condition(item, where) for item in argument)
        raise TemplateError(f"{where}: {key} is not a condition function")
