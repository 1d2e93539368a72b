"""samconfig.toml and template.yaml agree on what CloudFormation needs to deploy the stack."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner_ops.deploy_config import (
    NAMED_IAM,
    DeployConfigError,
    SamConfig,
    capability_problem,
    effective_parameters,
    named_iam_resources,
    parse_overrides,
    read_samconfig,
    read_template,
)

ROOT = Path(__file__).resolve().parents[2]


def test_the_committed_capabilities_cover_the_templates_named_iam_resources():
    template = read_template(ROOT / "template.yaml")
    samconfig = read_samconfig(ROOT / "samconfig.toml")
    assert capability_problem(template, samconfig.capabilities) is None, samconfig.capabilities


def test_the_template_does_name_an_iam_resource_so_the_check_above_means_something():
    named = named_iam_resources(read_template(ROOT / "template.yaml"))
    assert named.get("ConnectionBoundaryPolicy") == "ManagedPolicyName"


@pytest.mark.parametrize("prop", ["ManagedPolicyName", "RoleName", "UserName", "GroupName"])
def test_plain_capability_iam_is_refused_for_each_named_iam_resource(prop):
    resource_type = {"ManagedPolicyName": "ManagedPolicy", "RoleName": "Role", "UserName": "User",
                     "GroupName": "Group"}[prop]  # fmt: skip
    template = {"Resources": {"Thing": {"Type": f"AWS::IAM::{resource_type}", "Properties": {prop: "x"}}}}
    problem = capability_problem(template, ["CAPABILITY_IAM"])
    assert problem is not None
    assert NAMED_IAM in problem
    assert "Thing" in problem
    assert capability_problem(template, ["CAPABILITY_IAM", NAMED_IAM]) is None


def test_unnamed_iam_resources_need_no_named_capability():
    template = {"Resources": {"P": {"Type": "AWS::IAM::ManagedPolicy", "Properties": {"Path": "/"}}}}
    assert capability_problem(template, ["CAPABILITY_IAM"]) is None


def test_samconfig_deploy_section_wins_over_global(tmp_path):
    path = tmp_path / "samconfig.toml"
    path.write_text(
        'version = 0.1\n[default.global.parameters]\nstack_name = "a"\nregion = "eu-west-1"\n'
        '[default.deploy.parameters]\nregion = "eu-west-3"\ncapabilities = "CAPABILITY_IAM CAPABILITY_NAMED_IAM"\n'
        'parameter_overrides = "IamPath=\\"/x/\\" AllowedBuckets=\'acme-*\'"\n'
    )
    config = read_samconfig(path)
    assert config == SamConfig(
        stack_name="a", region="eu-west-3", capabilities=("CAPABILITY_IAM", NAMED_IAM),
        parameter_overrides={"IamPath": "/x/", "AllowedBuckets": "acme-*"},
    )  # fmt: skip


def test_a_missing_samconfig_has_no_answers_and_a_broken_one_is_named(tmp_path):
    assert read_samconfig(tmp_path / "samconfig.toml") == SamConfig()
    broken = tmp_path / "broken.toml"
    broken.write_text("[default\n")
    with pytest.raises(DeployConfigError, match=r"broken\.toml"):
        read_samconfig(broken)


def test_overrides_in_both_forms_and_a_malformed_one():
    assert parse_overrides('A=1 B="two words" ParameterKey=C,ParameterValue=3') == {
        "A": "1", "B": "two words", "C": "3",
    }  # fmt: skip
    with pytest.raises(DeployConfigError, match="not Key=Value"):
        parse_overrides("JustAWord")


def test_command_line_overrides_replace_samconfigs_and_defaults_fill_the_rest():
    template = {"Parameters": {"A": {"Type": "String", "Default": "a"}, "B": {"Type": "String", "Default": "b"},
                               "L": {"Type": "CommaDelimitedList", "Default": ["x", "y"]}}}  # fmt: skip
    config = SamConfig(parameter_overrides={"A": "from-samconfig"})
    assert effective_parameters(template, config) == ({"A": "from-samconfig", "B": "b", "L": "x,y"}, [])
    values, unknown = effective_parameters(template, config, {"B": "cli", "Nope": "1"})
    assert values == {"A": "a", "B": "cli", "L": "x,y"}
    assert unknown == ["Nope"]
