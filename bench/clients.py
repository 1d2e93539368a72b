"""The benchmark's own AWS clients: one session each, signed with one of its own keys."""

from __future__ import annotations

from typing import Any, Final

import boto3
from botocore.config import Config

# The benchmark's own clients sign with these, so the emulator counter can leave their calls out.
ADMIN_ACCESS_KEY_ID: Final = "bench-admin"
FLOOR_ACCESS_KEY_ID: Final = "bench-floor"
_SECRET: Final = "bench"  # noqa: S105 - the emulator accepts any secret for keys it did not issue

_CLIENT_CONFIG: Final = Config(
    connect_timeout=5, read_timeout=60, retries={"mode": "standard", "max_attempts": 3}
)


def session_for(region: str, access_key_id: str) -> boto3.session.Session:
    return boto3.session.Session(
        aws_access_key_id=access_key_id, aws_secret_access_key=_SECRET, region_name=region
    )


class Clients:
    """Clients of one session, signed with one of the benchmark's own keys."""

    def __init__(self, endpoint_url: str, region: str, access_key_id: str = ADMIN_ACCESS_KEY_ID) -> None:
        self.endpoint_url = endpoint_url
        self.region = region
        self.session = session_for(region, access_key_id)
        self._clients: dict[str, Any] = {}

    def __call__(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session.client(
                service,  # type: ignore[call-overload]  # any service name
                endpoint_url=self.endpoint_url,
                config=_CLIENT_CONFIG,
            )
        return self._clients[service]

    def with_key(
        self, service: str, access_key_id: str, secret_access_key: str, region: str | None = None
    ) -> Any:
        """A client signed with a key the flow issued: the emulator enforces that user's policies."""
        return self.session.client(
            service,  # type: ignore[call-overload]  # any service name
            endpoint_url=self.endpoint_url,
            region_name=region or self.region,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 0}),
        )
