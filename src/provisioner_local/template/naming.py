"""The local account, region and stack, and the ARNs and ids the local stack gives its resources."""

from __future__ import annotations

import hashlib
import uuid
from typing import Final

PARTITION: Final = "aws"
# The region a LocalStack runs in unless told otherwise (the CLI uses AWS_REGION / AWS_DEFAULT_REGION).
REGION: Final = "us-east-1"
# moto's default account: every request signed with a key it does not know lands there.
ACCOUNT_ID: Final = "123456789012"
STACK_NAME: Final = "labellerr-provisioner-local"

# SAM's implicit API for HttpApi events that name no ApiId.
IMPLICIT_HTTP_API: Final = "ServerlessHttpApi"
API_TYPES: Final = (
    "AWS::Serverless::HttpApi",
    "AWS::ApiGatewayV2::Api",
    "AWS::Serverless::Api",
    "AWS::ApiGateway::RestApi",
)


def function_arn(name: str, region: str = REGION) -> str:
    return f"arn:{PARTITION}:lambda:{region}:{ACCOUNT_ID}:function:{name}"


def state_machine_arn(name: str, region: str = REGION) -> str:
    return f"arn:{PARTITION}:states:{region}:{ACCOUNT_ID}:stateMachine:{name}"


def table_arn(name: str, region: str = REGION) -> str:
    return f"arn:{PARTITION}:dynamodb:{region}:{ACCOUNT_ID}:table/{name}"


def event_bus_arn(name: str, region: str = REGION) -> str:
    return f"arn:{PARTITION}:events:{region}:{ACCOUNT_ID}:event-bus/{name}"


def api_id(logical_id: str) -> str:
    """A stable, API Gateway-shaped id (10 lowercase letters and digits) for an API of the local stack."""
    number = int.from_bytes(hashlib.sha256(f"{STACK_NAME}/{logical_id}".encode()).digest()[:8], "big")
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
    digits = []
    for _ in range(10):
        number, digit = divmod(number, 36)
        digits.append(alphabet[digit])
    return "".join(digits)


def kms_key_id(logical_id: str) -> str:
    """A stable, KMS-shaped key id (a UUID) for a key of the local stack: what Ref of a KMS key gives."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{STACK_NAME}/{logical_id}"))
