"""What AWS does to a request signed with a key the flow issued, in the order AWS does it.

moto alone authenticates the key, checks the signature and evaluates the user's identity policies (without
conditions or boundaries). The local stack adds, for S3 requests:

1. an Inactive key is refused as unknown (inactive_keys); IAM propagation (iam_propagation): a key newer
   than its drawn delay is InvalidAccessKeyId; then the signature (a signed request is a use of its key,
   key_last_used), and (S3) the signing region, which must be the bucket's (AuthorizationHeaderMalformed);
2. an explicit Deny in the bucket policy (bucket_policy_enforcement), before anything can allow;
3. IAM propagation: a policy attached to the user more recently than its drawn delay does not apply yet,
   so the request is AccessDenied as if the user had no policy;
4. moto's identity-policy check, then the user's permissions boundary (permissions_boundary), with its
   policy variables (the user's own tags) resolved;
5. Requester Pays (requester_pays);
6. SSE-KMS (kms_enforcement): kms:Decrypt for reading an SSE-KMS object, kms:GenerateDataKey for writing one.
"""

from __future__ import annotations

import json
from typing import Any

from provisioner_local import (
    bucket_policy_enforcement,
    inactive_keys,
    key_last_used,
    kms_enforcement,
    permissions_boundary,
    requester_pays,
)
from provisioner_local.iam_propagation import Propagation

READS = frozenset({"s3:GetObject"})
WRITES = frozenset({"s3:PutObject"})


def _s3_error(code: str, message: str) -> Exception:
    from moto.s3.exceptions import S3ClientError

    return S3ClientError(code, message)


def _access_denied(message: str) -> Exception:
    return _s3_error("AccessDenied", message)


def _split(resource: str) -> tuple[str, str]:
    """(bucket, key) of arn:aws:s3:::bucket[/key]."""
    path = resource.split(":::", 1)[-1]
    bucket, _, key = path.partition("/")
    return bucket, key


def _documents(iam_backend: Any, user_name: str) -> list[dict[str, Any]]:
    """The user's identity policies as documents (inline and attached managed)."""
    documents: list[dict[str, Any]] = []
    for name in iam_backend.list_user_policies(user_name):
        documents.append(json.loads(iam_backend.get_user_policy(user_name, name).policy_document))
    attached, _ = iam_backend.list_attached_user_policies(user_name)
    for policy in attached:
        version = next((v for v in policy.versions if v.is_default), None)
        if version is not None:
            documents.append(json.loads(version.document))
    return documents


def enforce(iam_request: Any, response: Any, resource: str, propagation: Propagation | None) -> None:
    """Raise what S3 would answer, or return and let the request through."""
    access_key = iam_request._access_key
    key_id = access_key._access_key_id
    inactive_keys.refuse_if_inactive(iam_request)
    if propagation is not None and propagation.key_pending(key_id):
        iam_request._raise_invalid_access_key("InvalidId")
    iam_request.check_signature()
    key_last_used.record_use(iam_request)
    service = iam_request._service
    if service != "s3":
        iam_request.check_action_permitted(resource)
        return
    iam_backend = iam_request.backend
    user = iam_backend.get_user(access_key._owner_user_name)
    action = iam_request._action
    bucket_name, object_key = _split(resource)
    bucket = _bucket(response, bucket_name)
    query = getattr(response, "querystring", {}) or {}
    prefix_values = query.get("prefix")
    request = bucket_policy_enforcement.S3Request(
        principal_arn=user.arn,
        account_id=iam_request.account_id,
        user_name=user.name,
        user_id=user.id,
        action=action,
        resource=resource,
        source_ip=_source_ip(response),
        prefix=(prefix_values[0] if isinstance(prefix_values, list) and prefix_values else None),
    )
    if bucket is not None and iam_request._region != bucket.region_name:
        raise _s3_error(
            "AuthorizationHeaderMalformed",
            f"The authorization header is malformed; the region '{iam_request._region}' is wrong; "
            f"expecting '{bucket.region_name}'",
        )
    if bucket is not None:
        message = bucket_policy_enforcement.check(bucket.policy, request)
        if message:
            raise _access_denied(message)
    if propagation is not None and propagation.pending_attachments(user.name):
        raise _access_denied(
            f'User: {user.arn} is not authorized to perform: {action} on resource: "{resource}" '
            f"because no identity-based policy allows the {action} action"
        )
    iam_request.check_action_permitted(resource)
    message = permissions_boundary.check(iam_backend, user, request)
    if message:
        raise _access_denied(message)
    if bucket is None:
        if propagation is not None:
            propagation.request_accepted(key_id)
        return
    if requester_pays.refused(bucket.payer, dict(response.headers), query):
        raise _access_denied("Access Denied")
    _enforce_kms(iam_request, response, bucket, object_key, user, action)
    if propagation is not None:
        propagation.request_accepted(key_id)


def _bucket(response: Any, name: str) -> Any:
    try:
        return response.backend.get_bucket(name) if name and name != "*" else None
    except Exception:
        return None


def _source_ip(response: Any) -> str:
    environ = getattr(getattr(response, "request", None), "environ", None) or {}
    return str(environ.get("REMOTE_ADDR") or "127.0.0.1")


def _enforce_kms(
    iam_request: Any, response: Any, bucket: Any, object_key: str, user: Any, action: str
) -> None:
    if action in READS and response.method in ("GET", "HEAD"):
        try:
            key_id = kms_enforcement.object_key_id(response.backend.get_object(bucket.name, object_key))
        except Exception:
            return
        kms_action = "kms:Decrypt"
    elif action in WRITES and response.method == "PUT":
        key_id = kms_enforcement.put_key_id(bucket, dict(response.headers))
        kms_action = "kms:GenerateDataKey"
    else:
        return
    if key_id is None:
        return
    from moto.kms.models import kms_backends

    kms = kms_backends[iam_request.account_id][bucket.region_name]
    try:
        key = kms.describe_key(key_id)
    except Exception:
        raise _access_denied(
            f"User: {user.arn} is not authorized to perform: {kms_action} on the resource associated with "
            "this ciphertext because the resource does not exist in this Region"
        ) from None
    refused = kms_enforcement.state_refusal(str(getattr(key, "key_state", "Enabled")), key.arn)
    if refused is not None:
        # A code S3's model does not name: moto answers it as 400 Bad Request, as S3 does KMS's refusals.
        raise _s3_error(*refused)
    if kms_enforcement.AWS_MANAGED_S3_ALIAS in getattr(key, "aliases", ()):
        return
    use = kms_enforcement.KmsUse(
        principal_arn=user.arn,
        account_id=iam_request.account_id,
        action=kms_action,
        key_arn=key.arn,
        region=bucket.region_name,
        object_arn=f"arn:aws:s3:::{bucket.name}/{object_key}",
    )
    message = kms_enforcement.refusal(json.loads(key.policy), _documents(iam_request.backend, user.name), use)
    if message:
        raise _access_denied(message)
