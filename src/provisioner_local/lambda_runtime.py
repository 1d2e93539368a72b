"""The Lambda runtime of the local stack: loading a function's handler and its modules, and invoking it.

Every function runs in this one process. Each handler module is loaded from its file under a name of its
own (`labellerr_fn_<dir>_<module>`, since every function's module is called `app`); a function's code
directory goes on sys.path, as Lambda's /var/task, so the handler imports the modules next to it by their
own names; those names must then be unique across the template's functions (check_function_modules).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import re
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
from types import ModuleType
from typing import Any, Final

from provisioner_local.faults import calling_function
from provisioner_local.stack_common import LocalStackError
from provisioner_local.template import FunctionSpec, function_arn

logger = logging.getLogger("provisioner_local")


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


def function_module_names(spec: FunctionSpec) -> set[str]:
    """The top-level modules and packages in a function's code directory other than its handler module,
    which is loaded under a name of its own (`labellerr_fn_...`)."""
    names: set[str] = set()
    if not spec.code_uri.is_dir():
        return names
    for entry in spec.code_uri.iterdir():
        if entry.is_file() and entry.suffix == ".py" and entry.stem.isidentifier():
            names.add(entry.stem)
        elif (
            entry.is_dir()
            and entry.name.isidentifier()
            and entry.name != "__pycache__"
            and any(entry.glob("*.py"))
        ):
            names.add(entry.name)
    names.discard(spec.handler_module)
    return names


def check_function_modules(specs: Sequence[FunctionSpec]) -> None:
    """Every function runs in this one process: a module name two code directories share would be one
    sys.modules entry (the first function's module would serve the second), and one that an installed or
    layer package already has would shadow it. Fail with the name instead."""
    owners: dict[str, Path] = {}
    for spec in specs:
        code = spec.code_uri.resolve()
        for name in sorted(function_module_names(spec)):
            other = owners.setdefault(name, code)
            if other != code:
                raise LocalStackError(
                    f"{spec.name}: module {name!r} of {spec.code_uri} is also in {other}: the local stack "
                    "loads every function into one process, where both would be one sys.modules entry; "
                    "give one a name of its own (a package named after the function, say)"
                )
            try:
                found = importlib.util.find_spec(name)
            except (ImportError, ValueError):
                found = None
            if found is None:
                continue
            locations = [found.origin] if found.origin else list(found.submodule_search_locations or ())
            elsewhere = [
                where
                for where in locations
                if where and not (Path(where).is_absolute() and Path(where).resolve().is_relative_to(code))
            ]
            if elsewhere:
                raise LocalStackError(
                    f"{spec.name}: module {name!r} of {spec.code_uri} has the name of {elsewhere[0]}, which "
                    "this process imports too; give the function's module a name of its own"
                )


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


class FunctionModules:
    """What loading a stack's functions changes in sys.path and sys.modules, so that `restore` undoes it."""

    def __init__(self) -> None:
        self._added_sys_path: list[str] = []
        self._module_names: list[str] = []
        # The functions' own modules as sys.modules held them before this stack imported its copies.
        self._displaced_modules: dict[str, ModuleType | None] = {}

    def add_layers_to_path(self, specs: Sequence[FunctionSpec]) -> None:
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

    def add_function_code_to_path(self, specs: Sequence[FunctionSpec]) -> None:
        # As Lambda's /var/task: a handler imports the modules next to it by their own names.
        for spec in specs:
            entry = str(spec.code_uri)
            if function_module_names(spec) and entry not in sys.path and entry not in self._added_sys_path:
                sys.path.insert(0, entry)
                self._added_sys_path.append(entry)

    def _displace(self, spec: FunctionSpec) -> None:
        """Forget what sys.modules holds of the function's own modules, so its handler imports them anew
        with this stack's environment (their settings are read at import), as a new Lambda environment
        does; `restore` puts back what was there before."""
        own = function_module_names(spec)
        for name in [name for name in sys.modules if name.split(".", 1)[0] in own]:
            module = sys.modules.pop(name)
            self._displaced_modules.setdefault(name, module)
        for name in own:
            self._displaced_modules.setdefault(name, None)

    def load(self, spec: FunctionSpec) -> LoadedFunction:
        # Every function's module is called `app`: a unique name keeps them apart in sys.modules.
        safe = re.sub(r"\W", "_", f"{spec.code_uri.name}_{spec.handler_module}")
        module_name = f"labellerr_fn_{safe}"
        module = sys.modules.get(module_name)
        if module is None or getattr(module, "__file__", None) != str(spec.handler_path):
            self._displace(spec)
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

    def restore(self) -> None:
        """Put sys.modules and sys.path back as they were before this stack's functions were loaded."""
        for name in self._module_names:
            sys.modules.pop(name, None)
        self._module_names.clear()
        for name, module in self._displaced_modules.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
        self._displaced_modules.clear()
        for entry in self._added_sys_path:
            if entry in sys.path:
                sys.path.remove(entry)
        self._added_sys_path.clear()


def invoke(
    functions: Mapping[str, LoadedFunction],
    invocations: list[str],
    function_name: str,
    qualifier: str | None,
    body: Any,
    headers: Any,
    response_headers: Any,
    *,
    region: str,
) -> bytes:
    from moto.awslambda.exceptions import UnknownFunctionException

    name, name_qualifier = split_function_name(function_name)
    loaded = functions.get(name)
    if loaded is None:
        raise UnknownFunctionException(function_arn(name, region))
    version = qualifier or name_qualifier or "$LATEST"
    response_headers["x-amz-executed-version"] = "$LATEST"
    invocation_type = (headers or {}).get("X-Amz-Invocation-Type", "RequestResponse")
    if invocation_type == "DryRun":
        return b""
    if invocation_type == "Event":
        threading.Thread(
            target=run_handler, args=(loaded, version, body, {}, invocations), daemon=True
        ).start()
        return b""
    return run_handler(loaded, version, body, response_headers, invocations)


def invoke_for_http(
    functions: Mapping[str, LoadedFunction], invocations: list[str], function_name: str, event: dict[str, Any]
) -> tuple[bool, Any]:
    """The HTTP API's integration: a synchronous invocation, the function's result or its error type."""
    loaded = functions.get(function_name)
    if loaded is None:
        return False, "ResourceNotFoundException"
    response_headers: dict[str, str] = {}
    payload = json.loads(
        run_handler(loaded, "$LATEST", json.dumps(event).encode(), response_headers, invocations)
    )
    if response_headers.get("x-amz-function-error"):
        return False, payload.get("errorType") if isinstance(payload, dict) else "Unhandled"
    return True, payload


class InFlight:
    """The handlers running now in the process. Whether a handler is the only one (`others` is 0) tells the
    lease clock (lease_clock) that nothing else is working while it waits, so its time can be skipped."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0
        self._local = threading.local()

    @contextmanager
    def running(self) -> Iterator[None]:
        with self._lock:
            self._count += 1
        self._local.depth = getattr(self._local, "depth", 0) + 1
        try:
            yield
        finally:
            self._local.depth -= 1
            with self._lock:
                self._count -= 1

    def others(self) -> int:
        """Handlers running on other threads than the caller's."""
        with self._lock:
            return self._count - getattr(self._local, "depth", 0)


IN_FLIGHT: Final = InFlight()


def run_handler(
    loaded: LoadedFunction, version: str, body: Any, response_headers: Any, invocations: list[str]
) -> bytes:
    """One invocation of a loaded function, as the Python runtime makes it: the event in, the result (or
    the runtime's error payload, with the x-amz-function-error header) out."""
    spec = loaded.spec
    invocations.append(spec.name)
    raw = body.decode("utf-8") if isinstance(body, bytes) else (body or "")
    try:
        event = json.loads(raw) if raw else {}
    except json.JSONDecodeError as error:
        return unhandled(spec, response_headers, error, "Runtime.UnmarshalError")
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
            with calling_function(spec.name), IN_FLIGHT.running():
                result = loaded.handler(event, context)
        except Exception as error:
            return unhandled(spec, response_headers, error)
        finally:
            logger.debug("%s ran in %.0f ms", spec.name, (time.perf_counter() - started) * 1000)
    try:
        return json.dumps(result).encode("utf-8")
    except (TypeError, ValueError) as error:
        return unhandled(spec, response_headers, error, "Runtime.MarshalError")


def unhandled(
    spec: FunctionSpec, response_headers: Any, error: Exception, error_type: str | None = None
) -> bytes:
    payload = lambda_error_payload(error, error_type, skip_frames=1)
    # Type only: a message could quote the event.
    logger.info("%s failed: %s", spec.name, payload["errorType"])
    response_headers["x-amz-function-error"] = "Unhandled"
    return json.dumps(payload).encode("utf-8")
