"""The template file as YAML: CloudFormation's short tags (!Ref, !Sub, !GetAtt...) as their long forms.

Here, not in the local stack, so the deploy preflight reads the template without the emulator installed;
the local stack's template reader (provisioner_local.template) uses the same loader and error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class TemplateError(ValueError):
    """The template (or a definition it points to) cannot be read as what it should be."""


class CloudFormationLoader(yaml.SafeLoader):
    """A SafeLoader that reads CloudFormation short tags (!Ref, !Sub, ...) as their long JSON forms."""


def _long_form(name: str) -> str:
    return name if name in ("Ref", "Condition") else f"Fn::{name}"


def _construct_short_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            # The short form "Resource.Attribute" splits at the first dot; attributes may contain dots.
            resource, dot, attribute = str(value).partition(".")
            if not dot:
                raise TemplateError(f"!GetAtt {value!r}: expected Resource.Attribute")
            value = [resource, attribute]
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:  # pragma: no cover - yaml has no other node kinds
        raise TemplateError(f"!{tag_suffix}: unsupported YAML node {node!r}")
    return {_long_form(tag_suffix): value}


CloudFormationLoader.add_multi_constructor("!", _construct_short_tag)


def load_yaml(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as stream:
        # CloudFormationLoader is a SafeLoader subclass: no arbitrary objects.
        document = yaml.load(stream, Loader=CloudFormationLoader)  # noqa: S506  # nosec B506
    if not isinstance(document, dict):
        raise TemplateError(f"{path}: not a CloudFormation template (top level is not a mapping)")
    return document
