"""The JSON a connection's secret holds: one shape for the first key and for every rotated one."""

from __future__ import annotations

import json

from provisioner_core.connection import Connection


def key_secret_string(access_key_id: str, secret_access_key: str, connection: Connection) -> str:
    return json.dumps(
        {
            "access_key_id": access_key_id,
            "secret_access_key": secret_access_key,
            "bucket": connection["bucket"],
            "prefix": connection["prefix"],
            "s3_uri": connection["s3_uri"],
            "region": connection["region"],
        }
    )
