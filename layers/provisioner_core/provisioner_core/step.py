"""What every step handler shares: AWS errors leave a handler as typed errors that keep their code."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from provisioner_core.aws import error_code
from provisioner_core.errors import AwsCallFailed, AwsCallRefused, AwsThrottled

Handler = TypeVar("Handler", bound=Callable[..., Any])


# The codes AWS answers when it throttles (IAM's Throttling; the JSON services' own names).
THROTTLING_CODES = frozenset(
    {"Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded", "SlowDown"}
)


# Refusals that waiting does not change: the caller's permissions, the request itself, an account quota, a
# key or bucket that is gone or disabled. Codes that can fade (NoSuchEntity right after a create, IAM's
# eventual consistency; ResourceNotFoundException; unknown codes, injected faults among them) stay retryable.
REFUSAL_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "AuthorizationError",
        "UnauthorizedOperation",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "MalformedPolicyDocument",
        "ValidationError",
        "ValidationException",
        "InvalidInput",
        "InvalidParameterValue",
        "InvalidParameterException",
        "InvalidArgument",
        "InvalidRequest",
        "InvalidBucketName",
        "MalformedXML",
        "LimitExceeded",
        "LimitExceededException",
        "NoSuchBucket",
        "DisabledException",
        "KMSInvalidStateException",
        "KMSDisabledException",
        "KMSAccessDeniedException",
    }
)

# The errors whose message keeps the AWS code that caused them ("<Operation> failed with <Code>: ..."), so
# that the run's error name can say the code (CreateUser.AccessDenied); Step Functions sees only the class
# name and the message.
CARRIES_AWS_CODE = frozenset({"AwsCallFailed", "AwsThrottled", "AwsCallRefused", "VerificationFailed"})
_AWS_CODE = re.compile(r" failed with ([A-Za-z0-9_.]+): ")


def aws_failure(error: ClientError) -> AwsCallFailed:
    """The one place that decides whether a failed AWS call is worth another attempt: the state machines
    retry AwsThrottled (longer, with jitter) and AwsCallFailed, never AwsCallRefused."""
    message = str(error.response.get("Error", {}).get("Message", ""))
    code = error_code(error)
    if code in THROTTLING_CODES:
        return AwsThrottled(error.operation_name, code, message)
    if code in REFUSAL_CODES:
        return AwsCallRefused(error.operation_name, code, message)
    return AwsCallFailed(error.operation_name, code, message)


def aws_code_in(error: str, message: str) -> str:
    """The AWS code an error's message keeps (see CARRIES_AWS_CODE), else the error's own name."""
    match = _AWS_CODE.search(message) if error in CARRIES_AWS_CODE else None
    return match.group(1) if match else error


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


def caught_error(failure: Mapping[str, Any]) -> tuple[str, str]:
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
