"""The template's resources a local stack creates in moto: state machines, DynamoDB tables, event buses and
rules. moto's data outlives a stack, so each is created, or taken over as a deployment would update it."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from provisioner_local.stack_common import LocalStackError, StackFacts
from provisioner_local.template import EventBusSpec, EventRuleSpec, StateMachineSpec, TableSpec

logger = logging.getLogger("provisioner_local")

# The stack's admin clients, by service name.
Clients = Callable[[str], Any]


def create_state_machine(
    client: Clients, others: Sequence[StackFacts], machine: StateMachineSpec, definition: str
) -> str:
    sfn = client("stepfunctions")
    arn = str(
        sfn.create_state_machine(name=machine.name, definition=definition, roleArn=machine.role_arn)[
            "stateMachineArn"
        ]
    )
    # moto's data outlives a stack, and its CreateStateMachine returns a machine of that name as it is:
    # one made by an earlier stack of this process from another template would run here instead of
    # this template's. Like a deployment, this stack puts its own definition in place.
    current = sfn.describe_state_machine(stateMachineArn=arn)
    if current["definition"] != definition or current["roleArn"] != machine.role_arn:
        owners = [other.template_path for other in others if arn in other.state_machines.values()]
        if owners:
            logger.warning(
                "%s: state machine %s of the stack running %s now has this template's definition",
                machine.logical_id,
                machine.name,
                ", ".join(str(owner) for owner in owners),
            )
        sfn.update_state_machine(stateMachineArn=arn, definition=definition, roleArn=machine.role_arn)
    return arn


def create_table(client: Clients, others: Sequence[StackFacts], table: TableSpec) -> str:
    dynamodb = client("dynamodb")
    kept = False
    try:
        dynamodb.create_table(**table.create_arguments)
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceInUseException":
            raise LocalStackError(f"{table.logical_id}: cannot create table {table.name}: {error}") from error
        # moto's data outlives a stack: another stack (or an earlier one) of this process made it.
        kept = _keep_or_replace_table(others, dynamodb, table)
    try:
        if table.ttl_attribute is not None:
            dynamodb.update_time_to_live(
                TableName=table.name,
                TimeToLiveSpecification={"AttributeName": table.ttl_attribute, "Enabled": True},
            )
        if table.point_in_time_recovery:
            dynamodb.update_continuous_backups(
                TableName=table.name,
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
            )
    except ClientError as error:
        # A kept table may have TTL enabled already (ValidationException): nothing to change then.
        if not (kept and error.response["Error"]["Code"] == "ValidationException"):
            raise LocalStackError(
                f"{table.logical_id}: cannot configure table {table.name}: {error}"
            ) from error
    return table.name


def _keep_or_replace_table(others: Sequence[StackFacts], dynamodb: Any, table: TableSpec) -> bool:
    """A table of this name exists: kept when its keys and indexes are the template's, or while another
    running stack uses it; replaced (its items dropped) when an earlier stack made it differently, as a
    deployment replaces a table whose keys change. True when kept."""
    existing = dynamodb.describe_table(TableName=table.name)["Table"]
    if _table_shape(existing) == _table_shape(table.create_arguments):
        logger.info("%s: table %s already exists; kept as it is", table.logical_id, table.name)
        return True
    users = [other.template_path for other in others if table.name in other.tables.values()]
    if users:
        logger.warning(
            "%s: table %s of the running stack %s has other keys or indexes than this template's; kept",
            table.logical_id,
            table.name,
            ", ".join(str(user) for user in users),
        )
        return True
    logger.info("%s: table %s had other keys or indexes; made anew", table.logical_id, table.name)
    dynamodb.delete_table(TableName=table.name)
    dynamodb.create_table(**table.create_arguments)
    return False


def create_event_bus(client: Clients, bus: EventBusSpec) -> str:
    try:
        client("events").create_event_bus(Name=bus.name)
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceAlreadyExistsException":
            raise LocalStackError(f"{bus.logical_id}: cannot create event bus {bus.name}: {error}") from error
    return bus.name


def create_event_rule(client: Clients, rule: EventRuleSpec) -> str:
    events = client("events")
    where = f"{rule.owner_logical_id}.Events.{rule.event_id}"
    try:
        arn = events.put_rule(
            Name=rule.name,
            EventBusName=rule.event_bus_name,
            EventPattern=json.dumps(rule.pattern),
            State=rule.state,
        )["RuleArn"]
        events.put_targets(Rule=rule.name, EventBusName=rule.event_bus_name, Targets=[dict(rule.target)])
    except ClientError as error:
        raise LocalStackError(f"{where}: cannot create rule {rule.name}: {error}") from error
    return str(arn)


def _table_shape(table: Mapping[str, Any]) -> tuple[Any, ...]:
    """Keys and indexes (names and keys) of CreateTable's arguments or DescribeTable's table."""

    def keys(schema: Any) -> tuple[tuple[str, str], ...]:
        return tuple((str(key["AttributeName"]), str(key["KeyType"])) for key in schema or ())

    def indexes(kind: str) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
        return tuple(sorted((str(i["IndexName"]), keys(i["KeySchema"])) for i in table.get(kind) or ()))

    return keys(table["KeySchema"]), indexes("GlobalSecondaryIndexes"), indexes("LocalSecondaryIndexes")
