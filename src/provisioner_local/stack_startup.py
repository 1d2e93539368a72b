"""A local stack's start, in the order that matters: everything that can fail on the template or a port
checked first (prepare, check_port_free), before anything process-wide changes; then moto's server, the
Labellerr stand-in, the functions' environment and modules, and the template's resources (build)."""

from __future__ import annotations

import functools
import importlib
import logging
import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from provisioner_local import aws_patches, permissions_boundary, stack_labellerr, stack_resources
from provisioner_local.aws_patches import SHADOWING_VARIABLES
from provisioner_local.http_api import LocalHttpApi
from provisioner_local.lambda_runtime import check_function_modules
from provisioner_local.role_enforcement import RoleEnforcer
from provisioner_local.stack_common import DUMMY_ACCESS_KEY_ID, DUMMY_SECRET_ACCESS_KEY, LocalStackError
from provisioner_local.stack_environment import merged_function_environment, warn_about_other_stacks
from provisioner_local.template import (
    EventBusSpec,
    EventRuleSpec,
    FunctionSpec,
    HttpApiSpec,
    SamTemplate,
    StateMachineSpec,
    TableSpec,
)

if TYPE_CHECKING:
    from provisioner_local.emulator import LocalStack

logger = logging.getLogger("provisioner_local")


@dataclass(frozen=True)
class Prepared:
    """What start() checks before touching anything process-wide."""

    template: SamTemplate
    functions: list[FunctionSpec]
    state_machines: list[StateMachineSpec]
    definitions: dict[str, str]
    environment: dict[str, str]
    tables: list[TableSpec] = field(default_factory=list)
    event_buses: list[EventBusSpec] = field(default_factory=list)
    event_rules: list[EventRuleSpec] = field(default_factory=list)
    http_apis: list[HttpApiSpec] = field(default_factory=list)


def check_port_free(port: int) -> None:
    """moto's server thread dies on a taken port and its start() then waits forever: check first."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the server will: a port left in TIME_WAIT by a previous run is fine.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            raise LocalStackError(f"cannot listen on 127.0.0.1:{port}: {error.strerror}") from None


def prepare(stack: LocalStack) -> Prepared:
    template = SamTemplate.load(
        stack.template_path, {**stack.parameter_overrides, **stack._labellerr_overrides}, region=stack.region
    )
    specs = template.functions()
    check_function_modules(specs)
    machines = template.state_machines()
    buses = template.event_buses()
    rules = template.event_rules()
    known_buses = {"default", *(bus.name for bus in buses)}
    for rule in rules:
        if rule.event_bus_name not in known_buses:
            raise LocalStackError(
                f"{rule.owner_logical_id}.Events.{rule.event_id}: event bus {rule.event_bus_name!r} is "
                "neither the default bus nor one the template creates"
            )
    prepared = Prepared(
        template=template,
        functions=specs,
        state_machines=machines,
        definitions={machine.logical_id: machine.render_definition() for machine in machines},
        environment=merged_function_environment(specs),
        tables=template.tables(),
        event_buses=buses,
        event_rules=rules,
        http_apis=template.http_apis(),
    )
    warn_about_other_stacks(stack, prepared.environment)
    return prepared


def build(stack: LocalStack, prepared: Prepared) -> None:
    """Everything the stack runs, on `prepared`; what it leaves half-made on failure, stop() takes down."""
    specs, machines = prepared.functions, prepared.state_machines
    stack.template = prepared.template
    permissions_boundary.remember(prepared.template.managed_policies())
    stack.function_environment = dict(prepared.environment)

    from moto.server import ThreadedMotoServer

    stack._server = ThreadedMotoServer(ip_address="127.0.0.1", port=stack.requested_port, verbose=False)
    stack._server.start()
    _, stack.port = stack._server.get_host_and_port()
    stack.endpoint_url = f"http://127.0.0.1:{stack.port}"
    if stack_labellerr.wanted(stack, prepared.template):
        stack_labellerr.start(stack)
        # The secret's ARN exists only once moto serves, so the template is resolved again with it.
        prepared = prepare(stack)
        stack.template = prepared.template

    # Handlers read their configuration at import, so the environment comes first.
    stack._environment.set(
        {
            # The interpreter's own Lambda client targets localhost:$MOTO_PORT.
            "MOTO_PORT": str(stack.port),
            "AWS_ENDPOINT_URL": stack.endpoint_url,
            "AWS_REGION": stack.region,
            "AWS_DEFAULT_REGION": stack.region,
            "AWS_ACCESS_KEY_ID": DUMMY_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": DUMMY_SECRET_ACCESS_KEY,
            **prepared.environment,
            **stack.environment_overrides,
        },
        unset=SHADOWING_VARIABLES,
    )
    stack._modules.add_layers_to_path(specs)
    stack._modules.add_function_code_to_path(specs)
    _attach_fault_hook(stack, prepared.template)
    for table in prepared.tables:
        stack.tables[table.logical_id] = stack_resources.create_table(stack, table)
    for bus in prepared.event_buses:
        stack.event_buses[bus.logical_id] = stack_resources.create_event_bus(stack, bus)
    for spec in specs:
        stack.functions[spec.name] = stack._modules.load(spec)
    for machine in machines:
        stack.state_machines[machine.logical_id] = stack_resources.create_state_machine(
            stack, machine, prepared.definitions[machine.logical_id]
        )
    for rule in prepared.event_rules:
        stack.event_rules[f"{rule.owner_logical_id}.{rule.event_id}"] = stack_resources.create_event_rule(
            stack, rule
        )
    for index, api in enumerate(prepared.http_apis):
        port = stack.requested_api_port if index == 0 else 0
        stack.http_apis[api.logical_id] = LocalHttpApi(api, stack._invoke_for_http, port=port).start()
    logger.info(
        "Local stack on %s: %d functions, state machines %s, tables %s, buses %s, APIs %s",
        stack.endpoint_url,
        len(stack.functions),
        ", ".join(stack.state_machines) or "none",
        ", ".join(stack.tables.values()) or "none",
        ", ".join(stack.event_buses.values()) or "none",
        ", ".join(f"{name} {url}" for name, url in stack.api_urls.items()) or "none",
    )


def _attach_fault_hook(stack: LocalStack, template: SamTemplate) -> None:
    """The functions' clients come from provisioner_core.aws: the roles' check and the faults hook into them;
    stop() takes the hooks off again."""
    try:
        aws: Any = importlib.import_module("provisioner_core.aws")
    except ImportError:
        if stack._faults.rules:
            raise LocalStackError(
                "fault injection needs provisioner_core.aws on one of the template's layers"
            ) from None
        return
    if stack.enforce_roles:
        stack.roles = RoleEnforcer(template.function_roles())
        aws.SESSION_HOOKS.append(stack.roles.attach)
    aws.SESSION_HOOKS.append(stack._faults.attach)
    aws.reset_clients()
    # A step's own waits (for S3 to show a write) are shortened as Retry intervals are; stop() puts it back.
    aws.PAUSE = functools.partial(aws_patches.shortened_sleep, type(stack))
    stack._aws_module = aws
