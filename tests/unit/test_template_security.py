"""What the provisioner may do in an account, proven from template.yaml (moto does not enforce boundaries)."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest

from provisioner_core.config import TAG_CONNECTION_ID
from provisioner_core.connection import PROBE_NAME_PREFIX
from provisioner_core.policy import (
    BUCKET_METADATA_ACTIONS,
    KMS_WRITE_ACTIONS,
    PROBE_CLEANUP_ACTIONS,
    READ_OBJECT_ACTIONS,
    WRITE_OBJECT_ACTIONS,
)
from provisioner_local.template import load_yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_yaml(ROOT / "template.yaml")
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
FUNCTIONS = {k: v["Properties"] for k, v in RESOURCES.items() if v["Type"] == "AWS::Serverless::Function"}
BOUNDARY = {"Ref": "ConnectionBoundaryPolicy"}
GUARDRAIL = {"Ref": "ProvisionerGuardrailPolicy"}
GRANTED_S3_ACTIONS = {
    "s3:ListBucket",
    *BUCKET_METADATA_ACTIONS,
    *READ_OBJECT_ACTIONS,
    *WRITE_OBJECT_ACTIONS,
    *PROBE_CLEANUP_ACTIONS,
}
IAM_READ_ONLY = ("iam:Get", "iam:List")


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements(properties: dict[str, Any]) -> list[dict[str, Any]]:
    """Every inline statement of a function's role, with both branches of an optional (Fn::If) one."""
    found = []
    for policy in properties.get("Policies", []):
        for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
            if "Fn::If" in statement:
                found += [branch for branch in statement["Fn::If"][1:] if "Effect" in branch]
            else:
                found.append(statement)
    return found


def _sub(resource: Any) -> str:
    return resource["Fn::Sub"] if isinstance(resource, dict) and "Fn::Sub" in resource else repr(resource)


def _allows(statement: dict[str, Any], prefix: str) -> list[str]:
    return [
        a for a in _as_list(statement["Action"]) if statement["Effect"] == "Allow" and a.startswith(prefix)
    ]


LABELLERR_SECRET = {"Ref": "LabellerrCredentialsSecretArn"}
# The functions that call Labellerr: the step that registers, and the two cleanups that delete there.
LABELLERR_CALLERS = {
    "RegisterInLabellerrFunction",
    "RollbackFunction",
    "RemoveConnectionFunction",
    # A rotation's new key is tested through Labellerr's connection test before it is promoted.
    "HandOverRotationKeyFunction",
    # A health check asks Labellerr whether its connections still exist and whether its test passes.
    "CheckConnectionHealthFunction",
}

ALL_STATEMENTS = [(name, st) for name, props in FUNCTIONS.items() for st in _statements(props)]


BOUNDARY_STATEMENTS = RESOURCES["ConnectionBoundaryPolicy"]["Properties"]["PolicyDocument"]["Statement"]
BUCKET_READS = {"s3:GetEncryptionConfiguration", "s3:GetBucketRequestPayment", "s3:GetBucketPolicy"}
INSPECTORS = {"ValidateRequestFunction", "PlanOnboardingFunction"}
# Account-level reads with no resource type in IAM: "*" is their only form (Plan onboarding's headroom).
UNSCOPABLE_READS = ["iam:GetAccountSummary", "iam:ListUsers"]


BUCKET_TAG = "${!aws:PrincipalTag/labellerr-fence-bucket}"
PREFIX_TAG = "${!aws:PrincipalTag/labellerr-fence-prefix}"
NO_PREFIX_TAG = {"aws:PrincipalTag/labellerr-fence-prefix": "true"}
NO_BUCKET_TAG = {"aws:PrincipalTag/labellerr-fence-bucket": "true"}


def _boundary(sid: str) -> dict[str, Any]:
    [statement] = [st for st in BOUNDARY_STATEMENTS if st["Sid"] == sid]
    return statement


def test_boundary_allows_only_the_s3_actions_a_connection_is_ever_granted():
    s3_statements = [st for st in BOUNDARY_STATEMENTS if _allows(st, "s3:")]
    actions = {a for st in s3_statements for a in _as_list(st["Action"])}
    assert actions == GRANTED_S3_ACTIONS
    assert [st["Sid"] for st in BOUNDARY_STATEMENTS if st["Effect"] != "Allow"] == ["OnlyTheAllowedBuckets"]
    # Outside the provisioner's path, so no role's path-scoped IAM grant can reach it.
    assert RESOURCES["ConnectionBoundaryPolicy"]["Properties"]["Path"] == "/"


def test_boundary_fences_each_user_to_its_own_bucket_and_prefix_through_its_tags():
    bucket = f"arn:${{AWS::Partition}}:s3:::{BUCKET_TAG}"
    objects = _boundary("FencedPrefixObjects")
    assert set(objects["Action"]) == {*READ_OBJECT_ACTIONS, *WRITE_OBJECT_ACTIONS}
    assert _sub(objects["Resource"]) == f"{bucket}/{PREFIX_TAG}*"
    listing = _boundary("FencedPrefixListing")
    assert listing["Action"] == "s3:ListBucket"
    assert _sub(listing["Resource"]) == bucket
    assert listing["Condition"]["StringLike"] == {"s3:prefix": "${aws:PrincipalTag/labellerr-fence-prefix}*"}
    assert _sub(_boundary("FencedBucketMetadata")["Resource"]) == bucket
    # No prefix tag (whole bucket, or a prefix no tag value can hold): the user's bucket only.
    whole = _boundary("FencedBucketWithoutPrefixTag")
    assert [_sub(r) for r in whole["Resource"]] == [bucket, f"{bucket}/*"]
    assert whole["Condition"]["Null"] == NO_PREFIX_TAG
    # Users made before the fence tags: the allowed buckets, as before, and only them.
    for sid in ("UnfencedBucketAccess", "UnfencedObjectAccess"):
        statement = _boundary(sid)
        assert _sub(statement["Resource"]).startswith("arn:${AWS::Partition}:s3:::${AllowedBuckets}")
        assert statement["Condition"]["Null"] == NO_BUCKET_TAG


def test_boundary_never_reaches_outside_the_allowed_buckets():
    deny = _boundary("OnlyTheAllowedBuckets")
    assert set(deny["Action"]) == GRANTED_S3_ACTIONS
    assert [_sub(r) for r in deny["NotResource"]] == [
        "arn:${AWS::Partition}:s3:::${AllowedBuckets}",
        "arn:${AWS::Partition}:s3:::${AllowedBuckets}/*",
    ]


PATHLESS_READS = {
    "iam:GetUser",
    "iam:ListUserTags",
    "iam:ListAccessKeys",
    "iam:ListAttachedUserPolicies",
    # The health check's look at what hangs on the user (a widening).
    "iam:ListUserPolicies",
    "iam:ListGroupsForUser",
}
# Reads that name a group but change none: the health check lists the user's groups to report a widening.
GROUP_READS = {"iam:ListGroupsForUser"}
OWNERSHIP_AND_FENCE_KEYS = [
    "labellerr:connection-id",
    "labellerr:execution-arn",
    "labellerr-fence-bucket",
    "labellerr-fence-prefix",
]


def test_no_provisioner_role_can_change_or_remove_a_users_fence_tags():
    guardrail = RESOURCES["ProvisionerGuardrailPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    statements = {st["Sid"]: st for st in guardrail}
    untag = statements["FenceTagsStay"]
    assert (untag["Effect"], untag["Action"]) == ("Deny", "iam:UntagUser")
    assert untag["Condition"]["ForAnyValue:StringEquals"]["aws:TagKeys"] == [
        "labellerr-fence-bucket",
        "labellerr-fence-prefix",
        "labellerr:connection-id",
    ]
    # No Deny keys on aws:ResourceTag for a tagging action: whether a create's tagging check sees the new
    # resource's tags is not documented, and such a Deny could then refuse every create.
    for statement in guardrail:
        tagging = {"iam:TagUser", "iam:TagPolicy"} & set(_as_list(statement["Action"]))
        conditions = json.dumps(statement.get("Condition") or {})
        assert not (tagging and "aws:ResourceTag" in conditions), statement["Sid"]
    [tag_guard] = RESOURCES["ProvisionerTagGuardPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert (tag_guard["Effect"], tag_guard["Resource"]) == ("Deny", "*")
    assert set(tag_guard["Action"]) == {"iam:TagUser", "iam:UntagUser", "iam:TagPolicy", "iam:UntagPolicy"}
    creators = {"CreateUserFunction": "iam:TagUser", "CreatePolicyFunction": "iam:TagPolicy"}
    for name, properties in FUNCTIONS.items():
        statements_of = _statements(properties)
        actions = {a for st in statements_of for a in _as_list(st["Action"])}
        assert "iam:UntagUser" not in actions, name
        if name in creators:
            # Tags only with what they create: the ownership (and fence) keys, with the connection id.
            [tagging] = [st for st in statements_of if creators[name] in _as_list(st["Action"])]
            keys = tagging["Condition"]["ForAllValues:StringEquals"]["aws:TagKeys"]
            assert set(keys) <= set(OWNERSHIP_AND_FENCE_KEYS), name
            assert tagging["Condition"]["Null"] == {"aws:RequestTag/labellerr:connection-id": "false"}
            assert {"Ref": "ProvisionerTagGuardPolicy"} not in properties["Policies"], name
        else:
            assert not actions & {"iam:TagUser", "iam:TagPolicy"}, name
            if {"Ref": "ProvisionerGuardrailPolicy"} in properties["Policies"]:
                assert {"Ref": "ProvisionerTagGuardPolicy"} in properties["Policies"], name


def test_boundary_allows_kms_only_through_s3_and_only_for_the_allowed_buckets():
    [kms] = [st for st in BOUNDARY_STATEMENTS if _allows(st, "kms:")]
    assert set(kms["Action"]) == set(KMS_WRITE_ACTIONS)
    assert set(kms) == {"Sid", "Effect", "Action", "Resource", "Condition"}
    # The partition's DNS suffix (amazonaws.com.cn in China), never a hard-coded amazonaws.com.
    assert kms["Condition"]["StringLike"]["kms:ViaService"] == {"Fn::Sub": "s3.*.${AWS::URLSuffix}"}
    assert [_sub(r) for r in kms["Condition"]["StringLike"]["kms:EncryptionContext:aws:s3:arn"]] == [
        "arn:${AWS::Partition}:s3:::${AllowedBuckets}",
        "arn:${AWS::Partition}:s3:::${AllowedBuckets}/*",
    ]
    assert list(kms["Condition"]) == ["StringLike"]


def test_only_validate_request_and_the_plan_read_bucket_settings_object_metadata_and_kms_keys():
    readers = {
        n
        for n, st in ALL_STATEMENTS
        if BUCKET_READS & set(_allows(st, "s3:"))
        or "s3:GetObject" in _allows(st, "s3:")
        or {"kms:DescribeKey", "kms:GetKeyPolicy"} & set(_allows(st, "kms:"))
    }
    # Plan onboarding runs Validate request's own inspection, and reads the CORS it would change.
    assert readers == INSPECTORS
    for name in INSPECTORS:
        statements = _statements(FUNCTIONS[name])
        extra = {"s3:GetBucketCORS"} if name == "PlanOnboardingFunction" else set()
        assert {a for st in statements for a in _allows(st, "s3:")} == {
            "s3:ListBucket",
            "s3:GetObject",
        } | BUCKET_READS | extra
        [kms] = [st for st in statements if _allows(st, "kms:")]
        assert sorted(kms["Action"]) == ["kms:DescribeKey", "kms:GetKeyPolicy"]
        assert _sub(kms["Resource"]) == "arn:${AWS::Partition}:kms:*:${AWS::AccountId}:key/*"


READ_ONLY_VERBS = ("Get", "List", "Describe", "Head")


def test_the_plan_may_only_read():
    actions = {a for st in _statements(FUNCTIONS["PlanOnboardingFunction"]) for a in _as_list(st["Action"])}
    assert actions
    writes = {a for a in actions if not a.split(":", 1)[1].startswith(READ_ONLY_VERBS)}
    assert writes == set()
    assert not any(isinstance(p, str) for p in FUNCTIONS["PlanOnboardingFunction"].get("Policies", []))


def test_the_api_may_invoke_only_the_plan_and_the_state_machine_may_too():
    invokes = [
        (n, st) for n, st in ALL_STATEMENTS if any(a.startswith("lambda:") for a in _as_list(st["Action"]))
    ]
    assert [(n, st["Action"], st["Resource"]) for n, st in invokes] == [
        ("ApiFunction", "lambda:InvokeFunction", {"Fn::GetAtt": ["PlanOnboardingFunction", "Arn"]})
    ]
    api_env = FUNCTIONS["ApiFunction"]["Environment"]["Variables"]
    assert api_env["PLAN_ONBOARDING_FUNCTION"] == {"Ref": "PlanOnboardingFunction"}
    machine = RESOURCES["OnboardConnectionStateMachine"]["Properties"]
    assert {"LambdaInvokePolicy": {"FunctionName": {"Ref": "PlanOnboardingFunction"}}} in machine["Policies"]


def test_users_are_created_only_with_the_boundary():
    creators = [(n, st) for n, st in ALL_STATEMENTS if "iam:CreateUser" in _allows(st, "iam:")]
    assert [n for n, _ in creators] == ["CreateUserFunction"]
    [(_, statement)] = creators
    assert statement["Condition"] == {"StringEquals": {"iam:PermissionsBoundary": BOUNDARY}}
    env = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert env["PERMISSIONS_BOUNDARY_ARN"] == BOUNDARY


def test_guardrail_denies_touching_the_boundary_and_escalation_paths():
    statements = {
        st["Sid"]: st
        for st in RESOURCES["ProvisionerGuardrailPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    }
    assert all(st["Effect"] == "Deny" for st in statements.values())
    protect = statements["ProtectTheBoundary"]
    assert protect["Resource"] == BOUNDARY
    assert {"iam:CreatePolicyVersion", "iam:DeletePolicy", "iam:SetDefaultPolicyVersion"} <= set(
        protect["Action"]
    )
    assert {"iam:DeleteUserPermissionsBoundary", "iam:PutUserPermissionsBoundary"} <= set(
        statements["BoundariesStay"]["Action"]
    )
    assert {"iam:CreateLoginProfile", "iam:PutUserPolicy", "iam:AddUserToGroup"} <= set(
        statements["NoEscalationPaths"]["Action"]
    )
    assert statements["UsersOnlyWithTheBoundary"]["Condition"] == {
        "StringNotEquals": {"iam:PermissionsBoundary": BOUNDARY}
    }


def test_every_role_that_writes_iam_carries_the_guardrail():
    for name, properties in FUNCTIONS.items():
        writes_iam = any(
            not a.startswith(IAM_READ_ONLY) for st in _statements(properties) for a in _allows(st, "iam:")
        )
        if writes_iam:
            assert GUARDRAIL in properties["Policies"], name


# Offboarding takes out what a person attached to the connection's user (a group membership is only listed:
# RemoveUserFromGroup is authorized on the group, so it would reach every user in every group).
OFFBOARDING_RELEASES = {"iam:ListGroupsForUser", "iam:DeleteLoginProfile"}
OUR_USERS = "arn:${AWS::Partition}:iam::${AWS::AccountId}:user${IamPath}${IamNamePrefix}*"


def test_offboarding_removes_users_by_name_and_path_and_rollback_only_tagged_ones():
    """Remove connection finds its user by the record as well as by tags, so its removals are keyed on the
    provisioner's names; Rollback keeps the connection tag, and no role may remove a user from a group."""
    [offboarding] = [
        st
        for n, st in ALL_STATEMENTS
        if n == "RemoveConnectionFunction" and "iam:DeleteUser" in _allows(st, "iam:")
    ]
    assert [_sub(r) for r in _as_list(offboarding["Resource"])] == [OUR_USERS]
    assert "Condition" not in offboarding
    assert OFFBOARDING_RELEASES | {"iam:DeleteUserPolicy", "iam:DeactivateMFADevice"} <= set(
        offboarding["Action"]
    )
    [rollback] = [
        st for n, st in ALL_STATEMENTS if n == "RollbackFunction" and "iam:DeleteUser" in _allows(st, "iam:")
    ]
    assert rollback["Condition"] == {"Null": {f"aws:ResourceTag/{TAG_CONNECTION_ID}": "false"}}
    assert not [n for n, st in ALL_STATEMENTS if "iam:RemoveUserFromGroup" in _allows(st, "iam:")]


@pytest.mark.parametrize(
    ("name", "statement"), ALL_STATEMENTS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(ALL_STATEMENTS)]
)
def test_each_grant_is_scoped(name, statement):
    actions = _as_list(statement["Action"])
    resources = [_sub(r) for r in _as_list(statement["Resource"])]
    assert statement["Effect"] == "Allow"
    assert "*" not in actions
    assert not any(a.endswith(":*") for a in actions)
    for action in actions:
        if name == "RemoveConnectionFunction" and action in OFFBOARDING_RELEASES:
            continue
        if action in GROUP_READS:
            continue
        assert not any(word in action for word in ("Group", "Role", "LoginProfile", "PermissionsBoundary")), (
            action
        )
    if actions == UNSCOPABLE_READS:
        assert (name, statement["Resource"]) == ("PlanOnboardingFunction", "*")
        return
    if statement["Resource"] == BOUNDARY:
        # Reading the boundary to show it in a plan; the guardrail denies every write to it anyway.
        assert (name, actions) == ("PlanOnboardingFunction", ["iam:GetPolicy", "iam:GetPolicyVersion"])
        return
    if _allows(statement, "iam:"):
        for resource in resources:
            if resource.endswith("user/${IamNamePrefix}*"):
                # A user that does not exist has no path in its ARN: reads only, so a gone user is NoSuchEntity.
                assert set(actions) <= PATHLESS_READS, (name, actions)
                continue
            # policy${IamPath}${IamNamePrefix}*: the connections' own policies (Repair connection's versions).
            assert resource.endswith(
                ("user${IamPath}*", "policy${IamPath}*", "policy${IamPath}${IamNamePrefix}*")
            ) or (resource == OUR_USERS), (
                name,
                resource,
            )
    if statement["Resource"] == LABELLERR_SECRET:
        # Reading the Labellerr credentials, and only that, is checked in its own test below.
        assert actions == ["secretsmanager:GetSecretValue"], name
    elif _allows(statement, "secretsmanager:"):
        assert resources == [
            "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${SecretNamePrefix}*"
        ]
    if _allows(statement, "s3:"):
        if actions == ["s3:DeleteObject", "s3:DeleteObjectVersion"]:
            # Object access only for the verification probe's fixed name, never the customer's data.
            assert resources == [f"arn:${{AWS::Partition}}:s3:::${{AllowedBuckets}}/*{PROBE_NAME_PREFIX}*"], (
                name
            )
        elif actions == ["s3:ListBucketVersions"]:
            # The probe's versions: a listing only under the probe's own name.
            assert resources == ["arn:${AWS::Partition}:s3:::${AllowedBuckets}"], name
            assert statement["Condition"]["StringLike"] == {"s3:prefix": f"*{PROBE_NAME_PREFIX}*"}, name
            return
        elif actions == ["s3:GetObject"]:
            # HeadObject's authorization, for Validate request alone (test above).
            assert name in INSPECTORS
            assert resources == ["arn:${AWS::Partition}:s3:::${AllowedBuckets}/*"]
        else:
            assert resources == ["arn:${AWS::Partition}:s3:::${AllowedBuckets}"], name
        assert statement["Condition"] == {"StringEquals": {"s3:ResourceAccount": {"Ref": "AWS::AccountId"}}}
    if _allows(statement, "kms:") == ["kms:DescribeKey", "kms:GetKeyPolicy"]:
        assert resources == ["arn:${AWS::Partition}:kms:*:${AWS::AccountId}:key/*"], name
    elif _allows(statement, "kms:"):
        assert statement["Resource"] == {"Ref": "SecretsKmsKeyArn"}
        assert "kms:ViaService" in statement["Condition"]["StringEquals"]
    assert "*" not in resources, name


def test_attaching_is_limited_to_policies_on_the_path():
    attaching = [(n, st) for n, st in ALL_STATEMENTS if "iam:AttachUserPolicy" in _allows(st, "iam:")]
    # Attach policy, and Repair connection putting back a policy a person detached.
    assert {n for n, _ in attaching} == {"AttachPolicyFunction", "RepairConnectionFunction"}
    for _, statement in attaching:
        assert statement["Condition"]["ArnLike"]["iam:PolicyARN"]["Fn::Sub"].endswith(":policy${IamPath}*")


def test_policies_and_keys_go_only_to_users_this_stack_made():
    """A user on the path that the provisioner did not create (no boundary, no tag) gets neither."""
    for attach in [st for _, st in ALL_STATEMENTS if "iam:AttachUserPolicy" in _allows(st, "iam:")]:
        assert attach["Condition"]["StringEquals"] == {
            "iam:PermissionsBoundary": {"Ref": "ConnectionBoundaryPolicy"}
        }
    key_statements = [st for _, st in ALL_STATEMENTS if "iam:CreateAccessKey" in _allows(st, "iam:")]
    assert key_statements
    for statement in key_statements:
        assert statement["Condition"] == {"Null": {f"aws:ResourceTag/{TAG_CONNECTION_ID}": "false"}}


def test_secrets_can_use_a_customer_managed_key():
    assert TEMPLATE["Parameters"]["SecretsKmsKeyArn"]["Default"] == ""
    assert TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]["SECRETS_KMS_KEY_ARN"] == {
        "Ref": "SecretsKmsKeyArn"
    }


@pytest.mark.parametrize(
    "handler", sorted((ROOT / "functions").glob("*/app.py")), ids=lambda p: p.parent.name
)
def test_no_handler_logs_its_event(handler):
    """Events may carry the request; key material lives in handlers' memory. Neither reaches a log line."""
    tree = ast.parse(handler.read_text())
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)]
    injections = [
        c for c in calls if isinstance(c.func, ast.Attribute) and c.func.attr == "inject_lambda_context"
    ]
    assert injections, "the handler should get Powertools' Lambda context"
    for call in injections:
        log_event = [k.value for k in call.keywords if k.arg == "log_event"]
        assert len(log_event) == 1
        assert isinstance(log_event[0], ast.Constant)
        assert log_event[0].value is False
    assert not [c for c in calls if isinstance(c.func, ast.Name) and c.func.id == "print"]
    assert (
        TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_LOGGER_LOG_EVENT"] == "false"
    )


@pytest.mark.parametrize(
    "module",
    sorted((ROOT / "functions").glob("*/**/*.py")),
    ids=lambda p: str(p.relative_to(ROOT / "functions")),
)
def test_no_function_module_prints(module):
    """The modules next to a handler (the API's provisioner_api/) are held to the handler's rule."""
    calls = [node for node in ast.walk(ast.parse(module.read_text())) if isinstance(node, ast.Call)]
    assert not [c for c in calls if isinstance(c.func, ast.Name) and c.func.id == "print"]


def _resources(kind: str) -> dict[str, Any]:
    return {name: r for name, r in TEMPLATE["Resources"].items() if r["Type"] == kind}


def test_alarms_watch_rollback_failures_and_failed_executions_and_notify_the_topic():
    alarms = _resources("AWS::CloudWatch::Alarm")
    watched = {
        (a["Properties"]["Namespace"], a["Properties"]["MetricName"]): a["Properties"]
        for a in alarms.values()
    }
    rollback = watched[("LabellerrProvisioner", "RollbackFailed")]
    assert rollback["Threshold"] == 1
    assert rollback["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    rotation = watched[("LabellerrProvisioner", "KeyRotationFailed")]
    assert (rotation["Threshold"], rotation["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
    failed = [a["Properties"] for a in alarms.values() if a["Properties"]["MetricName"] == "ExecutionsFailed"]
    machines = {a["Dimensions"][0]["Value"]["Ref"] for a in failed}
    assert machines == {"OnboardConnectionStateMachine", "OffboardConnectionStateMachine"}
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    assert "AlarmTopicArn" in TEMPLATE["Outputs"]
    [subscription] = _resources("AWS::SNS::Subscription").values()
    assert subscription["Condition"] == "HasAlarmEmail"


def test_the_metric_the_alarm_reads_is_the_one_record_outcome_emits():
    source = (ROOT / "functions" / "record_outcome" / "app.py").read_text()
    assert '"RollbackFailed"' in source
    assert '"KeyRotationFailed"' in (ROOT / "functions" / "record_rotation_outcome" / "app.py").read_text()
    env = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "LabellerrProvisioner"


def test_event_rule_targets_keep_what_they_could_not_deliver():
    for machine in ("OnboardConnectionStateMachine", "OffboardConnectionStateMachine"):
        [event] = TEMPLATE["Resources"][machine]["Properties"]["Events"].values()
        queue = event["Properties"]["DeadLetterConfig"]["Arn"]["Fn::GetAtt"]
        assert TEMPLATE["Resources"][queue[0]]["Type"] == "AWS::SQS::Queue"
        assert event["Properties"]["RetryPolicy"]["MaximumRetryAttempts"] >= 1


def test_only_the_functions_that_call_labellerr_may_read_its_credentials():
    readers = {name for name, st in ALL_STATEMENTS if LABELLERR_SECRET in _as_list(st["Resource"])}
    assert readers == LABELLERR_CALLERS
    for name, properties in FUNCTIONS.items():
        for policy in properties.get("Policies", []):
            for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
                if json.dumps(LABELLERR_SECRET) in json.dumps(statement) and "Fn::If" in statement:
                    # Granted only when the stack has credentials, so an empty ARN is never a resource.
                    assert statement["Fn::If"][0] == "HasLabellerr", name
    statements = [st for n, st in ALL_STATEMENTS if LABELLERR_SECRET in _as_list(st["Resource"])]
    assert all(_as_list(st["Action"]) == ["secretsmanager:GetSecretValue"] for st in statements)
    assert TEMPLATE["Conditions"]["HasLabellerr"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "LabellerrCredentialsSecretArn"}, ""]}]
    }
    # The step that holds the key it hands to Labellerr may read it, and nothing else reads secrets it did
    # not read before: Verify access and Register in Labellerr only GetSecretValue on connection secrets.
    # Its one write is its share of the bucket's objects lease, around Labellerr's test.
    register = [st for n, st in ALL_STATEMENTS if n == "RegisterInLabellerrFunction"]
    assert {a for st in register for a in _as_list(st["Action"])} == {
        "secretsmanager:GetSecretValue",
        "kms:Decrypt",
        "dynamodb:UpdateItem",
    }
    [lease] = [st for st in register if _as_list(st["Action"]) == ["dynamodb:UpdateItem"]]
    assert lease["Resource"] == {"Fn::GetAtt": ["BucketLeasesTable", "Arn"]}


def test_the_labellerr_parameters_default_to_off_and_the_public_api():
    parameters = TEMPLATE["Parameters"]
    assert parameters["LabellerrCredentialsSecretArn"]["Default"] == ""
    assert parameters["LabellerrApiUrl"]["Default"] == "https://api.labellerr.com"
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["LABELLERR_CREDENTIALS_SECRET_ARN"] == LABELLERR_SECRET
    assert variables["LABELLERR_API_URL"] == {"Ref": "LabellerrApiUrl"}


def test_the_boundary_caps_s3_to_this_accounts_buckets():
    statements = TEMPLATE["Resources"]["ConnectionBoundaryPolicy"]["Properties"]["PolicyDocument"][
        "Statement"
    ]
    for statement in statements:
        allows_s3 = any(str(action).startswith("s3:") for action in _as_list(statement["Action"]))
        if allows_s3 and statement["Effect"] == "Allow":
            assert statement["Condition"]["StringEquals"]["s3:ResourceAccount"] == {"Ref": "AWS::AccountId"}
