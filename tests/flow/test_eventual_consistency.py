"""What AWS does later rather than at once, met by the real flow: a versioned bucket's history, bucket
configuration read right after it is written, a secret's name taken while its deletion finishes."""

from __future__ import annotations

from typing import Any

import pytest

from provisioner_core.connection import probe_key_for
from tests.flow.conftest import leftovers, run_flow, unique_id
from tests.flow.test_labellerr_handoff import offboard

pytestmark = pytest.mark.flow


def _versions_of(s3: Any, bucket: str, key: str) -> list[dict[str, Any]]:
    listed = s3.list_object_versions(Bucket=bucket, Prefix=key)
    return [e for e in listed.get("Versions", []) + listed.get("DeleteMarkers", []) if e["Key"] == key]


def test_in_a_versioned_bucket_verification_and_offboarding_leave_no_version_of_the_probe(
    stack, sfn, s3, iam, secrets, bucket
):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    connection_id = unique_id("versioned")
    request = {
        "connection_name": "Versioned",
        "connection_id": connection_id,
        "bucket": bucket,
        "prefix": "exports/",
        "access": "import_export",
        "register_in_labellerr": False,
    }
    run = run_flow(stack, sfn, request)
    assert run.status == "SUCCEEDED", run.cause
    outcomes = {c["operation"]: c["outcome"] for c in run.output["verification"]["checks"]}
    assert outcomes["s3:DeleteObjectVersion"] == "passed"
    probe = probe_key_for("exports/", connection_id)
    assert _versions_of(s3, bucket, probe) == []

    assert offboard(stack, sfn, connection_id).status == "SUCCEEDED"
    # Offboarding deletes the probe by its name too: no delete marker for a probe that was already gone.
    assert _versions_of(s3, bucket, probe) == []
    assert leftovers(iam, secrets, connection_id) == []
