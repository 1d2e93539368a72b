"""DynamoDB tables: TableSpec, read from AWS::DynamoDB::Table and AWS::Serverless::SimpleTable."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from provisioner_local.template.errors import TemplateError
from provisioner_local.template.naming import REGION, table_arn
from provisioner_local.template.resources import ResourceReader


@dataclass(frozen=True)
class TableSpec:
    """A DynamoDB table: CreateTable's arguments, then its TTL and point-in-time recovery settings."""

    logical_id: str
    name: str
    create_arguments: Mapping[str, Any]
    ttl_attribute: str | None = None
    point_in_time_recovery: bool = False
    region: str = REGION

    @property
    def arn(self) -> str:
        return table_arn(self.name, self.region)


class TableReader(ResourceReader):
    """The template's tables as TableSpecs: CreateTable's arguments and the settings that follow it."""

    def tables(self) -> list[TableSpec]:
        specs = []
        for logical_id, resource in self._of_type("AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable"):
            where = f"Resources.{logical_id}.Properties"
            properties = self.resolve(resource.get("Properties") or {}, where)
            name = self._resource_ref(logical_id, where)
            if resource["Type"] == "AWS::Serverless::SimpleTable":
                specs.append(replace(_simple_table_spec(logical_id, name, properties), region=self.region))
            else:
                specs.append(replace(_table_spec(logical_id, name, properties, where), region=self.region))
        return specs


_SIMPLE_TABLE_TYPES: Final = {"String": "S", "Number": "N", "Binary": "B"}


def _table_spec(logical_id: str, name: str, properties: Mapping[str, Any], where: str) -> TableSpec:
    for required in ("KeySchema", "AttributeDefinitions"):
        if not properties.get(required):
            raise TemplateError(f"{where}.{required} is required")
    arguments: dict[str, Any] = {
        "TableName": name,
        "KeySchema": properties["KeySchema"],
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "BillingMode": properties.get("BillingMode", "PROVISIONED"),
    }
    if arguments["BillingMode"] == "PROVISIONED" and "ProvisionedThroughput" not in properties:
        raise TemplateError(f"{where}.ProvisionedThroughput is required with BillingMode PROVISIONED")
    for key in (
        "ProvisionedThroughput",
        "LocalSecondaryIndexes",
        "TableClass",
        "DeletionProtectionEnabled",
        "OnDemandThroughput",
        "Tags",
    ):
        if key in properties:
            arguments[key] = properties[key]
    if "GlobalSecondaryIndexes" in properties:
        # ContributorInsightsSpecification is CloudFormation-only.
        arguments["GlobalSecondaryIndexes"] = [
            {key: value for key, value in index.items() if key != "ContributorInsightsSpecification"}
            for index in properties["GlobalSecondaryIndexes"]
        ]
    stream = properties.get("StreamSpecification")
    if stream:
        arguments["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
    sse = properties.get("SSESpecification")
    if sse:
        arguments["SSESpecification"] = {
            key: value
            for key, value in (
                ("Enabled", sse.get("SSEEnabled")),
                ("SSEType", sse.get("SSEType")),
                ("KMSMasterKeyId", sse.get("KMSMasterKeyId")),
            )
            if value is not None
        }
    ttl = properties.get("TimeToLiveSpecification") or {}
    pitr = properties.get("PointInTimeRecoverySpecification") or {}
    return TableSpec(
        logical_id=logical_id,
        name=name,
        create_arguments=arguments,
        ttl_attribute=str(ttl["AttributeName"]) if ttl.get("Enabled") and ttl.get("AttributeName") else None,
        point_in_time_recovery=bool(pitr.get("PointInTimeRecoveryEnabled")),
    )


def _simple_table_spec(logical_id: str, name: str, properties: Mapping[str, Any]) -> TableSpec:
    key = properties.get("PrimaryKey") or {"Name": "id", "Type": "String"}
    key_type = _SIMPLE_TABLE_TYPES.get(str(key.get("Type", "String")), "S")
    arguments: dict[str, Any] = {
        "TableName": name,
        "KeySchema": [{"AttributeName": key["Name"], "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": key["Name"], "AttributeType": key_type}],
    }
    if properties.get("ProvisionedThroughput"):
        arguments["BillingMode"] = "PROVISIONED"
        arguments["ProvisionedThroughput"] = properties["ProvisionedThroughput"]
    else:
        arguments["BillingMode"] = "PAY_PER_REQUEST"
    if properties.get("Tags"):
        arguments["Tags"] = [{"Key": k, "Value": str(v)} for k, v in properties["Tags"].items()]
    sse = properties.get("SSESpecification")
    if sse:
        arguments["SSESpecification"] = {"Enabled": bool(sse.get("SSEEnabled"))}
    return TableSpec(logical_id=logical_id, name=name, create_arguments=arguments)
