"""The Labellerr stand-in of a local stack started with labellerr=True: the stand-in on loopback, its
credentials in a secret of the stack's Secrets Manager, and the template parameters that hand the flow's
keys to it. Started once moto serves, stopped before moto does."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

from botocore.exceptions import ClientError

from provisioner_local.labellerr_standin import LabellerrStandIn
from provisioner_local.template import SamTemplate

if TYPE_CHECKING:
    from provisioner_local.emulator import LocalStack

logger = logging.getLogger("provisioner_local")

# The template parameters the stand-in overrides; a template without both has no hand-off to configure.
LABELLERR_PARAMETERS: Final = frozenset({"LabellerrCredentialsSecretArn", "LabellerrApiUrl"})


def check_faults(faults: Sequence[str]) -> None:
    """A typo in a `labellerr:...` fault should fail before anything starts."""
    if faults:
        # The stand-in parses its own specs; a throwaway one checks them without serving.
        LabellerrStandIn("http://127.0.0.1:1", faults=faults)


def wanted(stack: LocalStack, template: SamTemplate) -> bool:
    """Whether this stack starts the stand-in for this template."""
    if stack.labellerr_enabled and set(template.parameters) >= LABELLERR_PARAMETERS:
        return True
    if stack.labellerr_enabled:
        # A template without the hand-off (a test fixture): nothing to configure with a stand-in.
        logger.info("%s declares no Labellerr parameters: no Labellerr stand-in", stack.template_path)
    return False


def start(stack: LocalStack) -> None:
    """The stand-in, its secret, and the parameter overrides naming both (`stack._labellerr_overrides`),
    which the caller resolves the template with again: the secret's ARN exists only once moto serves."""
    stack.labellerr = LabellerrStandIn(
        stack.endpoint_url, region=stack.region, faults=stack._labellerr_faults
    ).start()
    # Outside SecretNamePrefix, as a deployment's must be: only the Labellerr callers may read it.
    name = f"provisioner-local/labellerr-credentials-{uuid.uuid4().hex[:8]}"
    stack._labellerr_secret_arn = stack.client("secretsmanager").create_secret(
        Name=name, SecretString=stack.labellerr.secret_string
    )["ARN"]
    stack._labellerr_overrides = {
        "LabellerrCredentialsSecretArn": stack._labellerr_secret_arn,
        "LabellerrApiUrl": stack.labellerr.url,
    }


def stop(stack: LocalStack) -> None:
    """Whatever of start() happened, undone; called with moto still serving, so the secret can go."""
    if stack._labellerr_secret_arn and stack._server is not None:
        try:
            stack.client("secretsmanager").delete_secret(
                SecretId=stack._labellerr_secret_arn, ForceDeleteWithoutRecovery=True
            )
        except ClientError:
            logger.warning("Could not delete the local Labellerr credentials secret")
    stack._labellerr_secret_arn = ""  # nosec B105 - an ARN, empty until the stand-in starts
    stack._labellerr_overrides = {}
    if stack.labellerr is not None:
        stack.labellerr.stop()
        stack.labellerr = None
