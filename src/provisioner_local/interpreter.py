"""Speed-ups of moto's ASL interpreter for the embedded stack; each one leaves what an execution does alone.

The local stack installs them with its other patches (aws_patches.install_patches) when the first
stack starts and removes them when the last one stops. Pinned to moto 5.2.5, like the rest of the stack.

- ProgramCache: moto parses the state machine's definition (ANTLR, then a visitor that builds the program's
  components) for every execution, 50-100 ms for the onboarding machine. Step Functions does not re-parse a
  definition per execution either. The components are immutable once built: what an execution changes
  lives in its Environment (stack, heap, states, frames), which moto already relies on when the iterations
  of a Map state run one program on several threads. Two details make sharing exact: every component's
  heap key is made before the program is shared (assign_heap_keys), and a Pass state's Result literal is
  copied for each evaluation (fresh_result).
- InProcessLambda: the interpreter's Lambda tasks made a new boto3 client per task and an HTTP request to
  the emulator, whose Invoke handler then called the stack's in-process dispatch. This calls that dispatch
  directly and shapes the response as botocore would have parsed moto's: the same payload, StatusCode,
  FunctionError and ExecutedVersion, the same ClientError for a Lambda service error.
- cached_path_parser: moto parses every JSONPath (`$.connection.bucket`, a ResultPath) each time a state
  evaluates it, about 0.5 ms each with jsonpath-ng's PLY parser, some 40 times per onboarding. A parsed
  path is a tree of immutable nodes (finding or updating matches builds new DatumInContext objects and
  changes only the data), so one parse per path text gives the same matches.
- ClientCache: when the HTTP hop is kept (PROVISIONER_LOCAL_LAMBDA_OVER_HTTP=1), one boto3 client per
  endpoint and region instead of one per task. botocore clients are thread-safe.
"""

from __future__ import annotations

import copy
import functools
import io
import sys
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, Final

from botocore.exceptions import ClientError
from botocore.response import StreamingBody

# Distinct definitions kept; a test suite creates a few dozen state machines at most.
MAX_PROGRAMS: Final = 64
# moto's Invoke handler: a larger response becomes a Function.ResponseSizeTooLarge error.
_MAX_RESPONSE_SIZE: Final = 6_000_000
_SIZE_ERROR: Final = (
    b'{"errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).", '
    b'"errorType": "Function.ResponseSizeTooLarge"}'
)
# Component classes live here; anything else a component refers to (strings, enums, parser contexts) is
# not walked.
_PARSER_PACKAGE: Final = "moto.stepfunctions.parser."

Dispatch = Callable[[str, "str | None", bytes, Mapping[str, str], dict[str, str]], bytes]


def assign_heap_keys(program: Any) -> int:
    """Give every component of a program its heap key now; returns how many components there are.

    A component's heap key (the name under which a Retry keeps its attempt count and backoff in the
    execution's heap) is a random id made on first use. Shared by concurrent executions, two of them could
    both make one, and a retrier would then lose its count. Made once, before sharing, it never changes.
    """
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent

    seen: set[int] = set()
    pending: list[Any] = [program]
    components = 0
    while pending:
        value = pending.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, Mapping):
            pending.extend(value.values())
        elif isinstance(value, list | tuple | set | frozenset):
            pending.extend(value)
        elif type(value).__module__.startswith(_PARSER_PACKAGE) and hasattr(value, "__dict__"):
            if isinstance(value, EvalComponent):
                _ = value.heap_key
                components += 1
            pending.extend(vars(value).values())
    return components


class ProgramCache:
    """Parsed ASL programs, by definition text (least recently used dropped beyond MAX_PROGRAMS).

    `parse` raises for an invalid definition; nothing is kept then, and the next execution raises again.
    """

    def __init__(self, parse: Callable[[str], Any], max_programs: int = MAX_PROGRAMS) -> None:
        self._parse = parse
        self._max = max_programs
        self._programs: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, definition: str) -> Any:
        with self._lock:
            program = self._programs.get(definition)
            if program is not None:
                self._programs.move_to_end(definition)
                return program
        # Outside the lock: a parse takes tens of milliseconds. Two first executions may both parse; the
        # first program stored is the one both use from then on.
        program = self._parse(definition)
        assign_heap_keys(program)
        with self._lock:
            program = self._programs.setdefault(definition, program)
            self._programs.move_to_end(definition)
            while len(self._programs) > self._max:
                self._programs.popitem(last=False)
        return program

    def __len__(self) -> int:
        with self._lock:
            return len(self._programs)


def fresh_result(result: Any, env: Any) -> None:
    """A Pass state's `Result`, copied for each evaluation (replaces moto's Result._eval_body).

    The literal belongs to the program. moto pushes the object itself, and only the ResultPath that
    follows copies it; with a program shared by executions, a copy here keeps any later change to the
    output in the execution that made it, as a fresh parse per execution did.
    """
    env.stack.append(copy.deepcopy(result.result_obj))


# Distinct JSONPath texts kept per parser; a definition has a few dozen.
MAX_PATHS: Final = 4096


def cached_path_parser(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """`parse` (jsonpath-ng's), remembering each path's result; a path that does not parse raises every time,
    as before (lru_cache keeps no exceptions)."""
    return functools.lru_cache(maxsize=MAX_PATHS)(parse)


def _header(parameters: Mapping[str, Any], name: str) -> str | None:
    value = parameters.get(name)
    return None if value is None else str(value)


def _client_error(code: str, message: str, status: int) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {
                "RequestId": uuid.uuid4().hex,
                "HostId": "",
                "HTTPStatusCode": status,
                "HTTPHeaders": {"x-amzn-errortype": code},
                "RetryAttempts": 0,
            },
        },
        "Invoke",
    )


class InProcessLambda:
    """Stands in for the boto3 Lambda client of the interpreter's Lambda tasks: only `invoke` is used.

    Mirrors moto 5.2.5's Invoke handler (moto/awslambda/responses.py, LambdaResponse.invoke) around the
    stack's dispatch, which that handler called: it ignores the Qualifier parameter (it reads a lowercase
    `qualifier` query parameter that botocore never sends), answers 202 to Event and 204 to DryRun, turns a
    response over 6 MB into Function.ResponseSizeTooLarge, and drops a log tail not asked for.
    """

    def __init__(self, dispatch: Dispatch) -> None:
        self._dispatch = dispatch

    def invoke(self, **parameters: Any) -> dict[str, Any]:
        from moto.core.exceptions import JsonRESTError, ServiceException

        headers = {
            header: value
            for header, value in (
                ("X-Amz-Invocation-Type", _header(parameters, "InvocationType")),
                ("X-Amz-Log-Type", _header(parameters, "LogType")),
                ("X-Amz-Client-Context", _header(parameters, "ClientContext")),
            )
            if value is not None
        }
        payload = parameters.get("Payload")
        body = payload.encode("utf-8") if isinstance(payload, str) else bytes(payload or b"")
        response_headers: dict[str, str] = {}
        try:
            result = self._dispatch(str(parameters["FunctionName"]), None, body, headers, response_headers)
        except JsonRESTError as error:
            # What botocore raises for moto's error response (the dispatch raises moto's Lambda errors), so
            # the interpreter names the error as over HTTP: "Exception" for a task on a function ARN,
            # Lambda.<code> (ResourceNotFoundException, say) for the lambda:invoke integration.
            raise _client_error(error.relative_error_type, error.message, error.code) from None
        except ServiceException as error:
            raise _client_error(error.code, error.message, 400) from None
        invocation_type = headers.get("X-Amz-Invocation-Type")
        if invocation_type != "Event" and sys.getsizeof(result) > _MAX_RESPONSE_SIZE:
            response_headers["x-amz-function-error"] = "Unhandled"
            result = _SIZE_ERROR
        if invocation_type == "Event":
            status = 202
        elif invocation_type == "DryRun":
            status = 204
        else:
            status = 200
            if headers.get("X-Amz-Log-Type") != "Tail":
                response_headers.pop("x-amz-log-result", None)
        response: dict[str, Any] = {
            "ResponseMetadata": {
                "RequestId": uuid.uuid4().hex,
                "HTTPStatusCode": status,
                "HTTPHeaders": {"content-type": "application/json", **response_headers},
                "RetryAttempts": 0,
            },
            "StatusCode": status,
        }
        # In botocore's order (the headers, then the payload): the interpreter's history shows it.
        for key, header in (
            ("FunctionError", "x-amz-function-error"),
            ("LogResult", "x-amz-log-result"),
            ("ExecutedVersion", "x-amz-executed-version"),
        ):
            if header in response_headers:
                response[key] = response_headers[header]
        response["Payload"] = StreamingBody(io.BytesIO(result), len(result))
        return response


class ClientCache:
    """One client per (service, region, endpoint) from moto's boto_client_for, which makes a new one per
    call (about 3-6 ms of CPU each). Its credentials and configuration are constants."""

    def __init__(self, make: Callable[..., Any]) -> None:
        self._make = make
        self._clients: dict[tuple[str, str, str], Any] = {}
        self._lock = threading.Lock()

    def get(self, region: str, service: str, state_credentials: Any, endpoint: str) -> Any:
        key = (service, region, endpoint)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = self._make(region=region, service=service, state_credentials=state_credentials)
                self._clients[key] = client
        return client
