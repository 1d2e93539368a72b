"""Workflow variables in JSONPath states, which moto 5.2.5's ASL interpreter parses but cannot read.

moto (a port of LocalStack's interpreter) parses `Assign` on states, Choice rules and Catchers, and keeps
the values in the execution's variable store; but it reads every `$name` reference through its JSONata
engine, which it leaves unset, so any state that references a variable fails with States.Runtime
("'NoneType' object is not callable"). This module reads them as Step Functions documents for JSONPath
states: `$name` is the variable's value, `$name.field[0]` a JSONPath into it, and a reference to a variable
no state has assigned fails the state with States.Runtime. JSONata states are left as moto has them.

Installed with the local stack's other interpreter patches (aws_patches.install_interpreter_patches).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any, Final

from provisioner_local.moto_targets import STRING_VARIABLE_SAMPLE, PatchSet

# `$` then a variable name (letters, digits, underscore; not starting with a digit), then an optional
# JSONPath tail. `$$` (the context object) and `$.x` (the state input) never reach here: moto's grammar
# makes those context and input paths.
_REFERENCE: Final = re.compile(r"^\$(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<path>(?:[.\[].*)?)$")


class VariableReferenceError(ValueError):
    """A reference that names no assigned variable, or a path that is not in its value."""


def resolve(expression: str, lookup: Callable[[str], Any], extract: Callable[[str, Any], Any]) -> Any:
    """The value `expression` (`$name` or `$name<jsonpath>`) refers to, copied so a later change to the
    state's data cannot reach the variable. `lookup` raises KeyError for an unassigned name; `extract`
    applies a JSONPath rooted at `$` and raises for a path that is not there."""
    match = _REFERENCE.match(expression)
    if match is None:
        raise VariableReferenceError(f"'{expression}' is not a variable reference")
    name, path = match.group("name"), match.group("path")
    try:
        value = lookup(name)
    except KeyError:
        raise VariableReferenceError(f"the variable '${name}' is not assigned") from None
    if path:
        try:
            value = extract(f"${path}", value)
        except Exception as error:
            raise VariableReferenceError(f"the path '{path}' is not in the value of '${name}'") from error
    return copy.deepcopy(value)


def _runtime_failure(env: Any, field: str | None, expression: str, reason: str) -> Exception:
    from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    # Worded like moto's own failure for a context path that is not found (StringContextPath).
    cause = (
        f"The variable reference '{expression}' specified for the field '{field}' could not be resolved: "
        f"{reason}"
    )
    return FailureEventException(
        failure_event=FailureEvent(
            env=env,
            error_name=StatesErrorName(typ=StatesErrorNameType.StatesRuntime),
            event_type=HistoryEventType.TaskFailed,
            event_details=EventDetails(  # type: ignore[typeddict-item]
                taskFailedEventDetails=TaskFailedEventDetails(
                    error=StatesErrorNameType.StatesRuntime.to_name(), cause=cause
                )
            ),
        )
    )


def install(patches: PatchSet) -> None:
    """Replace moto's StringVariableSample evaluation for JSONPath states; `patches` undoes it."""
    from moto.stepfunctions.parser.asl.component.common.query_language import QueryLanguageMode
    from moto.stepfunctions.parser.asl.eval.variable_store import NoSuchVariable
    from moto.stepfunctions.parser.asl.utils.json_path import extract_json

    jsonata_sample = STRING_VARIABLE_SAMPLE.original()

    def sample(self: Any, env: Any) -> None:
        if self.query_language_mode != QueryLanguageMode.JSONPath:
            jsonata_sample(self, env)
            return

        def lookup(name: str) -> Any:
            try:
                return env.variable_store.get(name)
            except NoSuchVariable:
                raise KeyError(name) from None

        try:
            value = resolve(self.expression, lookup, extract_json)
        except VariableReferenceError as error:
            raise _runtime_failure(env, env.next_field_name, self.expression, str(error)) from None
        env.stack.append(value)

    patches.set(STRING_VARIABLE_SAMPLE, sample)
