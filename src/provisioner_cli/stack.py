"""Which stack `provisioner` talks to: its API URL, the region to sign for, and the caller's credentials.

`--api-url` (or PROVISIONER_API_URL) names the API itself; otherwise the stack's `ApiUrl` output is read
from CloudFormation, the stack named by `--stack-name`, PROVISIONER_STACK, or samconfig.toml's stack_name
when run in the project. Credentials are the standard chain's (`--profile`, the environment, SSO, roles).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import boto3
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    NoRegionError,
    ProfileNotFound,
)

from provisioner_cli.signing import ApiClient, is_loopback
from provisioner_ops.deploy_config import DeployConfigError, read_samconfig
from provisioner_ops.smoke_http import api_region

API_URL_ENV: Final = "PROVISIONER_API_URL"
STACK_ENV: Final = "PROVISIONER_STACK"
SAMCONFIG: Final = Path("samconfig.toml")
API_URL_OUTPUT: Final = "ApiUrl"
# A loopback API (the local stack) with no region anywhere: the local stack's own default.
LOCAL_DEFAULT_REGION: Final = "us-east-1"
NO_CREDENTIALS: Final = (
    "no AWS credentials found: use --profile (or AWS_PROFILE), run `aws sso login`, or set "
    "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
)


class CliError(Exception):
    """What went wrong, in one line for a person; `code` is the exit code."""

    def __init__(self, message: str, code: int = 3) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Target:
    api: ApiClient
    session: Any
    region: str
    stack_name: str | None

    def client(self, service: str, region: str | None = None) -> Any:
        """A client with the caller's credentials (AWS_ENDPOINT_URL, as `serve --env` sets it, applies)."""
        return self.session.client(service, region_name=region or self.region)


def _session(profile: str | None, region: str | None) -> Any:
    try:
        return boto3.session.Session(profile_name=profile, region_name=region)
    except ProfileNotFound as error:
        raise CliError(f"{error} (--profile, or AWS_PROFILE)") from None


def _samconfig() -> tuple[str | None, str | None]:
    """samconfig.toml's stack name and region, when run in the project."""
    if not SAMCONFIG.is_file():
        return None, None
    try:
        config = read_samconfig(SAMCONFIG)
    except DeployConfigError:
        return None, None
    return config.stack_name, config.region


def stack_api_url(session: Any, stack_name: str, region: str) -> str:
    """The stack's ApiUrl output, read from CloudFormation with the caller's credentials."""
    try:
        cloudformation = session.client("cloudformation", region_name=region)
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except NoCredentialsError:
        raise CliError(NO_CREDENTIALS) from None
    except ClientError as error:
        message = error.response.get("Error", {}).get("Message", str(error))
        if "does not exist" in message:
            raise CliError(
                f"stack {stack_name!r} not found in {region} (--stack-name, --region, or --api-url)"
            ) from None
        raise CliError(f"reading stack {stack_name!r} in {region}: {message}") from None
    except BotoCoreError as error:
        raise CliError(f"reading stack {stack_name!r} in {region}: {error}") from None
    outputs = {item["OutputKey"]: item["OutputValue"] for item in stacks[0].get("Outputs", [])}
    if API_URL_OUTPUT not in outputs:
        raise CliError(
            f"stack {stack_name!r} in {region} has no {API_URL_OUTPUT} output: is it this project's?"
        )
    return str(outputs[API_URL_OUTPUT])


def resolve(
    *, api_url: str | None, stack_name: str | None, region: str | None, profile: str | None
) -> Target:
    """The API to call and how to sign for it; a CliError naming what is missing otherwise."""
    api_url = api_url or os.environ.get(API_URL_ENV) or None
    config_stack, config_region = (None, None) if api_url else _samconfig()
    session = _session(profile, region)
    if api_url is None:
        stack_name = stack_name or os.environ.get(STACK_ENV) or config_stack
        if not stack_name:
            raise CliError(
                f"which stack? give --stack-name (or {STACK_ENV}), --api-url (or {API_URL_ENV}), "
                "or run in the project directory (samconfig.toml)"
            )
        lookup_region = region or session.region_name or config_region
        if not lookup_region:
            raise CliError("no region: give --region, or set AWS_REGION")
        api_url = stack_api_url(session, stack_name, lookup_region)
    signing_region = api_region(api_url, region or session.region_name)
    if signing_region is None and is_loopback(api_url):
        signing_region = LOCAL_DEFAULT_REGION
    if signing_region is None:
        raise CliError(f"no region to sign for {api_url}: give --region, or set AWS_REGION")
    try:
        credentials = session.get_credentials()
    except BotoCoreError as error:
        raise CliError(f"reading AWS credentials: {error}") from None
    if credentials is None:
        raise CliError(NO_CREDENTIALS)
    api = ApiClient(api_url.rstrip("/"), signing_region, credentials.get_frozen_credentials)
    return Target(api=api, session=session, region=signing_region, stack_name=stack_name)


def execution_region(execution_arn: str, fallback: str) -> str:
    """arn:aws:states:<region>:<account>:execution:...: the region its history is read in."""
    parts = execution_arn.split(":")
    return parts[3] if len(parts) > 3 and parts[3] else fallback


def describe_client_error(error: Exception) -> str:
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        return f"{details.get('Code')}: {details.get('Message')}"
    if isinstance(error, NoRegionError):
        return "no region: give --region, or set AWS_REGION"
    if isinstance(error, NoCredentialsError):
        return NO_CREDENTIALS
    return str(error)
