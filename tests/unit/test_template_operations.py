"""Running the stack: alarms that can reach someone, logs that expire, event rules only callers we know can trip."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from provisioner_core.lifecycle_events import EVENT_SOURCE
from provisioner_local.template import load_yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_yaml(ROOT / "template.yaml")
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
PARAMETERS: dict[str, Any] = TEMPLATE["Parameters"]


def _of_type(kind: str) -> dict[str, dict[str, Any]]:
    return {name: resource for name, resource in RESOURCES.items() if resource["Type"] == kind}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _event_rules() -> list[tuple[str, str, dict[str, Any]]]:
    """(owner, event id, properties) of every EventBridgeRule event of a state machine or function."""
    return [
        (owner, event_id, event["Properties"])
        for owner, resource in RESOURCES.items()
        if resource["Type"] in ("AWS::Serverless::StateMachine", "AWS::Serverless::Function")
        for event_id, event in (resource["Properties"].get("Events") or {}).items()
        if event["Type"] == "EventBridgeRule"
    ]


# --- point 4: the alarm topic's key lets CloudWatch publish


def test_cloudwatch_alarms_can_use_the_alarm_topics_key():
    [(topic_id, topic)] = _of_type("AWS::SNS::Topic").items()
    key_ref = topic["Properties"]["KmsMasterKeyId"]
    # alias/aws/sns is AWS-managed: its policy cannot let cloudwatch.amazonaws.com in, so no alarm would notify.
    assert isinstance(key_ref, dict), key_ref
    assert set(key_ref) == {"Ref"}, key_ref
    key = RESOURCES[key_ref["Ref"]]
    assert key["Type"] == "AWS::KMS::Key"
    assert key["Properties"]["EnableKeyRotation"] is True
    statements = key["Properties"]["KeyPolicy"]["Statement"]

    cloudwatch = [
        s
        for s in statements
        if s["Effect"] == "Allow" and "cloudwatch.amazonaws.com" in _as_list(s["Principal"].get("Service"))
    ]
    assert len(cloudwatch) == 1
    [grant] = cloudwatch
    assert set(_as_list(grant["Action"])) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    # Limited to this account, by the key CloudWatch's calls carry; kms:CallerAccount would never match.
    assert grant["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    # The account keeps the key administrable (a key policy without it locks out IAM and CloudFormation).
    [admin] = [s for s in statements if "AWS" in s["Principal"]]
    assert admin["Principal"]["AWS"] == {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
    assert admin["Action"] == "kms:*"
    # Nothing else publishes to the topic, so no other service may use its key.
    assert not [s for s in statements if s not in cloudwatch and s is not admin]
    for alarm in _of_type("AWS::CloudWatch::Alarm").values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic_id}]


# --- point 10a: every function's log group is declared and expires


def test_every_function_logs_to_a_declared_log_group_that_expires():
    groups = _of_type("AWS::Logs::LogGroup")
    by_name = {json.dumps(g["Properties"].get("LogGroupName"), sort_keys=True): g for g in groups.values()}
    functions = _of_type("AWS::Serverless::Function")
    assert functions
    for name, function in functions.items():
        # Lambda's own choice unless the function names another group.
        expected = function["Properties"].get("LoggingConfig", {}).get("LogGroup") or {
            "Fn::Sub": f"/aws/lambda/${{{name}}}"
        }
        group = by_name.get(json.dumps(expected, sort_keys=True))
        assert group is not None, f"{name}: no AWS::Logs::LogGroup named {expected}"
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name
        # A conditional function gets a conditional group, or the group would outlive its reason to exist.
        assert group.get("Condition") == function.get("Condition"), name


def test_every_log_group_of_the_stack_expires():
    for name, group in _of_type("AWS::Logs::LogGroup").items():
        assert "RetentionInDays" in group["Properties"], name
    retention = PARAMETERS["LogRetentionDays"]
    assert retention["Type"] == "Number"
    assert retention["Default"] in retention["AllowedValues"]


# --- point 10b: an undeliverable event makes an alarm


def test_each_event_rules_dead_letter_queue_is_watched_by_an_alarm():
    alarms = _of_type("AWS::CloudWatch::Alarm").values()
    watched = {
        alarm["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0]: alarm["Properties"]
        for alarm in alarms
        if alarm["Properties"]["Namespace"] == "AWS/SQS"
    }
    rules = _event_rules()
    assert len(rules) == 4
    for owner, event_id, properties in rules:
        queue, attribute = properties["DeadLetterConfig"]["Arn"]["Fn::GetAtt"]
        assert attribute == "Arn"
        assert RESOURCES[queue]["Type"] == "AWS::SQS::Queue", (owner, event_id)
        alarm = watched[queue]
        assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
        assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}]
        assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_eventbridge_may_dead_letter_into_each_queue_only_from_the_stacks_bus():
    queues = {properties["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0] for _, _, properties in _event_rules()}
    [policy] = _of_type("AWS::SQS::QueuePolicy").values()
    assert {q["Ref"] for q in policy["Properties"]["Queues"]} == queues
    [statement] = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert {r["Fn::GetAtt"][0] for r in statement["Resource"]} == queues
    source = statement["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Sub"]
    assert source.endswith(":rule/${ConnectionEventBus}/*")


# --- point 10c: the rules match the source, not only the detail-type


def test_every_event_rule_matches_only_the_allowed_sources():
    for owner, event_id, properties in _event_rules():
        pattern = properties["Pattern"]
        assert pattern["source"] == {"Ref": "AllowedEventSources"}, (owner, event_id)
        assert "detail-type" in pattern


def test_the_allowed_sources_are_the_documented_ones_and_never_the_provisioners_own():
    parameter = PARAMETERS["AllowedEventSources"]
    assert parameter["Type"] == "CommaDelimitedList"
    allowed = parameter["Default"].split(",")
    samples = [
        entry["Source"]
        for path in sorted((ROOT / "events" / "eventbridge").glob("*.json"))
        for entry in json.loads(path.read_text())
    ]
    assert samples
    assert set(samples) <= set(allowed)
    # The lifecycle events share the bus; the provisioner must never trigger itself.
    assert EVENT_SOURCE not in allowed
    assert "events:source" in parameter["Description"]


# --- point 13: the partition's DNS suffix, never a literal amazonaws.com outside service principals


def _strings(node: Any, path: str = "") -> list[tuple[str, str]]:
    """Every string of the template with where it is (Fn::Sub's text among them)."""
    if isinstance(node, dict):
        return [found for key, value in node.items() for found in _strings(value, f"{path}.{key}")]
    if isinstance(node, list):
        return [found for i, item in enumerate(node) for found in _strings(item, f"{path}[{i}]")]
    return [(path, node)] if isinstance(node, str) else []


def test_amazonaws_com_appears_only_as_a_service_principal():
    found = [(path, text) for path, text in _strings(TEMPLATE) if "amazonaws.com" in text]
    assert found  # the service principals
    for path, text in found:
        assert re.search(r"\.Principal\.Service(\[\d+\])?$", path), (path, text)
        assert re.fullmatch(r"[a-z0-9-]+\.amazonaws\.com", text), (path, text)
