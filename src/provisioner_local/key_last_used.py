"""GetAccessKeyLastUsed as AWS answers it: the time, service and region of the key's latest authenticated
request, and nothing for a request the key did not sign.

moto records a "use" while it parses any request that names a key, before it checks anything, so a request
with a bad signature, or one signed with an Inactive key (which AWS refuses as unknown), would count as a
use. The local stack records a use of an issued key only once the request is authenticated: the key is
Active and the signature matches. Whether the request is then allowed does not matter: the key was used.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from provisioner_local.moto_targets import IAM_MARK_ACCOUNT_AS_VISITED, PatchSet


def install(patches: PatchSet, is_issued: Any) -> None:
    """Stop moto's own recording for issued keys (`is_issued(key_id)`); `record_use` records them."""
    original = IAM_MARK_ACCOUNT_AS_VISITED.original()

    def mark_account_as_visited(account_id: str, access_key: str, service: str, region: str) -> None:
        if not is_issued(access_key):
            original(account_id, access_key, service, region)

    patches.set(IAM_MARK_ACCOUNT_AS_VISITED, mark_account_as_visited)


def record_use(iam_request: Any, now: datetime | None = None) -> None:
    """The authenticated request's use of its key: what GetAccessKeyLastUsed reports from now on."""
    from moto.iam.models import AccessKeyLastUsed

    from provisioner_local.inactive_keys import model_key

    key = model_key(iam_request)
    if key is None:
        return
    stamp = (now or datetime.now(UTC)).replace(tzinfo=None)  # moto keeps naive UTC times
    key.last_used = AccessKeyLastUsed(
        timestamp=stamp, service=str(iam_request._service), region=str(iam_request._region)
    )
