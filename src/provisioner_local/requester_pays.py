"""Requester Pays, as S3 has it: the setting is kept, read back, and applied to issued keys' requests.

AWS's rules (S3 User Guide, "Using Requester Pays buckets"): PutBucketRequestPayment sets Payer to Requester
or BucketOwner, GetBucketRequestPayment reads it; on a Requester Pays bucket every request must carry
`x-amz-request-payer: requester` (or the query parameter in a presigned URL), else S3 answers 403
AccessDenied. moto 5.2.5 accepts PutBucketRequestPayment, keeps nothing, and GetBucketRequestPayment answers
without a Payer.

The AWS page also says bucket owners need not send the header; whether an IAM user of the owning account
counts as the owner there is not written down, so the local stack follows the issue it was built for: keys the
flow issues are vendor keys, and their requests without the header are refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from provisioner_local.moto_targets import S3_BUCKET_RESPONSE_GET, S3_BUCKET_RESPONSE_PUT, PatchSet

PAYER_HEADER = "x-amz-request-payer"
_PAYER = re.compile(rb"<Payer>\s*(Requester|BucketOwner)\s*</Payer>")
_ANSWER = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<RequestPaymentConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Payer>{payer}</Payer>'
    "</RequestPaymentConfiguration>"
)


def refused(payer: str, headers: Mapping[str, str], query: Mapping[str, Any] | None = None) -> bool:
    """True when S3 refuses a request to a bucket with this Payer for want of the requester's consent."""
    if payer != "Requester":
        return False
    lowered = {k.lower(): str(v) for k, v in headers.items()}
    if lowered.get(PAYER_HEADER, "").lower() == "requester":
        return False
    values = (query or {}).get(PAYER_HEADER) or []
    return "requester" not in [str(v).lower() for v in (values if isinstance(values, list) else [values])]


def parse_payer(body: bytes) -> str | None:
    match = _PAYER.search(body or b"")
    return match.group(1).decode() if match else None


def install(patches: PatchSet) -> None:
    from moto.s3.exceptions import MalformedXML

    original_get = S3_BUCKET_RESPONSE_GET.original()
    original_put = S3_BUCKET_RESPONSE_PUT.original()

    def bucket_get(response: Any, bucket_name: str, querystring: dict[str, Any]) -> Any:
        if "requestPayment" not in querystring:
            return original_get(response, bucket_name, querystring)
        bucket = response.backend.get_bucket(bucket_name)
        return 200, {"Content-Type": "application/xml"}, _ANSWER.format(payer=bucket.payer)

    def bucket_put(response: Any, request: Any, bucket_name: str, querystring: dict[str, Any]) -> Any:
        if "requestPayment" not in querystring:
            return original_put(response, request, bucket_name, querystring)
        payer = parse_payer(
            response.body if isinstance(response.body, bytes) else str(response.body).encode()
        )
        if payer is None:
            raise MalformedXML()
        response.backend.get_bucket(bucket_name).payer = payer
        return 200, {}, ""

    patches.set(S3_BUCKET_RESPONSE_GET, bucket_get)
    patches.set(S3_BUCKET_RESPONSE_PUT, bucket_put)
