"""The one exception of the template reader."""

from __future__ import annotations


class TemplateError(ValueError):
    """The template (or a definition it points to) cannot be turned into a local stack."""
