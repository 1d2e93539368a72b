"""EventBridge in the local stack: what moto does not deliver (state machine and Lambda targets, SQS targets
with Input or InputPath) delivered here, and every event put through a running stack's server logged."""

from __future__ import annotations

import copy
import json
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from provisioner_local.eventbridge import InputPathError, log_entry, target_input
from provisioner_local.running_stacks import RunningStacks

logger = logging.getLogger("provisioner_local")


def log_events(
    stacks: RunningStacks,
    backend: Any,
    events: Sequence[Mapping[str, Any]],
    entries: Sequence[Mapping[str, Any]],
) -> None:
    for event, entry in zip(events, entries, strict=False):
        if "EventId" not in entry:
            continue
        record = log_entry(
            event,
            str(entry["EventId"]),
            backend._normalize_event_bus_arn(event.get("EventBusName")),
            backend.account_id,
            backend.region_name,
        )
        stacks.record_event(record)


def send_to_targets(
    stacks: RunningStacks, rule: Any, event: Any, transform_input: bool, original: Callable[..., None]
) -> None:
    """moto's Rule.send_to_targets, plus `states` and `lambda` targets, `Input`/`InputPath` for SQS
    targets (moto ignores both), and disabled rules stay quiet."""
    if rule.state == "DISABLED":
        return
    ours = [target for target in rule.targets if _delivered_here(target)]
    if len(ours) < len(rule.targets):
        # A shallow copy: moto's code for the other targets runs on a rule that has only them.
        others = copy.copy(rule)
        others.targets = [target for target in rule.targets if target not in ours]
        original(others, event, transform_input)
    if not ours or not rule.event_pattern.matches_event(event):
        return
    for target in ours:
        deliver(stacks, rule, target, event)


def deliver(stacks: RunningStacks, rule: Any, target: Mapping[str, Any], event: Any) -> None:
    """EventBridge's invocation of a state machine (StartExecution) or a function (asynchronous Invoke).

    Like EventBridge, a failed delivery never fails PutEvents: it is logged as a warning.
    """
    arn = str(target["Arn"])
    where = f"rule {rule.name} target {target.get('Id')}"
    try:
        text = target_input(target, event, rule.name, rule.arn)
    except (InputPathError, LookupError) as error:
        logger.warning("%s: nothing delivered: %s", where, error)
        return
    if _arn_service(arn) == "states":
        from moto.stepfunctions.responses import get_backend

        _, _, _, region, account, *_ = arn.split(":")
        try:
            json.loads(text)
            execution = get_backend(account, region).start_execution(arn, str(uuid.uuid4()), text)
        except Exception as error:  # what EventBridge would count as a failed invocation
            logger.warning("%s: cannot start an execution of %s: %s", where, arn, error)
            return
        logger.info("%s: started %s", where, execution.execution_arn)
        return
    if _arn_service(arn) == "sqs":
        from moto.sqs import sqs_backends

        _, _, _, region, account, queue = arn.split(":", 5)
        group_id = (target.get("SqsParameters") or {}).get("MessageGroupId")
        try:
            sqs_backends[account][region].send_message(queue_name=queue, message_body=text, group_id=group_id)
        except Exception as error:
            logger.warning("%s: cannot send to %s: %s", where, arn, error)
        return
    try:
        stacks.dispatch_invoke(arn, None, text.encode("utf-8"), {"X-Amz-Invocation-Type": "Event"}, {})
    except Exception as error:
        logger.warning("%s: cannot invoke %s: %s", where, arn, error)


def _arn_service(arn: str) -> str:
    parts = arn.split(":")
    return parts[2] if len(parts) > 2 and parts[0] == "arn" else ""


def _delivered_here(target: Mapping[str, Any]) -> bool:
    """Targets the local stack delivers itself; moto keeps the rest (logs, archives, buses, plain SQS)."""
    service = _arn_service(str(target["Arn"]))
    return service in ("states", "lambda") or (
        service == "sqs" and ("Input" in target or "InputPath" in target)
    )
