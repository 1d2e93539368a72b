"""Typed errors. Step Functions sees the class name as the error, so ASL Retry and Catch match on it."""

from __future__ import annotations


class ProvisionerError(Exception):
    """Base of every error the steps raise on purpose."""


class InvalidRequest(ProvisionerError):
    """The request broke a rule; `errors` lists every violation as {field, message}."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        self.errors = errors
        super().__init__("Invalid request: " + "; ".join(f"{e['field']}: {e['message']}" for e in errors))


class BucketNotFound(ProvisionerError):
    pass


class BucketNotAccessible(ProvisionerError):
    pass


class UserAlreadyExists(ProvisionerError):
    pass


class PolicyAlreadyExists(ProvisionerError):
    pass


class SecretAlreadyExists(ProvisionerError):
    pass


class PolicyTooLarge(ProvisionerError):
    pass


class CorsRuleLimitExceeded(ProvisionerError):
    pass


class AccessNotYetEffective(ProvisionerError):
    """The new key was refused in a way that fades once IAM has propagated it: retryable."""


class CorsNotYetVisible(ProvisionerError):
    """The CORS rule this run just wrote does not show yet: S3's bucket configuration is eventually
    consistent. Retryable for a bounded time; after it, VerificationFailed."""


class SecretNameNotYetFree(ProvisionerError):
    """A secret of the connection's name is still being deleted (Secrets Manager deletes asynchronously, also
    without recovery): retryable until the name is free."""


class VerificationFailed(ProvisionerError):
    """The key works but does not do what the connection needs: not retryable."""


class AwsCallFailed(ProvisionerError):
    """An AWS call failed for a reason the step does not handle; the message keeps the AWS error code."""

    def __init__(self, operation: str, code: str, message: str) -> None:
        self.operation = operation
        self.code = code
        super().__init__(f"{operation} failed with {code}: {message}")


class AwsThrottled(AwsCallFailed):
    """AWS throttled the call past the SDK's retries: retried by the state machine longer and with jitter."""


class AwsCallRefused(AwsCallFailed):
    """AWS refused the call for a reason only a person changes (a permission, the request, a quota, a
    disabled key): no state machine retries it, so the run fails at once and rolls back."""


class ConnectionAlreadyExists(ProvisionerError):
    """Another run holds this connection id (PROVISIONING, ACTIVE, DEPROVISIONING or ROLLBACK_FAILED)."""


class ConnectionNotFound(ProvisionerError):
    pass


class ConnectionBusy(ProvisionerError):
    """The connection is in a state that forbids the requested change right now."""


class BucketBusy(ProvisionerError):
    """Another run holds the bucket's lease: retryable."""


class RequesterPaysBucket(ProvisionerError):
    """The bucket charges requesters: Labellerr's requests (no x-amz-request-payer) would all be refused."""


class UnsupportedEncryption(ProvisionerError):
    """Objects under the prefix use SSE-C: only the customer's own key reads them."""


class KmsKeyNotUsable(ProvisionerError):
    """A KMS key the bucket uses cannot be granted to the issued key (key policy, state, or unknown key)."""


class BucketPolicyDenies(ProvisionerError):
    """An explicit Deny in the bucket policy stops the issued user: no identity policy can overcome it."""


class AccessDeniedByPolicy(ProvisionerError):
    """The new key was refused by an explicit deny or by KMS: that does not fade with time, not retried."""


class TooManyAccessKeys(ProvisionerError):
    """The user holds two access keys (IAM's limit); a rotation never deletes an active key to make room."""


class RotationNotAllowed(ProvisionerError):
    """The connection cannot start a key rotation now (not ACTIVE, or another rotation holds it)."""


class UserGone(ProvisionerError):
    """The connection's IAM user cannot be found as ours: deleted, or no longer readable by our roles."""


class SecretGone(ProvisionerError):
    """The connection's secret is deleted, or scheduled for deletion."""


class PolicyDetached(ProvisionerError):
    """The connection's policy is no longer attached to its user: a refusal waiting does not change."""
