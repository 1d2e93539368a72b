"""What an onboarding would do, as data: the pure half of Plan onboarding (its reads are the function's).

Every figure comes from the code the onboarding itself runs (request.to_connection for the names,
policy.connection_policy_document, cors.planned_configuration, cors_probe.check_rule_order), so a plan
cannot drift from what a run does. A check names the error the run would end with, so a caller can match
a plan's failure to a run's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

# pydantic (scripts/generate_openapi.py) reads these TypedDicts only from typing_extensions on Python < 3.12.
from typing_extensions import TypedDict

from provisioner_core.config import TAG_CONNECTION_ID, TAG_EXECUTION_ARN, Settings
from provisioner_core.connection import Connection, probe_key
from provisioner_core.cors import labellerr_rule, planned_configuration, rule_id_for
from provisioner_core.cors_probe import check_rule_order, probe_origins
from provisioner_core.errors import CorsRuleLimitExceeded

if TYPE_CHECKING:
    from mypy_boto3_iam.literals import SummaryKeyTypeType

# IAM's default quotas, used when GetAccountSummary does not say (it always does in AWS).
DEFAULT_USERS_QUOTA = 5000
DEFAULT_POLICIES_QUOTA = 1500

Outcome = Literal["passed", "failed", "warning", "not_checked"]


class Check(TypedDict, total=False):
    check: str
    outcome: Outcome
    detail: str
    # The error the onboarding would end with (`<Step>.<Error>`), for failed checks.
    would_fail_with: str


class Plan(TypedDict):
    """The answer of Plan onboarding (POST /connections/plan's 200, a dry run's output)."""

    planned: bool
    dry_run: bool
    # False when any check failed; `failed_checks` names them, each check says what the run would end with.
    would_succeed: bool
    failed_checks: list[str]
    connection: dict[str, Any]
    iam_user: dict[str, Any]
    policy: dict[str, Any]
    access_key: str
    secret: dict[str, Any]
    probe_object: str | None
    permissions_boundary: dict[str, Any]
    cors: dict[str, Any]
    bucket: dict[str, Any]
    labellerr: dict[str, Any]
    account: dict[str, Any]
    checks: list[Check]
    # Always empty: a plan creates nothing.
    created: list[str]


class Identity(TypedDict):
    """The names and ARNs a run would give what it creates (Plan's iam_user, policy, access_key, secret,
    probe_object)."""

    iam_user: dict[str, Any]
    policy: dict[str, Any]
    access_key: str
    secret: dict[str, Any]
    probe_object: str | None


class Summary(TypedDict):
    would_succeed: bool
    failed_checks: list[str]


def check(name: str, outcome: Outcome, detail: str, would_fail_with: str = "") -> Check:
    found: Check = {"check": name, "outcome": outcome, "detail": detail}
    if would_fail_with and outcome == "failed":
        found["would_fail_with"] = would_fail_with
    return found


def iam_arn(partition: str, account_id: str, kind: str, path: str, name: str) -> str:
    return f"arn:{partition}:iam::{account_id}:{kind}{path}{name}"


def identity(connection: Connection, settings: Settings, account_id: str) -> Identity:
    """The user, its policy's name and ARN, and the secret, as Create user / Create policy / Issue access
    key name them. A secret's ARN ends in 6 random characters Secrets Manager picks: only its prefix is
    known."""
    user_arn = iam_arn(
        settings.partition, account_id, "user", connection["iam_path"], connection["iam_user_name"]
    )
    policy_arn = iam_arn(
        settings.partition, account_id, "policy", connection["iam_path"], connection["policy_name"]
    )
    tags = {TAG_CONNECTION_ID: connection["connection_id"], TAG_EXECUTION_ARN: "(the onboarding run's ARN)"}
    return {
        "iam_user": {
            "name": connection["iam_user_name"],
            "path": connection["iam_path"],
            "arn": user_arn,
            "permissions_boundary_arn": settings.permissions_boundary_arn or None,
            "tags": tags,
        },
        "policy": {"name": connection["policy_name"], "path": connection["iam_path"], "arn": policy_arn},
        "access_key": "one, created by Issue access key and written only into the secret",
        "secret": {
            "name": connection["secret_name"],
            "arn": None,
            "arn_prefix": f"arn:{settings.partition}:secretsmanager:{settings.region}:{account_id}:secret:"
            f"{connection['secret_name']}-",
            "kms_key": settings.secrets_kms_key_arn or "aws/secretsmanager",
            "tags": tags,
        },
        "probe_object": probe_key(connection) if connection["access"] == "import_export" else None,
    }


def cors_plan(
    before: Sequence[dict[str, Any]] | None, connection: Connection, settings: Settings
) -> tuple[dict[str, Any], list[Check]]:
    """The bucket's CORS before and after Apply CORS, and whether Labellerr's browser would be served.

    `before` None: the bucket could not be read (it does not exist), so nothing can be said.
    """
    rule = labellerr_rule(settings.cors_allowed_origins, rule_id_for(connection["connection_id"]))
    if before is None:
        return {"apply_cors": connection["apply_cors"], "before": None, "after": None}, [
            check("cors", "not_checked", "the bucket's CORS could not be read")
        ]
    checks: list[Check] = []
    plan: dict[str, Any] = {
        "apply_cors": connection["apply_cors"],
        "rule_id": rule["ID"],
        "before": list(before),
    }
    after: list[dict[str, Any]] = list(before)
    if not connection["apply_cors"]:
        plan.update(after=after, change="none: apply_cors is false, the bucket's CORS stays as it is")
    else:
        if any(r.get("ID") == rule["ID"] for r in before):
            checks.append(
                check(
                    "cors_rule_id_free",
                    "warning",
                    f"the bucket already has a rule '{rule['ID']}' (left by an earlier connection with this "
                    "id): Apply CORS would replace it in place",
                )
            )
        try:
            merged, customer_rule = planned_configuration(before, rule)
        except CorsRuleLimitExceeded as error:
            checks.append(check("cors_rule_limit", "failed", str(error), "ApplyCors.CorsRuleLimitExceeded"))
            merged, customer_rule = None, None
        if customer_rule is not None:
            plan.update(
                after=after,
                change=f"none: the customer's rule '{customer_rule.get('ID', '')}' grants the same",
            )
        elif merged is not None:
            after = merged
            plan.update(
                after=after, change=f"add rule '{rule['ID']}' after the bucket's {len(before)} rule(s)"
            )
        else:
            plan.update(after=after, change="none")
    plan["rule"] = rule
    our_id = rule["ID"] if any(r.get("ID") == rule["ID"] for r in after) else ""
    for origin in probe_origins(settings.cors_allowed_origins, settings.cors_probe_origins):
        found = check_rule_order(after, our_id, origin)
        if found["outcome"] == "failed":
            # Verify access fails the run on this; with apply_cors false it only warns.
            outcome: Outcome = "failed" if connection["apply_cors"] else "warning"
            checks.append(
                check("cors_rule_order", outcome, found["detail"], "VerifyAccess.VerificationFailed")
            )
        else:
            checks.append(check("cors_rule_order", "passed", found["detail"]))
    return plan, checks


def headroom(
    summary: Mapping[SummaryKeyTypeType, int], users_on_path: int, iam_path: str
) -> tuple[dict[str, Any], list[Check]]:
    """The account's room for one more connection: a user and a managed policy (GetAccountSummary's
    Users/UsersQuota and Policies/PoliciesQuota), and how many users are on the provisioner's path."""
    users, users_quota = int(summary.get("Users", 0)), int(summary.get("UsersQuota", DEFAULT_USERS_QUOTA))
    policies = int(summary.get("Policies", 0))
    policies_quota = int(summary.get("PoliciesQuota", DEFAULT_POLICIES_QUOTA))
    found = {
        "iam_users_on_path": users_on_path,
        "iam_path": iam_path,
        "iam_users": users,
        "iam_users_quota": users_quota,
        "iam_users_left": max(0, users_quota - users),
        "managed_policies": policies,
        "managed_policies_quota": policies_quota,
        "managed_policies_left": max(0, policies_quota - policies),
    }
    checks = [
        check(
            "iam_users_quota",
            "failed" if users >= users_quota else "passed",
            f"{users} of {users_quota} IAM users in the account ({users_on_path} on {iam_path}); "
            "a connection adds 1",
            "CreateUser.LimitExceeded",
        ),
        check(
            "managed_policies_quota",
            "failed" if policies >= policies_quota else "passed",
            f"{policies} of {policies_quota} customer managed policies in the account; a connection adds 1",
            "CreatePolicy.LimitExceeded",
        ),
    ]
    return found, checks


def bucket_findings(connection: Connection, readable: bool) -> dict[str, Any]:
    """What Validate request would find (its own fields); nothing when the bucket could not be read."""
    if not readable:
        return {"exists": False, "region": None}
    found: dict[str, Any] = {"exists": True, "region": connection["region"]}
    for key in ("encryption", "requester_pays", "bucket_policy"):
        if key in connection:
            found[key] = connection.get(key)
    return found


def finding(name: str, value: Any) -> str:
    """One line for a bucket setting that passed."""
    value = value if isinstance(value, dict) else {"value": value}
    if name == "requester_pays":
        return {"no": "Requester Pays is off"}.get(value["value"], "Requester Pays could not be read")
    if name == "encryption":
        keys = value.get("customer_kms_key_arns") or []
        grant = f"; the policy grants KMS keys {', '.join(keys)}" if keys else ""
        checked = value.get("objects_checked", 0)
        return f"default encryption {value.get('type')}, {checked} object(s) checked{grant}"
    if value.get("possible_denies"):
        return f"bucket policy read; Denies that depend on the caller: {', '.join(value['possible_denies'])}"
    return f"bucket policy: {value.get('status')}"


def labellerr_types(access: str) -> list[str]:
    """The Labellerr connections Register in Labellerr would create."""
    return ["import", "export"] if access == "import_export" else ["import"]


def summary(checks: Sequence[Check]) -> Summary:
    failed = [c["check"] for c in checks if c["outcome"] == "failed"]
    return {"would_succeed": not failed, "failed_checks": failed}


def request_part(connection: Connection, derived_id: bool) -> dict[str, Any]:
    """The connection as the run would carry it; a derived id is only an example (a run derives its own)."""
    part = {
        key: connection.get(key)
        for key in (
            "connection_id",
            "connection_name",
            "description",
            "bucket",
            "prefix",
            "s3_uri",
            "access",
            "apply_cors",
            "whole_bucket",
            "register_in_labellerr",
            "labellerr_data_type",
        )
    }
    part["connection_id_derived"] = derived_id
    if derived_id:
        part["note"] = (
            "connection_id was derived with a random suffix; an onboarding derives another one: "
            "pass connection_id to get exactly these names"
        )
    return part
