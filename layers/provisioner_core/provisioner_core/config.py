"""Settings every step reads from the environment the template gives it."""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass

# Every connection owns one CORS rule, `labellerr-<connection_id>` (S3 allows IDs of 255 characters).
CORS_RULE_ID_PREFIX = "labellerr-"
TAG_CONNECTION_ID = "labellerr:connection-id"
TAG_EXECUTION_ARN = "labellerr:execution-arn"


@dataclass(frozen=True)
class Settings:
    iam_name_prefix: str
    iam_path: str
    secret_name_prefix: str
    cors_allowed_origins: tuple[str, ...]
    partition: str
    region: str
    permissions_boundary_arn: str = ""
    secrets_kms_key_arn: str = ""
    allowed_buckets: str = "*"
    # Empty: the hand-off to Labellerr is off and no request may ask for it.
    labellerr_credentials_secret_arn: str = ""
    labellerr_api_url: str = "https://api.labellerr.com"
    # Origins Verify access sends its browser-like preflights from (one per allowed pattern is picked).
    cors_probe_origins: tuple[str, ...] = ("https://pro.labellerr.com",)

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            iam_name_prefix=os.environ.get("IAM_NAME_PREFIX", "labellerr-"),
            iam_path=os.environ.get("IAM_PATH", "/labellerr/"),
            secret_name_prefix=os.environ.get("SECRET_NAME_PREFIX", "labellerr/connections/"),
            cors_allowed_origins=_origins(os.environ.get("CORS_ALLOWED_ORIGINS", "https://*.labellerr.com")),
            partition=os.environ.get("RESOURCE_PARTITION", "aws"),
            region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
            permissions_boundary_arn=os.environ.get("PERMISSIONS_BOUNDARY_ARN", ""),
            secrets_kms_key_arn=os.environ.get("SECRETS_KMS_KEY_ARN", ""),
            allowed_buckets=os.environ.get("ALLOWED_BUCKETS", "*"),
            labellerr_credentials_secret_arn=os.environ.get("LABELLERR_CREDENTIALS_SECRET_ARN", ""),
            labellerr_api_url=os.environ.get("LABELLERR_API_URL") or "https://api.labellerr.com",
            cors_probe_origins=_origins(os.environ.get("CORS_PROBE_ORIGINS", "https://pro.labellerr.com")),
        )

    @property
    def labellerr_enabled(self) -> bool:
        return bool(self.labellerr_credentials_secret_arn)

    def bucket_allowed(self, bucket: str) -> bool:
        """IAM's wildcard semantics (`*`, `?`), which the roles and the boundary enforce in AWS."""
        return fnmatch.fnmatchcase(bucket, self.allowed_buckets)


def _origins(text: str) -> tuple[str, ...]:
    return tuple(o.strip() for o in text.split(",") if o.strip())
