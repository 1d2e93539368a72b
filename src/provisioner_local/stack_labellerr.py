"""The Labellerr stand-in of a local stack started with labellerr=True: the stand-in on loopback, its
credentials in a secret of the stack's Secrets Manager, and the template parameters that hand the flow's
keys to it. Started once moto serves, stopped before moto does."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any, Final

from botocore.exceptions import ClientError

from provisioner_local.labellerr_standin import LabellerrStandIn
from provisioner_local.template import SamTemplate

logger = logging.getLogger("provisioner_local")

# The template parameters the stand-in overrides; a template without both has no hand-off to configure.
LABELLERR_PARAMETERS: Final = frozenset({"LabellerrCredentialsSecretArn", "LabellerrApiUrl"})


def check_faults(faults: Sequence[str]) -> None:
    """A typo in a `labellerr:...` fault should fail before anything starts."""
    if faults:
        # The stand-in parses its own specs; a throwaway one checks them without serving.
        LabellerrStandIn("http://127.0.0.1:1", faults=faults)


class LabellerrHandoff:
    """The stand-in of one stack, its credentials' secret, and the template parameters naming both."""

    def __init__(self, *, enabled: bool, faults: Sequence[str]) -> None:
        self.enabled = enabled
        # Until the stand-in starts; then it keeps its own.
        self.faults = list(faults)
        self.standin: LabellerrStandIn | None = None
        self.overrides: dict[str, str] = {}
        self._secret_arn = ""  # nosec B105 - an ARN, empty until the stand-in starts

    def wanted(self, template: SamTemplate, template_path: object) -> bool:
        """Whether this stack starts the stand-in for this template."""
        if self.enabled and set(template.parameters) >= LABELLERR_PARAMETERS:
            return True
        if self.enabled:
            # A template without the hand-off (a test fixture): nothing to configure with a stand-in.
            logger.info("%s declares no Labellerr parameters: no Labellerr stand-in", template_path)
        return False

    def start(self, endpoint_url: str, region: str, secretsmanager: Any) -> None:
        """The stand-in, its secret, and the parameter overrides naming both (`overrides`), which the caller
        resolves the template with again: the secret's ARN exists only once moto serves."""
        self.standin = LabellerrStandIn(endpoint_url, region=region, faults=self.faults).start()
        # Outside SecretNamePrefix, as a deployment's must be: only the Labellerr callers may read it.
        name = f"provisioner-local/labellerr-credentials-{uuid.uuid4().hex[:8]}"
        secret = secretsmanager.create_secret(Name=name, SecretString=self.standin.secret_string)
        self._secret_arn = str(secret["ARN"])
        self.overrides = {
            "LabellerrCredentialsSecretArn": self._secret_arn,
            "LabellerrApiUrl": self.standin.url,
        }

    def stop(self, secretsmanager: Any | None) -> None:
        """Whatever of start() happened, undone; `secretsmanager` (None when moto no longer serves) takes
        the secret down."""
        if self._secret_arn and secretsmanager is not None:
            try:
                secretsmanager.delete_secret(SecretId=self._secret_arn, ForceDeleteWithoutRecovery=True)
            except ClientError:
                logger.warning("Could not delete the local Labellerr credentials secret")
        self._secret_arn = ""  # nosec B105 - an ARN, empty until the stand-in starts
        self.overrides = {}
        if self.standin is not None:
            self.standin.stop()
            self.standin = None
