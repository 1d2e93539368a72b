"""What a step checked, one line per check, as its result reports it."""

from __future__ import annotations

from typing import TypedDict


class OperationCheck(TypedDict):
    """One call made to prove access (Verify access) or one CORS probe (cors_probe): `outcome` is passed,
    failed, warning or not_tried."""

    operation: str
    outcome: str
    detail: str


class LabellerrTest(TypedDict):
    """Labellerr's connection test of a key for one connection type (Labellerr's words, never the key)."""

    connection_type: str
    outcome: str
    detail: str
