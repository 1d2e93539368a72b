"""A small client for Labellerr's connector API, as Labellerr's own SDK calls it (wire: labellerr_transport).

The SDK pulls in `requests` and is not on PyPI; the handlers need five calls, so this speaks the wire format
itself (../shared/notes/labellerr-api.md). Errors are typed for the state machine: LabellerrUnavailable
(5xx, 429, timeouts, connection errors) is worth retrying; LabellerrRejected (other 4xx, odd answers) is not.
Neither the S3 secret access key nor the api_secret ever appears in an error, a repr or a log line.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from provisioner_core import labellerr_transport as transport
from provisioner_core.labellerr_errors import (
    LabellerrMisconfigured,
    LabellerrRejected,
    LabellerrTestFailed,
    LabellerrUnavailable,
    judge,
)

DEFAULT_API_URL: Final = "https://api.labellerr.com"
# What the SDK sends: Labellerr should see the same client whichever of the two calls it.
SOURCE: Final = "sdk"
ORIGIN: Final = "https://pro.labellerr.com"
# Labellerr's test lists and reads the bucket itself, so reads get longer than connects. One call is
# bounded by CALL_DEADLINE_S; a step making several calls passes `time_left` so all end inside its Lambda.
CONNECT_TIMEOUT_S: Final = 3.0
READ_TIMEOUT_S: Final = 8.0
CALL_DEADLINE_S: Final = 10.0
# Kept free at the end of an invocation to raise the error and return it to Step Functions.
INVOCATION_MARGIN_S: Final = 1.5
CONNECTION_TYPES: Final = ("import", "export")
DATA_TYPES: Final = ("image", "video", "audio", "document", "text")
# One import connection feeds datasets, one export connection receives annotations (see docs/).
CONNECTION_TYPES_BY_ACCESS: Final[Mapping[str, tuple[str, ...]]] = {
    "import": ("import",),
    "import_export": ("import", "export"),
}

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LabellerrCredentials:
    """A workspace's API credentials, as the secret named by LabellerrCredentialsSecretArn holds them."""

    api_key: str
    api_secret: str = field(repr=False)
    client_id: str

    @classmethod
    def from_secret_string(cls, text: str) -> LabellerrCredentials:
        # The secret's text is never quoted back: it may be the credentials with one field misnamed.
        try:
            value = json.loads(text)
        except ValueError:
            raise LabellerrMisconfigured("the credentials secret is not JSON") from None
        if not isinstance(value, dict):
            raise LabellerrMisconfigured("the credentials secret is not a JSON object")
        fields = ("api_key", "api_secret", "client_id")
        bad = [name for name in fields if not isinstance(value.get(name), str | int) or value.get(name) == ""]
        if bad:
            raise LabellerrMisconfigured(
                "the credentials secret lacks non-empty " + ", ".join(bad) + " (expected api_key, "
                "api_secret, client_id)"
            )
        return cls(str(value["api_key"]), str(value["api_secret"]), str(value["client_id"]))


def load_credentials(secretsmanager: Any, secret_id: str) -> LabellerrCredentials:
    """Read the credentials secret with a boto3 Secrets Manager client (AWS errors are the caller's)."""
    secret = secretsmanager.get_secret_value(SecretId=secret_id)
    return LabellerrCredentials.from_secret_string(str(secret.get("SecretString") or ""))


@dataclass(frozen=True)
class S3Credentials:
    """The access key handed to Labellerr; its secret never leaves the request body."""

    access_key_id: str
    secret_access_key: str = field(repr=False)

    def as_form_value(self) -> str:
        return json.dumps({"access_key_id": self.access_key_id, "secret_access_key": self.secret_access_key})


@dataclass(frozen=True)
class LabellerrConnection:
    """What `details` answers; `raw` keeps every field Labellerr sent."""

    connection_id: str
    name: str | None
    description: str | None
    connector: str | None
    connection_type: str | None
    created_at: Any
    created_by: Any
    raw: Mapping[str, Any] = field(repr=False, compare=False)


def labellerr_path(bucket: str, prefix: str) -> str:
    """The `bucket/prefix/` form Labellerr's connection test wants (prefix already normalized)."""
    return f"{bucket}/{prefix}"


def _api_base(api_url: str) -> str:
    try:
        return transport.check_api_url(api_url)
    except ValueError as error:
        raise LabellerrMisconfigured(str(error)) from None


class LabellerrClient:
    """Labellerr's S3 connector calls for one workspace. Cheap to build; the connections are http_pool's."""

    def __init__(
        self,
        credentials: LabellerrCredentials,
        api_url: str = DEFAULT_API_URL,
        *,
        connect_timeout: float = CONNECT_TIMEOUT_S,
        read_timeout: float = READ_TIMEOUT_S,
        deadline: float = CALL_DEADLINE_S,
        time_left: Callable[[], float] | None = None,
    ) -> None:
        """`time_left`: seconds left in the invocation (`context.get_remaining_time_in_millis() / 1000`)."""
        self._credentials = credentials
        self.api_url = _api_base(api_url)
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.deadline = deadline
        self._time_left = time_left

    def __repr__(self) -> str:
        return f"LabellerrClient(api_url={self.api_url!r}, client_id={self._credentials.client_id!r})"

    # -- the calls

    def test_connection(
        self, s3: S3Credentials, path: str, connection_type: str, data_type: str = "image"
    ) -> dict[str, Any]:
        """Labellerr tests the key on `bucket/prefix/` and answers its `response`.

        A test Labellerr ran and failed raises LabellerrTestFailed; 401/403 (our API credentials) stay
        LabellerrRejected.
        """
        _check_choice("connection_type", connection_type, CONNECTION_TYPES)
        _check_choice("data_type", data_type, DATA_TYPES)
        try:
            answer = self._call(
                "test_connection",
                "POST",
                "/connectors/connections/test",
                form=[
                    ("credentials", s3.as_form_value()),
                    ("connector", "s3"),
                    ("path", path),
                    ("connection_type", connection_type),
                    ("data_type", data_type),
                ],
                secrets=(s3.secret_access_key,),
            )
        except LabellerrRejected as error:
            if error.status is None or not 400 <= error.status < 500 or error.status in (401, 403):
                raise
            raise LabellerrTestFailed(
                "test_connection",
                error.detail,
                status=error.status,
                labellerr_message=error.labellerr_message,
                request_id=error.request_id,
            ) from None
        response = answer.get("response")
        return response if isinstance(response, dict) else {}

    def create_connection(
        self, s3: S3Credentials, connection_type: str, name: str, description: str = ""
    ) -> str:
        """Creates the connection and returns Labellerr's connection_id. Not idempotent at Labellerr."""
        _check_choice("connection_type", connection_type, CONNECTION_TYPES)
        answer = self._call(
            "create_connection",
            "POST",
            "/connectors/connections/create",
            form=[
                ("credentials", s3.as_form_value()),
                ("connector", "s3"),
                ("connection_type", connection_type),
                ("name", name),
                ("description", description),
                ("client_id", self._credentials.client_id),
            ],
            secrets=(s3.secret_access_key,),
        )
        response = answer.get("response")
        connection_id = response.get("connection_id") if isinstance(response, dict) else None
        if not isinstance(connection_id, str) or not connection_id:
            # Not retryable: the connection may exist, and a second create would make another one.
            raise LabellerrRejected("create_connection", "the answer carries no response.connection_id")
        return connection_id

    def list_connections(self, connection_type: str | None = None) -> list[str]:
        """The workspace's S3 connection ids (of one type when given)."""
        query = {"connector": "s3"}
        if connection_type is not None:
            _check_choice("connection_type", connection_type, CONNECTION_TYPES)
            query["connection_type"] = connection_type
        answer = self._call("list_connections", "GET", "/connectors/connections/list", query=query)
        items = answer.get("response")
        if not isinstance(items, list):
            raise LabellerrRejected("list_connections", "the answer carries no response list")
        return [
            str(item["connection_id"])
            for item in items
            if isinstance(item, dict) and item.get("connection_id")
        ]

    def connection_details(self, connection_id: str) -> LabellerrConnection | None:
        """The connection, or None when Labellerr does not know the id."""
        quoted = urllib.parse.quote(connection_id, safe="")
        try:
            answer = self._call(
                "connection_details", "GET", f"/connectors/connections/{quoted}/details", email_id=False
            )
        except LabellerrRejected as error:
            if _means_unknown_id(error):
                return None
            raise
        # The SDK's own rule: no `response` means "connection not found".
        response = answer.get("response")
        if not isinstance(response, dict) or not response:
            return None
        return LabellerrConnection(
            connection_id=str(response.get("connection_id") or connection_id),
            name=response.get("name"),
            description=response.get("description"),
            connector=response.get("connector"),
            connection_type=response.get("connection_type"),
            created_at=response.get("created_at"),
            created_by=response.get("created_by"),
            raw=response,
        )

    def delete_connection(self, connection_id: str) -> bool:
        """Deletes the connection: True when deleted now, False when it was already gone (also success)."""
        try:
            self._call(
                "delete_connection",
                "POST",
                "/connectors/connections/delete",
                json_body={"connection_id": connection_id},
            )
            return True
        except LabellerrRejected as error:
            if error.status == 404:
                return False
            if not _means_unknown_id(error):
                raise
            # The API is not REST and may refuse an unknown id with a 400: ask before calling it gone.
            if self.connection_details(connection_id) is None:
                return False
            raise

    def find_connections(
        self, *, connection_type: str | None = None, name: str | None = None, description_marker: str = ""
    ) -> list[LabellerrConnection]:
        """Connections matching name and a marker in the description: how a retried create finds its own."""
        found = []
        for connection_id in self.list_connections(connection_type):
            details = self.connection_details(connection_id)
            if details is None:
                continue
            if name is not None and details.name != name:
                continue
            if description_marker and description_marker not in (details.description or ""):
                continue
            found.append(details)
        return found

    # -- the wire

    def _call(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        form: Iterable[tuple[str, str]] | None = None,
        json_body: Mapping[str, Any] | None = None,
        secrets: Iterable[str] = (),
        email_id: bool = True,
    ) -> dict[str, Any]:
        credentials = self._credentials
        request_id = str(uuid.uuid4())
        params = {"client_id": credentials.client_id, "uuid": request_id, **(query or {})}
        headers = {
            "api_key": credentials.api_key,
            "api_secret": credentials.api_secret,
            "client_id": credentials.client_id,
            "source": SOURCE,
            "origin": ORIGIN,
            "accept": "application/json",
            "user-agent": "labellerr-s3-provisioner",
        }
        if email_id:
            headers["email_id"] = credentials.api_key
        data: bytes | None = None
        if form is not None:
            data, headers["content-type"] = transport.multipart(form)
        elif json_body is not None:
            data, headers["content-type"] = json.dumps(json_body).encode(), "application/json"
        url = f"{self.api_url}{path}?{urllib.parse.urlencode(params)}"
        hidden = (credentials.api_secret, *secrets)
        deadline = self.deadline
        if self._time_left is not None:
            deadline = min(deadline, self._time_left() - INVOCATION_MARGIN_S)
            if deadline < 1.0:
                # Retryable: the state machine's next attempt is a fresh invocation with its full timeout.
                raise LabellerrUnavailable(operation, "no time left in this invocation")
        started = time.monotonic()
        try:
            status, raw = transport.send(
                method,
                url,
                headers=headers,
                body=data,
                connect_timeout=min(self.connect_timeout, deadline),
                read_timeout=self.read_timeout,
                deadline=deadline,
            )
        except transport.TransportFailure as failure:
            logger.warning("Labellerr %s %s: %s (request %s)", method, path, failure.reason, request_id)
            raise LabellerrUnavailable(operation, failure.reason, request_id=request_id) from None
        logger.info(
            "Labellerr %s %s answered %s in %d ms (request %s)",
            method,
            path,
            status,
            (time.monotonic() - started) * 1000,
            request_id,
        )
        return judge(operation, status, raw, request_id, hidden)


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, not {value!r}")


def _means_unknown_id(error: LabellerrRejected) -> bool:
    # 401/403 are about our credentials, not the id; anything else in 4xx may be Labellerr's "no such id".
    return error.status is not None and 400 <= error.status < 500 and error.status not in (401, 403)
