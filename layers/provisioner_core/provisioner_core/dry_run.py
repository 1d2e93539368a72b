"""The state machine input's `dry_run` flag; its own module, as Validate request imports it and no more."""

from __future__ import annotations

from typing import Any

from provisioner_core.errors import InvalidRequest

DRY_RUN_FIELD = "dry_run"


def without_dry_run(raw: Any) -> Any:
    """The request without its `dry_run` flag, which only the state machine's input may carry: `true` takes
    the plan branch there (Dry run?), `false` is an ordinary run. Anything else is a violation. The HTTP API
    does not take it: POST /connections/plan is its plan door."""
    if not isinstance(raw, dict) or DRY_RUN_FIELD not in raw:
        return raw
    if not isinstance(raw[DRY_RUN_FIELD], bool):
        raise InvalidRequest([{"field": DRY_RUN_FIELD, "message": "must be true or false"}])
    return {key: value for key, value in raw.items() if key != DRY_RUN_FIELD}
