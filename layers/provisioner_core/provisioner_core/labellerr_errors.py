"""What Labellerr's answers mean for the state machine: typed errors, and the judging of an answer.

LabellerrUnavailable (5xx, 429, timeouts, connection errors) is worth retrying; LabellerrRejected (other 4xx,
odd answers) is not. An error's message quotes Labellerr's own words, scrubbed of every secret first.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Final

from provisioner_core import labellerr_transport as transport

_MAX_MESSAGE: Final = 500

logger = logging.getLogger("provisioner_core.labellerr")


class LabellerrError(Exception):
    """Base of the Labellerr errors; `status` is the HTTP status (None without an answer)."""

    def __init__(
        self,
        operation: str,
        message: str,
        *,
        status: int | None = None,
        labellerr_message: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.operation = operation
        self.detail = message
        self.status = status
        self.labellerr_message = labellerr_message
        self.request_id = request_id
        suffix = f" (request {request_id})" if request_id else ""
        super().__init__(f"Labellerr {operation}: {message}{suffix}")


class LabellerrUnavailable(LabellerrError):
    """5xx, 429, a timeout or no connection: the same call may well succeed later."""


class LabellerrRejected(LabellerrError):
    """Labellerr refused the call (4xx) or answered something unusable: repeating it will not help."""


class LabellerrTestFailed(LabellerrRejected):
    """Labellerr ran its connection test and it failed: the key cannot do what the connection needs there."""


class LabellerrMisconfigured(LabellerrError):
    """The credentials secret or the API URL is unusable; no call was made."""

    def __init__(self, message: str) -> None:
        super().__init__("configuration", message)


def judge(
    operation: str, status: int, raw: bytes, request_id: str, hidden: tuple[str, ...]
) -> dict[str, Any]:
    text = raw.decode("utf-8", errors="replace")
    try:
        body: Any = json.loads(text) if text.strip() else None
    except ValueError:
        body = None
    if 200 <= status < 300:
        if status == 204:
            return {}
        if not isinstance(body, dict):
            raise LabellerrRejected(
                operation, f"HTTP {status} without a JSON object", status=status, request_id=request_id
            )
        return body
    said = transport.message_of(body) if body is not None else (text.strip() or None)
    # Scrubbed before it is cut, so no secret survives in part.
    said = transport.scrub(said, hidden)[:_MAX_MESSAGE] if said else None
    detail = f"HTTP {status}" + (f": {said}" if said else "")
    kind: type[LabellerrError]
    if status == 429 or status >= 500:
        kind = LabellerrUnavailable
    else:
        kind = LabellerrRejected
        if 300 <= status < 400:
            detail += " (redirects are not followed)"
    logger.warning("Labellerr %s failed: %s (request %s)", operation, detail, request_id)
    raise kind(operation, detail, status=status, labellerr_message=said, request_id=request_id)
