"""Every AWS client the functions use comes from here.

One place sets timeouts and retry mode, and one place lets the embedded local stack attach botocore
event hooks (fault injection) to the functions' clients without touching anybody else's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, overload

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    # The type stubs (boto3-stubs, a dev dependency): never imported at run time.
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_stepfunctions import SFNClient

# Standard mode retries throttling and 5xx with jittered backoff; the state machine retries the rest.
_CLIENT_CONFIG = Config(
    connect_timeout=5,
    read_timeout=20,
    retries={"mode": "standard", "max_attempts": 4},
)
# IAM throttles per account (token buckets, rates unpublished): 100 onboardings at once meet Throttling on
# most IAM calls (make bench). Six attempts: botocore's jittered backoff then waits about 15 s in all
# (at most 31 s), about what a function's 30 s timeout leaves; more would time the function out, and the
# state machine's retries take over past it. ("max_attempts" counts retries, "total_max_attempts" all.)
_IAM_CONFIG = _CLIENT_CONFIG.merge(Config(retries={"mode": "standard", "total_max_attempts": 6}))

SessionHook = Callable[[boto3.session.Session], None]

# Empty in AWS. The local stack appends hooks before any handler makes a client.
SESSION_HOOKS: list[SessionHook] = []
# time.sleep in AWS. The local stack puts its shortened wait here, which moves its emulated clock on by the
# whole wait, as it does for a Retry's interval.
PAUSE: Callable[[float], None] = time.sleep


def pause(seconds: float) -> None:
    """A wait inside a step (waiting for AWS to show a change), which the local stack may shorten."""
    PAUSE(seconds)


_default_session: boto3.session.Session | None = None
_clients: dict[tuple[str, str | None], Any] = {}
_bounded_clients: dict[tuple[str, int, int], LambdaClient] = {}


def _new_session(
    access_key_id: str | None = None, secret_access_key: str | None = None, region_name: str | None = None
) -> boto3.session.Session:
    session = boto3.session.Session(
        aws_access_key_id=access_key_id, aws_secret_access_key=secret_access_key, region_name=region_name
    )
    for hook in SESSION_HOOKS:
        hook(session)
    return session


@overload
def client(service_name: Literal["dynamodb"], region_name: str | None = None) -> DynamoDBClient: ...
@overload
def client(service_name: Literal["events"], region_name: str | None = None) -> EventBridgeClient: ...
@overload
def client(service_name: Literal["iam"], region_name: str | None = None) -> IAMClient: ...
@overload
def client(service_name: Literal["kms"], region_name: str | None = None) -> KMSClient: ...
@overload
def client(service_name: Literal["s3"], region_name: str | None = None) -> S3Client: ...
@overload
def client(
    service_name: Literal["secretsmanager"], region_name: str | None = None
) -> SecretsManagerClient: ...
@overload
def client(service_name: Literal["stepfunctions"], region_name: str | None = None) -> SFNClient: ...
def client(service_name: Any, region_name: str | None = None) -> Any:
    """A client with the function's own credentials, cached for the life of the execution environment."""
    global _default_session
    key = (service_name, region_name)
    if key not in _clients:
        if _default_session is None:
            _default_session = _new_session()
        config = _IAM_CONFIG if service_name == "iam" else _CLIENT_CONFIG
        _clients[key] = _default_session.client(service_name, region_name=region_name, config=config)
    return _clients[key]


def bounded_client(
    service_name: Literal["lambda"], *, connect_timeout: int, read_timeout: int
) -> LambdaClient:
    """A client that makes one attempt within these timeouts: for a caller with a deadline of its own.

    A retry would repeat the whole wait (and, for an Invoke, start the work again). Cached per timeouts,
    which are whole seconds, so an execution environment keeps a handful at most.
    """
    global _default_session
    key = (service_name, connect_timeout, read_timeout)
    if key not in _bounded_clients:
        if _default_session is None:
            _default_session = _new_session()
        config = _CLIENT_CONFIG.merge(
            Config(
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                retries={"mode": "standard", "total_max_attempts": 1},
            )
        )
        _bounded_clients[key] = _default_session.client(service_name, config=config)
    return _bounded_clients[key]


def client_with_key(
    service_name: Literal["s3"], *, access_key_id: str, secret_access_key: str, region_name: str
) -> S3Client:
    """A client signed with an issued access key: never cached, so the key dies with the invocation.

    Built from the function's session (a new session costs about 100 ms of CPU: its loaders and models).
    """
    global _default_session
    if _default_session is None:
        _default_session = _new_session()
    # No retries: a key that is not yet usable must surface at once, so the state machine retries it.
    return _default_session.client(
        service_name,
        region_name=region_name,
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        config=_CLIENT_CONFIG.merge(Config(retries={"mode": "standard", "max_attempts": 1})),
    )


def reset_clients() -> None:
    """Forget cached clients, so hooks added later apply (used by the local stack and tests)."""
    global _default_session
    _default_session = None
    _clients.clear()
    _bounded_clients.clear()


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", "Unknown"))
