"""The embedded local stack: moto in-process, running the real ASL, with Lambda tasks run by the handlers.

moto's backends, os.environ and the handlers' modules are process-wide. Several LocalStacks may run at once
(say a test suite's session stack and a module's fixture stack): they share moto's data, every running stack's
functions can be invoked through any of them, and the last one started owns the environment. Stop them in
reverse order of starting.
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
import json
import logging
import os
import re
import socket
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType, SimpleNamespace, TracebackType
from typing import Any, ClassVar, Final

import boto3
from botocore.exceptions import ClientError

from provisioner_local import issued_keys, permissions_boundary
from provisioner_local.eventbridge import EventLog, InputPathError, log_entry, target_input
from provisioner_local.faults import FaultInjector, calling_function
from provisioner_local.http_api import LocalHttpApi
from provisioner_local.iam_propagation import Propagation, parse_delay
from provisioner_local.interpreter import (
    ClientCache,
    InProcessLambda,
    ProgramCache,
    cached_path_parser,
    fresh_result,
)
from provisioner_local.labellerr_standin import LabellerrStandIn, split_faults
from provisioner_local.template import (
    ACCOUNT_ID,
    REGION,
    EventBusSpec,
    EventRuleSpec,
    FunctionSpec,
    HttpApiSpec,
    SamTemplate,
    StateMachineSpec,
    TableSpec,
    function_arn,
)

logger = logging.getLogger("provisioner_local")

# Not a key moto's IAM ever issues, so requests signed with it are never checked against IAM policies.
DUMMY_ACCESS_KEY_ID: Final = "testing"
DUMMY_SECRET_ACCESS_KEY: Final = "testing"  # noqa: S105 - a placeholder moto accepts, not a secret

# Set to 1 to send the interpreter's Lambda tasks through moto's HTTP Invoke handler, as moto does.
LAMBDA_OVER_HTTP_VARIABLE: Final = "PROVISIONER_LOCAL_LAMBDA_OVER_HTTP"

# A Retry's IntervalSeconds or a Wait state still yields, but never for longer than this.
FAST_WAIT_SECONDS: Final = 0.01

_LABELLERR_PARAMETERS: Final = frozenset({"LabellerrCredentialsSecretArn", "LabellerrApiUrl"})
_CREDENTIAL_KEY = re.compile(r"Credential=([^/,\s]+)/")
# Set while moto serves a PutEvents request that came to a running stack's server: only those are logged.
_put_events_request = threading.local()
# Variables that would make the functions' clients sign or route differently from what the stack sets.
_SHADOWING_VARIABLES: Final = (
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
)


def default_project_root() -> Path:
    # src/provisioner_local/emulator.py -> the repository root.
    return Path(__file__).resolve().parents[2]


_DYNAMODB_LOCK = threading.RLock()


class LocalStackError(RuntimeError):
    """The local stack cannot start as asked."""


@dataclass
class LambdaContext:
    """What the Python runtime passes as `context`: the attributes Powertools and handlers read."""

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    timeout_seconds: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = ""
    identity: Any = None
    client_context: Any = None
    _deadline: float = 0.0

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"
        self.log_stream_name = self.log_stream_name or (
            f"{datetime.now(UTC):%Y/%m/%d}/[{self.function_version}]{uuid.uuid4().hex}"
        )

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass(frozen=True)
class LoadedFunction:
    spec: FunctionSpec
    module: ModuleType
    handler: Callable[[Any, Any], Any]
    # One execution environment: like a Lambda environment, the module runs one invocation at a time, so
    # module-level state (a Powertools resolver's current event, say) is never shared by two requests.
    lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)


def split_function_name(name: str) -> tuple[str, str | None]:
    """(name, qualifier) from a bare name, `name:qualifier`, or a (partial or full) function ARN."""
    if name.startswith("arn:"):
        parts = name.split(":")
        # arn:aws:lambda:region:account:function:name[:qualifier]
        if len(parts) < 7 or parts[5] != "function":
            return name, None
        return parts[6], parts[7] if len(parts) > 7 else None
    parts = name.split(":")
    # account:function:name[:qualifier] (a partial ARN) or name[:qualifier]
    if len(parts) >= 3 and parts[1] == "function":
        return parts[2], parts[3] if len(parts) > 3 else None
    return parts[0], parts[1] if len(parts) > 1 else None


def lambda_error_payload(
    error: BaseException, error_type: str | None = None, *, skip_frames: int = 0
) -> dict[str, Any]:
    """The body the Python runtime returns for an unhandled exception."""
    traceback_ = error.__traceback__
    # The runtime shows the handler's frames, not its own: skip the dispatcher's.
    for _ in range(skip_frames):
        if traceback_ is not None and traceback_.tb_next is not None:
            traceback_ = traceback_.tb_next
    return {
        "errorMessage": str(error),
        "errorType": error_type or type(error).__name__,
        "requestId": "",
        "stackTrace": traceback.format_tb(traceback_),
    }


@dataclass(frozen=True)
class _Prepared:
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


def _check_port_free(port: int) -> None:
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


class _Patches:
    """setattr that remembers, so stop() can put moto back the way it was."""

    def __init__(self) -> None:
        self._undo: list[tuple[Any, str, Any]] = []

    def set(self, target: Any, name: str, value: Any) -> None:
        self._undo.append((target, name, getattr(target, name)))
        setattr(target, name, value)

    def undo(self) -> None:
        while self._undo:
            target, name, original = self._undo.pop()
            setattr(target, name, original)


class LocalStack:
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
    `labellerr=True` also starts the Labellerr stand-in (`self.labellerr`) on loopback, puts its credentials
    in a secret of the local Secrets Manager and sets LabellerrCredentialsSecretArn and LabellerrApiUrl to it,
    so the flow hands its keys to the stand-in; `labellerr:...` faults then go to the stand-in.
    `environment` is applied after the template's variables and wins over them. `api_port` is the first
    HTTP API's port (0: a free one); further APIs always get free ports.
    """

    # Running stacks, oldest first; the patches below look functions and ports up here.
    _running: ClassVar[list[LocalStack]] = []
    _lock: ClassVar[threading.RLock] = threading.RLock()
    # Installed by the first stack to start, removed when the last one stops.
    _global_patches: ClassVar[_Patches] = _Patches()
    _saved_moto_config: ClassVar[dict[str, Any]] = {}
    _saved_log_levels: ClassVar[dict[str, int]] = {}
    # Every access key moto issued in this process: a deleted key must be rejected, not waved through.
    _issued_keys: ClassVar[set[str]] = set()

    region: Final = REGION
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
        fast_waits: bool = True,
        api_port: int = 0,
        propagation_delay: str | None = None,
        labellerr: bool = False,
    ) -> None:
        self.project_root = (project_root or default_project_root()).resolve()
        self.template_path = (template_path or self.project_root / "template.yaml").resolve()
        self.requested_port = port
        self.requested_api_port = api_port
        self.parameter_overrides = dict(parameter_overrides or {})
        self.environment_overrides = dict(environment or {})
        self.enforce_iam = enforce_iam
        self.fast_waits = fast_waits

        # IAM's propagation delay for issued keys and attachments (iam_propagation); None: none.
        try:
            model = None if propagation_delay is None else parse_delay(propagation_delay)
        except ValueError as error:
            raise LocalStackError(f"--propagation-delay {error}") from None
        self.propagation = None if model is None else Propagation(model)
        self._faults = FaultInjector()
        self.labellerr_enabled = labellerr
        self.labellerr: LabellerrStandIn | None = None
        self._labellerr_overrides: dict[str, str] = {}
        self._labellerr_secret_arn = ""  # nosec B105 - an ARN, empty until the stand-in starts
        # Parse now: a typo in --fault should fail before anything starts.
        aws_faults, self._labellerr_faults = self._split_faults(faults)
        self._faults.set(aws_faults)
        if self._labellerr_faults:
            # The stand-in parses its own specs; a throwaway one checks them without serving.
            LabellerrStandIn("http://127.0.0.1:1", faults=self._labellerr_faults)

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
        self._saved_env: dict[str, str | None] = {}
        self._added_sys_path: list[str] = []
        self._module_names: list[str] = []
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

    def events(
        self, bus_name: str | None = None, detail_type: str | None = None, source: str | None = None
    ) -> list[dict[str, Any]]:
        """Every event put on any bus since this stack started, oldest first, optionally filtered.

        Each is a dict with `id`, `bus` (name), `source`, `detail-type`, `detail` (parsed JSON), `time`
        (ISO 8601), `resources`, `account` and `region`. Events put through any running stack's server count
        (they share moto); calls made under `mock_aws` in this process do not.
        """
        return self._event_log.select(bus_name=bus_name, detail_type=detail_type, source=source)

    def wait_for_event(
        self,
        detail_type: str | None = None,
        *,
        bus_name: str | None = None,
        source: str | None = None,
        where: Callable[[dict[str, Any]], bool] | None = None,
        timeout: float = 10.0,
    ) -> dict[str, Any]:
        """The first logged event, already there or yet to come, that matches; LocalStackError on timeout."""

        def matches(event: dict[str, Any]) -> bool:
            return (
                (bus_name is None or event["bus"] == bus_name)
                and (detail_type is None or event["detail-type"] == detail_type)
                and (source is None or event["source"] == source)
                and (where is None or where(event))
            )

        event = self._event_log.wait_for(matches, timeout)
        if event is None:
            raise LocalStackError(
                f"no event (detail-type {detail_type!r}, bus {bus_name!r}, source {source!r}) "
                f"within {timeout:g} s"
            )
        return event

    def clear_events(self) -> None:
        self._event_log.clear()

    @property
    def injected_faults(self) -> list[str]:
        """`service:Operation` (`labellerr:operation` for the stand-in) of every call failed by a fault since
        the faults were last set."""
        fired = list(self._faults.fired)
        return fired + (self.labellerr.injected_faults if self.labellerr is not None else [])

    @property
    def faults(self) -> tuple[str, ...]:
        aws = tuple(str(rule) for rule in self._faults.rules)
        return aws + (self.labellerr.faults if self.labellerr is not None else tuple(self._labellerr_faults))

    def set_faults(self, faults: Sequence[str]) -> None:
        aws_faults, labellerr_faults = self._split_faults(faults)
        if self.labellerr is not None:
            self.labellerr.set_faults(labellerr_faults)
        self._labellerr_faults = labellerr_faults
        self._faults.set(aws_faults)

    def _split_faults(self, faults: Sequence[str]) -> tuple[list[str], list[str]]:
        aws_faults, labellerr_faults = split_faults(faults)
        if labellerr_faults and not self.labellerr_enabled:
            raise LocalStackError(
                f"{', '.join(labellerr_faults)}: Labellerr faults need the stand-in (labellerr=True; the CLI "
                "starts it unless --no-labellerr)"
            )
        return aws_faults, labellerr_faults

    @property
    def function_calls(self) -> list[tuple[str | None, str, str]]:
        """(function, service, operation) of each AWS call the functions made since faults were last set."""
        return self._faults.calls
        if self._aws_module is not None:
            self._aws_module.reset_clients()

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
        prepared = self._prepare()
        _check_port_free(self.requested_port)
        if prepared.http_apis:
            _check_port_free(self.requested_api_port)
        with LocalStack._lock:
            if not LocalStack._running:
                try:
                    LocalStack._install_globals()
                except BaseException:
                    # Half-installed patches would be installed again, over themselves, by the next start.
                    LocalStack._uninstall_globals()
                    raise
            LocalStack._running.append(self)
        try:
            self._start(prepared)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for api in self.http_apis.values():
            api.stop()
        self.http_apis.clear()
        self._stop_labellerr()
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._aws_module is not None:
            hooks = self._aws_module.SESSION_HOOKS
            if self._faults.attach in hooks:
                hooks.remove(self._faults.attach)
            self._aws_module.reset_clients()
            self._aws_module = None
        for name in self._module_names:
            sys.modules.pop(name, None)
        self._module_names.clear()
        for entry in self._added_sys_path:
            if entry in sys.path:
                sys.path.remove(entry)
        self._added_sys_path.clear()
        self._restore_environment()
        self.functions.clear()
        self.state_machines.clear()
        self.tables.clear()
        self.event_buses.clear()
        self.event_rules.clear()
        with LocalStack._lock:
            if self in LocalStack._running:
                LocalStack._running.remove(self)
                if not LocalStack._running:
                    LocalStack._uninstall_globals()

    # -- start-up, in the order that matters

    def _prepare(self) -> _Prepared:
        template = SamTemplate.load(
            self.template_path, {**self.parameter_overrides, **self._labellerr_overrides}
        )
        specs = template.functions()
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
        prepared = _Prepared(
            template=template,
            functions=specs,
            state_machines=machines,
            definitions={machine.logical_id: machine.render_definition() for machine in machines},
            environment=self._merged_function_environment(specs),
            tables=template.tables(),
            event_buses=buses,
            event_rules=rules,
            http_apis=template.http_apis(),
        )
        self._warn_about_other_stacks(prepared.environment)
        return prepared

    def _start(self, prepared: _Prepared) -> None:
        specs, machines = prepared.functions, prepared.state_machines
        self.template = prepared.template
        permissions_boundary.remember(prepared.template.managed_policies())
        self.function_environment = dict(prepared.environment)

        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.requested_port, verbose=False)
        self._server.start()
        _, self.port = self._server.get_host_and_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        if self.labellerr_enabled and set(prepared.template.parameters) >= _LABELLERR_PARAMETERS:
            prepared = self._start_labellerr()
        elif self.labellerr_enabled:
            # A template without the hand-off (a test fixture): nothing to configure with a stand-in.
            logger.info("%s declares no Labellerr parameters: no Labellerr stand-in", self.template_path)

        # Handlers read their configuration at import, so the environment comes first.
        self._set_environment(
            {
                # The interpreter's own Lambda client targets localhost:$MOTO_PORT.
                "MOTO_PORT": str(self.port),
                "AWS_ENDPOINT_URL": self.endpoint_url,
                "AWS_REGION": self.region,
                "AWS_DEFAULT_REGION": self.region,
                "AWS_ACCESS_KEY_ID": DUMMY_ACCESS_KEY_ID,
                "AWS_SECRET_ACCESS_KEY": DUMMY_SECRET_ACCESS_KEY,
                **prepared.environment,
                **self.environment_overrides,
            },
            unset=_SHADOWING_VARIABLES,
        )
        self._add_layers_to_path(specs)
        self._attach_fault_hook()
        for table in prepared.tables:
            self.tables[table.logical_id] = self._create_table(table)
        for bus in prepared.event_buses:
            self.event_buses[bus.logical_id] = self._create_event_bus(bus)
        for spec in specs:
            self.functions[spec.name] = self._load_function(spec)
        for machine in machines:
            self.state_machines[machine.logical_id] = self._create_state_machine(
                machine, prepared.definitions[machine.logical_id]
            )
        for rule in prepared.event_rules:
            self.event_rules[f"{rule.owner_logical_id}.{rule.event_id}"] = self._create_event_rule(rule)
        for index, api in enumerate(prepared.http_apis):
            port = self.requested_api_port if index == 0 else 0
            self.http_apis[api.logical_id] = LocalHttpApi(api, self._invoke_for_http, port=port).start()
        logger.info(
            "Local stack on %s: %d functions, state machines %s, tables %s, buses %s, APIs %s",
            self.endpoint_url,
            len(self.functions),
            ", ".join(self.state_machines) or "none",
            ", ".join(self.tables.values()) or "none",
            ", ".join(self.event_buses.values()) or "none",
            ", ".join(f"{name} {url}" for name, url in self.api_urls.items()) or "none",
        )

    def _start_labellerr(self) -> _Prepared:
        """The stand-in, its credentials in a secret of this stack, and the template resolved with both.

        The secret's ARN exists only once moto serves, so the template is resolved again with it.
        """
        self.labellerr = LabellerrStandIn(
            self.endpoint_url, region=self.region, faults=self._labellerr_faults
        ).start()
        # Outside SecretNamePrefix, as a deployment's must be: only the Labellerr callers may read it.
        name = f"provisioner-local/labellerr-credentials-{uuid.uuid4().hex[:8]}"
        self._labellerr_secret_arn = self.client("secretsmanager").create_secret(
            Name=name, SecretString=self.labellerr.secret_string
        )["ARN"]
        self._labellerr_overrides = {
            "LabellerrCredentialsSecretArn": self._labellerr_secret_arn,
            "LabellerrApiUrl": self.labellerr.url,
        }
        return self._prepare()

    def _stop_labellerr(self) -> None:
        if self._labellerr_secret_arn and self._server is not None:
            try:
                self.client("secretsmanager").delete_secret(
                    SecretId=self._labellerr_secret_arn, ForceDeleteWithoutRecovery=True
                )
            except ClientError:
                logger.warning("Could not delete the local Labellerr credentials secret")
        self._labellerr_secret_arn = ""  # nosec B105 - an ARN, empty until the stand-in starts
        self._labellerr_overrides = {}
        if self.labellerr is not None:
            self.labellerr.stop()
            self.labellerr = None

    def _warn_about_other_stacks(self, environment: Mapping[str, str]) -> None:
        with LocalStack._lock:
            others = [stack for stack in LocalStack._running if stack is not self]
        for other in others:
            for key, value in environment.items():
                theirs = other.function_environment.get(key)
                if theirs is not None and theirs != value:
                    logger.warning(
                        "%s=%r replaces %r of the stack already running (%s) while this one runs",
                        key,
                        value,
                        theirs,
                        other.template_path,
                    )

    @staticmethod
    def _merged_function_environment(specs: Sequence[FunctionSpec]) -> dict[str, str]:
        merged: dict[str, str] = {}
        owner: dict[str, str] = {}
        for spec in specs:
            for key, value in spec.environment.items():
                if key in merged and merged[key] != value:
                    raise LocalStackError(
                        f"environment variable {key} is {merged[key]!r} in {owner[key]} but {value!r} in "
                        f"{spec.logical_id}; in-process all functions share one environment"
                    )
                merged[key] = value
                owner.setdefault(key, spec.logical_id)
        return merged

    @classmethod
    def _install_globals(cls) -> None:
        from moto.core.config import default_user_config

        for section, value in (
            ("stepfunctions", {"execute_state_machine": True}),
            # LambdaSimpleBackend is the backend whose invoke() is replaced below.
            ("lambda", {"use_docker": False}),
        ):
            cls._saved_moto_config[section] = default_user_config.get(section)
            default_user_config[section] = value  # type: ignore[literal-required]  # keys from the loop
        # The interpreter logs a long traceback for every Fail state; werkzeug one line per request.
        for name, level in (("moto.stepfunctions.parser", logging.CRITICAL), ("werkzeug", logging.WARNING)):
            log = logging.getLogger(name)
            cls._saved_log_levels[name] = log.level
            # Unset only: a level somebody chose (-v) stays. werkzeug would make NOTSET INFO.
            if log.level == logging.NOTSET:
                log.setLevel(level)
        cls._install_patches()

    @classmethod
    def _uninstall_globals(cls) -> None:
        cls._global_patches.undo()
        from moto.core.config import default_user_config

        for section, value in cls._saved_moto_config.items():
            if value is None:
                default_user_config.pop(section, None)  # type: ignore[misc]  # TypedDict key
            else:
                default_user_config[section] = value  # type: ignore[literal-required]  # restoring
        cls._saved_moto_config.clear()
        for name, level in cls._saved_log_levels.items():
            logging.getLogger(name).setLevel(level)
        cls._saved_log_levels.clear()

    @classmethod
    def _install_patches(cls) -> None:
        from moto.awslambda_simple.models import LambdaSimpleBackend
        from moto.core.authorization import ActionAuthenticatorMixin
        from moto.events.models import EventsBackend, Rule
        from moto.events.responses import EventsHandler
        from moto.iam.models import IAMBackend
        from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
        from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import (
            WaitFunction,
        )

        patches = cls._global_patches
        from provisioner_local.s3_cors import install as install_s3_cors

        install_s3_cors(patches)
        from provisioner_local import bucket_policy_enforcement, requester_pays

        bucket_policy_enforcement.install(patches)
        permissions_boundary.install(patches)
        requester_pays.install(patches)

        def invoke(
            backend: Any,
            function_name: str,
            qualifier: str | None,
            body: Any,
            headers: Any,
            response_headers: Any,
        ) -> bytes:
            return cls._dispatch_invoke(function_name, qualifier, body, headers, response_headers)

        patches.set(LambdaSimpleBackend, "invoke", invoke)

        def authenticate_and_authorize(response: Any, iam_request_cls: type, resource: str = "*") -> None:
            cls._authorize(response, iam_request_cls, resource)

        patches.set(
            ActionAuthenticatorMixin, "_authenticate_and_authorize_action", authenticate_and_authorize
        )

        original_create_access_key = IAMBackend.create_access_key
        original_create_temp_access_key = IAMBackend.create_temp_access_key

        def create_access_key(backend: Any, *args: Any, **kwargs: Any) -> Any:
            key = original_create_access_key(backend, *args, **kwargs)
            cls._issued_keys.add(key.access_key_id)
            propagation = cls._propagation()
            if propagation is not None:
                propagation.key_created(key.access_key_id)
            return key

        def create_temp_access_key(backend: Any, *args: Any, **kwargs: Any) -> Any:
            key = original_create_temp_access_key(backend, *args, **kwargs)
            cls._issued_keys.add(key.access_key_id)
            return key

        original_attach_user_policy = IAMBackend.attach_user_policy

        def attach_user_policy(backend: Any, policy_arn: str, user_name: str) -> None:
            original_attach_user_policy(backend, policy_arn, user_name)
            propagation = cls._propagation()
            if propagation is not None:
                propagation.policy_attached(user_name, policy_arn)

        patches.set(IAMBackend, "attach_user_policy", attach_user_policy)
        patches.set(IAMBackend, "create_access_key", create_access_key)
        patches.set(IAMBackend, "create_temp_access_key", create_temp_access_key)

        def fast() -> bool:
            with cls._lock:
                return any(stack.fast_waits for stack in cls._running)

        def sleep(seconds: float) -> None:
            if not fast():
                time.sleep(seconds)
                return
            time.sleep(min(seconds, FAST_WAIT_SECONDS))
            # The emulated clock moves on by the wait that was skipped, as time would in AWS.
            propagation = cls._propagation()
            if propagation is not None:
                propagation.clock.skip(seconds - FAST_WAIT_SECONDS)

        patches.set(retrier_decl, "time", SimpleNamespace(sleep=sleep))

        original_wait_interval = WaitFunction._wait_interval

        def wait_interval(wait: Any, env: Any, wait_seconds: int) -> None:
            if not fast():
                original_wait_interval(wait, env, wait_seconds)
            elif wait_seconds > 0:
                env.program_state_event.wait(min(wait_seconds, FAST_WAIT_SECONDS))
                propagation = cls._propagation()
                if propagation is not None:
                    propagation.clock.skip(wait_seconds - FAST_WAIT_SECONDS)

        patches.set(WaitFunction, "_wait_interval", wait_interval)

        # EventBridge: state machine and Lambda targets (moto raises NotImplementedError for both).
        original_send_to_targets = Rule.send_to_targets

        def send_to_targets(rule: Any, event: Any, transform_input: bool = True) -> None:
            cls._send_to_targets(rule, event, transform_input, original_send_to_targets)

        patches.set(Rule, "send_to_targets", send_to_targets)

        # EventBridge: the event log, for PutEvents requests that reach a running stack's server.
        original_backend_put_events = EventsBackend.put_events
        original_handler_put_events = EventsHandler.put_events

        def backend_put_events(backend: Any, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
            entries: list[dict[str, Any]] = original_backend_put_events(backend, events)
            if getattr(_put_events_request, "logged", False):
                cls._log_events(backend, events, entries)
            return entries

        def handler_put_events(handler: Any) -> Any:
            previous = getattr(_put_events_request, "logged", False)
            _put_events_request.logged = cls._is_stack_host(str(handler.headers.get("Host") or ""))
            try:
                return original_handler_put_events(handler)
            finally:
                _put_events_request.logged = previous

        patches.set(EventsBackend, "put_events", backend_put_events)
        patches.set(EventsHandler, "put_events", handler_put_events)

        # DynamoDB: moto checks a ConditionExpression and writes without a lock, so two threads of the
        # server could both win one conditional write. DynamoDB makes each write atomic; so must we, or
        # the registry's claims and the bucket leases would prove nothing locally.
        from moto.dynamodb.models import DynamoDBBackend

        for name in (
            "put_item",
            "update_item",
            "delete_item",
            "transact_write_items",
            "get_item",
            "query",
            "scan",
        ):
            original = getattr(DynamoDBBackend, name)

            def atomic(backend: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
                with _DYNAMODB_LOCK:
                    return _original(backend, *args, **kwargs)

            patches.set(DynamoDBBackend, name, atomic)

        cls._install_interpreter_patches(patches)

    @classmethod
    def _install_interpreter_patches(cls, patches: _Patches) -> None:
        """Faster ASL executions, the same executions: see provisioner_local.interpreter."""
        from moto.core.models import botocore_stubber
        from moto.settings import moto_server_port

        # The parser's imports reach moto.ec2, which makes a boto3 Session at import: without the variables
        # a stack unsets (AWS_PROFILE naming a profile this machine lacks would fail it).
        with _environment_without(_SHADOWING_VARIABLES):
            from moto.stepfunctions.parser.asl.component.common.path import result_path
            from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
            from moto.stepfunctions.parser.asl.component.state.state_pass.result import Result
            from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
            from moto.stepfunctions.parser.asl.utils import json_path
            from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

        # Parse each definition once, not for every execution (50-100 ms each for the onboarding machine):
        # Step Functions does not re-parse per execution either, and a program's components keep nothing
        # of an execution. Looked up at call time, so a wrapper of the parser (the benchmark's) still runs.
        programs = ProgramCache(lambda definition: AmazonStateLanguageParser.parse(definition)[0])

        def evaluation_entrypoint(worker: Any) -> Any:
            return programs.get(worker._evaluation_details.state_machine_details.definition)

        patches.set(ExecutionWorker, "_get_evaluation_entrypoint", evaluation_entrypoint)
        # A shared program's Pass `Result` literal must not be handed to an execution to change.
        patches.set(Result, "_eval_body", fresh_result)

        # Parse each JSONPath text once (about 0.5 ms a parse, some 40 per onboarding), not at every use.
        patches.set(json_path, "parse", cached_path_parser(json_path.parse))
        patches.set(result_path, "parse", cached_path_parser(result_path.parse))

        # Lambda tasks: the stack's dispatch called directly instead of a new boto3 client per task and an
        # HTTP request to moto's Invoke handler, which only called that dispatch (5-10 ms a task).
        # PROVISIONER_LOCAL_LAMBDA_OVER_HTTP=1 keeps the request, through one reused client.
        original_client_for = lambda_eval_utils.boto_client_for
        in_process = InProcessLambda(cls._dispatch_invoke)
        clients = ClientCache(original_client_for)

        def interpreter_client(region: str, service: str, state_credentials: Any = None) -> Any:
            if botocore_stubber.enabled:
                # Under mock_aws moto answers in-process already; leave that path as moto has it.
                return original_client_for(
                    region=region, service=service, state_credentials=state_credentials
                )
            if service == "lambda" and os.environ.get(LAMBDA_OVER_HTTP_VARIABLE, "") in ("", "0"):
                return in_process
            endpoint = f"http://localhost:{moto_server_port()}"
            return clients.get(region, service, state_credentials, endpoint)

        patches.set(lambda_eval_utils, "boto_client_for", interpreter_client)

    def _set_environment(self, values: Mapping[str, str], unset: Sequence[str] = ()) -> None:
        for key in (*values, *unset):
            if key not in self._saved_env:
                self._saved_env[key] = os.environ.get(key)
        for key in unset:
            os.environ.pop(key, None)
        os.environ.update(values)

    def _restore_environment(self) -> None:
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env.clear()

    def _add_layers_to_path(self, specs: Sequence[FunctionSpec]) -> None:
        for spec in specs:
            for layer in spec.layer_dirs:
                # A built Python layer keeps its packages under python/; the source layout at the top.
                for directory in (layer / "python", layer):
                    entry = str(directory)
                    if directory.is_dir() and entry not in sys.path and entry not in self._added_sys_path:
                        sys.path.insert(0, entry)
                        self._added_sys_path.append(entry)
            for arn in spec.external_layers:
                logger.warning("%s: layer %s is not local; its packages must be installed", spec.name, arn)

    def _attach_fault_hook(self) -> None:
        try:
            aws = importlib.import_module("provisioner_core.aws")
        except ImportError:
            if self._faults.rules:
                raise LocalStackError(
                    "fault injection needs provisioner_core.aws on one of the template's layers"
                ) from None
            return
        aws.SESSION_HOOKS.append(self._faults.attach)
        aws.reset_clients()
        self._aws_module = aws

    def _load_function(self, spec: FunctionSpec) -> LoadedFunction:
        # Every function's module is called `app`: a unique name keeps them apart in sys.modules.
        safe = re.sub(r"\W", "_", f"{spec.code_uri.name}_{spec.handler_module}")
        module_name = f"labellerr_fn_{safe}"
        module = sys.modules.get(module_name)
        if module is None or getattr(module, "__file__", None) != str(spec.handler_path):
            module_spec = importlib.util.spec_from_file_location(module_name, spec.handler_path)
            if module_spec is None or module_spec.loader is None:
                raise LocalStackError(f"{spec.name}: cannot import {spec.handler_path}")
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[module_name] = module
            self._module_names.append(module_name)
            try:
                module_spec.loader.exec_module(module)
            except Exception as error:
                raise LocalStackError(
                    f"{spec.name}: importing {spec.handler_path} failed: {type(error).__name__}: {error}"
                ) from error
        handler = getattr(module, spec.handler_function, None)
        if not callable(handler):
            raise LocalStackError(f"{spec.name}: {spec.handler_path} has no function {spec.handler_function}")
        return LoadedFunction(spec=spec, module=module, handler=handler)

    def _create_state_machine(self, machine: StateMachineSpec, definition: str) -> str:
        sfn = self.client("stepfunctions")
        arn = str(
            sfn.create_state_machine(name=machine.name, definition=definition, roleArn=machine.role_arn)[
                "stateMachineArn"
            ]
        )
        # moto's data outlives a stack, and its CreateStateMachine returns a machine of that name as it is:
        # one made by an earlier stack of this process from another template would run here instead of
        # this template's. Like a deployment, this stack puts its own definition in place.
        current = sfn.describe_state_machine(stateMachineArn=arn)
        if current["definition"] != definition or current["roleArn"] != machine.role_arn:
            with LocalStack._lock:
                owners = [
                    stack.template_path
                    for stack in LocalStack._running
                    if stack is not self and arn in stack.state_machines.values()
                ]
            if owners:
                logger.warning(
                    "%s: state machine %s of the stack running %s now has this template's definition",
                    machine.logical_id,
                    machine.name,
                    ", ".join(str(owner) for owner in owners),
                )
            sfn.update_state_machine(stateMachineArn=arn, definition=definition, roleArn=machine.role_arn)
        return arn

    def _create_table(self, table: TableSpec) -> str:
        dynamodb = self.client("dynamodb")
        kept = False
        try:
            dynamodb.create_table(**table.create_arguments)
        except ClientError as error:
            if error.response["Error"]["Code"] != "ResourceInUseException":
                raise LocalStackError(
                    f"{table.logical_id}: cannot create table {table.name}: {error}"
                ) from error
            # moto's data outlives a stack: another stack (or an earlier one) of this process made it.
            kept = self._keep_or_replace_table(dynamodb, table)
        try:
            if table.ttl_attribute is not None:
                dynamodb.update_time_to_live(
                    TableName=table.name,
                    TimeToLiveSpecification={"AttributeName": table.ttl_attribute, "Enabled": True},
                )
            if table.point_in_time_recovery:
                dynamodb.update_continuous_backups(
                    TableName=table.name,
                    PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
                )
        except ClientError as error:
            # A kept table may have TTL enabled already (ValidationException): nothing to change then.
            if not (kept and error.response["Error"]["Code"] == "ValidationException"):
                raise LocalStackError(
                    f"{table.logical_id}: cannot configure table {table.name}: {error}"
                ) from error
        return table.name

    def _keep_or_replace_table(self, dynamodb: Any, table: TableSpec) -> bool:
        """A table of this name exists: kept when its keys and indexes are the template's, or while another
        running stack uses it; replaced (its items dropped) when an earlier stack made it differently, as a
        deployment replaces a table whose keys change. True when kept."""
        existing = dynamodb.describe_table(TableName=table.name)["Table"]
        if _table_shape(existing) == _table_shape(table.create_arguments):
            logger.info("%s: table %s already exists; kept as it is", table.logical_id, table.name)
            return True
        with LocalStack._lock:
            users = [
                stack.template_path
                for stack in LocalStack._running
                if stack is not self and table.name in stack.tables.values()
            ]
        if users:
            logger.warning(
                "%s: table %s of the running stack %s has other keys or indexes than this template's; kept",
                table.logical_id,
                table.name,
                ", ".join(str(user) for user in users),
            )
            return True
        logger.info("%s: table %s had other keys or indexes; made anew", table.logical_id, table.name)
        dynamodb.delete_table(TableName=table.name)
        dynamodb.create_table(**table.create_arguments)
        return False

    def _create_event_bus(self, bus: EventBusSpec) -> str:
        try:
            self.client("events").create_event_bus(Name=bus.name)
        except ClientError as error:
            if error.response["Error"]["Code"] != "ResourceAlreadyExistsException":
                raise LocalStackError(
                    f"{bus.logical_id}: cannot create event bus {bus.name}: {error}"
                ) from error
        return bus.name

    def _create_event_rule(self, rule: EventRuleSpec) -> str:
        events = self.client("events")
        where = f"{rule.owner_logical_id}.Events.{rule.event_id}"
        try:
            arn = events.put_rule(
                Name=rule.name,
                EventBusName=rule.event_bus_name,
                EventPattern=json.dumps(rule.pattern),
                State=rule.state,
            )["RuleArn"]
            events.put_targets(Rule=rule.name, EventBusName=rule.event_bus_name, Targets=[dict(rule.target)])
        except ClientError as error:
            raise LocalStackError(f"{where}: cannot create rule {rule.name}: {error}") from error
        return str(arn)

    # -- what the patches call

    @classmethod
    def _is_stack_host(cls, host: str) -> bool:
        with cls._lock:
            ports = {stack.port for stack in cls._running if stack.port}
        return any(host.endswith(f":{port}") for port in ports)

    @classmethod
    def _log_events(
        cls, backend: Any, events: Sequence[Mapping[str, Any]], entries: Sequence[Mapping[str, Any]]
    ) -> None:
        with cls._lock:
            stacks = list(cls._running)
        for event, entry in zip(events, entries, strict=False):
            if "EventId" not in entry:
                continue
            record = log_entry(
                event,
                str(entry["EventId"]),
                backend._normalize_event_bus_arn(event.get("EventBusName")),
                backend.account_id,
                backend.region_name,
            )
            for stack in stacks:
                stack._event_log.append(record)

    @classmethod
    def _send_to_targets(
        cls, rule: Any, event: Any, transform_input: bool, original: Callable[..., None]
    ) -> None:
        """moto's Rule.send_to_targets, plus `states` and `lambda` targets, `Input`/`InputPath` for SQS
        targets (moto ignores both), and disabled rules stay quiet."""
        if rule.state == "DISABLED":
            return
        ours = [target for target in rule.targets if _delivered_here(target)]
        if len(ours) < len(rule.targets):
            # A shallow copy: moto's code for the other targets runs on a rule that has only them.
            others = copy.copy(rule)
            others.targets = [target for target in rule.targets if target not in ours]
            original(others, event, transform_input)
        if not ours or not rule.event_pattern.matches_event(event):
            return
        for target in ours:
            cls._deliver(rule, target, event)

    @classmethod
    def _deliver(cls, rule: Any, target: Mapping[str, Any], event: Any) -> None:
        """EventBridge's invocation of a state machine (StartExecution) or a function (asynchronous Invoke).

        Like EventBridge, a failed delivery never fails PutEvents: it is logged as a warning.
        """
        arn = str(target["Arn"])
        where = f"rule {rule.name} target {target.get('Id')}"
        try:
            text = target_input(target, event, rule.name, rule.arn)
        except (InputPathError, LookupError) as error:
            logger.warning("%s: nothing delivered: %s", where, error)
            return
        if _arn_service(arn) == "states":
            from moto.stepfunctions.responses import get_backend

            _, _, _, region, account, *_ = arn.split(":")
            try:
                json.loads(text)
                execution = get_backend(account, region).start_execution(arn, str(uuid.uuid4()), text)
            except Exception as error:  # what EventBridge would count as a failed invocation
                logger.warning("%s: cannot start an execution of %s: %s", where, arn, error)
                return
            logger.info("%s: started %s", where, execution.execution_arn)
            return
        if _arn_service(arn) == "sqs":
            from moto.sqs import sqs_backends

            _, _, _, region, account, queue = arn.split(":", 5)
            group_id = (target.get("SqsParameters") or {}).get("MessageGroupId")
            try:
                sqs_backends[account][region].send_message(
                    queue_name=queue, message_body=text, group_id=group_id
                )
            except Exception as error:
                logger.warning("%s: cannot send to %s: %s", where, arn, error)
            return
        try:
            cls._dispatch_invoke(arn, None, text.encode("utf-8"), {"X-Amz-Invocation-Type": "Event"}, {})
        except Exception as error:
            logger.warning("%s: cannot invoke %s: %s", where, arn, error)

    def _invoke_for_http(self, function_name: str, event: dict[str, Any]) -> tuple[bool, Any]:
        """The HTTP API's integration: a synchronous invocation, the function's result or its error type."""
        loaded = self.functions.get(function_name)
        if loaded is None:
            return False, "ResourceNotFoundException"
        response_headers: dict[str, str] = {}
        payload = json.loads(
            self._run_handler(loaded, "$LATEST", json.dumps(event).encode(), response_headers)
        )
        if response_headers.get("x-amz-function-error"):
            return False, payload.get("errorType") if isinstance(payload, dict) else "Unhandled"
        return True, payload

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
        from moto.awslambda.exceptions import UnknownFunctionException

        name, name_qualifier = split_function_name(function_name)
        loaded = self.functions.get(name)
        if loaded is None:
            raise UnknownFunctionException(function_arn(name))
        version = qualifier or name_qualifier or "$LATEST"
        response_headers["x-amz-executed-version"] = "$LATEST"
        invocation_type = (headers or {}).get("X-Amz-Invocation-Type", "RequestResponse")
        if invocation_type == "DryRun":
            return b""
        if invocation_type == "Event":
            threading.Thread(target=self._run_handler, args=(loaded, version, body, {}), daemon=True).start()
            return b""
        return self._run_handler(loaded, version, body, response_headers)

    def _run_handler(self, loaded: LoadedFunction, version: str, body: Any, response_headers: Any) -> bytes:
        spec = loaded.spec
        self.invocations.append(spec.name)
        raw = body.decode("utf-8") if isinstance(body, bytes) else (body or "")
        try:
            event = json.loads(raw) if raw else {}
        except json.JSONDecodeError as error:
            return self._unhandled(spec, response_headers, error, "Runtime.UnmarshalError")
        with loaded.lock:
            context = LambdaContext(
                function_name=spec.name,
                function_version=version,
                invoked_function_arn=spec.arn if version == "$LATEST" else f"{spec.arn}:{version}",
                memory_limit_in_mb=spec.memory_size,
                timeout_seconds=spec.timeout,
            )
            started = time.perf_counter()
            try:
                with calling_function(spec.name):
                    result = loaded.handler(event, context)
            except Exception as error:
                return self._unhandled(spec, response_headers, error)
            finally:
                logger.debug("%s ran in %.0f ms", spec.name, (time.perf_counter() - started) * 1000)
        try:
            return json.dumps(result).encode("utf-8")
        except (TypeError, ValueError) as error:
            return self._unhandled(spec, response_headers, error, "Runtime.MarshalError")

    @staticmethod
    def _unhandled(
        spec: FunctionSpec, response_headers: Any, error: Exception, error_type: str | None = None
    ) -> bytes:
        payload = lambda_error_payload(error, error_type, skip_frames=1)
        # Type only: a message could quote the event.
        logger.info("%s failed: %s", spec.name, payload["errorType"])
        response_headers["x-amz-function-error"] = "Unhandled"
        return json.dumps(payload).encode("utf-8")

    @classmethod
    def _authorize(cls, response: Any, iam_request_cls: type, resource: str) -> None:
        """Check IAM policies only for requests signed with a key moto's IAM issued; let the rest through."""
        # Only requests to a stack's server: under mock_aws (unit tests in this process) moto stays lenient.
        host = str(response.headers.get("Host") or "")
        with cls._lock:
            ports = {stack.port for stack in cls._running if stack.enforce_iam and stack.port}
        if not any(host.endswith(f":{port}") for port in ports):
            return
        match = _CREDENTIAL_KEY.search(response.headers.get("Authorization") or "")
        if match is None or match.group(1) not in cls._issued_keys:
            return
        from urllib.parse import urlparse

        path = response.raw_path
        query = urlparse(response.uri).query
        if query:
            path += "?" + query
        iam_request = iam_request_cls(
            account_id=response.current_account,
            method=response.method,
            path=path,
            data=response.data,
            body=response.raw_body,
            headers=response.headers,
            action=response._get_action(),
        )
        # The key's propagation, the signature, bucket policy, identity policies, Requester Pays, KMS.
        issued_keys.enforce(iam_request, response, resource, cls._propagation())

    @classmethod
    def _propagation(cls) -> Propagation | None:
        """The propagation model of the oldest running stack that has one."""
        with cls._lock:
            return next((s.propagation for s in cls._running if s.propagation is not None), None)


def _table_shape(table: Mapping[str, Any]) -> tuple[Any, ...]:
    """Keys and indexes (names and keys) of CreateTable's arguments or DescribeTable's table."""

    def keys(schema: Any) -> tuple[tuple[str, str], ...]:
        return tuple((str(key["AttributeName"]), str(key["KeyType"])) for key in schema or ())

    def indexes(kind: str) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
        return tuple(sorted((str(i["IndexName"]), keys(i["KeySchema"])) for i in table.get(kind) or ()))

    return keys(table["KeySchema"]), indexes("GlobalSecondaryIndexes"), indexes("LocalSecondaryIndexes")


@contextmanager
def _environment_without(names: Sequence[str]) -> Iterator[None]:
    saved = {name: os.environ.pop(name) for name in names if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def _arn_service(arn: str) -> str:
    parts = arn.split(":")
    return parts[2] if len(parts) > 2 and parts[0] == "arn" else ""


def _delivered_here(target: Mapping[str, Any]) -> bool:
    """Targets the local stack delivers itself; moto keeps the rest (logs, archives, buses, plain SQS)."""
    service = _arn_service(str(target["Arn"]))
    return service in ("states", "lambda") or (
        service == "sqs" and ("Input" in target or "InputPath" in target)
    )


@contextmanager
def running(**kwargs: Any) -> Iterator[LocalStack]:
    """`with running(faults=[...]) as stack:` — a LocalStack for the length of a block."""
    stack = LocalStack(**kwargs)
    with stack:
        yield stack
