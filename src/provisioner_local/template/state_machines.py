"""State machines: StateMachineSpec, read from AWS::Serverless::StateMachine, and DefinitionSubstitutions."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provisioner_local.template.errors import TemplateError
from provisioner_local.template.intrinsics import SUB_PLACEHOLDER
from provisioner_local.template.naming import ACCOUNT_ID, PARTITION, REGION, state_machine_arn
from provisioner_local.template.resources import ResourceReader
from provisioner_local.template.values import as_cfn_string


@dataclass(frozen=True)
class StateMachineSpec:
    logical_id: str
    name: str
    role_arn: str
    definition_uri: Path | None
    inline_definition: Any = None
    definition_substitutions: Mapping[str, str] = field(default_factory=dict)
    region: str = REGION

    @property
    def arn(self) -> str:
        return state_machine_arn(self.name, self.region)

    def definition_text(self) -> str:
        if self.definition_uri is not None:
            try:
                return self.definition_uri.read_text(encoding="utf-8")
            except OSError as error:
                raise TemplateError(
                    f"{self.logical_id}: cannot read DefinitionUri {self.definition_uri}: {error}"
                ) from error
        return json.dumps(self.inline_definition)

    def render_definition(self) -> str:
        """The ASL with every ${Name} substituted, as Step Functions would receive it."""
        rendered = render_definition(
            self.definition_text(), self.definition_substitutions, where=self.logical_id
        )
        try:
            json.loads(rendered)
        except json.JSONDecodeError as error:
            raise TemplateError(
                f"{self.logical_id}: the substituted definition is not JSON: {error}"
            ) from error
        return rendered


def render_definition(text: str, substitutions: Mapping[str, str], *, where: str = "definition") -> str:
    """Apply DefinitionSubstitutions; fail on a ${...} left unresolved and on a substitution never used.

    Both are template bugs that cfn-lint does not catch and that AWS would only reveal at run time.
    """
    used: set[str] = set()
    unresolved: list[str] = []

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in substitutions:
            used.add(name)
            return substitutions[name]
        unresolved.append(name)
        return match.group(0)

    rendered = SUB_PLACEHOLDER.sub(substitute, text)
    problems = []
    if unresolved:
        names = ", ".join(f"${{{name}}}" for name in sorted(set(unresolved)))
        problems.append(f"no DefinitionSubstitutions entry for {names}")
    unused = sorted(set(substitutions) - used)
    if unused:
        problems.append(f"DefinitionSubstitutions never used in the definition: {', '.join(unused)}")
    if problems:
        raise TemplateError(f"{where}: " + "; ".join(problems))
    return rendered


class StateMachineReader(ResourceReader):
    """The template's AWS::Serverless::StateMachine resources as StateMachineSpecs."""

    def state_machines(self) -> list[StateMachineSpec]:
        specs = []
        for logical_id, resource in self._of_type("AWS::Serverless::StateMachine"):
            where = f"Resources.{logical_id}.Properties"
            properties = resource.get("Properties") or {}
            definition_uri = properties.get("DefinitionUri")
            inline = properties.get("Definition")
            if (definition_uri is None) == (inline is None):
                raise TemplateError(f"{where}: exactly one of DefinitionUri and Definition is required")
            substitutions = self.resolve(properties.get("DefinitionSubstitutions") or {}, where)
            role = properties.get("Role")
            specs.append(
                StateMachineSpec(
                    logical_id=logical_id,
                    name=self.state_machine_name(logical_id),
                    role_arn=(
                        self.resolve_string(role, f"{where}.Role")
                        if role is not None
                        else f"arn:{PARTITION}:iam::{ACCOUNT_ID}:role/{logical_id}Role"
                    ),
                    definition_uri=(
                        None
                        if definition_uri is None
                        else self._path(self.resolve(definition_uri, where), f"{where}.DefinitionUri")
                    ),
                    # Inline definitions keep their ${...} for render_definition, like DefinitionUri files.
                    inline_definition=inline,
                    definition_substitutions={
                        key: as_cfn_string(value, f"{where}.DefinitionSubstitutions.{key}")
                        for key, value in substitutions.items()
                    },
                    region=self.region,
                )
            )
        return specs
