"""Lambda functions: FunctionSpec, read from AWS::Serverless::Function with SAM's Globals and the layers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from provisioner_local.template.errors import TemplateError
from provisioner_local.template.naming import REGION, function_arn
from provisioner_local.template.resources import ResourceReader
from provisioner_local.template.values import as_cfn_string

_SAM_FUNCTION_DEFAULT_TIMEOUT: Final = 3
_SAM_FUNCTION_DEFAULT_MEMORY: Final = 128


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_uri: Path
    handler: str
    timeout: int
    memory_size: int
    environment: Mapping[str, str]
    layer_dirs: tuple[Path, ...]
    # Layers given as ARNs of other accounts (e.g. a public Powertools layer): locally the venv provides them.
    external_layers: tuple[str, ...] = ()
    runtime: str | None = None
    region: str = REGION

    @property
    def name(self) -> str:
        # Locally a function is named after its logical id, whatever FunctionName says.
        return self.logical_id

    @property
    def arn(self) -> str:
        return function_arn(self.logical_id, self.region)

    @property
    def handler_module(self) -> str:
        module, _, _ = self.handler.rpartition(".")
        return module

    @property
    def handler_function(self) -> str:
        return self.handler.rpartition(".")[2]

    @property
    def handler_path(self) -> Path:
        return self.code_uri.joinpath(*self.handler_module.split(".")).with_suffix(".py")


def _deep_merge_globals(global_value: Any, local_value: Any) -> Any:
    """SAM's Globals rule: maps merge, lists concatenate (globals first), anything else the resource wins."""
    if isinstance(global_value, dict) and isinstance(local_value, dict):
        merged = dict(global_value)
        for key, value in local_value.items():
            merged[key] = _deep_merge_globals(global_value[key], value) if key in global_value else value
        return merged
    if isinstance(global_value, list) and isinstance(local_value, list):
        return [*global_value, *local_value]
    return local_value


class FunctionReader(ResourceReader):
    """The template's AWS::Serverless::Function resources as FunctionSpecs."""

    def functions(self) -> list[FunctionSpec]:
        globals_function = dict((self.document.get("Globals") or {}).get("Function") or {})
        specs = []
        missing: list[str] = []
        for logical_id, resource in self._of_type("AWS::Serverless::Function"):
            properties = _deep_merge_globals(globals_function, dict(resource.get("Properties") or {}))
            where = f"Resources.{logical_id}.Properties"
            if properties.get("PackageType") == "Image":
                raise TemplateError(f"{where}: image functions cannot run in the local stack")
            layer_dirs, external_layers = self._layers(properties.get("Layers") or [], f"{where}.Layers")
            variables = self.resolve(
                (properties.get("Environment") or {}).get("Variables") or {},
                f"{where}.Environment.Variables",
            )
            code_uri = self._path(
                self.resolve(properties.get("CodeUri"), f"{where}.CodeUri"), f"{where}.CodeUri"
            )
            handler = self.resolve_string(properties.get("Handler"), f"{where}.Handler")
            if "." not in handler:
                raise TemplateError(f"{where}.Handler: expected module.function, got {handler!r}")
            spec = FunctionSpec(
                logical_id=logical_id,
                code_uri=code_uri,
                handler=handler,
                timeout=int(self.resolve(properties.get("Timeout", _SAM_FUNCTION_DEFAULT_TIMEOUT), where)),
                memory_size=int(
                    self.resolve(properties.get("MemorySize", _SAM_FUNCTION_DEFAULT_MEMORY), where)
                ),
                environment={
                    key: as_cfn_string(value, f"{where}.Environment.Variables.{key}")
                    for key, value in variables.items()
                },
                layer_dirs=tuple(layer_dirs),
                external_layers=tuple(external_layers),
                runtime=self.resolve(properties.get("Runtime"), f"{where}.Runtime"),
                region=self.region,
            )
            if not spec.handler_path.is_file():
                missing.append(
                    f"{where}: handler module {spec.handler_path} does not exist "
                    f"(CodeUri {properties.get('CodeUri')!r}, Handler {handler!r})"
                )
            specs.append(spec)
        if missing:
            # All of them at once: a template ahead of its functions names every one that is not there yet.
            raise TemplateError("; ".join(missing))
        return specs

    def _layers(self, layers: Any, where: str) -> tuple[list[Path], list[str]]:
        if not isinstance(layers, list):
            raise TemplateError(f"{where}: expected a list")
        dirs: list[Path] = []
        external: list[str] = []
        for index, layer in enumerate(layers):
            here = f"{where}[{index}]"
            if isinstance(layer, dict) and set(layer) == {"Ref"} and layer["Ref"] in self.resources:
                layer_id = layer["Ref"]
                if self._resource_type(layer_id) != "AWS::Serverless::LayerVersion":
                    raise TemplateError(f"{here}: {layer_id} is not an AWS::Serverless::LayerVersion")
                content = self._path(self._property(layer_id, "ContentUri"), f"{layer_id}.ContentUri")
                if not content.is_dir():
                    raise TemplateError(f"{layer_id}.ContentUri: {content} is not a directory")
                dirs.append(content)
            else:
                external.append(self.resolve_string(layer, here))
        return dirs, external
