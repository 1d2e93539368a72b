"""CloudFormation values: AWS::NoValue, and a scalar as the string CloudFormation makes of it."""

from __future__ import annotations

from typing import Any, Final

from provisioner_local.template.errors import TemplateError


class _NoValue:
    """AWS::NoValue: the property or list item disappears."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE: Final = _NoValue()


def as_cfn_string(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise TemplateError(f"{where}: expected a string, got {type(value).__name__} {value!r}")
