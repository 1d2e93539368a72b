"""The template file as YAML. The loader lives with the deploy tools (provisioner_ops.cfn_yaml), which read
the template without the local stack installed; the local stack's reader uses the same one."""

from __future__ import annotations

from provisioner_ops.cfn_yaml import CloudFormationLoader, load_yaml

__all__ = ["CloudFormationLoader", "load_yaml"]
