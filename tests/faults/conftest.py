"""One local stack for the fault matrix (what a connection has in the world: tests.support.residue.world).

The matrix runs every case against the same stack (fresh bucket and connection id per case), so it is
fast enough to run whole in CI; faults are reset between cases.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from provisioner_local.emulator import LocalStack
from tests.support.clients import Clients


@pytest.fixture(scope="package")
def stack() -> Iterator[LocalStack]:
    # A claim whose run never started is stale after 120 s, as in AWS: the matrix ages such a claim's
    # record (tests.support.records.age_claim) rather than waiting.
    # With the Labellerr stand-in: every journey hands its key to Labellerr, and world() looks there too.
    # A rotation checks once a (shortened) day: 7 adoption checks and 3 grace checks, so each case is short.
    with LocalStack(
        port=0,
        labellerr=True,
        parameter_overrides={"KeyRotationCheckSeconds": "86400"},
        # As AWS is: a CORS configuration shows seconds after it is written, a deleted secret's name stays
        # taken a while (on the emulated clock: retries, not time).
        bucket_config_delay="2",
        secret_deletion_delay="5",
    ) as local:
        yield local


@pytest.fixture(scope="package")
def clients(stack: LocalStack) -> Clients:
    return Clients.of(stack)
