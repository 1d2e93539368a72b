"""`provisioner rotate`: start a key rotation (and follow it with --wait), or confirm or roll back the
running one. The rotation's id is in the record (`rotation.rotation_id`) once it started."""

from __future__ import annotations

import argparse
from typing import Final, TextIO

from provisioner_cli.args import EXIT_FAILED, EXIT_OK
from provisioner_cli.commands import refused, waits
from provisioner_cli.render import emit, record_lines
from provisioner_cli.signing import connection_path
from provisioner_cli.stack import CliError, Target
from provisioner_cli.trace import RotationTrace
from provisioner_cli.waiting import follow

ROTATED: Final = "ROTATED"
# The stages a rotation ends in; the connection is ACTIVE again after each.
ENDED: Final = frozenset({"ROTATED", "FAILED", "STALLED", "ROLLED_BACK", "INTERRUPTED"})


def rotate(args: argparse.Namespace, target: Target, out: TextIO) -> int:
    if args.confirm or args.rollback:
        return _signal(args, target, out, "confirm" if args.confirm else "rollback")
    connection_id = args.connection_id
    answer = target.api.call("POST", connection_path(connection_id, "rotations"))
    failed = refused(answer, f"POST /connections/{connection_id}/rotations", out)
    if failed is not None:
        return failed
    started = answer.body if isinstance(answer.body, dict) else {}
    execution_arn = str(started.get("execution_arn") or "")
    emit(out, f"Rotation {started.get('rotation_id')} of {connection_id}: {started.get('status')}")
    emit(out, f"  execution {execution_arn}")
    if not waits(args, out):
        emit(out, f"Follow it with: provisioner status {connection_id}")
        return EXIT_OK
    emit(out)
    trace = RotationTrace(out)
    description = follow(target, execution_arn, trace, out)
    emit(out)
    if description is None:
        emit(out, "The rotation's history cannot be read; its stage is in the record:")
    record = target.api.call("GET", connection_path(connection_id))
    failed = refused(record, f"GET /connections/{connection_id}", out)
    if failed is not None:
        return failed
    for line in record_lines(record.body):
        emit(out, line)
    rotation = record.body.get("rotation") if isinstance(record.body, dict) else None
    stage = rotation.get("stage") if isinstance(rotation, dict) else None
    if rotation and rotation.get("rotation_id") == started.get("rotation_id") and stage == ROTATED:
        return EXIT_OK
    emit(out)
    emit(out, f"The rotation ended {stage or (description or {}).get('status')}, not {ROTATED}.")
    return EXIT_FAILED


def _signal(args: argparse.Namespace, target: Target, out: TextIO, kind: str) -> int:
    connection_id = args.connection_id
    rotation_id = args.rotation_id
    if not rotation_id:
        answer = target.api.call("GET", connection_path(connection_id))
        failed = refused(answer, f"GET /connections/{connection_id}", out)
        if failed is not None:
            return failed
        rotation = answer.body.get("rotation") if isinstance(answer.body, dict) else None
        if not isinstance(rotation, dict) or not rotation.get("rotation_id"):
            raise CliError(f"connection {connection_id} has no rotation to {kind}", code=EXIT_FAILED)
        rotation_id = str(rotation["rotation_id"])
        if rotation.get("stage") in ENDED:
            emit(out, f"Rotation {rotation_id} has ended ({rotation.get('stage')}): nothing to {kind}.")
            return EXIT_FAILED
    path = connection_path(connection_id, "rotations", rotation_id, kind)
    answer = target.api.call("POST", path)
    failed = refused(answer, f"POST {path}", out)
    if failed is not None:
        return failed
    body = answer.body if isinstance(answer.body, dict) else {}
    did = "confirmed" if kind == "confirm" else "rollback requested"
    emit(out, f"Rotation {rotation_id} of {connection_id}: {did} at stage {body.get('stage')}")
    emit(out, "  the rotation's next check acts on it; provisioner status shows the stage")
    return EXIT_OK
