"""The embedded local stack: moto in-process, running the real ASL, with Lambda tasks run by the handlers.

moto's backends, os.environ and the handlers' modules are process-wide. Several LocalStacks may run at once
(say a test suite's session stack and a module's fixture stack): they share moto's data, every running stack's
functions can be invoked through any of them, and the last one started owns the environment. Stop them in
reverse order of starting.

This module is the LocalStack itself: what it is asked, its start and stop, and what it offers callers. The
rest lives by concern:

    lambda_runtime      loading the functions (handlers and their modules) and invoking them
    aws_patches         what the stacks patch in moto while any runs (Invoke, IAM, waits, EventBridge, ...)
    event_delivery      EventBridge targets moto does not deliver, and the event log
    stack_startup       start-up in the order that matters: checks first, then moto, the functions, resources
    stack_resources     the template's state machines, tables, event buses and rules, created in moto
    stack_labellerr     the Labellerr stand-in, its credentials' secret and the parameters pointing at it
    stack_environment   os.environ for the functions while the stack runs, put back at stop
    stack_observations  the events on the buses, the faults injected, the functions' AWS calls
    stack_common        LocalStackError, the admin credentials, the project root
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Final

import boto3

from provisioner_local import aws_patches, lambda_runtime, stack_labellerr, stack_startup
from provisioner_local.aws_patches import (
    FAST_WAIT_SECONDS,
    LAMBDA_OVER_HTTP_VARIABLE,
    Patches,
)
from provisioner_local.bucket_config_consistency import BucketConfigLag
from provisioner_local.eventbridge import EventLog
from provisioner_local.faults import FaultInjector
from provisioner_local.http_api import LocalHttpApi
from provisioner_local.iam_propagation import DelayModel, EmulatedClock, Propagation, parse_delay
from provisioner_local.iam_throttle import IamThrottle
from provisioner_local.labellerr_standin import LabellerrStandIn
from provisioner_local.lambda_runtime import (
    FunctionModules,
    LambdaContext,
    LoadedFunction,
    lambda_error_payload,
    split_function_name,
)
from provisioner_local.role_enforcement import RoleEnforcer
from provisioner_local.secret_deletion import SecretDeletionLag
from provisioner_local.stack_common import (
    DUMMY_ACCESS_KEY_ID,
    DUMMY_SECRET_ACCESS_KEY,
    LocalStackError,
    default_project_root,
)
from provisioner_local.stack_environment import ProcessEnvironment
from provisioner_local.stack_observations import StackObservations
from provisioner_local.template import ACCOUNT_ID, REGION, SamTemplate, function_arn

# What other modules and the tests import from here, wherever it lives now.
__all__ = [
    "DUMMY_ACCESS_KEY_ID",
    "DUMMY_SECRET_ACCESS_KEY",
    "FAST_WAIT_SECONDS",
    "LAMBDA_OVER_HTTP_VARIABLE",
    "LambdaContext",
    "LoadedFunction",
    "LocalStack",
    "LocalStackError",
    "default_project_root",
    "lambda_error_payload",
    "running",
    "split_function_name",
]

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
    """

    # Running stacks, oldest first; the patches below look functions and ports up here.
    _running: ClassVar[list[LocalStack]] = []
    _lock: ClassVar[threading.RLock] = threading.RLock()
    # Installed by the first stack to start, removed when the last one stops.
    _global_patches: ClassVar[Patches] = Patches()
    _saved_moto_config: ClassVar[dict[str, Any]] = {}
    _saved_log_levels: ClassVar[dict[str, int]] = {}
    # Every access key moto issued in this process: a deleted key must be rejected, not waved through.
    _issued_keys: ClassVar[set[str]] = set()
    # Real time plus every wait the stacks shortened. One for the process, as moto's data is: a secret
    # deleted through one stack is still being deleted when another reads it.
    clock: ClassVar[EmulatedClock] = EmulatedClock()

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
        self.roles: RoleEnforcer | None = None
        self.fast_waits = fast_waits

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
        self.labellerr_enabled = labellerr
        self.labellerr: LabellerrStandIn | None = None
        self._labellerr_overrides: dict[str, str] = {}
        self._labellerr_secret_arn = ""  # nosec B105 - an ARN, empty until the stand-in starts
        # Parse now: a typo in --fault should fail before anything starts.
        aws_faults, self._labellerr_faults = self._split_faults(faults)
        self._faults.set(aws_faults)
        stack_labellerr.check_faults(self._labellerr_faults)

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
        self._aws_module: Any = None
        self._event_log = EventLog()

    # -- public API

    @classmethod
    def current(cls) -> LocalStack | None:
        """The LocalStack started last of those running in this process, if any."""
        with cls._lock:
            return cls._running[-1] if cls._running else None

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
        with LocalStack._lock:
            if self in LocalStack._running:
                raise LocalStackError("this LocalStack is already running")
        # A bad template or a taken port fails here, before anything process-wide changes.
        prepared = stack_startup.prepare(self)
        stack_startup.check_port_free(self.requested_port)
        if prepared.http_apis:
            stack_startup.check_port_free(self.requested_api_port)
        with LocalStack._lock:
            if not LocalStack._running:
                try:
                    aws_patches.install_globals(LocalStack)
                except BaseException:
                    # Half-installed patches would be installed again, over themselves, by the next start.
                    aws_patches.uninstall_globals(LocalStack)
                    raise
            LocalStack._running.append(self)
        try:
            stack_startup.build(self, prepared)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for api in self.http_apis.values():
            api.stop()
        self.http_apis.clear()
        stack_labellerr.stop(self)
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._aws_module is not None:
            hooks = self._aws_module.SESSION_HOOKS
            if self._faults.attach in hooks:
                hooks.remove(self._faults.attach)
            if self.roles is not None and self.roles.attach in hooks:
                hooks.remove(self.roles.attach)
            self._aws_module.reset_clients()
            if not self._others():
                self._aws_module.PAUSE = time.sleep
            self._aws_module = None
        self._modules.restore()
        self._environment.restore()
        self.functions.clear()
        self.state_machines.clear()
        self.tables.clear()
        self.event_buses.clear()
        self.event_rules.clear()
        with LocalStack._lock:
            if self in LocalStack._running:
                LocalStack._running.remove(self)
                if not LocalStack._running:
                    aws_patches.uninstall_globals(LocalStack)

    # -- what the patches call (provisioner_local.aws_patches, .event_delivery)

    def _others(self) -> list[LocalStack]:
        """The other stacks running in this process, oldest first."""
        with LocalStack._lock:
            return [stack for stack in LocalStack._running if stack is not self]

    def _invoke_for_http(self, function_name: str, event: dict[str, Any]) -> tuple[bool, Any]:
        """The HTTP API's integration: a synchronous invocation, the function's result or its error type."""
        return lambda_runtime.invoke_for_http(self.functions, self.invocations, function_name, event)

    @classmethod
    def _dispatch_invoke(
        cls, function_name: str, qualifier: str | None, body: Any, headers: Any, response_headers: Any
    ) -> bytes:
        from moto.awslambda.exceptions import UnknownFunctionException

        name, _ = split_function_name(function_name)
        with cls._lock:
            owner = next((stack for stack in reversed(cls._running) if name in stack.functions), None)
        if owner is None:
            raise UnknownFunctionException(function_arn(name))
        return owner._invoke(function_name, qualifier, body, headers, response_headers)

    def _invoke(
        self,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: Any,
    ) -> bytes:
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

    def settle(self) -> None:
        """Every modelled S3 and Secrets Manager delay over, as if the world had been left alone a while: what
        a test's setup does before the run it sets up (a customer's CORS rule is not seconds old). IAM's
        propagation has its own clock and is left as it is."""
        for lag in (self.bucket_config, self.secret_deletion):
            if lag is not None:
                lag.settle()

    @classmethod
    def _bucket_config(cls) -> BucketConfigLag | None:
        """The bucket configuration model of the oldest running stack that has one."""
        with cls._lock:
            return next((s.bucket_config for s in cls._running if s.bucket_config is not None), None)

    @classmethod
    def _secret_deletion(cls) -> SecretDeletionLag | None:
        """The secret deletion model of the oldest running stack that has one."""
        with cls._lock:
            return next((s.secret_deletion for s in cls._running if s.secret_deletion is not None), None)

    @classmethod
    def _propagation(cls) -> Propagation | None:
        """The propagation model of the oldest running stack that has one."""
        with cls._lock:
            return next((s.propagation for s in cls._running if s.propagation is not None), None)

    @classmethod
    def _iam_throttle_for(cls, host: str) -> IamThrottle | None:
        """The throttle of the running stack whose server a request with this Host header reached."""
        with cls._lock:
            return next(
                (
                    stack.iam_throttle
                    for stack in cls._running
                    if stack.iam_throttle is not None and stack.port and host.endswith(f":{stack.port}")
                ),
                None,
            )


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
