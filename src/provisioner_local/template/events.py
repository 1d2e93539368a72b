"""EventBridge: the event buses, and a rule with its target per EventBridgeRule event of a resource."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from provisioner_local.template.errors import TemplateError
from provisioner_local.template.naming import (
    ACCOUNT_ID,
    PARTITION,
    REGION,
    event_bus_arn,
    function_arn,
    state_machine_arn,
)
from provisioner_local.template.resources import ResourceReader
from provisioner_local.template.values import as_cfn_string


@dataclass(frozen=True)
class EventBusSpec:
    logical_id: str
    name: str
    region: str = REGION

    @property
    def arn(self) -> str:
        return event_bus_arn(self.name, self.region)


@dataclass(frozen=True)
class EventRuleSpec:
    """A rule made from an `EventBridgeRule` event source of a state machine or function, with its target."""

    owner_logical_id: str
    event_id: str
    name: str
    event_bus_name: str
    pattern: Mapping[str, Any]
    state: str
    # PutTargets' target: Id, Arn, RoleArn and at most one of Input, InputPath, InputTransformer.
    target: Mapping[str, Any]


class EventReader(ResourceReader):
    """The template's event buses, and the rules its resources' EventBridgeRule events make."""

    def event_buses(self) -> list[EventBusSpec]:
        return [
            EventBusSpec(
                logical_id=logical_id, name=self._resource_ref(logical_id, logical_id), region=self.region
            )
            for logical_id, _ in self._of_type("AWS::Events::EventBus")
        ]

    def event_rules(self) -> list[EventRuleSpec]:
        """A rule per `EventBridgeRule` (or `CloudWatchEvent`) event of a state machine or function."""
        rules = []
        owners = self._of_type(
            "AWS::Serverless::StateMachine", "AWS::Serverless::Function", "AWS::Lambda::Function"
        )
        for logical_id, resource in owners:
            is_machine = resource["Type"] == "AWS::Serverless::StateMachine"
            target_arn = (
                state_machine_arn(self.state_machine_name(logical_id), self.region)
                if is_machine
                else function_arn(logical_id, self.region)
            )
            events = (resource.get("Properties") or {}).get("Events") or {}
            for event_id, event in events.items():
                if not isinstance(event, dict) or event.get("Type") not in (
                    "EventBridgeRule",
                    "CloudWatchEvent",
                ):
                    continue
                where = f"Resources.{logical_id}.Properties.Events.{event_id}.Properties"
                rules.append(
                    self._event_rule(logical_id, event_id, target_arn, event.get("Properties") or {}, where)
                )
        return rules

    def _event_rule(
        self, owner: str, event_id: str, target_arn: str, raw: Mapping[str, Any], where: str
    ) -> EventRuleSpec:
        properties = self.resolve(dict(raw), where)
        pattern = properties.get("Pattern")
        if not isinstance(pattern, dict) or not pattern:
            raise TemplateError(f"{where}.Pattern: an EventBridgeRule needs a non-empty event pattern")
        inputs = [key for key in ("Input", "InputPath", "InputTransformer") if key in properties]
        if len(inputs) > 1:
            raise TemplateError(f"{where}: at most one of {', '.join(inputs)}")
        bus = properties.get("EventBusName")
        bus_name = "default" if bus is None else as_cfn_string(bus, f"{where}.EventBusName").split("/")[-1]
        # SAM names the rule <Owner><EventId>; the target's Id must stay within 64 characters.
        rule_name = as_cfn_string(properties.get("RuleName") or f"{owner}{event_id}", f"{where}.RuleName")
        is_machine = ":states:" in target_arn
        default_target_id = f"{event_id}{'StepFunctions' if is_machine else 'Lambda'}Target"
        target: dict[str, Any] = {
            "Id": as_cfn_string(
                (properties.get("Target") or {}).get("Id") or default_target_id, f"{where}.Target.Id"
            )[:64],
            "Arn": target_arn,
        }
        if is_machine:
            target["RoleArn"] = f"arn:{PARTITION}:iam::{ACCOUNT_ID}:role/{owner}{event_id}Role"
        if "Input" in properties:
            text = as_cfn_string(properties["Input"], f"{where}.Input")
            try:
                json.loads(text)
            except json.JSONDecodeError as error:
                raise TemplateError(f"{where}.Input: not valid JSON: {error}") from error
            target["Input"] = text
        if "InputPath" in properties:
            target["InputPath"] = as_cfn_string(properties["InputPath"], f"{where}.InputPath")
        if "InputTransformer" in properties:
            transformer = properties["InputTransformer"]
            if not isinstance(transformer, dict) or "InputTemplate" not in transformer:
                raise TemplateError(f"{where}.InputTransformer: needs InputTemplate (and InputPathsMap)")
            target["InputTransformer"] = {
                "InputPathsMap": dict(transformer.get("InputPathsMap") or {}),
                "InputTemplate": as_cfn_string(transformer["InputTemplate"], f"{where}.InputTemplate"),
            }
        state = as_cfn_string(properties.get("State", "ENABLED"), f"{where}.State")
        if properties.get("Enabled") is False:
            state = "DISABLED"
        return EventRuleSpec(
            owner_logical_id=owner,
            event_id=event_id,
            name=rule_name[:64],
            event_bus_name=bus_name,
            pattern=pattern,
            state=state,
            target=target,
        )
