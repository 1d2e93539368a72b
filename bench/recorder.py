"""Instruments the embedded stack in-process: every request moto serves, every handler run, every log byte.

Requests are counted at the emulator, by wrapping moto's WSGI dispatcher (`DomainDispatcherApplication`):
service and key from the SigV4 `Credential=` scope, operation from `X-Amz-Target`, the query protocol's
`Action`, or moto's REST router (S3, Lambda). Nothing is recorded outside a phase, so the benchmark's own
checks never count. Pinned to moto 5.2.5 like the local stack.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import inspect
import io
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qs

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]+/([^/]+)/([^/]+)/")
# A caller that must be told apart from others signing with the same key (the Labellerr stand-in's test
# uses the connection's key, as the check does) adds `bench-origin/NAME` to its User-Agent.
_ORIGIN_TAG = re.compile(r"bench-origin/([\w-]+)")
# SigV4 signing names that differ from botocore's service names.
_SIGNING_NAME_TO_SERVICE: Final = {"states": "stepfunctions"}
_FORM: Final = "application/x-www-form-urlencoded"
UNSIGNED: Final = "(unsigned)"
_KEPT_BODY_BYTES: Final = 256 * 1024
# Labels of the spans the benchmark records.
LAMBDA_TASK_CALL: Final = "interpreter: a Lambda task's invocation, to the handler and back"
KEYED_CLIENT: Final = "aws.client_with_key: a boto3 client with the issued key"
ASL_PARSE: Final = "interpreter: ASL definition parsed (the local stack keeps one program per definition)"


@dataclass(frozen=True)
class Call:
    """One request moto served during a phase."""

    phase: str
    access_key: str
    service: str
    operation: str
    status: int
    started: float
    duration_ms: float
    thread: str
    # PutEvents entries (billed events); 1 for every other call.
    items: int = 1
    # DynamoDB only, for request units: the JSON request and response bodies.
    request_body: str | None = None
    response_body: str | None = None
    # The caller's `bench-origin/NAME` User-Agent tag, when it has one.
    origin_tag: str = ""


@dataclass(frozen=True)
class HandlerRun:
    phase: str
    function: str
    started: float
    duration_ms: float
    succeeded: bool


@dataclass(frozen=True)
class Span:
    """A timed call of an instrumented function (see Recorder.time_function)."""

    phase: str
    label: str
    started: float
    duration_ms: float


@dataclass(frozen=True)
class Collection:
    """A garbage collection that ran during a phase (any thread)."""

    phase: str
    generation: int
    duration_ms: float


@functools.cache
def _router(service: str) -> Any:
    from moto.core.routing import get_service_router

    return get_service_router(service)


def _read_body(environ: dict[str, Any]) -> bytes:
    """The request body; the stream is replaced so moto still reads all of it."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return b""
    if length <= 0:
        return b""
    body: bytes = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(body)
    return body


PREFLIGHT_SERVICE = "s3-preflight"


def identify(environ: dict[str, Any]) -> tuple[str, str, str, int]:
    """(access key id, service, operation, billed items) of a request, from its WSGI environ."""
    match = _CREDENTIAL.search(str(environ.get("HTTP_AUTHORIZATION") or ""))
    if match is None:
        # Verify access's browser-like CORS preflight: S3 answers it unsigned, and bills no request.
        if environ.get("REQUEST_METHOD") == "OPTIONS":
            return UNSIGNED, PREFLIGHT_SERVICE, "OPTIONS", 1
        return UNSIGNED, "unknown", "unknown", 1
    access_key, signing_name = match.group(1), match.group(3)
    service = _SIGNING_NAME_TO_SERVICE.get(signing_name, signing_name)
    target = str(environ.get("HTTP_X_AMZ_TARGET") or "")
    if target:
        operation = target.rsplit(".", 1)[-1]
        items = 1
        if service == "events" and operation == "PutEvents":
            try:
                items = len(json.loads(_read_body(environ) or b"{}").get("Entries", [])) or 1
            except ValueError:
                items = 1
        return access_key, service, operation, items
    if str(environ.get("CONTENT_TYPE") or "").startswith(_FORM):
        action = parse_qs(_read_body(environ).decode("utf-8", "replace")).get("Action")
        if action:
            return access_key, service, action[0], 1
    try:
        from moto.core.request import Request

        operation_model, _ = _router(service).match(Request(environ))
        return access_key, service, str(operation_model.name), 1
    except Exception:  # an unroutable request is still counted, as "unknown"
        return access_key, service, "unknown", 1


class LogSink(io.TextIOBase):
    """Where the functions' Powertools loggers write: counts the bytes per phase, keeps nothing."""

    def __init__(self, recorder: Recorder) -> None:
        super().__init__()
        self._recorder = recorder

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._recorder.add_log_bytes(len(text.encode("utf-8")))
        return len(text)


class Recorder:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._phase: str | None = None
        self.calls: list[Call] = []
        self.handler_runs: list[HandlerRun] = []
        self.spans: list[Span] = []
        self.collections: list[Collection] = []
        self.log_bytes: dict[str, int] = {}
        self._undo: list[tuple[Any, str, Any]] = []
        self._gc_started = 0.0

    # -- phases

    @property
    def current_phase(self) -> str | None:
        return self._phase

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        with self._lock:
            if self._phase is not None:
                raise RuntimeError(f"phase {name!r} started inside phase {self._phase!r}")
            self._phase = name
        try:
            yield
        finally:
            with self._lock:
                self._phase = None

    def calls_in(self, phase: str) -> list[Call]:
        with self._lock:
            return [call for call in self.calls if call.phase == phase]

    def handler_runs_in(self, phase: str) -> list[HandlerRun]:
        with self._lock:
            return [run for run in self.handler_runs if run.phase == phase]

    def spans_in(self, phase: str, label: str) -> list[Span]:
        with self._lock:
            return [span for span in self.spans if span.phase == phase and span.label == label]

    def collections_in(self, phase: str) -> list[Collection]:
        with self._lock:
            return [collection for collection in self.collections if collection.phase == phase]

    def _on_gc(self, stage: str, info: dict[str, int]) -> None:
        # The collector holds the GIL: no other thread runs between "start" and "stop".
        if stage == "start":
            self._gc_started = time.perf_counter()
            return
        phase = self._phase
        if phase is not None:
            elapsed = (time.perf_counter() - self._gc_started) * 1000
            self.collections.append(Collection(phase, info["generation"], elapsed))

    def add_log_bytes(self, count: int) -> None:
        phase = self._phase
        if phase is None:
            return
        with self._lock:
            self.log_bytes[phase] = self.log_bytes.get(phase, 0) + count

    # -- installing

    def _patch(self, target: Any, name: str, value: Any) -> None:
        # The raw attribute (a classmethod stays a classmethod when put back).
        self._undo.append((target, name, inspect.getattr_static(target, name)))
        setattr(target, name, value)

    def install(self) -> None:
        """Wrap moto's dispatcher, the interpreter's Lambda invocation and ASL parser (before the stack
        starts, so that the stack's own patches wrap these wrappers)."""
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication
        from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
        from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

        recorder = self
        original_call = DomainDispatcherApplication.__call__

        def dispatch(app: Any, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            phase = recorder._phase
            if phase is None:
                return original_call(app, environ, start_response)
            started = time.perf_counter()
            access_key, service, operation, items = identify(environ)
            request_body = None
            if service == "dynamodb":
                request_body = _read_body(environ)[:_KEPT_BODY_BYTES].decode("utf-8", "replace")
            statuses: list[str] = []

            def recording_start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
                statuses.append(status)
                return start_response(status, headers, exc_info)

            chunks = original_call(app, environ, recording_start_response)
            try:
                body = b"".join(chunks)
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()
            status = int(statuses[-1].split()[0]) if statuses else 0
            tagged = _ORIGIN_TAG.search(str(environ.get("HTTP_USER_AGENT") or ""))
            call = Call(
                phase=phase,
                access_key=access_key,
                service=service,
                operation=operation,
                status=status,
                started=started,
                duration_ms=(time.perf_counter() - started) * 1000,
                thread=threading.current_thread().name,
                items=items,
                request_body=request_body,
                response_body=None
                if request_body is None
                else body[:_KEPT_BODY_BYTES].decode("utf-8", "replace"),
                origin_tag=tagged.group(1) if tagged else "",
            )
            with recorder._lock:
                recorder.calls.append(call)
            return [body]

        self._patch(DomainDispatcherApplication, "__call__", dispatch)
        self.time_function(lambda_eval_utils, "execute_lambda_function_integration", LAMBDA_TASK_CALL)
        self.time_function(AmazonStateLanguageParser, "parse", ASL_PARSE)
        gc.callbacks.append(self._on_gc)

    def time_function(self, module: Any, name: str, label: str) -> None:
        """Record a Span for every call of `module.name` during a phase (callers that look it up at call
        time, as `aws.client_with_key(...)` and moto's interpreter do, see the wrapper)."""
        recorder = self
        original = getattr(module, name)

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                phase = recorder._phase
                if phase is not None:
                    span = Span(phase, label, started, (time.perf_counter() - started) * 1000)
                    with recorder._lock:
                        recorder.spans.append(span)

        self._patch(module, name, timed)

    def instrument_handlers(self, stack: Any) -> None:
        """Time every handler the stack dispatches to (replaces its LoadedFunction entries)."""
        for name, loaded in list(stack.functions.items()):
            stack.functions[name] = dataclasses.replace(loaded, handler=self._timed(name, loaded.handler))

    def _timed(self, function: str, handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        recorder = self

        @functools.wraps(handler)
        def timed(event: Any, context: Any) -> Any:
            started = time.perf_counter()
            succeeded = False
            try:
                result = handler(event, context)
                succeeded = True
                return result
            finally:
                phase = recorder._phase
                if phase is not None:
                    run = HandlerRun(
                        phase, function, started, (time.perf_counter() - started) * 1000, succeeded
                    )
                    with recorder._lock:
                        recorder.handler_runs.append(run)

        return timed

    def uninstall(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)
        while self._undo:
            target, name, original = self._undo.pop()
            setattr(target, name, original)
