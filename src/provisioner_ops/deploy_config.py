"""What `sam deploy` would deploy: samconfig.toml's answers, the template's parameters, and the overrides.

SAM reads `[<env>.deploy.parameters]` over `[<env>.global.parameters]`, and a value given on the command line
replaces samconfig's whole value for that key; the effective parameters here follow the same order, then
fill in the template's defaults.
"""

from __future__ import annotations

import shlex
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provisioner_ops.cfn_yaml import TemplateError, load_yaml

# The IAM resources CloudFormation deploys only with CAPABILITY_NAMED_IAM when they carry a custom name.
NAME_PROPERTIES = ("ManagedPolicyName", "RoleName", "UserName", "GroupName", "InstanceProfileName")
NAMED_IAM = "CAPABILITY_NAMED_IAM"


class DeployConfigError(Exception):
    """A file that cannot be read as what it should be: the message says which and why."""


@dataclass(frozen=True)
class SamConfig:
    stack_name: str | None = None
    region: str | None = None
    capabilities: tuple[str, ...] = ()
    parameter_overrides: dict[str, str] = field(default_factory=dict)


def parse_overrides(value: str | Sequence[str]) -> dict[str, str]:
    """`Key=Value Key2="a b"` (samconfig's string or SAM's command-line form), or a list of `Key=Value`;
    CloudFormation's `ParameterKey=K,ParameterValue=V` is accepted too."""
    try:
        items = shlex.split(value) if isinstance(value, str) else [str(item) for item in value]
    except ValueError as error:
        raise DeployConfigError(f"parameter overrides {value!r}: {error}") from None
    overrides: dict[str, str] = {}
    for item in items:
        if item.startswith("ParameterKey="):
            key_part, _, value_part = item.partition(",ParameterValue=")
            overrides[key_part.removeprefix("ParameterKey=")] = value_part
            continue
        key, equals, text = item.partition("=")
        if not equals or not key:
            raise DeployConfigError(f"parameter override {item!r} is not Key=Value")
        overrides[key] = text
    return overrides


def _words(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(value.split())
    if isinstance(value, list):
        return tuple(str(item) for item in value)
    return ()


def read_samconfig(path: Path, env: str = "default") -> SamConfig:
    """The deploy command's answers in `path` (none when the file does not exist)."""
    if not path.exists():
        return SamConfig()
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise DeployConfigError(f"{path}: {error}") from None
    section = document.get(env, {})
    merged: dict[str, Any] = {
        **section.get("global", {}).get("parameters", {}),
        **section.get("deploy", {}).get("parameters", {}),
    }
    overrides = merged.get("parameter_overrides")
    return SamConfig(
        stack_name=merged.get("stack_name"),
        region=merged.get("region"),
        capabilities=_words(merged.get("capabilities")),
        parameter_overrides=parse_overrides(overrides) if overrides else {},
    )


def read_template(path: Path) -> dict[str, Any]:
    try:
        return load_yaml(path)
    except (OSError, TemplateError, ValueError) as error:
        raise DeployConfigError(f"{path}: {error}") from None


def named_iam_resources(template: Mapping[str, Any]) -> dict[str, str]:
    """Logical id -> the name property of every IAM resource that carries a custom name."""
    named = {}
    for logical_id, resource in (template.get("Resources") or {}).items():
        if not str(resource.get("Type", "")).startswith("AWS::IAM::"):
            continue
        properties = resource.get("Properties") or {}
        for name in NAME_PROPERTIES:
            if name in properties:
                named[logical_id] = name
    return named


def capability_problem(template: Mapping[str, Any], capabilities: Sequence[str]) -> str | None:
    """Why CloudFormation would refuse the stack with these capabilities, or None."""
    named = named_iam_resources(template)
    if not named or NAMED_IAM in capabilities:
        return None
    which = ", ".join(f"{logical_id} ({prop})" for logical_id, prop in sorted(named.items()))
    given = " ".join(capabilities) or "none"
    return (
        f"capabilities are {given}, but the template names IAM resources ({which}): CloudFormation refuses "
        f'with "Requires capabilities: [{NAMED_IAM}]"; set capabilities = "{NAMED_IAM}" in samconfig.toml'
    )


def effective_parameters(
    template: Mapping[str, Any], samconfig: SamConfig, cli_overrides: Mapping[str, str] | None = None
) -> tuple[dict[str, str], list[str]]:
    """(every template parameter's value as deployed, the override keys the template does not declare).

    Command-line overrides replace samconfig's as a whole, as `sam deploy --parameter-overrides` does."""
    declared: dict[str, Any] = template.get("Parameters") or {}
    overrides = dict(cli_overrides) if cli_overrides else dict(samconfig.parameter_overrides)
    unknown = sorted(key for key in overrides if key not in declared)
    values = {}
    for name, spec in declared.items():
        if name in overrides:
            values[name] = overrides[name]
        elif "Default" in spec:
            default = spec["Default"]
            values[name] = ",".join(map(str, default)) if isinstance(default, list) else str(default)
    return values, unknown
