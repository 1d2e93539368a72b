"""Read the SAM template the way the local stack needs it: functions, layers and state machines, resolved.

Only what the local stack uses is resolved, and lazily, so an intrinsic that cannot mean anything locally
(an import from another stack, say) fails only if something local depends on it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

PARTITION: Final = "aws"
REGION: Final = "us-east-1"
# moto's default account: every request signed with a key it does not know lands there.
ACCOUNT_ID: Final = "123456789012"
STACK_NAME: Final = "labellerr-provisioner-local"

_SAM_FUNCTION_DEFAULT_TIMEOUT: Final = 3
_SAM_FUNCTION_DEFAULT_MEMORY: Final = 128

_SUB_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")

# SAM's implicit API for HttpApi events that name no ApiId.
IMPLICIT_HTTP_API: Final = "ServerlessHttpApi"
_API_TYPES: Final = (
    "AWS::Serverless::HttpApi",
    "AWS::ApiGatewayV2::Api",
    "AWS::Serverless::Api",
    "AWS::ApiGateway::RestApi",
)


class TemplateError(ValueError):
    """The template (or a definition it points to) cannot be turned into a local stack."""


class _NoValue:
    """AWS::NoValue: the property or list item disappears."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE: Final = _NoValue()


# --- YAML


class CloudFormationLoader(yaml.SafeLoader):
    """A SafeLoader that reads CloudFormation short tags (!Ref, !Sub, ...) as their long JSON forms."""


def _long_form(name: str) -> str:
    return name if name in ("Ref", "Condition") else f"Fn::{name}"


def _construct_short_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            # The short form "Resource.Attribute" splits at the first dot; attributes may contain dots.
            resource, dot, attribute = str(value).partition(".")
            if not dot:
                raise TemplateError(f"!GetAtt {value!r}: expected Resource.Attribute")
            value = [resource, attribute]
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:  # pragma: no cover - yaml has no other node kinds
        raise TemplateError(f"!{tag_suffix}: unsupported YAML node {node!r}")
    return {_long_form(tag_suffix): value}


CloudFormationLoader.add_multi_constructor("!", _construct_short_tag)


def load_yaml(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as stream:
        # CloudFormationLoader is a SafeLoader subclass: no arbitrary objects.
        document = yaml.load(stream, Loader=CloudFormationLoader)  # noqa: S506  # nosec B506
    if not isinstance(document, dict):
        raise TemplateError(f"{path}: not a CloudFormation template (top level is not a mapping)")
    return document


# --- What the local stack gets


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

    @property
    def name(self) -> str:
        # Locally a function is named after its logical id, whatever FunctionName says.
        return self.logical_id

    @property
    def arn(self) -> str:
        return function_arn(self.logical_id)

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


@dataclass(frozen=True)
class StateMachineSpec:
    logical_id: str
    name: str
    role_arn: str
    definition_uri: Path | None
    inline_definition: Any = None
    definition_substitutions: Mapping[str, str] = field(default_factory=dict)

    @property
    def arn(self) -> str:
        return state_machine_arn(self.name)

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


@dataclass(frozen=True)
class TableSpec:
    """A DynamoDB table: CreateTable's arguments, then its TTL and point-in-time recovery settings."""

    logical_id: str
    name: str
    create_arguments: Mapping[str, Any]
    ttl_attribute: str | None = None
    point_in_time_recovery: bool = False

    @property
    def arn(self) -> str:
        return table_arn(self.name)


@dataclass(frozen=True)
class EventBusSpec:
    logical_id: str
    name: str

    @property
    def arn(self) -> str:
        return event_bus_arn(self.name)


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


HTTP_METHODS: Final = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY"})
DEFAULT_ROUTE: Final = "$default"


@dataclass(frozen=True)
class HttpRouteSpec:
    """One `HttpApi` event of a function: `METHOD /path` (or `$default`) of one API."""

    function_logical_id: str
    event_id: str
    # None for the $default route.
    method: str | None
    path: str | None
    iam_auth: bool = False

    @property
    def route_key(self) -> str:
        return DEFAULT_ROUTE if self.method is None else f"{self.method} {self.path}"


@dataclass(frozen=True)
class HttpApiSpec:
    logical_id: str
    api_id: str
    stage_name: str
    routes: tuple[HttpRouteSpec, ...]


def function_arn(name: str) -> str:
    return f"arn:{PARTITION}:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"


def state_machine_arn(name: str) -> str:
    return f"arn:{PARTITION}:states:{REGION}:{ACCOUNT_ID}:stateMachine:{name}"


def table_arn(name: str) -> str:
    return f"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT_ID}:table/{name}"


def event_bus_arn(name: str) -> str:
    return f"arn:{PARTITION}:events:{REGION}:{ACCOUNT_ID}:event-bus/{name}"


def api_id(logical_id: str) -> str:
    """A stable, API Gateway-shaped id (10 lowercase letters and digits) for an API of the local stack."""
    number = int.from_bytes(hashlib.sha256(f"{STACK_NAME}/{logical_id}".encode()).digest()[:8], "big")
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
    digits = []
    for _ in range(10):
        number, digit = divmod(number, 36)
        digits.append(alphabet[digit])
    return "".join(digits)


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

    rendered = _SUB_PLACEHOLDER.sub(substitute, text)
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


# --- The template


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


def _as_cfn_string(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise TemplateError(f"{where}: expected a string, got {type(value).__name__} {value!r}")


class SamTemplate:
    """A SAM template with its intrinsic functions resolved for a local stack."""

    def __init__(
        self,
        document: Mapping[str, Any],
        *,
        base_dir: Path,
        parameter_overrides: Mapping[str, str] | None = None,
        source: str = "template",
    ) -> None:
        self.document = document
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
    def load(cls, path: Path, parameter_overrides: Mapping[str, str] | None = None) -> SamTemplate:
        if not path.is_file():
            raise TemplateError(f"template not found: {path}")
        return cls(
            load_yaml(path),
            base_dir=path.parent,
            parameter_overrides=parameter_overrides,
            source=str(path),
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
                raw = _as_cfn_string(spec["Default"], f"Parameters.{name}.Default")
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
        if allowed is not None and raw not in [_as_cfn_string(v, name) for v in allowed]:
            raise TemplateError(f"parameter {name}={raw!r} is not one of AllowedValues {allowed}")
        pattern = spec.get("AllowedPattern")
        if pattern is not None and re.fullmatch(str(pattern), raw) is None:
            raise TemplateError(f"parameter {name}={raw!r} does not match AllowedPattern {pattern!r}")

    # -- intrinsics

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
        return _as_cfn_string(self.resolve(node, where), where)

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
            return delimiter.join(_as_cfn_string(value, here) for value in values)
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
                return _as_cfn_string(self._get_att(resource, attribute, where), where)
            return _as_cfn_string(self._ref(name, where), where)

        return _SUB_PLACEHOLDER.sub(substitute, text)

    def _ref(self, name: Any, where: str) -> Any:
        if not isinstance(name, str):
            raise TemplateError(f"{where}: Ref needs a name, got {name!r}")
        pseudo = {
            "AWS::Partition": PARTITION,
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::StackName": STACK_NAME,
            "AWS::StackId": (
                f"arn:{PARTITION}:cloudformation:{REGION}:{ACCOUNT_ID}:stack/{STACK_NAME}/local"
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

    def _resource_type(self, logical_id: str) -> str:
        return str(self.resources[logical_id].get("Type", ""))

    def _property(self, logical_id: str, name: str) -> Any:
        properties = self.resources[logical_id].get("Properties") or {}
        if name not in properties:
            return None
        return self.resolve(properties[name], f"Resources.{logical_id}.Properties.{name}")

    def _named(self, logical_id: str, property_name: str, default: str) -> str:
        value = self._property(logical_id, property_name)
        return default if value is None else _as_cfn_string(value, f"{logical_id}.{property_name}")

    def _resource_ref(self, logical_id: str, where: str) -> str:
        resource_type = self._resource_type(logical_id)
        if resource_type in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            return logical_id
        if resource_type in ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine"):
            return state_machine_arn(self.state_machine_name(logical_id))
        if resource_type in ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion"):
            return f"arn:{PARTITION}:lambda:{REGION}:{ACCOUNT_ID}:layer:{logical_id}:1"
        if resource_type == "AWS::IAM::ManagedPolicy":
            return f"arn:{PARTITION}:iam::{ACCOUNT_ID}:policy/{logical_id}"
        if resource_type == "AWS::S3::Bucket":
            return self._named(logical_id, "BucketName", logical_id.lower())
        if resource_type == "AWS::Logs::LogGroup":
            return self._named(logical_id, "LogGroupName", logical_id)
        if resource_type in ("AWS::SNS::Topic",):
            return f"arn:{PARTITION}:sns:{REGION}:{ACCOUNT_ID}:{logical_id}"
        if resource_type == "AWS::SQS::Queue":
            return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT_ID}/{logical_id}"
        if resource_type == "AWS::SecretsManager::Secret":
            return f"arn:{PARTITION}:secretsmanager:{REGION}:{ACCOUNT_ID}:secret:{logical_id}"
        if resource_type in ("AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable"):
            return self._named(logical_id, "TableName", logical_id)
        if resource_type == "AWS::Events::EventBus":
            return self._named(logical_id, "Name", logical_id)
        if resource_type == "AWS::Events::Rule":
            return self._named(logical_id, "Name", logical_id)
        if resource_type in _API_TYPES:
            return api_id(logical_id)
        # Roles, users, rules, APIs...: the physical name is what Ref returns, and locally that is the id.
        return logical_id

    def _get_att(self, logical_id: str, attribute: str, where: str) -> Any:
        if logical_id not in self.resources:
            implicit_owner = logical_id.removesuffix("Role")
            if attribute == "Arn" and logical_id.endswith("Role") and implicit_owner in self.resources:
                # SAM creates <Function>Role / <StateMachine>Role when the resource names no Role.
                return f"arn:{PARTITION}:iam::{ACCOUNT_ID}:role/{logical_id}"
            raise TemplateError(f"{where}: GetAtt {logical_id}.{attribute}: no resource {logical_id!r}")
        resource_type = self._resource_type(logical_id)
        arn = self._arn_attribute(logical_id, resource_type)
        if attribute == "Arn" and arn is not None:
            return arn
        if attribute == "Name" and resource_type in (
            "AWS::Serverless::StateMachine",
            "AWS::StepFunctions::StateMachine",
        ):
            return self.state_machine_name(logical_id)
        if resource_type == "AWS::SNS::Topic" and attribute == "TopicArn":
            return self._resource_ref(logical_id, where)
        if resource_type == "AWS::SQS::Queue" and attribute == "QueueName":
            return logical_id
        if resource_type == "AWS::SQS::Queue" and attribute == "QueueUrl":
            return self._resource_ref(logical_id, where)
        if resource_type == "AWS::Events::EventBus" and attribute == "Name":
            return self._resource_ref(logical_id, where)
        if resource_type in _API_TYPES and attribute in ("ApiId", "RootResourceId"):
            return api_id(logical_id)
        if resource_type in _API_TYPES and attribute == "ApiEndpoint":
            return f"https://{api_id(logical_id)}.execute-api.{REGION}.amazonaws.com"
        raise TemplateError(
            f"{where}: GetAtt {logical_id}.{attribute} ({resource_type}) is not known to the local stack"
        )

    def _arn_attribute(self, logical_id: str, resource_type: str) -> str | None:
        if resource_type in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            return function_arn(logical_id)
        if resource_type in ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine"):
            return state_machine_arn(self.state_machine_name(logical_id))
        if resource_type == "AWS::IAM::Role":
            return f"arn:{PARTITION}:iam::{ACCOUNT_ID}:role/{self._named(logical_id, 'RoleName', logical_id)}"
        if resource_type == "AWS::IAM::User":
            return f"arn:{PARTITION}:iam::{ACCOUNT_ID}:user/{self._named(logical_id, 'UserName', logical_id)}"
        if resource_type == "AWS::S3::Bucket":
            return f"arn:{PARTITION}:s3:::{self._resource_ref(logical_id, logical_id)}"
        if resource_type == "AWS::Logs::LogGroup":
            name = self._resource_ref(logical_id, logical_id)
            return f"arn:{PARTITION}:logs:{REGION}:{ACCOUNT_ID}:log-group:{name}:*"
        if resource_type == "AWS::SQS::Queue":
            return f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT_ID}:{logical_id}"
        if resource_type in ("AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable"):
            return table_arn(self._resource_ref(logical_id, logical_id))
        if resource_type == "AWS::Events::EventBus":
            return event_bus_arn(self._resource_ref(logical_id, logical_id))
        if resource_type in ("AWS::SNS::Topic", "AWS::SecretsManager::Secret"):
            return self._resource_ref(logical_id, logical_id)
        if resource_type in ("AWS::Events::Rule",):
            return f"arn:{PARTITION}:events:{REGION}:{ACCOUNT_ID}:rule/{logical_id}"
        return None

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

    # -- what the local stack needs

    def _of_type(self, *types: str) -> Iterator[tuple[str, dict[str, Any]]]:
        for logical_id, resource in self.resources.items():
            if isinstance(resource, dict) and resource.get("Type") in types:
                if "Condition" in resource and not self._condition(
                    str(resource["Condition"]), f"Resources.{logical_id}.Condition"
                ):
                    continue
                yield logical_id, resource

    def _path(self, value: Any, where: str) -> Path:
        if not isinstance(value, str):
            raise TemplateError(f"{where}: must be a local path, got {value!r}")
        return (self.base_dir / value).resolve()

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
                    key: _as_cfn_string(value, f"{where}.Environment.Variables.{key}")
                    for key, value in variables.items()
                },
                layer_dirs=tuple(layer_dirs),
                external_layers=tuple(external_layers),
                runtime=self.resolve(properties.get("Runtime"), f"{where}.Runtime"),
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

    def state_machine_name(self, logical_id: str) -> str:
        return self._named(logical_id, "Name", logical_id)

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
                        key: _as_cfn_string(value, f"{where}.DefinitionSubstitutions.{key}")
                        for key, value in substitutions.items()
                    },
                )
            )
        return specs

    # -- tables, event buses and rules, HTTP APIs

    def tables(self) -> list[TableSpec]:
        specs = []
        for logical_id, resource in self._of_type("AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable"):
            where = f"Resources.{logical_id}.Properties"
            properties = self.resolve(resource.get("Properties") or {}, where)
            name = self._resource_ref(logical_id, where)
            if resource["Type"] == "AWS::Serverless::SimpleTable":
                specs.append(_simple_table_spec(logical_id, name, properties))
            else:
                specs.append(_table_spec(logical_id, name, properties, where))
        return specs

    def event_buses(self) -> list[EventBusSpec]:
        return [
            EventBusSpec(logical_id=logical_id, name=self._resource_ref(logical_id, logical_id))
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
                state_machine_arn(self.state_machine_name(logical_id))
                if is_machine
                else function_arn(logical_id)
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
        bus_name = "default" if bus is None else _as_cfn_string(bus, f"{where}.EventBusName").split("/")[-1]
        # SAM names the rule <Owner><EventId>; the target's Id must stay within 64 characters.
        rule_name = _as_cfn_string(properties.get("RuleName") or f"{owner}{event_id}", f"{where}.RuleName")
        is_machine = ":states:" in target_arn
        default_target_id = f"{event_id}{'StepFunctions' if is_machine else 'Lambda'}Target"
        target: dict[str, Any] = {
            "Id": _as_cfn_string(
                (properties.get("Target") or {}).get("Id") or default_target_id, f"{where}.Target.Id"
            )[:64],
            "Arn": target_arn,
        }
        if is_machine:
            target["RoleArn"] = f"arn:{PARTITION}:iam::{ACCOUNT_ID}:role/{owner}{event_id}Role"
        if "Input" in properties:
            text = _as_cfn_string(properties["Input"], f"{where}.Input")
            try:
                json.loads(text)
            except json.JSONDecodeError as error:
                raise TemplateError(f"{where}.Input: not valid JSON: {error}") from error
            target["Input"] = text
        if "InputPath" in properties:
            target["InputPath"] = _as_cfn_string(properties["InputPath"], f"{where}.InputPath")
        if "InputTransformer" in properties:
            transformer = properties["InputTransformer"]
            if not isinstance(transformer, dict) or "InputTemplate" not in transformer:
                raise TemplateError(f"{where}.InputTransformer: needs InputTemplate (and InputPathsMap)")
            target["InputTransformer"] = {
                "InputPathsMap": dict(transformer.get("InputPathsMap") or {}),
                "InputTemplate": _as_cfn_string(transformer["InputTemplate"], f"{where}.InputTemplate"),
            }
        state = _as_cfn_string(properties.get("State", "ENABLED"), f"{where}.State")
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

    def _uses_implicit_http_api(self) -> bool:
        for _, resource in self._of_type("AWS::Serverless::Function"):
            for event in ((resource.get("Properties") or {}).get("Events") or {}).values():
                if (
                    isinstance(event, dict)
                    and event.get("Type") == "HttpApi"
                    and "ApiId" not in (event.get("Properties") or {})
                ):
                    return True
        return False

    def _http_api_of(self, node: Any, where: str) -> str:
        """The logical id of the AWS::Serverless::HttpApi an HttpApi event's ApiId points to."""
        if node is None:
            return IMPLICIT_HTTP_API
        if isinstance(node, dict) and set(node) == {"Ref"} and node["Ref"] in self.resources:
            logical_id = str(node["Ref"])
        else:
            resolved = self.resolve_string(node, where)
            by_id = {api_id(logical_id): logical_id for logical_id in self.resources}
            if resolved not in by_id:
                raise TemplateError(f"{where}: ApiId {resolved!r} is not an HttpApi of this template")
            logical_id = by_id[resolved]
        if self._resource_type(logical_id) != "AWS::Serverless::HttpApi":
            raise TemplateError(f"{where}: {logical_id} is not an AWS::Serverless::HttpApi")
        return logical_id

    def http_apis(self) -> list[HttpApiSpec]:
        """Every AWS::Serverless::HttpApi (and SAM's implicit one) with the routes of its functions."""
        routes: dict[str, list[HttpRouteSpec]] = {}
        for logical_id, resource in self._of_type("AWS::Serverless::Function"):
            events = (resource.get("Properties") or {}).get("Events") or {}
            for event_id, event in events.items():
                if not isinstance(event, dict) or event.get("Type") != "HttpApi":
                    continue
                where = f"Resources.{logical_id}.Properties.Events.{event_id}.Properties"
                raw = dict(event.get("Properties") or {})
                api = self._http_api_of(raw.get("ApiId"), f"{where}.ApiId")
                routes.setdefault(api, []).append(self._http_route(logical_id, event_id, api, raw, where))
        apis = [logical_id for logical_id, _ in self._of_type("AWS::Serverless::HttpApi")]
        if IMPLICIT_HTTP_API in routes and IMPLICIT_HTTP_API not in apis:
            apis.append(IMPLICIT_HTTP_API)
        specs = []
        for logical_id in apis:
            api_routes = routes.get(logical_id, [])
            seen: dict[str, str] = {}
            for route in api_routes:
                if route.route_key in seen:
                    raise TemplateError(
                        f"{logical_id}: route {route.route_key!r} is declared by both "
                        f"{seen[route.route_key]} and {route.function_logical_id}.{route.event_id}"
                    )
                seen[route.route_key] = f"{route.function_logical_id}.{route.event_id}"
            stage = (
                "$default"
                if logical_id not in self.resources
                else self._named(logical_id, "StageName", "$default")
            )
            specs.append(
                HttpApiSpec(
                    logical_id=logical_id,
                    api_id=api_id(logical_id),
                    stage_name=stage,
                    routes=tuple(api_routes),
                )
            )
        return specs

    def _api_default_iam(self, api: str) -> bool:
        if api not in self.resources:
            return False
        auth = self._property(api, "Auth") or {}
        return isinstance(auth, dict) and auth.get("DefaultAuthorizer") == "AWS_IAM"

    def _http_route(
        self, function: str, event_id: str, api: str, raw: Mapping[str, Any], where: str
    ) -> HttpRouteSpec:
        properties = self.resolve({key: value for key, value in raw.items() if key != "ApiId"}, where)
        version = str(properties.get("PayloadFormatVersion", "2.0"))
        if version != "2.0":
            raise TemplateError(f"{where}.PayloadFormatVersion: only 2.0 is emulated locally, not {version}")
        method = properties.get("Method")
        path = properties.get("Path")
        if method is None and path is None:
            return HttpRouteSpec(function_logical_id=function, event_id=event_id, method=None, path=None)
        if method is None or path is None:
            raise TemplateError(f"{where}: give both Method and Path, or neither (the $default route)")
        method = _as_cfn_string(method, f"{where}.Method").upper()
        if method not in HTTP_METHODS:
            raise TemplateError(f"{where}.Method: {method!r} is not an HTTP method API Gateway routes")
        path = _as_cfn_string(path, f"{where}.Path")
        _check_route_path(path, f"{where}.Path")
        authorizer = (properties.get("Auth") or {}).get("Authorizer")
        iam = self._api_default_iam(api) if authorizer is None else authorizer == "AWS_IAM"
        return HttpRouteSpec(
            function_logical_id=function, event_id=event_id, method=method, path=path, iam_auth=iam
        )


_ROUTE_SEGMENT = re.compile(r"\{[A-Za-z0-9_.-]+\+?\}|[^{}]*")


def _check_route_path(path: str, where: str) -> None:
    if not path.startswith("/"):
        raise TemplateError(f"{where}: {path!r} must start with /")
    segments = path.split("/")[1:]
    for index, segment in enumerate(segments):
        if not _ROUTE_SEGMENT.fullmatch(segment):
            raise TemplateError(f"{where}: {path!r}: a segment is either literal or one {{parameter}}")
        if segment.endswith("+}") and index != len(segments) - 1:
            raise TemplateError(f"{where}: {path!r}: a greedy {{name+}} must be the last segment")


_SIMPLE_TABLE_TYPES: Final = {"String": "S", "Number": "N", "Binary": "B"}


def _table_spec(logical_id: str, name: str, properties: Mapping[str, Any], where: str) -> TableSpec:
    for required in ("KeySchema", "AttributeDefinitions"):
        if not properties.get(required):
            raise TemplateError(f"{where}.{required} is required")
    arguments: dict[str, Any] = {
        "TableName": name,
        "KeySchema": properties["KeySchema"],
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "BillingMode": properties.get("BillingMode", "PROVISIONED"),
    }
    if arguments["BillingMode"] == "PROVISIONED" and "ProvisionedThroughput" not in properties:
        raise TemplateError(f"{where}.ProvisionedThroughput is required with BillingMode PROVISIONED")
    for key in (
        "ProvisionedThroughput",
        "LocalSecondaryIndexes",
        "TableClass",
        "DeletionProtectionEnabled",
        "OnDemandThroughput",
        "Tags",
    ):
        if key in properties:
            arguments[key] = properties[key]
    if "GlobalSecondaryIndexes" in properties:
        # ContributorInsightsSpecification is CloudFormation-only.
        arguments["GlobalSecondaryIndexes"] = [
            {key: value for key, value in index.items() if key != "ContributorInsightsSpecification"}
            for index in properties["GlobalSecondaryIndexes"]
        ]
    stream = properties.get("StreamSpecification")
    if stream:
        arguments["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
    sse = properties.get("SSESpecification")
    if sse:
        arguments["SSESpecification"] = {
            key: value
            for key, value in (
                ("Enabled", sse.get("SSEEnabled")),
                ("SSEType", sse.get("SSEType")),
                ("KMSMasterKeyId", sse.get("KMSMasterKeyId")),
            )
            if value is not None
        }
    ttl = properties.get("TimeToLiveSpecification") or {}
    pitr = properties.get("PointInTimeRecoverySpecification") or {}
    return TableSpec(
        logical_id=logical_id,
        name=name,
        create_arguments=arguments,
        ttl_attribute=str(ttl["AttributeName"]) if ttl.get("Enabled") and ttl.get("AttributeName") else None,
        point_in_time_recovery=bool(pitr.get("PointInTimeRecoveryEnabled")),
    )


def _simple_table_spec(logical_id: str, name: str, properties: Mapping[str, Any]) -> TableSpec:
    key = properties.get("PrimaryKey") or {"Name": "id", "Type": "String"}
    key_type = _SIMPLE_TABLE_TYPES.get(str(key.get("Type", "String")), "S")
    arguments: dict[str, Any] = {
        "TableName": name,
        "KeySchema": [{"AttributeName": key["Name"], "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": key["Name"], "AttributeType": key_type}],
    }
    if properties.get("ProvisionedThroughput"):
        arguments["BillingMode"] = "PROVISIONED"
        arguments["ProvisionedThroughput"] = properties["ProvisionedThroughput"]
    else:
        arguments["BillingMode"] = "PAY_PER_REQUEST"
    if properties.get("Tags"):
        arguments["Tags"] = [{"Key": k, "Value": str(v)} for k, v in properties["Tags"].items()]
    sse = properties.get("SSESpecification")
    if sse:
        arguments["SSESpecification"] = {"Enabled": bool(sse.get("SSEEnabled"))}
    return TableSpec(logical_id=logical_id, name=name, create_arguments=arguments)
