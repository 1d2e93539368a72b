"""The template's resources: by type (and their Condition), their properties, what Ref and GetAtt give."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from provisioner_local.template.errors import TemplateError
from provisioner_local.template.intrinsics import IntrinsicResolver
from provisioner_local.template.naming import (
    ACCOUNT_ID,
    API_TYPES,
    PARTITION,
    api_id,
    event_bus_arn,
    function_arn,
    kms_key_id,
    state_machine_arn,
    table_arn,
)
from provisioner_local.template.values import as_cfn_string


class ResourceReader(IntrinsicResolver):
    """Lookups of resources, and the physical names and ARNs the local stack gives them."""

    def _of_type(self, *types: str) -> Iterator[tuple[str, dict[str, Any]]]:
        for logical_id, resource in self.resources.items():
            if isinstance(resource, dict) and resource.get("Type") in types:
                if "Condition" in resource and not self._condition(
                    str(resource["Condition"]), f"Resources.{logical_id}.Condition"
                ):
                    continue
                yield logical_id, resource

    def managed_policies(self) -> dict[str, dict[str, Any]]:
        """Each AWS::IAM::ManagedPolicy's document, by the ARN Ref gives it (the boundary among them)."""
        found = {}
        for logical_id, _ in self._of_type("AWS::IAM::ManagedPolicy"):
            arn = self._resource_ref(logical_id, f"Resources.{logical_id}")
            found[arn] = self._property(logical_id, "PolicyDocument")
        return found

    def _resource_type(self, logical_id: str) -> str:
        return str(self.resources[logical_id].get("Type", ""))

    def _property(self, logical_id: str, name: str) -> Any:
        properties = self.resources[logical_id].get("Properties") or {}
        if name not in properties:
            return None
        return self.resolve(properties[name], f"Resources.{logical_id}.Properties.{name}")

    def _named(self, logical_id: str, property_name: str, default: str) -> str:
        value = self._property(logical_id, property_name)
        return default if value is None else as_cfn_string(value, f"{logical_id}.{property_name}")

    def _resource_ref(self, logical_id: str, where: str) -> str:
        resource_type = self._resource_type(logical_id)
        if resource_type in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            return logical_id
        if resource_type in ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine"):
            return state_machine_arn(self.state_machine_name(logical_id), self.region)
        if resource_type in ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion"):
            return f"arn:{PARTITION}:lambda:{self.region}:{ACCOUNT_ID}:layer:{logical_id}:1"
        if resource_type == "AWS::IAM::ManagedPolicy":
            return f"arn:{PARTITION}:iam::{ACCOUNT_ID}:policy/{logical_id}"
        if resource_type == "AWS::S3::Bucket":
            return self._named(logical_id, "BucketName", logical_id.lower())
        if resource_type == "AWS::Logs::LogGroup":
            return self._named(logical_id, "LogGroupName", logical_id)
        if resource_type in ("AWS::SNS::Topic",):
            return f"arn:{PARTITION}:sns:{self.region}:{ACCOUNT_ID}:{logical_id}"
        if resource_type == "AWS::SQS::Queue":
            return f"https://sqs.{self.region}.amazonaws.com/{ACCOUNT_ID}/{logical_id}"
        if resource_type == "AWS::SecretsManager::Secret":
            return f"arn:{PARTITION}:secretsmanager:{self.region}:{ACCOUNT_ID}:secret:{logical_id}"
        if resource_type in ("AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable"):
            return self._named(logical_id, "TableName", logical_id)
        if resource_type == "AWS::Events::EventBus":
            return self._named(logical_id, "Name", logical_id)
        if resource_type == "AWS::Events::Rule":
            return self._named(logical_id, "Name", logical_id)
        if resource_type in API_TYPES:
            return api_id(logical_id)
        if resource_type == "AWS::KMS::Key":
            return kms_key_id(logical_id)
        if resource_type == "AWS::KMS::Alias":
            return self._named(logical_id, "AliasName", f"alias/{logical_id}")
        # Roles, users, rules, APIs...: the physical name is what Ref returns, and locally that is the id.
        return logical_id

    def _get_att(self, logical_id: str, attribute: str, where: str) -> Any:
        if logical_id not in self.resources:
            implicit_owner = logical_id.removesuffix("Role")
            if attribute == "Arn" and logical_id.endswith("Role") and implicit_owner in self.resources:
                # SAM creates <Function>Role / <StateMachine>Role when the resource names no Role.
                return f"arn:{PARTITION}:iam::{ACCOUNT_ID}:role/{logical_id}"
            raise TemplateError(f"{where}: GetAtt {logical_id}.{attribute}: no resource {logical_id!r}")
        resource_type = self._resource_type(logical_id)
        arn = self._arn_attribute(logical_id, resource_type)
        if attribute == "Arn" and arn is not None:
            return arn
        if attribute == "Name" and resource_type in (
            "AWS::Serverless::StateMachine",
            "AWS::StepFunctions::StateMachine",
        ):
            return self.state_machine_name(logical_id)
        if resource_type == "AWS::KMS::Key" and attribute == "KeyId":
            return kms_key_id(logical_id)
        if resource_type == "AWS::SNS::Topic" and attribute == "TopicArn":
            return self._resource_ref(logical_id, where)
        if resource_type == "AWS::SQS::Queue" and attribute == "QueueName":
            return logical_id
        if resource_type == "AWS::SQS::Queue" and attribute == "QueueUrl":
            return self._resource_ref(logical_id, where)
        if resource_type == "AWS::Events::EventBus" and attribute == "Name":
            return self._resource_ref(logical_id, where)
        if resource_type in API_TYPES and attribute in ("ApiId", "RootResourceId"):
            return api_id(logical_id)
        if resource_type in API_TYPES and attribute == "ApiEndpoint":
            return f"https://{api_id(logical_id)}.execute-api.{self.region}.amazonaws.com"
        raise TemplateError(
            f"{where}: GetAtt {logical_id}.{attribute} ({resource_type}) is not known to the local stack"
        )

    def _arn_attribute(self, logical_id: str, resource_type: str) -> str | None:
        if resource_type in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            return function_arn(logical_id, self.region)
        if resource_type in ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine"):
            return state_machine_arn(self.state_machine_name(logical_id), self.region)
        if resource_type == "AWS::IAM::Role":
            return f"arn:{PARTITION}:iam::{ACCOUNT_ID}:role/{self._named(logical_id, 'RoleName', logical_id)}"
        if resource_type == "AWS::IAM::User":
            return f"arn:{PARTITION}:iam::{ACCOUNT_ID}:user/{self._named(logical_id, 'UserName', logical_id)}"
        if resource_type == "AWS::S3::Bucket":
            return f"arn:{PARTITION}:s3:::{self._resource_ref(logical_id, logical_id)}"
        if resource_type == "AWS::Logs::LogGroup":
            name = self._resource_ref(logical_id, logical_id)
            return f"arn:{PARTITION}:logs:{self.region}:{ACCOUNT_ID}:log-group:{name}:*"
        if resource_type == "AWS::SQS::Queue":
            return f"arn:{PARTITION}:sqs:{self.region}:{ACCOUNT_ID}:{logical_id}"
        if resource_type in ("AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable"):
            return table_arn(self._resource_ref(logical_id, logical_id), self.region)
        if resource_type == "AWS::Events::EventBus":
            return event_bus_arn(self._resource_ref(logical_id, logical_id), self.region)
        if resource_type in ("AWS::SNS::Topic", "AWS::SecretsManager::Secret"):
            return self._resource_ref(logical_id, logical_id)
        if resource_type in ("AWS::Events::Rule",):
            return f"arn:{PARTITION}:events:{self.region}:{ACCOUNT_ID}:rule/{logical_id}"
        if resource_type == "AWS::KMS::Key":
            return f"arn:{PARTITION}:kms:{self.region}:{ACCOUNT_ID}:key/{kms_key_id(logical_id)}"
        if resource_type == "AWS::CloudWatch::Alarm":
            name = self._named(logical_id, "AlarmName", logical_id)
            return f"arn:{PARTITION}:cloudwatch:{self.region}:{ACCOUNT_ID}:alarm:{name}"
        return None

    def state_machine_name(self, logical_id: str) -> str:
        return self._named(logical_id, "Name", logical_id)
