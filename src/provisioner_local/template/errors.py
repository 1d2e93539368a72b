"""The one exception of the template reader, shared with the deploy tools (provisioner_ops.cfn_yaml)."""

from __future__ import annotations

from provisioner_ops.cfn_yaml import TemplateError

__all__ = ["TemplateError"]
