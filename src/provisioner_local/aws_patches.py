"""What the local stack patches in moto, process-wide, while any stack runs: installed by the first to start,
undone by the last to stop (Patches remembers every setattr).

Lambda's Invoke goes to the stacks' in-process handlers; requests signed with an issued key are checked
against IAM (provisioner_local.issued_keys); IAM's propagation delay and its throttling
(iam_propagation, iam_throttle), DeleteUser's DeleteConflict (iam_user_deletion), the lag of a bucket's CORS
configuration (bucket_config_consistency) and a secret's asynchronous deletion (secret_deletion) are
modelled; Retry intervals and Wait states are shortened; EventBridge delivers to state machines and
functions (provisioner_local.event_delivery); DynamoDB writes are atomic; the ASL interpreter is made
faster (provisioner_local.interpreter) and reads workflow variables in JSONPath states
(provisioner_local.workflow_variables). Each moto attribute replaced is a target of
provisioner_local.moto_targets, which says why.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any, Final

from provisioner_local import event_delivery, issued_keys, moto_targets
from provisioner_local.interpreter import (
    ClientCache,
    InProcessLambda,
    ProgramCache,
    cached_path_parser,
    fresh_result,
)
from provisioner_local.moto_targets import MotoTarget
from provisioner_local.running_stacks import FAST_WAIT_SECONDS, RunningStacks

# Set to 1 to send the interpreter's Lambda tasks through moto's HTTP Invoke handler, as moto does.
LAMBDA_OVER_HTTP_VARIABLE: Final = "PROVISIONER_LOCAL_LAMBDA_OVER_HTTP"

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
    """setattr on moto's targets (provisioner_local.moto_targets) that remembers, so stop() can put moto
    back the way it was."""

    def __init__(self) -> None:
        self._undo: list[tuple[Any, str, Any]] = []

    def set(self, target: MotoTarget, value: Any) -> None:
        owner = target.owner()
        self._undo.append((owner, target.name, getattr(owner, target.name)))
        setattr(owner, target.name, value)

    def undo(self) -> None:
        while self._undo:
            target, name, original = self._undo.pop()
            setattr(target, name, original)


class MotoPatches:
    """What the first running stack changes in moto for all (its config, two log levels and the patches),
    and undoes when the last one stops."""

    def __init__(self) -> None:
        self.patches = Patches()
        self._saved_config: dict[str, Any] = {}
        self._saved_log_levels: dict[str, int] = {}

    def install(self, stacks: RunningStacks) -> None:
        from moto.core.config import default_user_config

        for section, value in (
            ("stepfunctions", {"execute_state_machine": True}),
            # LambdaSimpleBackend is the backend whose invoke() is replaced below.
            ("lambda", {"use_docker": False}),
        ):
            self._saved_config[section] = default_user_config.get(section)
            default_user_config[section] = value  # type: ignore[literal-required]  # keys from the loop
        # The interpreter logs a long traceback for every Fail state; werkzeug one line per request.
        for name, level in (("moto.stepfunctions.parser", logging.CRITICAL), ("werkzeug", logging.WARNING)):
            log = logging.getLogger(name)
            self._saved_log_levels[name] = log.level
            # Unset only: a level somebody chose (-v) stays. werkzeug would make NOTSET INFO.
            if log.level == logging.NOTSET:
                log.setLevel(level)
        install_patches(stacks, self.patches)

    def uninstall(self) -> None:
        self.patches.undo()
        from moto.core.config import default_user_config

        for section, value in self._saved_config.items():
            if value is None:
                default_user_config.pop(section, None)  # type: ignore[misc]  # TypedDict key
            else:
                default_user_config[section] = value  # type: ignore[literal-required]  # restoring
        self._saved_config.clear()
        for name, level in self._saved_log_levels.items():
            logging.getLogger(name).setLevel(level)
        self._saved_log_levels.clear()


class LazyPrivateKey:
    """moto's private key of a KMS key, made the first time anything of it is used."""

    def __init__(self, make: Any, key_spec: str) -> None:
        self._make = make
        self._key_spec = key_spec
        self._key: Any = None
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            # Dunder look-ups (copy, pickle) and this object's own fields before __init__ set them.
            raise AttributeError(name)
        with self._lock:
            if self._key is None:
                self._key = self._make(self._key_spec)
        return getattr(self._key, name)


def install_patches(stacks: RunningStacks, patches: Patches) -> None:
    from provisioner_local.s3_cors import install as install_s3_cors

    install_s3_cors(patches)
    # moto's server asks which backends exist (os.listdir and an isdir per entry, 170 of them) for every
    # request, holding the lock every request takes: 5-10% of the server's CPU. The package does not change
    # while the process runs.
    server_modules = tuple(moto_targets.SERVER_MODULE_NAMES.original()())
    patches.set(moto_targets.SERVER_MODULE_NAMES, lambda: server_modules)
    # moto makes an asymmetric key pair for every KMS key, a symmetric one too (50-100 ms of CPU each, a
    # fault matrix case makes one): made when a Sign, Verify or GetPublicKey first needs it instead.
    make_private_key = moto_targets.KMS_PRIVATE_KEY.original()
    patches.set(moto_targets.KMS_PRIVATE_KEY, lambda key_spec: LazyPrivateKey(make_private_key, key_spec))
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
    key_last_used.install(patches, lambda key_id: key_id in stacks.issued_keys)
    secret_version_stages.install(patches)
    iam_policy_documents.install(patches)
    bucket_config_consistency.install(patches, stacks.bucket_config)
    secret_deletion.install(patches, stacks.secret_deletion)
    iam_throttle.install(patches, stacks.iam_throttle_for)
    iam_user_deletion.install(patches)

    def invoke(
        backend: Any,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: Any,
    ) -> bytes:
        return stacks.dispatch_invoke(function_name, qualifier, body, headers, response_headers)

    patches.set(moto_targets.LAMBDA_INVOKE, invoke)

    def authenticate_and_authorize(response: Any, iam_request_cls: type, resource: str = "*") -> None:
        authorize(stacks, response, iam_request_cls, resource)

    patches.set(moto_targets.AUTHORIZE, authenticate_and_authorize)

    original_create_access_key = moto_targets.IAM_CREATE_ACCESS_KEY.original()
    original_create_temp_access_key = moto_targets.IAM_CREATE_TEMP_ACCESS_KEY.original()

    def create_access_key(backend: Any, *args: Any, **kwargs: Any) -> Any:
        key = original_create_access_key(backend, *args, **kwargs)
        stacks.issued_keys.add(key.access_key_id)
        propagation = stacks.propagation()
        if propagation is not None:
            propagation.key_created(key.access_key_id)
        return key

    def create_temp_access_key(backend: Any, *args: Any, **kwargs: Any) -> Any:
        key = original_create_temp_access_key(backend, *args, **kwargs)
        stacks.issued_keys.add(key.access_key_id)
        return key

    original_attach_user_policy = moto_targets.IAM_ATTACH_USER_POLICY.original()

    def attach_user_policy(backend: Any, policy_arn: str, user_name: str) -> None:
        original_attach_user_policy(backend, policy_arn, user_name)
        propagation = stacks.propagation()
        if propagation is not None:
            propagation.policy_attached(user_name, policy_arn)

    patches.set(moto_targets.IAM_ATTACH_USER_POLICY, attach_user_policy)
    patches.set(moto_targets.IAM_CREATE_ACCESS_KEY, create_access_key)
    patches.set(moto_targets.IAM_CREATE_TEMP_ACCESS_KEY, create_temp_access_key)

    patches.set(moto_targets.RETRIER_TIME, SimpleNamespace(sleep=stacks.shortened_sleep))

    original_wait_interval = moto_targets.WAIT_INTERVAL.original()

    def wait_interval(wait: Any, env: Any, wait_seconds: int) -> None:
        if wait_seconds > 0 and stacks.stepped_waits():
            execution_arn = env.states.context_object.context_object_data["Execution"]["Id"]
            stacks.waits.hold(str(execution_arn), wait_seconds, env.is_running)
        elif not stacks.fast_waits():
            original_wait_interval(wait, env, wait_seconds)
        elif wait_seconds > 0:
            env.program_state_event.wait(min(wait_seconds, FAST_WAIT_SECONDS))
            stacks.skip_clocks(wait_seconds - FAST_WAIT_SECONDS)

    patches.set(moto_targets.WAIT_INTERVAL, wait_interval)

    # EventBridge: state machine and Lambda targets (moto raises NotImplementedError for both).
    original_send_to_targets = moto_targets.EVENTS_SEND_TO_TARGETS.original()

    def send_to_targets(rule: Any, event: Any, transform_input: bool = True) -> None:
        event_delivery.send_to_targets(stacks, rule, event, transform_input, original_send_to_targets)

    patches.set(moto_targets.EVENTS_SEND_TO_TARGETS, send_to_targets)

    # EventBridge: the event log, for PutEvents requests that reach a running stack's server.
    original_backend_put_events = moto_targets.EVENTS_BACKEND_PUT_EVENTS.original()
    original_handler_put_events = moto_targets.EVENTS_HANDLER_PUT_EVENTS.original()

    def backend_put_events(backend: Any, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = original_backend_put_events(backend, events)
        if getattr(_put_events_request, "logged", False):
            event_delivery.log_events(stacks, backend, events, entries)
        return entries

    def handler_put_events(handler: Any) -> Any:
        previous = getattr(_put_events_request, "logged", False)
        _put_events_request.logged = stacks.is_stack_host(str(handler.headers.get("Host") or ""))
        try:
            return original_handler_put_events(handler)
        finally:
            _put_events_request.logged = previous

    patches.set(moto_targets.EVENTS_BACKEND_PUT_EVENTS, backend_put_events)
    patches.set(moto_targets.EVENTS_HANDLER_PUT_EVENTS, handler_put_events)

    from provisioner_local import dynamodb_atomicity

    dynamodb_atomicity.install(patches)

    install_interpreter_patches(stacks, patches)


def install_interpreter_patches(stacks: RunningStacks, patches: Patches) -> None:
    """Faster ASL executions, the same executions: see provisioner_local.interpreter."""
    from moto.core.models import botocore_stubber
    from moto.settings import moto_server_port

    # The parser's imports reach moto.ec2, which makes a boto3 Session at import: without the variables
    # a stack unsets (AWS_PROFILE naming a profile this machine lacks would fail it).
    with environment_without(SHADOWING_VARIABLES):
        from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    # Parse each definition once, not for every execution (50-100 ms each for the onboarding machine):
    # Step Functions does not re-parse per execution either, and a program's components keep nothing
    # of an execution. Looked up at call time, so a wrapper of the parser (the benchmark's) still runs.
    programs = ProgramCache(lambda definition: AmazonStateLanguageParser.parse(definition)[0])

    def evaluation_entrypoint(worker: Any) -> Any:
        return programs.get(worker._evaluation_details.state_machine_details.definition)

    patches.set(moto_targets.EVALUATION_ENTRYPOINT, evaluation_entrypoint)
    # A shared program's Pass `Result` literal must not be handed to an execution to change.
    patches.set(moto_targets.PASS_RESULT, fresh_result)

    # Parse each JSONPath text once (about 0.5 ms a parse, some 40 per onboarding), not at every use.
    for parse in (moto_targets.JSON_PATH_PARSE, moto_targets.RESULT_PATH_PARSE):
        patches.set(parse, cached_path_parser(parse.original()))

    # Lambda tasks: the stack's dispatch called directly instead of a new boto3 client per task and an
    # HTTP request to moto's Invoke handler, which only called that dispatch (5-10 ms a task).
    # PROVISIONER_LOCAL_LAMBDA_OVER_HTTP=1 keeps the request, through one reused client.
    original_client_for = moto_targets.LAMBDA_CLIENT_FOR.original()
    in_process = InProcessLambda(stacks.dispatch_invoke)
    clients = ClientCache(original_client_for)

    def interpreter_client(region: str, service: str, state_credentials: Any = None) -> Any:
        if botocore_stubber.enabled:
            # Under mock_aws moto answers in-process already; leave that path as moto has it.
            return original_client_for(region=region, service=service, state_credentials=state_credentials)
        if service == "lambda" and os.environ.get(LAMBDA_OVER_HTTP_VARIABLE, "") in ("", "0"):
            return in_process
        endpoint = f"http://localhost:{moto_server_port()}"
        return clients.get(region, service, state_credentials, endpoint)

    patches.set(moto_targets.LAMBDA_CLIENT_FOR, interpreter_client)

    # The flows' Catches record the failing state in a workflow variable, which moto parses but cannot read.
    from provisioner_local import workflow_variables

    workflow_variables.install(patches)

    # A health sweep continues in a new execution of itself through the states:startExecution integration.
    from provisioner_local import sfn_integration

    sfn_integration.install(patches)


def authorize(stacks: RunningStacks, response: Any, iam_request_cls: type, resource: str) -> None:
    """Check IAM policies only for requests signed with a key moto's IAM issued; let the rest through."""
    # Only requests to a stack's server: under mock_aws (unit tests in this process) moto stays lenient.
    host = str(response.headers.get("Host") or "")
    if not stacks.is_stack_host(host, enforcing_iam=True):
        return
    match = _CREDENTIAL_KEY.search(response.headers.get("Authorization") or "")
    if match is None or match.group(1) not in stacks.issued_keys:
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
    issued_keys.enforce(iam_request, response, resource, stacks.propagation())


@contextmanager
def environment_without(names: Sequence[str]) -> Iterator[None]:
    saved = {name: os.environ.pop(name) for name in names if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)
