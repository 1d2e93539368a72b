"""What `provisioner` prints for a person: records, tables, plans and the API's errors, field by field.

Pure functions of the API's answers (and `emit`, one line at a time, flushed): no AWS, no local stack, so
`provisioner-local` prints its plans and traces with the same code.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, TextIO

_MARKS: Final = {"passed": "ok  ", "failed": "FAIL", "warning": "warn", "not_checked": "--  "}
# The list table's columns: (title, record field).
LIST_COLUMNS: Final = (
    ("CONNECTION", "connection_id"),
    ("STATUS", "status"),
    ("ACCESS", "access"),
    ("S3", "s3_uri"),
    ("UPDATED", "updated_at"),
    ("HEALTH", "health"),
)


def emit(stream: TextIO, text: str = "") -> None:
    stream.write(text + "\n")
    stream.flush()


def as_json(body: Any) -> str:
    return json.dumps(body, indent=2, sort_keys=False, default=str)


def error_lines(body: Any) -> list[str]:
    """The API's {"errors": [{"field", "message"}]}, one line per field; anything else as it came."""
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors:
        lines = []
        for error in errors:
            if isinstance(error, dict):
                lines.append(f"  {error.get('field') or '(request)'}: {error.get('message') or ''}".rstrip())
            else:
                lines.append(f"  {error}")
        return lines
    if isinstance(body, dict) and body.get("message"):
        return [f"  {body['message']}"]
    return [f"  {body if isinstance(body, str) else json.dumps(body)}"]


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str]] = LIST_COLUMNS) -> list[str]:
    """A plain text table: one header line, one line per row, columns as wide as their widest cell."""
    cells = [[title for title, _ in columns]]
    cells += [[_cell(row.get(key)) for _, key in columns] for row in rows]
    widths = [max(len(line[index]) for line in cells) for index in range(len(columns))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in cells
    ]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    # A nested verdict (the record's `health`) shows as its status.
    if isinstance(value, Mapping):
        return str(value.get("status") or "")
    return str(value)


def health_lines(health: Mapping[str, Any]) -> list[str]:
    """A health check's verdict for a person: the status and when, each finding on one line, then what the
    last repair put back."""
    lines = [f"Health: {health.get('status')} (checked {health.get('checked_at')})"]
    for finding in health.get("findings") or []:
        if not isinstance(finding, Mapping):
            continue
        outcome = str(finding.get("outcome"))
        repairable = " [repairable]" if finding.get("repairable") and outcome != "passed" else ""
        detail = " ".join(str(finding.get("detail") or "").split())
        lines.append(f"  {_MARKS.get(outcome, outcome)} {finding.get('check')}: {detail}{repairable}")
    lines += [f"  {'repaired:':<12}{each}" for each in health.get("repaired") or []]
    return lines


def _health_summary(health: Mapping[str, Any]) -> str:
    """One line for `status`: the verdict, what is not passed, and when."""
    off = [
        str(finding.get("check"))
        for finding in health.get("findings") or []
        if isinstance(finding, Mapping) and finding.get("outcome") != "passed"
    ]
    listed = f" ({', '.join(off)})" if off else ""
    return f"{health.get('status')}{listed}, checked {health.get('checked_at')}"


def record_lines(record: Mapping[str, Any]) -> list[str]:
    """A registry record for a person: what it is, where it stands, what it holds (never a secret: the API
    never answers one), then what went wrong or is left when something did."""
    lines = [f"Connection {record.get('connection_id')}: {record.get('status')}"]
    fields = (
        ("name", "connection_name"),
        ("s3", "s3_uri"),
        ("access", "access"),
        ("IAM user", "iam_user_arn"),
        ("policy", "policy_arn"),
        ("access key", "access_key_id"),
        ("secret", "secret_arn"),
        ("created", "created_at"),
        ("updated", "updated_at"),
    )
    for label, key in fields:
        if record.get(key):
            lines.append(f"  {label + ':':<12}{record[key]}")
    labellerr = record.get("labellerr")
    if isinstance(labellerr, dict) and labellerr.get("registered"):
        for each in labellerr.get("connections") or []:
            lines.append(
                f"  {'labellerr:':<12}{each.get('connection_type')} connection "
                f"{each.get('labellerr_connection_id')}"
            )
    rotation = record.get("rotation")
    if isinstance(rotation, dict) and rotation:
        lines.append(f"  {'rotation:':<12}{rotation.get('rotation_id')} {rotation.get('stage')}")
    health = record.get("health")
    if isinstance(health, Mapping) and health:
        lines.append(f"  {'health:':<12}{_health_summary(health)}")
    for key in record.get("keys") or []:
        if isinstance(key, dict):
            used = key.get("last_used_at") or "never used"
            current = " (current)" if key.get("current") else ""
            lines.append(
                f"  {'key:':<12}{key.get('access_key_id')} {key.get('status')}, last used {used}{current}"
            )
    error = record.get("error")
    if isinstance(error, dict) and error:
        lines.append(f"  {'error:':<12}{error.get('error') or error}")
        cause = error.get("cause")
        if cause:
            lines.append(f"  {'cause:':<12}{_one_line(cause)}")
    lines += [f"  {'left:':<12}{left}" for left in _left(record)]
    return lines


def _left(record: Mapping[str, Any]) -> Iterable[str]:
    for key in ("left_behind", "rotation_left_behind"):
        for left in record.get(key) or []:
            yield left if isinstance(left, str) else json.dumps(left)


def left_behind(record: Mapping[str, Any]) -> list[str]:
    return list(_left(record))


def _one_line(cause: Any) -> str:
    """An error's cause (often a Lambda error envelope as a JSON string): its message, on one line."""
    try:
        parsed = json.loads(cause) if isinstance(cause, str) else cause
    except json.JSONDecodeError:
        parsed = cause
    if isinstance(parsed, dict) and parsed.get("errorMessage"):
        return str(parsed["errorMessage"])
    return " ".join(str(cause).split())


def plan_lines(plan: dict[str, Any]) -> list[str]:
    """POST /connections/plan's answer for a person: the verdict, the names, the headroom, every check."""
    connection = plan["connection"]
    verdict = "would succeed" if plan["would_succeed"] else "would FAIL: " + ", ".join(plan["failed_checks"])
    lines = [
        f"Plan for connection {connection['connection_id']} (s3://{connection['s3_uri']}, "
        f"{connection['access']}): {verdict}",
        f"  IAM user  {plan['iam_user']['arn']}",
        f"  boundary  {plan['permissions_boundary']['arn'] or '(none)'}",
        f"  policy    {plan['policy']['arn']} ({plan['policy']['characters']} characters)",
        f"  secret    {plan['secret']['name']} ({plan['secret']['arn_prefix']}??????)",
        f"  CORS      {plan['cors'].get('change') or 'cannot be planned: the bucket could not be read'}",
    ]
    account = plan["account"]
    lines.append(
        f"  account   {account['iam_users_left']} IAM users and {account['managed_policies_left']} "
        f"managed policies left ({account['iam_users_on_path']} users on {account['iam_path']})"
    )
    lines.append("Checks:")
    for each in plan["checks"]:
        after = f" -> {each['would_fail_with']}" if each.get("would_fail_with") else ""
        lines.append(
            f"  {_MARKS.get(each['outcome'], each['outcome'])} {each['check']}: {each['detail']}{after}"
        )
    if connection.get("note"):
        lines.append(f"Note: {connection['note']}")
    lines.append("Nothing was created or changed.")
    return lines
