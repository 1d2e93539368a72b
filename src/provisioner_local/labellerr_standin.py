"""A Labellerr stand-in on loopback: the connector API's wire format, as Labellerr's SDK calls it.

It checks the credential headers and the client_id / uuid query parameters, parses the multipart forms,
keeps connections in memory (create, list, details, delete), runs a real connection test against the local
S3 with the submitted key (labellerr_access), answers Labellerr-style JSON errors, and can be told to fail
(`labellerr:test[:N]` and the like). Its request log never holds a secret: the api_secret and every
submitted secret access key are redacted before an entry is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import threading
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from types import TracebackType
from typing import Any, Final, Self
from urllib.parse import unquote

from provisioner_local.labellerr_access import AccessCheckFailed, S3AccessChecker, S3Path
from provisioner_local.labellerr_wire import Answer, Handler, LabellerrFaults, Reply, RequestSeen, redact

OPERATIONS: Final = ("test", "create", "list", "details", "delete")
CONNECTION_TYPES: Final = ("import", "export")
DATA_TYPES: Final = ("image", "video", "audio", "document", "text")
_LOOPBACK: Final = frozenset({"127.0.0.1", "::1", "localhost"})
_PREFIX: Final = "/connectors/connections/"
# (method, path after _PREFIX) -> operation; details is /connectors/connections/{id}/details.
_ROUTES: Final = {
    ("POST", "test"): "test",
    ("POST", "create"): "create",
    ("GET", "list"): "list",
    ("POST", "delete"): "delete",
}

logger = logging.getLogger(__name__)


def split_faults(specs: Sequence[str]) -> tuple[list[str], list[str]]:
    """(AWS faults, Labellerr faults) from one `--fault` list: `labellerr:...` goes to the stand-in."""
    labellerr = [spec for spec in specs if spec.strip().lower().startswith("labellerr:")]
    return [spec for spec in specs if spec not in labellerr], labellerr


@dataclass(frozen=True)
class StoredConnection:
    """One connection as the stand-in keeps it: the access key id that created it, never its secret."""

    connection_id: str
    name: str
    description: str
    connector: str
    connection_type: str
    created_at: str
    created_by: str
    access_key_id: str
    # HMAC of the submitted secret under a per-instance key: lets a test check it without keeping it.
    secret_digest: str = field(repr=False, compare=False)

    def wire(self) -> dict[str, Any]:
        """What `details` and `list` answer (Labellerr shows no key)."""
        answer = asdict(self)
        answer.pop("access_key_id")
        answer.pop("secret_digest")
        return answer


class LabellerrStandIn:
    """`with LabellerrStandIn(s3_endpoint_url=stack.endpoint_url) as labellerr: ... labellerr.url ...`"""

    def __init__(
        self,
        s3_endpoint_url: str,
        *,
        region: str = "us-east-1",
        host: str = "127.0.0.1",
        port: int = 0,
        faults: Sequence[str] = (),
    ) -> None:
        if host not in _LOOPBACK:
            raise ValueError(f"the Labellerr stand-in serves loopback only, not {host!r}")
        self.host = host
        self.requested_port = port
        # Made up per instance: nothing real to leak, and two stand-ins never accept each other's clients.
        self.api_key = f"local-{secrets.token_hex(8)}"
        self.api_secret = secrets.token_urlsafe(24)
        self.client_id = str(secrets.randbelow(900_000) + 100_000)
        self._digest_key = secrets.token_bytes(32)
        self._checker = S3AccessChecker(s3_endpoint_url, region)
        self._faults = LabellerrFaults(OPERATIONS)
        self._faults.set(faults)
        self._lock = threading.Lock()
        self._connections: dict[str, StoredConnection] = {}
        self._log: list[dict[str, Any]] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"LabellerrStandIn(url={self.url!r}, client_id={self.client_id!r})"

    # -- lifecycle

    @property
    def port(self) -> int:
        return self._server.server_address[1] if self._server is not None else 0

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}" if self._server is not None else ""

    def start(self) -> Self:
        if self._server is not None:
            raise RuntimeError("this Labellerr stand-in is already running")
        server = ThreadingHTTPServer((self.host, self.requested_port), Handler)
        server.daemon_threads = True
        server.answer = self._answer  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="labellerr-standin", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- what callers read

    @property
    def credentials(self) -> dict[str, str]:
        """For serve's JSON line: enough for any client to call the stand-in with Labellerr's headers."""
        return {
            "api_url": self.url,
            "client_id": self.client_id,
            "api_key": self.api_key,
            "api_secret": self.api_secret,
        }

    @property
    def secret_string(self) -> str:
        """The JSON the stack's LabellerrCredentialsSecretArn secret holds for this stand-in."""
        return json.dumps(
            {"api_key": self.api_key, "api_secret": self.api_secret, "client_id": self.client_id}
        )

    def connections(self, connection_type: str | None = None) -> list[StoredConnection]:
        with self._lock:
            found = list(self._connections.values())
        return [c for c in found if connection_type is None or c.connection_type == connection_type]

    def connection(self, connection_id: str) -> StoredConnection | None:
        with self._lock:
            return self._connections.get(connection_id)

    def secret_matches(self, connection_id: str, secret_access_key: str) -> bool:
        """Whether the connection was created with this secret access key."""
        stored = self.connection(connection_id)
        return stored is not None and hmac.compare_digest(
            stored.secret_digest, self._digest(secret_access_key)
        )

    @property
    def request_log(self) -> list[dict[str, Any]]:
        """Every request, oldest first, secrets redacted: method, path, query, headers, form, json, status."""
        with self._lock:
            return [dict(entry) for entry in self._log]

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()

    @property
    def faults(self) -> tuple[str, ...]:
        return self._faults.rules

    def set_faults(self, faults: Sequence[str]) -> None:
        """`labellerr:OPERATION[:N|:lost|:lost:N][@TYPE]` (test, create, list, details, delete): answer 500
        (the first N calls); with `lost`, after the call took effect; `@export`: only export calls."""
        self._faults.set(faults)

    @property
    def injected_faults(self) -> list[str]:
        return self._faults.fired

    # -- answering

    def _digest(self, secret: str) -> str:
        return hmac.new(self._digest_key, secret.encode(), hashlib.sha256).hexdigest()

    def _answer(self, seen: RequestSeen) -> Answer:
        hidden = {self.api_secret, *seen.submitted_secrets}
        try:
            reply = self._route(seen)
        except Reply as error:
            reply = error
        except Exception as error:
            # A traceback could quote the request: the class name only.
            logger.error(
                "Labellerr stand-in failed on %s %s: %s", seen.method, seen.path, type(error).__name__
            )
            reply = Reply(500, "Internal server error")
        entry = {**seen.loggable(), "status": reply.status}
        if reply.status >= 400:
            entry["error"] = reply.body.get("error")
        with self._lock:
            self._log.append(redact(entry, hidden))
        logger.debug("Labellerr stand-in %s %s -> %s", seen.method, seen.path, reply.status)
        return reply.status, reply.body

    def _route(self, seen: RequestSeen) -> Reply:
        path = seen.path
        if not path.startswith(_PREFIX):
            raise Reply(404, f"Cannot {seen.method} {path}")
        rest = path[len(_PREFIX) :]
        operation = _ROUTES.get((seen.method, rest))
        connection_id = ""
        if operation is None and rest.endswith("/details") and rest.count("/") == 1 and seen.method == "GET":
            operation, connection_id = "details", unquote(rest.split("/")[0])
        if operation is None:
            raise Reply(404, f"Cannot {seen.method} {path}")
        # The SDK sends email_id on every connector call but details.
        self._authenticate(seen, email_id_required=operation != "details")
        fault = self._faults.take(operation, _connection_type_of(seen))
        if fault == "fail":
            raise Reply(500, f"Injected fault for labellerr:{operation} (provisioner-local --fault)")
        reply = self._act(operation, seen, connection_id)
        if fault is not None:
            # It took effect; the caller sees a 500, as when the answer is lost on the way back.
            raise Reply(500, f"Injected lost reply for labellerr:{operation} (provisioner-local --fault)")
        return reply

    def _act(self, operation: str, seen: RequestSeen, connection_id: str) -> Reply:
        if operation == "test":
            return self._test(seen)
        if operation == "create":
            return self._create(seen)
        if operation == "list":
            return self._list(seen)
        if operation == "details":
            return Reply(200, response=self._known(connection_id).wire())
        return self._delete(seen)

    def _authenticate(self, seen: RequestSeen, *, email_id_required: bool) -> None:
        headers = seen.headers
        missing = [name for name in ("api_key", "api_secret", "client_id") if not headers.get(name)]
        if missing:
            raise Reply(401, "Unauthorized: missing " + ", ".join(missing) + " header(s)")
        # Bytes: compare_digest refuses str with non-ASCII characters, which a header may carry.
        if not (
            hmac.compare_digest(headers["api_key"].encode(), self.api_key.encode())
            and hmac.compare_digest(headers["api_secret"].encode(), self.api_secret.encode())
        ):
            raise Reply(401, "Invalid API key or secret")
        query_client_id = seen.query.get("client_id")
        if not query_client_id or not seen.query.get("uuid"):
            raise Reply(400, "client_id and uuid query parameters are required")
        if not headers["client_id"] == query_client_id == self.client_id:
            raise Reply(403, "client_id does not match the API key's workspace")
        email_id = headers.get("email_id")
        if (email_id_required and not email_id) or (email_id and email_id != self.api_key):
            raise Reply(403, "email_id header missing or not the API key's user")

    def _test(self, seen: RequestSeen) -> Reply:
        form = seen.require_form("credentials", "connector", "path", "connection_type", "data_type")
        access_key_id, secret_access_key = seen.s3_credentials(form)
        connection_type = _choice(form, "connection_type", CONNECTION_TYPES)
        _choice(form, "data_type", DATA_TYPES)
        _choice(form, "connector", ("s3",))
        try:
            path = S3Path.parse(form["path"])
            checks = self._checker.check(access_key_id, secret_access_key, path, connection_type)
        except AccessCheckFailed as failure:
            raise Reply(failure.status, str(failure)) from None
        return Reply(
            200, response={"status": "success", "message": "Connection successful", "checks": checks}
        )

    def _create(self, seen: RequestSeen) -> Reply:
        form = seen.require_form("credentials", "connector", "connection_type", "name", "client_id")
        access_key_id, secret_access_key = seen.s3_credentials(form)
        connection_type = _choice(form, "connection_type", CONNECTION_TYPES)
        _choice(form, "connector", ("s3",))
        if form["client_id"] != self.client_id:
            raise Reply(403, "client_id does not match the API key's workspace")
        if not form["name"].strip():
            raise Reply(400, "name is required")
        stored = StoredConnection(
            connection_id=str(uuid.uuid4()),
            name=form["name"],
            description=form.get("description", ""),
            connector="s3",
            connection_type=connection_type,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            created_by=seen.headers.get("email_id") or self.api_key,
            access_key_id=access_key_id,
            secret_digest=self._digest(secret_access_key),
        )
        with self._lock:
            self._connections[stored.connection_id] = stored
        return Reply(200, response={"connection_id": stored.connection_id})

    def _list(self, seen: RequestSeen) -> Reply:
        connector = seen.query.get("connector", "s3")
        wanted = seen.query.get("connection_type")
        if wanted is not None and wanted not in CONNECTION_TYPES:
            raise Reply(400, f"Invalid connection_type {wanted!r}")
        found = [c.wire() for c in self.connections(wanted) if c.connector == connector]
        return Reply(200, response=found)

    def _delete(self, seen: RequestSeen) -> Reply:
        connection_id = seen.json_field("connection_id")
        self._known(connection_id)
        with self._lock:
            self._connections.pop(connection_id, None)
        return Reply(
            200, response={"message": "Connection deleted successfully", "connection_id": connection_id}
        )

    def _known(self, connection_id: str) -> StoredConnection:
        stored = self.connection(connection_id)
        if stored is None:
            raise Reply(404, "Connection not found")
        return stored


def _connection_type_of(seen: RequestSeen) -> str | None:
    """The connection type a call names (test, create: a form field; list: a query parameter)."""
    return (seen.form or {}).get("connection_type") or seen.query.get("connection_type")


def _choice(form: dict[str, str], name: str, choices: Sequence[str]) -> str:
    value = form[name]
    if value not in choices:
        raise Reply(400, f"Invalid {name} {value!r}: expected one of {', '.join(choices)}")
    return value
