"""What the local stack patches in moto, process-wide, while any stack runs: installed by the first to start,
undone by the last to stop (Patches remembers every setattr).

Lambda's Invoke goes to the stacks' in-process handlers; requests signed with an issued key are checked
against IAM (provisioner_local.issued_keys); IAM's propagation delay and its throttling
(iam_propagation, iam_throttle), DeleteUser's DeleteConflict (iam_user_deletion), the lag of a bucket's CORS
configuration (bucket_config_consistency) and a secret's asynchronous deletion (secret_deletion) are
modelled; Retry intervals and Wait states are shortened; EventBridge delivers to state machines and
functions (provisioner_local.event_delivery); DynamoDB writes are atomic; the ASL interpreter is made
faster (provisioner_local.interpreter) and reads workflow variables in JSONPath states
(provisioner_local.workflow_variables).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Final

from provisioner_local import event_delivery, issued_keys
from provisioner_local.interpreter import (
    ClientCache,
    InProcessLambda,
    ProgramCache,
    cached_path_parser,
    fresh_result,
)

if TYPE_CHECKING:
    from provisioner_local.emulator import LocalStack

# Set to 1 to send the interpreter's Lambda tasks through moto's HTTP Invoke handler, as moto does.
LAMBDA_OVER_HTTP_VARIABLE: Final = "PROVISIONER_LOCAL_LAMBDA_OVER_HTTP"

# A Retry's IntervalSeconds or a Wait state still yields, but never for longer than this.
FAST_WAIT_SECONDS: Final = 0.01

# Variables that would make the functions' clients sign or route differently from what the stack sets.
SHADOWING_VARIABLES: Final = (
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
)

_CREDENTIAL_KEY = re.compile(r"Credential=([^/,\s]+)/")
# Set while moto serves a PutEvents request that came to a running stack's server: only those are logged.
_put_events_request = threading.local()


class Patches:
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


def install_globals(stacks: type[LocalStack]) -> None:
    """What the first running stack changes for all: moto's config, two log levels and the patches."""
    from moto.core.config import default_user_config

    for section, value in (
        ("stepfunctions", {"execute_state_machine": True}),
        # LambdaSimpleBackend is the backend whose invoke() is replaced below.
        ("lambda", {"use_docker": False}),
    ):
        stacks._saved_moto_config[section] = default_user_config.get(section)
        default_user_config[section] = value  # type: ignore[literal-required]  # keys from the loop
    # The interpreter logs a long traceback for every Fail state; werkzeug one line per request.
    for name, level in (("moto.stepfunctions.parser", logging.CRITICAL), ("werkzeug", logging.WARNING)):
        log = logging.getLogger(name)
        stacks._saved_log_levels[name] = log.level
        # Unset only: a level somebody chose (-v) stays. werkzeug would make NOTSET INFO.
        if log.level == logging.NOTSET:
            log.setLevel(level)
    install_patches(stacks)


def uninstall_globals(stacks: type[LocalStack]) -> None:
    stacks._global_patches.undo()
    from moto.core.config import default_user_config

    for section, value in stacks._saved_moto_config.items():
        if value is None:
            default_user_config.pop(section, None)  # type: ignore[misc]  # TypedDict key
        else:
            default_user_config[section] = value  # type: ignore[literal-required]  # restoring
    stacks._saved_moto_config.clear()
    for name, level in stacks._saved_log_levels.items():
        logging.getLogger(name).setLevel(level)
    stacks._saved_log_levels.clear()


def install_patches(stacks: type[LocalStack]) -> None:
    from moto.awslambda_simple.models import LambdaSimpleBackend
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.events.models import EventsBackend, Rule
    from moto.events.responses import EventsHandler
    from moto.iam.models import IAMBackend
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import (
        WaitFunction,
    )

    patches = stacks._global_patches
    from provisioner_local.s3_cors import install as install_s3_cors

    install_s3_cors(patches)
    from provisioner_local import (
        bucket_config_consistency,
        bucket_policy_enforcement,
        iam_policy_documents,
        iam_throttle,
        iam_user_deletion,
        key_last_used,
        permissions_boundary,
        requester_pays,
        secret_deletion,
        secret_version_stages,
    )

    bucket_policy_enforcement.install(patches)
    permissions_boundary.install(patches)
    requester_pays.install(patches)
    key_last_used.install(patches, lambda key_id: key_id in stacks._issued_keys)
    secret_version_stages.install(patches)
    iam_policy_documents.install(patches)
    bucket_config_consistency.install(patches, stacks._bucket_config)
    secret_deletion.install(patches, stacks._secret_deletion)
    iam_throttle.install(patches, stacks._iam_throttle_for)
    iam_user_deletion.install(patches)

    def invoke(
        backend: Any,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: Any,
    ) -> bytes:
        return stacks._dispatch_invoke(function_name, qualifier, body, headers, response_headers)

    patches.set(LambdaSimpleBackend, "invoke", invoke)

    def authenticate_and_authorize(response: Any, iam_request_cls: type, resource: str = "*") -> None:
        authorize(stacks, response, iam_request_cls, resource)

    patches.set(ActionAuthenticatorMixin, "_authenticate_and_authorize_action", authenticate_and_authorize)

    original_create_access_key = IAMBackend.create_access_key
    original_create_temp_access_key = IAMBackend.create_temp_access_key

    def create_access_key(backend: Any, *args: Any, **kwargs: Any) -> Any:
        key = original_create_access_key(backend, *args, **kwargs)
        stacks._issued_keys.add(key.access_key_id)
        propagation = stacks._propagation()
        if propagation is not None:
            propagation.key_created(key.access_key_id)
        return key

    def create_temp_access_key(backend: Any, *args: Any, **kwargs: Any) -> Any:
        key = original_create_temp_access_key(backend, *args, **kwargs)
        stacks._issued_keys.add(key.access_key_id)
        return key

    original_attach_user_policy = IAMBackend.attach_user_policy

    def attach_user_policy(backend: Any, policy_arn: str, user_name: str) -> None:
        original_attach_user_policy(backend, policy_arn, user_name)
        propagation = stacks._propagation()
        if propagation is not None:
            propagation.policy_attached(user_name, policy_arn)

    patches.set(IAMBackend, "attach_user_policy", attach_user_policy)
    patches.set(IAMBackend, "create_access_key", create_access_key)
    patches.set(IAMBackend, "create_temp_access_key", create_temp_access_key)

    def fast() -> bool:
        return fast_waits(stacks)

    def skip(seconds: float) -> None:
        skip_clocks(stacks, seconds)

    def sleep(seconds: float) -> None:
        shortened_sleep(stacks, seconds)

    patches.set(retrier_decl, "time", SimpleNamespace(sleep=sleep))

    original_wait_interval = WaitFunction._wait_interval

    def wait_interval(wait: Any, env: Any, wait_seconds: int) -> None:
        if not fast():
            original_wait_interval(wait, env, wait_seconds)
        elif wait_seconds > 0:
            env.program_state_event.wait(min(wait_seconds, FAST_WAIT_SECONDS))
            skip(wait_seconds - FAST_WAIT_SECONDS)

    patches.set(WaitFunction, "_wait_interval", wait_interval)

    # EventBridge: state machine and Lambda targets (moto raises NotImplementedError for both).
    original_send_to_targets = Rule.send_to_targets

    def send_to_targets(rule: Any, event: Any, transform_input: bool = True) -> None:
        event_delivery.send_to_targets(stacks, rule, event, transform_input, original_send_to_targets)

    patches.set(Rule, "send_to_targets", send_to_targets)

    # EventBridge: the event log, for PutEvents requests that reach a running stack's server.
    original_backend_put_events = EventsBackend.put_events
    original_handler_put_events = EventsHandler.put_events

    def backend_put_events(backend: Any, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = original_backend_put_events(backend, events)
        if getattr(_put_events_request, "logged", False):
            event_delivery.log_events(stacks, backend, events, entries)
        return entries

    def handler_put_events(handler: Any) -> Any:
        previous = getattr(_put_events_request, "logged", False)
        _put_events_request.logged = event_delivery.is_stack_host(
            stacks, str(handler.headers.get("Host") or "")
        )
        try:
            return original_handler_put_events(handler)
        finally:
            _put_events_request.logged = previous

    patches.set(EventsBackend, "put_events", backend_put_events)
    patches.set(EventsHandler, "put_events", handler_put_events)

    from provisioner_local import dynamodb_atomicity

    dynamodb_atomicity.install(patches)

    install_interpreter_patches(stacks, patches)


def fast_waits(stacks: type[LocalStack]) -> bool:
    with stacks._lock:
        return any(stack.fast_waits for stack in stacks._running)


def skip_clocks(stacks: type[LocalStack], seconds: float) -> None:
    """The emulated clocks move on by a wait that was skipped, as time would in AWS."""
    stacks.clock.skip(seconds)
    propagation = stacks._propagation()
    if propagation is not None and propagation.clock is not stacks.clock:
        propagation.clock.skip(seconds)


def shortened_sleep(stacks: type[LocalStack], seconds: float) -> None:
    """A Retry's interval, or a step's own wait (provisioner_core.aws.pause): at most FAST_WAIT_SECONDS of
    real time while a stack runs with fast waits, the whole wait on the emulated clocks."""
    if not fast_waits(stacks):
        time.sleep(seconds)
        return
    time.sleep(min(seconds, FAST_WAIT_SECONDS))
    skip_clocks(stacks, seconds - FAST_WAIT_SECONDS)


def install_interpreter_patches(stacks: type[LocalStack], patches: Patches) -> None:
    """Faster ASL executions, the same executions: see provisioner_local.interpreter."""
    from moto.core.models import botocore_stubber
    from moto.settings import moto_server_port

    # The parser's imports reach moto.ec2, which makes a boto3 Session at import: without the variables
    # a stack unsets (AWS_PROFILE naming a profile this machine lacks would fail it).
    with environment_without(SHADOWING_VARIABLES):
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
    in_process = InProcessLambda(stacks._dispatch_invoke)
    clients = ClientCache(original_client_for)

    def interpreter_client(region: str, service: str, state_credentials: Any = None) -> Any:
        if botocore_stubber.enabled:
            # Under mock_aws moto answers in-process already; leave that path as moto has it.
            return original_client_for(region=region, service=service, state_credentials=state_credentials)
        if service == "lambda" and os.environ.get(LAMBDA_OVER_HTTP_VARIABLE, "") in ("", "0"):
            return in_process
        endpoint = f"http://localhost:{moto_server_port()}"
        return clients.get(region, service, state_credentials, endpoint)

    patches.set(lambda_eval_utils, "boto_client_for", interpreter_client)

    # The flows' Catches record the failing state in a workflow variable, which moto parses but cannot read.
    from provisioner_local import workflow_variables

    workflow_variables.install(patches)


def authorize(stacks: type[LocalStack], response: Any, iam_request_cls: type, resource: str) -> None:
    """Check IAM policies only for requests signed with a key moto's IAM issued; let the rest through."""
    # Only requests to a stack's server: under mock_aws (unit tests in this process) moto stays lenient.
    host = str(response.headers.get("Host") or "")
    with stacks._lock:
        ports = {stack.port for stack in stacks._running if stack.enforce_iam and stack.port}
    if not any(host.endswith(f":{port}") for port in ports):
        return
    match = _CREDENTIAL_KEY.search(response.headers.get("Authorization") or "")
    if match is None or match.group(1) not in stacks._issued_keys:
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
    issued_keys.enforce(iam_request, response, resource, stacks._propagation())


@contextmanager
def environment_without(names: Sequence[str]) -> Iterator[None]:
    saved = {name: os.environ.pop(name) for name in names if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)
