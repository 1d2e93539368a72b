"""os.environ while a LocalStack runs: the functions' variables (one environment for all of them, since they
share the process), set at start and put back at stop."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence

from provisioner_local.stack_common import LocalStackError, StackFacts
from provisioner_local.template import FunctionSpec

logger = logging.getLogger("provisioner_local")


class ProcessEnvironment:
    """os.environ changes that remember what they replaced, so `restore` puts every variable back."""

    def __init__(self) -> None:
        self._saved: dict[str, str | None] = {}

    def set(self, values: Mapping[str, str], unset: Sequence[str] = ()) -> None:
        for key in (*values, *unset):
            if key not in self._saved:
                self._saved[key] = os.environ.get(key)
        for key in unset:
            os.environ.pop(key, None)
        os.environ.update(values)

    def restore(self) -> None:
        for key, value in self._saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved.clear()


def merged_function_environment(specs: Sequence[FunctionSpec]) -> dict[str, str]:
    merged: dict[str, str] = {}
    owner: dict[str, str] = {}
    for spec in specs:
        for key, value in spec.environment.items():
            if key in merged and merged[key] != value:
                raise LocalStackError(
                    f"environment variable {key} is {merged[key]!r} in {owner[key]} but {value!r} in "
                    f"{spec.logical_id}; in-process all functions share one environment"
                )
            merged[key] = value
            owner.setdefault(key, spec.logical_id)
    return merged


def warn_about_other_stacks(
    region: str, environment: Mapping[str, str], others: Sequence[StackFacts]
) -> None:
    """os.environ is one for the process: what this stack sets replaces what a running one set."""
    for other in others:
        if other.region != region:
            logger.warning(
                "AWS_REGION=%s replaces %s of the stack already running (%s) while this one runs",
                region,
                other.region,
                other.template_path,
            )
        for key, value in environment.items():
            theirs = other.function_environment.get(key)
            if theirs is not None and theirs != value:
                logger.warning(
                    "%s=%r replaces %r of the stack already running (%s) while this one runs",
                    key,
                    value,
                    theirs,
                    other.template_path,
                )
