"""What Validate request makes of a read it may not make or a question it cannot settle.

Shared by the modules that read a bucket and its KMS keys (bucket_facts, bucket_encryption, kms_keys,
bucket_policy). An optional read refused with one of these codes means "unreadable", never a failure: the
connection may still work, and Verify access then says clearly why it does not.
"""

from __future__ import annotations

from typing import Literal

UNREADABLE = frozenset({"AccessDenied", "AccessDeniedException", "AllAccessDisabled"})

Tri = Literal["yes", "no", "unknown"]
