"""The embedded local stack: moto in-process, running the real ASL, with Lambda tasks run by the handlers.

moto's backends, os.environ and the handlers' modules are process-wide. Several LocalStacks may run at once
(say a test suite's session stack and a module's fixture stack): they share moto's data, every running stack's
functions can be invoked through any of them, and the last one started owns the environment. Stop them in
reverse order of starting.

This module is the LocalStack itself: what it is asked, its start and stop, and what it offers callers. The
rest lives by concern:

    lambda_runtime      loading the functions (handlers and their modules) and invoking them
    running_stacks      the stacks running in the process and what they share (clock, issued keys)
    aws_patches         what the stacks patch in moto while any runs (Invoke, IAM, waits, EventBridge, ...)
    moto_targets        every moto internal those patches replace or read, and why
    event_delivery      EventBridge targets moto does not deliver, and the event log
    stack_startup       what start-up checks first, and the hooks on the functions' clients
    stack_resources     the template's state machines, tables, event buses and rules, created in moto
    stack_labellerr     the Labellerr stand-in, its credentials' secret and the parameters pointing at it
    stack_environment   os.environ for the functions while the stack runs, put back at stop
    stack_observations  the events on the buses, the faults injected, the functions' AWS calls
    stack_common        LocalStackError, the admin credentials, the project root, StackFacts
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Final

import boto3

from provisioner_local import (
    lambda_runtime,
    permissions_boundary,
    stack_labellerr,
    stack_resources,
    stack_startup,
)
from provisioner_local.aws_patches import SHADOWING_VARIABLES, MotoPatches
from provisioner_local.bucket_config_consistency import BucketConfigLag
from provisioner_local.eventbridge import EventLog
from provisioner_local.faults import FaultInjector
from provisioner_local.http_api import LocalHttpApi
from provisioner_local.iam_propagation import DelayModel, EmulatedClock, Propagation, parse_delay
from provisioner_local.iam_throttle import IamThrottle
from provisioner_local.lambda_runtime import FunctionModules, LoadedFunction
from provisioner_local.role_enforcement import RoleEnforcer
from provisioner_local.running_stacks import RUNNING
from provisioner_local.secret_deletion import SecretDeletionLag
from provisioner_local.stack_common import (
    DUMMY_ACCESS_KEY_ID,
    DUMMY_SECRET_ACCESS_KEY,
    LocalStackError,
    default_project_root,
)
from provisioner_local.stack_environment import ProcessEnvironment, warn_about_other_stacks
from provisioner_local.stack_labellerr import LabellerrHandoff
from provisioner_local.stack_observations import StackObservations
from provisioner_local.stepped_waits import SteppedWaits
from provisioner_local.template import ACCOUNT_ID, REGION, SamTemplate

logger = logging.getLogger("provisioner_local")

_REGION_NAME: Final = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")


class LocalStack(StackObservations):
    """moto server on 127.0.0.1 with the template's resources and in-process Lambda functions.

    From the template: every state machine; DynamoDB tables; EventBridge buses, with a rule per
    `EventBridgeRule` event of a state machine or function (events put on the bus start executions or invoke
    the function in-process); and every HTTP API, served on its own port of 127.0.0.1 (`api_url`).

    The state machines run on moto's ASL interpreter, made faster without changing what an execution does
    (provisioner_local.interpreter): each definition parsed once, each JSONPath text parsed once, and Lambda
    tasks dispatched to the handlers in-process (PROVISIONER_LOCAL_LAMBDA_OVER_HTTP=1: through moto's HTTP
    Invoke handler instead, as moto alone would).

    `faults` are `service:Operation` or `service:Operation:N` (botocore names: "iam:CreateAccessKey"); they
    fail those calls of the functions' own clients with error code InjectedFault (the first N calls).
    `iam_throttle` is `RATE[,BURST]` (or `mutating=...;read=...`): IAM answers Throttling past those rates
    (provisioner_local.iam_throttle); the attribute may be replaced or set to None while the stack runs.
    `labellerr=True` also starts the Labellerr stand-in (`self.labellerr`) on loopback, puts its credentials
    in a secret of the local Secrets Manager and sets LabellerrCredentialsSecretArn and LabellerrApiUrl to it,
    so the flow hands its keys to the stand-in; `labellerr:...` faults then go to the stand-in.
    `environment` is applied after the template's variables and wins over them. `api_port` is the first
    HTTP API's port (0: a free one); further APIs always get free ports. `region` (default us-east-1) is the
    region every resource is made in and the functions run in.

    Eventual consistency, each off unless asked, as a delay SPEC (`2`, `lognormal:median=M,p95=P`) on the
    emulated clock (`clock`): `propagation_delay` (IAM, provisioner_local.iam_propagation),
    `bucket_config_delay` (a bucket's CORS configuration, provisioner_local.bucket_config_consistency) and
    `secret_deletion_delay` (a force-deleted secret's name, provisioner_local.secret_deletion).
    `stepped_waits`: a Wait state parks until a test steps it (`waits`: provisioner_local.stepped_waits).
    """

    # moto's patches, installed by the first stack to start (running_stacks.RUNNING), undone by the last.
    _moto: ClassVar[MotoPatches] = MotoPatches()
    # Real time plus every wait the stacks shortened: one for the process (running_stacks).
    clock: ClassVar[EmulatedClock] = RUNNING.clock
    waits: ClassVar[SteppedWaits] = RUNNING.waits

    account_id: Final = ACCOUNT_ID

    def __init__(
        self,
        *,
        port: int = 0,
        faults: Sequence[str] = (),
        parameter_overrides: Mapping[str, str] | None = None,
        project_root: Path | None = None,
        template_path: Path | None = None,
        environment: Mapping[str, str] | None = None,
        enforce_iam: bool = True,
        enforce_roles: bool = True,
        fast_waits: bool = True,
        stepped_waits: bool = False,
        api_port: int = 0,
        propagation_delay: str | None = None,
        bucket_config_delay: str | None = None,
        secret_deletion_delay: str | None = None,
        iam_throttle: str | None = None,
        labellerr: bool = False,
        region: str | None = None,
    ) -> None:
        # Every resource of the stack, and the functions' AWS_REGION; the CLI passes the user's region.
        self.region = region or REGION
        if not _REGION_NAME.fullmatch(self.region):
            raise LocalStackError(
                f"region {self.region!r} is not a region name (like us-east-1 or eu-west-3)"
            )
        self.project_root = (project_root or default_project_root()).resolve()
        self.template_path = (template_path or self.project_root / "template.yaml").resolve()
        self.requested_port = port
        self.requested_api_port = api_port
        self.parameter_overrides = dict(parameter_overrides or {})
        self.environment_overrides = dict(environment or {})
        self.enforce_iam = enforce_iam
        # Each function's calls are authorized against its own role (role_enforcement), as on AWS.
        self.enforce_roles = enforce_roles
        self.fast_waits = fast_waits
        self.stepped_waits = stepped_waits

        # IAM's propagation delay for issued keys and attachments (iam_propagation); None: none.
        model = _delay("--propagation-delay", propagation_delay)
        self.propagation = None if model is None else Propagation(model)
        model = _delay("--bucket-config-delay", bucket_config_delay)
        self.bucket_config = None if model is None else BucketConfigLag(model, LocalStack.clock)
        model = _delay("--secret-deletion-delay", secret_deletion_delay)
        self.secret_deletion = None if model is None else SecretDeletionLag(model, LocalStack.clock)
        # IAM's per-account token buckets (iam_throttle); None: IAM never throttles, as in plain moto.
        try:
            self.iam_throttle = None if iam_throttle is None else IamThrottle.from_spec(iam_throttle)
        except ValueError as error:
            raise LocalStackError(f"--iam-throttle {error}") from None
        self._faults = FaultInjector()
        self._labellerr = LabellerrHandoff(enabled=labellerr, faults=())
        # Parse now: a typo in --fault should fail before anything starts.
        aws_faults, self._labellerr.faults = self._split_faults(faults)
        self._faults.set(aws_faults)
        stack_labellerr.check_faults(self._labellerr.faults)

        self.template: SamTemplate | None = None
        self.functions: dict[str, LoadedFunction] = {}
        self.state_machines: dict[str, str] = {}
        # Logical id -> table name / bus name; "Owner.EventId" -> rule ARN; API logical id -> its server.
        self.tables: dict[str, str] = {}
        self.event_buses: dict[str, str] = {}
        self.event_rules: dict[str, str] = {}
        self.http_apis: dict[str, LocalHttpApi] = {}
        self.port = 0
        self.endpoint_url = ""
        self.invocations: list[str] = []
        self.function_environment: dict[str, str] = {}

        self._server: Any = None
        self._environment = ProcessEnvironment()
        self._modules = FunctionModules()
        self._hooks = stack_startup.ClientHooks()
        self._event_log = EventLog()

    # -- public API

    @classmethod
    def current(cls) -> LocalStack | None:
        """The LocalStack started last of those running in this process, if any."""
        running = RUNNING.running()
        return running[-1] if running else None  # type: ignore[return-value]  # only LocalStacks run

    @property
    def roles(self) -> RoleEnforcer | None:
        """The functions' roles, checked on their calls (enforce_roles), once the stack runs."""
        return self._hooks.roles

    @property
    def state_machine_arn(self) -> str:
        """The template's state machine (the first one, in template order, if there are several)."""
        if not self.state_machines:
            raise LocalStackError("the local stack is not started or its template has no state machine")
        return next(iter(self.state_machines.values()))

    @property
    def api_urls(self) -> dict[str, str]:
        """HTTP API logical id -> its local base URL (no trailing slash)."""
        return {logical_id: api.url for logical_id, api in self.http_apis.items()}

    @property
    def api_url(self) -> str:
        """http://127.0.0.1:N of the template's HTTP API (the first one, in template order, if several)."""
        if not self.http_apis:
            raise LocalStackError("the local stack is not started or its template has no HTTP API")
        return next(iter(self.http_apis.values())).url

    @property
    def event_bus_name(self) -> str:
        """The template's event bus (the first one, if several); "default" when it declares none."""
        return next(iter(self.event_buses.values()), "default")

    def client(self, service_name: str, **kwargs: Any) -> Any:
        """An admin client: dummy credentials, so IAM policies never apply and faults never fire."""
        return boto3.client(
            service_name,  # type: ignore[call-overload]  # any service name is fine here
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=DUMMY_ACCESS_KEY_ID,
            aws_secret_access_key=DUMMY_SECRET_ACCESS_KEY,
            **kwargs,
        )

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> LocalStack:
        if RUNNING.is_running(self):
            raise LocalStackError("this LocalStack is already running")
        # A bad template or a taken port fails here, before anything process-wide changes.
        prepared = self._prepare()
        stack_startup.check_port_free(self.requested_port)
        if prepared.http_apis:
            stack_startup.check_port_free(self.requested_api_port)
        with RUNNING.lock:
            if RUNNING.add(self):
                try:
                    LocalStack._moto.install(RUNNING)
                except BaseException:
                    # Half-installed patches would be installed again, over themselves, by the next start.
                    RUNNING.remove(self)
                    LocalStack._moto.uninstall()
                    raise
        try:
            self._build(prepared)
        except BaseException:
            self.stop()
            raise
        return self

    def _prepare(self) -> stack_startup.Prepared:
        overrides = {**self.parameter_overrides, **self._labellerr.overrides}
        prepared = stack_startup.prepare(self.template_path, overrides, self.region)
        warn_about_other_stacks(self.region, prepared.environment, RUNNING.others(self))
        return prepared

    def _build(self, prepared: stack_startup.Prepared) -> None:
        """Everything the stack runs, on `prepared`; what it leaves half-made, stop() takes down."""
        self.template = prepared.template
        permissions_boundary.remember(prepared.template.managed_policies())
        self.function_environment = dict(prepared.environment)
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.requested_port, verbose=False)
        self._server.start()
        _, self.port = self._server.get_host_and_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        if self._labellerr.wanted(prepared.template, self.template_path):
            self._labellerr.start(self.endpoint_url, self.region, self.client("secretsmanager"))
            # The secret's ARN exists only once moto serves, so the template is resolved again with it.
            prepared = self._prepare()
            self.template = prepared.template
        # Handlers read their configuration at import, so the environment comes first; the interpreter's
        # own Lambda client targets localhost:$MOTO_PORT.
        self._environment.set(
            {
                "MOTO_PORT": str(self.port),
                "AWS_ENDPOINT_URL": self.endpoint_url,
                "AWS_REGION": self.region,
                "AWS_DEFAULT_REGION": self.region,
                "AWS_ACCESS_KEY_ID": DUMMY_ACCESS_KEY_ID,
                "AWS_SECRET_ACCESS_KEY": DUMMY_SECRET_ACCESS_KEY,
                **prepared.environment,
                **self.environment_overrides,
            },
            unset=SHADOWING_VARIABLES,
        )
        self._modules.add_layers_to_path(prepared.functions)
        self._modules.add_function_code_to_path(prepared.functions)
        self._hooks.attach(prepared.template, self._faults, enforce_roles=self.enforce_roles)
        others = RUNNING.others(self)
        for table in prepared.tables:
            self.tables[table.logical_id] = stack_resources.create_table(self.client, others, table)
        for bus in prepared.event_buses:
            self.event_buses[bus.logical_id] = stack_resources.create_event_bus(self.client, bus)
        for spec in prepared.functions:
            self.functions[spec.name] = self._modules.load(spec)
        for machine in prepared.state_machines:
            definition = prepared.definitions[machine.logical_id]
            self.state_machines[machine.logical_id] = stack_resources.create_state_machine(
                self.client, others, machine, definition
            )
        for rule in prepared.event_rules:
            self.event_rules[f"{rule.owner_logical_id}.{rule.event_id}"] = stack_resources.create_event_rule(
                self.client, rule
            )
        for index, api in enumerate(prepared.http_apis):
            port = self.requested_api_port if index == 0 else 0
            self.http_apis[api.logical_id] = LocalHttpApi(api, self._invoke_for_http, port=port).start()
        logger.info(
            "Local stack on %s: %d functions, state machines %s, tables %s, buses %s, APIs %s",
            *(self.endpoint_url, len(self.functions), ", ".join(self.state_machines) or "none"),
            ", ".join(self.tables.values()) or "none",
            ", ".join(self.event_buses.values()) or "none",
            ", ".join(f"{name} {url}" for name, url in self.api_urls.items()) or "none",
        )

    def stop(self) -> None:
        for api in self.http_apis.values():
            api.stop()
        self.http_apis.clear()
        self._labellerr.stop(self.client("secretsmanager") if self._server is not None else None)
        if self._server is not None:
            self._server.stop()
            self._server = None
        self._hooks.detach(last=not RUNNING.others(self))
        self._modules.restore()
        self._environment.restore()
        resources = (self.functions, self.state_machines, self.tables, self.event_buses, self.event_rules)
        for made in resources:
            made.clear()
        with RUNNING.lock:
            if RUNNING.remove(self):
                LocalStack._moto.uninstall()
                RUNNING.waits.release_all()

    # -- what the running stacks' patches call (running_stacks.RunningStack)

    def record_event(self, record: dict[str, Any]) -> None:
        self._event_log.append(record)

    def invoke(
        self, function_name: str, qualifier: str | None, body: Any, headers: Any, response_headers: Any
    ) -> bytes:
        """Lambda's Invoke of one of this stack's functions, as moto's Invoke handler asks it."""
        return lambda_runtime.invoke(
            self.functions,
            self.invocations,
            function_name,
            qualifier,
            body,
            headers,
            response_headers,
            region=self.region,
        )

    def _invoke_for_http(self, function_name: str, event: dict[str, Any]) -> tuple[bool, Any]:
        """The HTTP API's integration: a synchronous invocation, the function's result or its error type."""
        return lambda_runtime.invoke_for_http(self.functions, self.invocations, function_name, event)

    def settle(self) -> None:
        """Every modelled S3 and Secrets Manager delay over, as if the world had been left alone a while: what
        a test's setup does before the run it sets up (a customer's CORS rule is not seconds old). IAM's
        propagation has its own clock and is left as it is."""
        for lag in (self.bucket_config, self.secret_deletion):
            if lag is not None:
                lag.settle()


def _delay(option: str, spec: str | None) -> DelayModel | None:
    try:
        return None if spec is None else parse_delay(spec)
    except ValueError as error:
        raise LocalStackError(f"{option} {error}") from None


@contextmanager
def running(**kwargs: Any) -> Iterator[LocalStack]:
    """`with running(faults=[...]) as stack:` — a LocalStack for the length of a block."""
    stack = LocalStack(**kwargs)
    with stack:
        yield stack
