"""The Labellerr stand-in's HTTP side: parsing requests (multipart forms by hand-off to the email parser),
Labellerr-style JSON answers, redaction of secrets, and the `labellerr:OPERATION[:N|:lost|:lost:N]` faults."""

from __future__ import annotations

import email.parser
import email.policy
import json
import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

MAX_BODY: Final = 1 << 20
REDACTED: Final = "***"

logger = logging.getLogger("provisioner_local.labellerr_standin")

Answer = tuple[int, dict[str, Any]]


class Reply(Exception):
    """An answer raised from anywhere in a handler: `{"response": ...}`, or `{"error", "code"}` for errors."""

    def __init__(self, status: int, error: str | None = None, *, response: Any = None) -> None:
        self.status = status
        self.body: dict[str, Any] = (
            {"error": error, "code": status} if status >= 400 else {"response": response}
        )
        super().__init__(error or str(status))


@dataclass
class RequestSeen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    form: dict[str, str] | None = None
    json_body: Any = None
    # Every secret access key this request carried (or the whole credentials field when it is not JSON).
    submitted_secrets: set[str] = field(default_factory=set, repr=False)

    @classmethod
    def parse(cls, method: str, target: str, headers: dict[str, str], body: bytes) -> RequestSeen:
        parts = urlsplit(target)
        query = {name: values[0] for name, values in parse_qs(parts.query, keep_blank_values=True).items()}
        seen = cls(method, parts.path, query, headers)
        content_type = headers.get("content-type", "")
        if content_type.lower().startswith("multipart/form-data"):
            seen.form = _parse_multipart(content_type, body)
            credentials = (seen.form or {}).get("credentials")
            if credentials is not None:
                secret = _secret_in(credentials)
                seen.submitted_secrets.add(secret if secret is not None else credentials)
        elif content_type.lower().startswith("application/json") and body:
            try:
                seen.json_body = json.loads(body)
            except ValueError:
                seen.json_body = None
        return seen

    def require_form(self, *names: str) -> dict[str, str]:
        if self.form is None:
            raise Reply(400, "expected a multipart/form-data body")
        for name in names:
            if name not in self.form:
                raise Reply(400, f"{name} is required")
        return self.form

    def s3_credentials(self, form: dict[str, str]) -> tuple[str, str]:
        try:
            value = json.loads(form["credentials"])
        except ValueError:
            value = None
        if not (
            isinstance(value, dict)
            and isinstance(value.get("access_key_id"), str)
            and isinstance(value.get("secret_access_key"), str)
            and value["access_key_id"]
            and value["secret_access_key"]
        ):
            raise Reply(400, "credentials must be JSON with access_key_id and secret_access_key")
        return value["access_key_id"], value["secret_access_key"]

    def json_field(self, name: str) -> str:
        value = self.json_body.get(name) if isinstance(self.json_body, dict) else None
        if not isinstance(value, str) or not value:
            raise Reply(400, f"{name} is required (a JSON body)")
        return value

    def loggable(self) -> dict[str, Any]:
        """The request with the secrets taken out by structure; `redact` then catches any copy left."""
        headers = dict(self.headers)
        if "api_secret" in headers:
            headers["api_secret"] = REDACTED
        entry: dict[str, Any] = {"method": self.method, "path": self.path, "query": dict(self.query)}
        entry["headers"] = headers
        if self.form is not None:
            form: dict[str, Any] = dict(self.form)
            if "credentials" in form:
                try:
                    submitted = json.loads(form["credentials"])
                except ValueError:
                    submitted = None
                if isinstance(submitted, dict):
                    form["credentials"] = {**submitted, "secret_access_key": REDACTED}
                else:
                    form["credentials"] = REDACTED
            entry["form"] = form
        if self.json_body is not None:
            entry["json"] = self.json_body
        return entry


def _secret_in(credentials: str) -> str | None:
    try:
        value = json.loads(credentials)
    except ValueError:
        return None
    secret = value.get("secret_access_key") if isinstance(value, dict) else None
    return secret if isinstance(secret, str) and secret else None


def _parse_multipart(content_type: str, body: bytes) -> dict[str, str] | None:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        return None
    fields: dict[str, str] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        fields[name] = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else ""
    return fields


def redact(value: Any, hidden: Iterable[str]) -> Any:
    """A deep copy with every occurrence of a hidden string replaced, wherever it hides."""
    secrets = [s for s in hidden if s]
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {redact(k, secrets): redact(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(item, secrets) for item in value]
    return value


class Handler(BaseHTTPRequestHandler):
    """Hands each request to `server.answer(RequestSeen) -> (status, body)` and writes the JSON."""

    server_version = "labellerr-standin"

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._write(413, {"error": "Request body too large", "code": 413})
            return
        body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            seen = RequestSeen.parse(self.command, self.path, headers, body)
            status, answer = self.server.answer(seen)  # type: ignore[attr-defined]
        except Exception as error:
            # The traceback could quote the request: log the class only.
            logger.error(
                "Labellerr stand-in failed on %s %s: %s", self.command, self.path, type(error).__name__
            )
            status, answer = 500, {"error": "Internal server error", "code": 500}
        self._write(status, answer)

    def _write(self, status: int, answer: dict[str, Any]) -> None:
        raw = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: Any) -> None:
        # The request line holds only the path, client_id and uuid; still, keep stderr for the stack's logs.
        logger.debug("Labellerr stand-in: " + format, *args)


class LabellerrFaultSpecError(ValueError):
    """A --fault labellerr:... that names no stand-in operation."""


LOST: Final = "lost"


@dataclass(frozen=True)
class _Rule:
    operation: str
    times: int | None
    # The call takes effect; only its answer is lost (a 500 instead), as after a timeout.
    lost: bool = False
    # Only calls for connections of this type (import, export); None: every call.
    connection_type: str | None = None

    def __str__(self) -> str:
        text = f"labellerr:{self.operation}" + (f":{LOST}" if self.lost else "")
        if self.times is not None and not (self.lost and self.times == 1):
            text += f":{self.times}"
        return text + (f"@{self.connection_type}" if self.connection_type else "")


class LabellerrFaults:
    """`labellerr:OPERATION[:N|:lost|:lost:N][@TYPE]` rules, like the local stack's --fault: N fails only the
    first N calls; `lost` lets the first call (or first N) take effect and then answers 500; `@import` or
    `@export` only calls for that connection type (test, create and list name one), so a fault can hit the
    second of two creates."""

    def __init__(
        self, operations: Sequence[str], connection_types: Sequence[str] = ("import", "export")
    ) -> None:
        self.operations = tuple(operations)
        self.connection_types = tuple(connection_types)
        self._lock = threading.Lock()
        self._rules: tuple[_Rule, ...] = ()
        self._remaining: dict[_Rule, int | None] = {}
        self._fired: list[str] = []

    def parse(self, spec: str) -> _Rule:
        text, _, scope = spec.strip().partition("@")
        parts = text.split(":")
        lost = len(parts) >= 3 and parts[2] == LOST
        if lost:
            # A lost reply happens once unless told otherwise: every call taking effect is another case.
            parts = [*parts[:2], *(parts[3:] or ["1"])]
        if (
            len(parts) not in (2, 3)
            or parts[0].lower() != "labellerr"
            or parts[1] not in self.operations
            or (scope and scope not in self.connection_types)
        ):
            raise LabellerrFaultSpecError(
                f"{spec!r}: expected labellerr:OPERATION[:N|:lost|:lost:N][@TYPE], OPERATION one of "
                f"{', '.join(self.operations)}, TYPE one of {', '.join(self.connection_types)}"
            )
        times: int | None = None
        if len(parts) == 3:
            times = int(parts[2]) if parts[2].isdigit() else 0
            if times < 1:
                raise LabellerrFaultSpecError(f"{spec!r}: N must be a positive number of calls to fail")
        return _Rule(parts[1], times, lost, scope or None)

    def set(self, specs: Iterable[str]) -> None:
        rules = tuple(self.parse(spec) for spec in specs)
        with self._lock:
            self._rules = rules
            self._remaining = {rule: rule.times for rule in rules}
            self._fired.clear()

    @property
    def rules(self) -> tuple[str, ...]:
        return tuple(str(rule) for rule in self._rules)

    @property
    def fired(self) -> list[str]:
        with self._lock:
            return list(self._fired)

    def take(self, operation: str, connection_type: str | None = None) -> str | None:
        """None: answer normally; "fail": answer 500 without acting; "lost": act, then answer 500."""
        with self._lock:
            for rule in self._rules:
                if rule.operation != operation or rule.connection_type not in (None, connection_type):
                    continue
                remaining = self._remaining[rule]
                if remaining is not None:
                    if remaining <= 0:
                        continue
                    self._remaining[rule] = remaining - 1
                self._fired.append(f"labellerr:{operation}")
                return LOST if rule.lost else "fail"
            return None
