"""What a local stack's start checks before anything process-wide changes (prepare, check_port_free), and the
hooks it puts on the functions' clients (ClientHooks). LocalStack.start does the rest, in the order that
matters: moto's server, the Labellerr stand-in, the functions' environment and modules, the resources."""

from __future__ import annotations

import importlib
import logging
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provisioner_local.faults import FaultInjector
from provisioner_local.lambda_runtime import check_function_modules
from provisioner_local.lease_clock import LEASE_CLOCK
from provisioner_local.role_enforcement import RoleEnforcer
from provisioner_local.running_stacks import RUNNING
from provisioner_local.stack_common import LocalStackError
from provisioner_local.stack_environment import merged_function_environment
from provisioner_local.template import (
    EventBusSpec,
    EventRuleSpec,
    FunctionSpec,
    HttpApiSpec,
    SamTemplate,
    StateMachineSpec,
    TableSpec,
)

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


def prepare(template_path: Path, parameters: Mapping[str, str], region: str) -> Prepared:
    template = SamTemplate.load(template_path, parameters, region=region)
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
    return Prepared(
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


class ClientHooks:
    """The functions' clients come from provisioner_core.aws: a stack's role check and faults hook into
    them, and its waits are shortened as Retry intervals are; `detach` takes all that off again."""

    def __init__(self) -> None:
        self.roles: RoleEnforcer | None = None
        self._aws: Any = None
        self._faults: FaultInjector | None = None

    def attach(self, template: SamTemplate, faults: FaultInjector, *, enforce_roles: bool) -> None:
        try:
            aws: Any = importlib.import_module("provisioner_core.aws")
        except ImportError:
            if faults.rules:
                raise LocalStackError(
                    "fault injection needs provisioner_core.aws on one of the template's layers"
                ) from None
            return
        if enforce_roles:
            self.roles = RoleEnforcer(template.function_roles())
            aws.SESSION_HOOKS.append(self.roles.attach)
        aws.SESSION_HOOKS.append(faults.attach)
        aws.reset_clients()
        # A step's own waits (for S3 to show a write) are shortened as Retry intervals are.
        aws.PAUSE = RUNNING.shortened_sleep
        # So are its waits for a bucket's lease, and the lease's expiry counts on the same clock.
        LEASE_CLOCK.install()
        self._aws, self._faults = aws, faults

    def detach(self, *, last: bool) -> None:
        """`last`: no other stack runs, so the waits are real again."""
        if self._aws is None:
            return
        hooks = self._aws.SESSION_HOOKS
        for hook in (
            self._faults.attach if self._faults else None,
            self.roles.attach if self.roles else None,
        ):
            if hook is not None and hook in hooks:
                hooks.remove(hook)
        self._aws.reset_clients()
        if last:
            self._aws.PAUSE = time.sleep
            LEASE_CLOCK.uninstall()
        self._aws = None
