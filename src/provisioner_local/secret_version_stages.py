"""GetSecretValue without a version answers the version staged AWSCURRENT, as AWS documents; moto answers
its own "default version", which UpdateSecretVersionStage never moves.

AWS (Secrets Manager API reference, GetSecretValue): "If you don't specify either a VersionStage or
VersionId, then Secrets Manager returns the AWSCURRENT version." UpdateSecretVersionStage moving AWSCURRENT
to another version therefore changes what every reader of the secret gets, which is how a key rotation
hands the new key to consumers. moto keeps returning the old version until a PutSecretValue; the local
stack keeps its default version on whichever version holds AWSCURRENT.
"""

from __future__ import annotations

from typing import Any

from provisioner_local.moto_targets import SECRETS_UPDATE_VERSION_STAGE, PatchSet


def current_version(secret: Any) -> str | None:
    return next((v for v, data in secret.versions.items() if "AWSCURRENT" in data["version_stages"]), None)


def install(patches: PatchSet) -> None:
    original = SECRETS_UPDATE_VERSION_STAGE.original()

    def update_secret_version_stage(
        backend: Any, secret_id: str, version_stage: str, *args: Any, **kwargs: Any
    ) -> Any:
        answer = original(backend, secret_id, version_stage, *args, **kwargs)
        if version_stage == "AWSCURRENT":
            secret = backend.secrets[secret_id]
            secret.default_version_id = current_version(secret) or secret.default_version_id
        return answer

    patches.set(SECRETS_UPDATE_VERSION_STAGE, update_secret_version_stage)
