"""The template document: its Resources, Mappings and Conditions, and its Parameters with the overrides."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

from provisioner_local.template.cfn_yaml import load_yaml
from provisioner_local.template.errors import TemplateError
from provisioner_local.template.naming import REGION
from provisioner_local.template.values import as_cfn_string


class TemplateDocument:
    """A parsed template with its parameter values; the readers in the other modules build on it."""

    def __init__(
        self,
        document: Mapping[str, Any],
        *,
        base_dir: Path,
        parameter_overrides: Mapping[str, str] | None = None,
        source: str = "template",
        region: str = REGION,
    ) -> None:
        self.document = document
        # AWS::Region, and the region of every ARN the template's resources get.
        self.region = region
        self.base_dir = base_dir
        self.source = source
        self.resources: dict[str, dict[str, Any]] = dict(document.get("Resources") or {})
        if not self.resources:
            raise TemplateError(f"{source}: no Resources")
        self._mappings: dict[str, Any] = dict(document.get("Mappings") or {})
        self._conditions: dict[str, Any] = dict(document.get("Conditions") or {})
        self._condition_values: dict[str, bool] = {}
        self.parameters = self._effective_parameters(dict(parameter_overrides or {}))

    @classmethod
    def load(
        cls, path: Path, parameter_overrides: Mapping[str, str] | None = None, *, region: str = REGION
    ) -> Self:
        if not path.is_file():
            raise TemplateError(f"template not found: {path}")
        return cls(
            load_yaml(path),
            base_dir=path.parent,
            parameter_overrides=parameter_overrides,
            source=str(path),
            region=region,
        )

    # -- parameters

    def _effective_parameters(self, overrides: dict[str, str]) -> dict[str, str | list[str]]:
        declared: dict[str, Any] = dict(self.document.get("Parameters") or {})
        unknown = sorted(set(overrides) - set(declared))
        if unknown:
            raise TemplateError(
                f"{self.source}: parameter override for undeclared parameter(s): {', '.join(unknown)}"
            )
        values: dict[str, str | list[str]] = {}
        for name, spec in declared.items():
            spec = spec or {}
            if name in overrides:
                raw = overrides[name]
            elif "Default" in spec:
                raw = as_cfn_string(spec["Default"], f"Parameters.{name}.Default")
            else:
                # Only fails if something local refers to it.
                continue
            self._check_parameter(name, spec, raw)
            param_type = str(spec.get("Type", "String"))
            if param_type == "CommaDelimitedList" or param_type.startswith("List<"):
                values[name] = raw.split(",") if raw else []
            else:
                values[name] = raw
        return values

    def _check_parameter(self, name: str, spec: Mapping[str, Any], raw: str) -> None:
        allowed = spec.get("AllowedValues")
        if allowed is not None and raw not in [as_cfn_string(v, name) for v in allowed]:
            raise TemplateError(f"parameter {name}={raw!r} is not one of AllowedValues {allowed}")
        pattern = spec.get("AllowedPattern")
        if pattern is not None and re.fullmatch(str(pattern), raw) is None:
            raise TemplateError(f"parameter {name}={raw!r} does not match AllowedPattern {pattern!r}")

    # -- local files

    def _path(self, value: Any, where: str) -> Path:
        if not isinstance(value, str):
            raise TemplateError(f"{where}: must be a local path, got {value!r}")
        return (self.base_dir / value).resolve()
