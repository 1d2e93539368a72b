"""provisioner-preflight: what `sam deploy` would deploy, checked before it runs, and what the stack may do.

Reads template.yaml, samconfig.toml and the command line the way SAM does, checks the parameters and the
capabilities, and prints the stack's permissions in plain words. Needs no AWS call: with credentials at hand
it also says who the caller is (sts:GetCallerIdentity), and a failure of that is a note, never a problem.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TextIO

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from provisioner_ops import rotation_history
from provisioner_ops.deploy_config import (
    DeployConfigError,
    capability_problem,
    effective_parameters,
    parse_overrides,
    read_samconfig,
    read_template,
)
from provisioner_ops.policy_words import describe
from provisioner_ops.template_policies import Resolver, function_statements

ROTATION_DEFINITION: Final = "RotateConnectionKeyStateMachine"
_REGION: Final = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")
_ARN_REGION: Final = re.compile(r"^arn:[^:]+:[^:]+:([^:]*):")
# Beyond this share of the limit a rotation has little room left for retries, which add events too.
HISTORY_WARNING_SHARE: Final = 0.8


@dataclass
class Findings:
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Caller:
    account: str | None
    detail: str


def resolve_region(cli: str | None, samconfig: str | None, sdk: str | None) -> tuple[str | None, str]:
    """The region `sam deploy` would use and its source: --region, samconfig, then the SDK's chain."""
    for value, source in ((cli, "--region"), (samconfig, "samconfig.toml"), (sdk, "the AWS config chain")):
        if value:
            return value, source
    return None, ""


def _number(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def check_declared(template: Mapping[str, Any], values: Mapping[str, str], findings: Findings) -> None:
    """What CloudFormation itself would refuse: a value outside its AllowedPattern, values or range."""
    for name, spec in (template.get("Parameters") or {}).items():
        if name not in values:
            findings.problems.append(f"{name} has no value and no default (--parameter-overrides {name}=...)")
            continue
        value = values[name]
        pattern = spec.get("AllowedPattern")
        if spec.get("Type") == "String" and pattern and not re.fullmatch(str(pattern), value):
            findings.problems.append(f"{name}={value!r} does not match its AllowedPattern {pattern}")
        allowed = spec.get("AllowedValues")
        if allowed and value not in [str(item) for item in allowed]:
            findings.problems.append(f"{name}={value!r} is not one of {', '.join(map(str, allowed))}")
        if spec.get("Type") == "Number":
            number = _number(value)
            if number is None:
                findings.problems.append(f"{name}={value!r} is not a number")
            elif "MinValue" in spec and number < float(spec["MinValue"]):
                findings.problems.append(f"{name}={value} is below its MinValue {spec['MinValue']}")
            elif "MaxValue" in spec and number > float(spec["MaxValue"]):
                findings.problems.append(f"{name}={value} is above its MaxValue {spec['MaxValue']}")


def check_meaning(values: Mapping[str, str], region: str | None, findings: Findings) -> None:
    """What CloudFormation would accept but the stack would not work with, or should not be given."""
    buckets = values.get("AllowedBuckets", "")
    if not buckets.strip():
        findings.problems.append("AllowedBuckets is empty: the provisioner could reach no bucket")
    elif buckets.strip() == "*":
        findings.warnings.append(
            "AllowedBuckets is '*': the stack may change CORS of, and issue keys for, any bucket of the "
            "account; a pattern such as acme-datasets-* narrows it"
        )
    for name in ("SecretsKmsKeyArn", "LabellerrCredentialsSecretArn"):
        match = _ARN_REGION.match(values.get(name, ""))
        if match and region and match.group(1) != region:
            findings.problems.append(
                f"{name} is in {match.group(1)}, the stack in {region}: the functions' clients are the stack "
                "region's, so they could not use it"
            )
    url = values.get("LabellerrApiUrl", "")
    if url and not url.lower().startswith("https://"):
        findings.problems.append(
            f"LabellerrApiUrl={url!r} is not https: the functions send Labellerr's API secret to it"
        )


def check_rotation(definition: Mapping[str, Any], values: Mapping[str, str], findings: Findings) -> str:
    """A problem when a rotation would outgrow its execution history; returns the estimate, in words."""
    numbers = {
        name: _number(values.get(name, ""))
        for name in ("KeyRotationCheckSeconds", "KeyRotationAdoptionDays", "KeyRotationGraceDays")
    }
    if any(number is None for number in numbers.values()):
        return "rotation history: not estimated (a rotation parameter is not a number)"
    check, adoption, grace = (float(n or 0) for n in numbers.values())
    estimate = rotation_history.estimate(
        definition, check_seconds=check, adoption_days=adoption, grace_days=grace
    )
    stretched = (
        f", every {estimate.interval_seconds:,} s (KeyRotationCheckSeconds={check:g} is stretched so the "
        "checks fit the history)"
        if estimate.interval_seconds > check
        else ""
    )
    words = (
        f"a rotation that waits out {adoption:g} + {grace:g} days checks {estimate.checks} times{stretched} "
        f"({estimate.events_per_check} events each) and writes about {estimate.events:,} history events "
        f"(limit {rotation_history.HISTORY_LIMIT:,})"
    )
    if estimate.over_limit:
        findings.problems.append(
            f"a rotation would outgrow its execution history: {words}, so Step Functions would fail it; "
            "shorten KeyRotationAdoptionDays or KeyRotationGraceDays"
        )
    elif estimate.events > HISTORY_WARNING_SHARE * rotation_history.HISTORY_LIMIT:
        findings.warnings.append(f"KeyRotationCheckSeconds={check:g} leaves little room: {words}")
    return words


def caller_identity(region: str) -> Caller:
    try:
        config = Config(connect_timeout=3, read_timeout=5, retries={"max_attempts": 1})
        identity = (
            boto3.session.Session().client("sts", region_name=region, config=config).get_caller_identity()
        )
    except (BotoCoreError, ClientError) as error:
        return Caller(None, f"not checked ({error}); sam deploy will need credentials")
    return Caller(str(identity["Account"]), f"{identity['Arn']} (account {identity['Account']})")


def _stack_definition(template: Mapping[str, Any], root: Path) -> dict[str, Any]:
    resource = (template.get("Resources") or {}).get(ROTATION_DEFINITION) or {}
    uri = (resource.get("Properties") or {}).get("DefinitionUri")
    if not uri:
        raise DeployConfigError(f"the template has no {ROTATION_DEFINITION} with a DefinitionUri")
    try:
        return rotation_history.load_definition(root / str(uri))
    except (OSError, ValueError) as error:
        raise DeployConfigError(f"{root / str(uri)}: {error}") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="provisioner-preflight",
        description="Check what `sam deploy` would deploy (template.yaml, samconfig.toml, overrides) and "
        "print what the stack will be allowed to do; exit 1 naming each problem.",
    )
    parser.add_argument("--template", type=Path, default=Path("template.yaml"), help="default: template.yaml")
    parser.add_argument(
        "--config-file", type=Path, default=Path("samconfig.toml"), help="default: samconfig.toml"
    )
    parser.add_argument("--config-env", default="default", help="samconfig environment (default: default)")
    parser.add_argument("--stack-name", help="default: samconfig's stack_name")
    parser.add_argument("--region", help="default: samconfig's region, else the AWS config chain's")
    parser.add_argument(
        "--parameter-overrides", nargs="+", metavar="KEY=VALUE",
        help="as for sam deploy: replaces samconfig's parameter_overrides as a whole",
    )  # fmt: skip
    parser.add_argument("--offline", action="store_true", help="make no AWS call (no sts:GetCallerIdentity)")
    return parser


def run(args: argparse.Namespace, out: TextIO) -> int:
    findings = Findings()
    template = read_template(args.template)
    samconfig = read_samconfig(args.config_file, args.config_env)
    cli = parse_overrides(args.parameter_overrides) if args.parameter_overrides else None
    values, unknown = effective_parameters(template, samconfig, cli)
    findings.problems += [f"{key} is overridden but the template has no such parameter" for key in unknown]
    sdk_region = boto3.session.Session().region_name
    region, source = resolve_region(args.region, samconfig.region, sdk_region)
    stack_name = args.stack_name or samconfig.stack_name
    if region is None:
        findings.problems.append(
            "no region: set region in samconfig.toml, pass --region, or configure one "
            "(AWS_DEFAULT_REGION, or `aws configure set region <region>`)"
        )
    elif not _REGION.fullmatch(region):
        findings.problems.append(f"region {region!r} (from {source}) is not a region name like us-east-1")
    elif sdk_region and sdk_region != region:
        findings.warnings.append(
            f"the stack goes to {region} ({source}), but your AWS config's region is {sdk_region}: the "
            f"stack's outputs and the smoke check need --region {region}"
        )
    if not stack_name:
        findings.problems.append("no stack name: set stack_name in samconfig.toml or pass --stack-name")
    problem = capability_problem(template, samconfig.capabilities)
    if problem:
        findings.problems.append(problem)
    check_declared(template, values, findings)
    check_meaning(values, region, findings)
    rotation_words = check_rotation(_stack_definition(template, args.template.parent), values, findings)

    caller = (
        Caller(None, "not checked (--offline)") if args.offline or not region else caller_identity(region)
    )
    print(
        f"Stack {stack_name or '?'} in {region or '?'}" + (f" (region from {source})" if source else ""),
        file=out,
    )
    print(f"Caller: {caller.detail}", file=out)
    print("Parameters as they would be deployed:", file=out)
    for name, value in values.items():
        print(f"  {name} = {value!r}", file=out)
    print(f"Key rotation: {rotation_words}", file=out)
    resolver = Resolver(
        template, values, stack_name or "<stack>", region or "<region>", account=caller.account or "<account>"
    )
    print("What the stack's functions will be allowed to do (from template.yaml's Policies):", file=out)
    for line in describe(function_statements(resolver)):
        print(
            textwrap.fill(
                line,
                width=110,
                initial_indent="  - ",
                subsequent_indent="    ",
                break_on_hyphens=False,
                break_long_words=False,
            ),
            file=out,
        )
    for label, items in (("Warning", findings.warnings), ("Problem", findings.problems)):
        for item in items:
            print(f"{label}: {item}", file=out)
    if findings.problems:
        print(f"{len(findings.problems)} problem(s): fix them before `sam deploy`.", file=out)
        return 1
    print("Preflight passed: nothing here stops `sam deploy`.", file=out)
    return 0


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    args = _parser().parse_args(argv)
    try:
        return run(args, out)
    except DeployConfigError as error:
        print(f"provisioner-preflight: {error}", file=sys.stderr)
        return 1
    except ValueError as error:  # an intrinsic or condition of the template this reader does not resolve
        print(f"provisioner-preflight: {args.template}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
