"""Read the SAM template the way the local stack needs it: functions, layers and state machines, resolved.

Only what the local stack uses is resolved, and lazily, so an intrinsic that cannot mean anything locally
(an import from another stack, say) fails only if something local depends on it.

SamTemplate is assembled from one reader per concern, each in its own module:

- cfn_yaml: the YAML file, CloudFormation's short tags (!Ref, !Sub, ...)
- document: Resources, Mappings, Conditions, and the Parameters with their overrides
- intrinsics: Ref, Fn::Sub, Fn::GetAtt, Fn::If and the other functions, pseudo parameters, Conditions
- resources: resources by type, their properties, what Ref and GetAtt of each give
- naming: the local account, region and stack; the ARNs and API ids of the local stack
- functions, state_machines, tables, events, http_apis: what the local stack creates, as specs
- roles: each function's execution role, as SAM builds it from its Policies
- values: AWS::NoValue and the string CloudFormation makes of a scalar; errors: TemplateError
"""

from __future__ import annotations

from provisioner_local.template.cfn_yaml import CloudFormationLoader, load_yaml
from provisioner_local.template.errors import TemplateError
from provisioner_local.template.events import EventBusSpec, EventReader, EventRuleSpec
from provisioner_local.template.functions import FunctionReader, FunctionSpec
from provisioner_local.template.http_apis import (
    DEFAULT_ROUTE,
    HTTP_METHODS,
    HttpApiReader,
    HttpApiSpec,
    HttpRouteSpec,
)
from provisioner_local.template.naming import (
    ACCOUNT_ID,
    IMPLICIT_HTTP_API,
    PARTITION,
    REGION,
    STACK_NAME,
    api_id,
    event_bus_arn,
    function_arn,
    state_machine_arn,
    table_arn,
)
from provisioner_local.template.roles import FunctionRole, RoleReader
from provisioner_local.template.state_machines import (
    StateMachineReader,
    StateMachineSpec,
    render_definition,
)
from provisioner_local.template.tables import TableReader, TableSpec
from provisioner_local.template.values import NO_VALUE

__all__ = [
    "ACCOUNT_ID",
    "DEFAULT_ROUTE",
    "HTTP_METHODS",
    "IMPLICIT_HTTP_API",
    "NO_VALUE",
    "PARTITION",
    "REGION",
    "STACK_NAME",
    "CloudFormationLoader",
    "EventBusSpec",
    "EventRuleSpec",
    "FunctionRole",
    "FunctionSpec",
    "HttpApiSpec",
    "HttpRouteSpec",
    "SamTemplate",
    "StateMachineSpec",
    "TableSpec",
    "TemplateError",
    "api_id",
    "event_bus_arn",
    "function_arn",
    "load_yaml",
    "render_definition",
    "state_machine_arn",
    "table_arn",
]


class SamTemplate(FunctionReader, RoleReader, StateMachineReader, TableReader, EventReader, HttpApiReader):
    """A SAM template with its intrinsic functions resolved for a local stack."""
