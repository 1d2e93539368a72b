"""What every step handler shares: AWS errors leave a handler as typed errors that keep their code."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from provisioner_core.aws import error_code
from provisioner_core.errors import AwsCallFailed, AwsThrottled

Handler = TypeVar("Handler", bound=Callable[..., Any])


# The codes AWS answers when it throttles (IAM's Throttling; the JSON services' own names).
THROTTLING_CODES = frozenset(
    {"Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded", "SlowDown"}
)


def aws_failure(error: ClientError) -> AwsCallFailed:
    message = str(error.response.get("Error", {}).get("Message", ""))
    code = error_code(error)
    if code in THROTTLING_CODES:
        return AwsThrottled(error.operation_name, code, message)
    return AwsCallFailed(error.operation_name, code, message)


def translate_aws_errors(handler: Handler) -> Handler:
    """Unhandled ClientErrors (and botocore's own network errors) become AwsCallFailed, whose message keeps
    the operation and AWS code.

    Step Functions only sees an exception's class name; `ClientError` alone would hide what failed.
    """

    @functools.wraps(handler)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return handler(*args, **kwargs)
        except ClientError as error:
            raise aws_failure(error) from None
        except BotoCoreError as error:
            # Connection and read timeouts past the SDK's retries: as retryable as a 5xx.
            raise AwsCallFailed(type(error).__name__, type(error).__name__, str(error)[:300]) from None

    return wrapper  # type: ignore[return-value]


def caught_error(failure: dict[str, Any]) -> tuple[str, str]:
    """(error, message) from a Catch's {Error, Cause}: Cause is the Lambda runtime's JSON envelope,
    or plain text for Step Functions' own errors (States.Timeout)."""
    error = str(failure.get("Error") or "Unknown")
    cause = str(failure.get("Cause") or "")
    try:
        envelope = json.loads(cause)
    except ValueError:
        return error, cause
    if not isinstance(envelope, dict):
        return error, cause
    return error, str(envelope.get("errorMessage", cause))
