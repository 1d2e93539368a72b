"""provisioner-preflight: the parameters as `sam deploy` would deploy them, checked, and the stack's powers."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

from provisioner_ops import preflight, rotation_history
from provisioner_ops.deploy_config import read_template
from provisioner_ops.policy_words import action_words, describe
from provisioner_ops.template_policies import Resolver, function_statements

ROOT = Path(__file__).resolve().parents[2]
ROTATION = rotation_history.load_definition(ROOT / "statemachine" / "rotate_connection_key.asl.json")


@pytest.fixture
def no_aws(monkeypatch, tmp_path):
    """No region, no credentials, no config file: what a fresh machine has."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                 "AWS_SESSION_TOKEN"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))


@pytest.fixture
def project(tmp_path):
    """A copy of what the preflight reads, to change one thing at a time."""
    shutil.copy(ROOT / "template.yaml", tmp_path / "template.yaml")
    shutil.copy(ROOT / "samconfig.toml", tmp_path / "samconfig.toml")
    shutil.copytree(ROOT / "statemachine", tmp_path / "statemachine")
    return tmp_path


def run(project: Path, *args: str) -> tuple[int, str]:
    out = io.StringIO()
    code = preflight.main(
        ["--template", str(project / "template.yaml"), "--config-file", str(project / "samconfig.toml"),
         "--offline", *args],
        out=out,
    )  # fmt: skip
    return code, out.getvalue()


def problems(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("Problem: ")]


def test_the_committed_configuration_passes_and_says_what_the_stack_may_do(no_aws, project):
    code, text = run(project)
    assert code == 0, text
    assert "Stack labellerr-s3-provisioner in us-east-1 (region from samconfig.toml)" in text
    assert "Caller: not checked (--offline)" in text
    flat = " ".join(text.split())
    assert (
        "create user (only with the permissions boundary labellerr-s3-provisioner-connection-boundary)"
        in flat
    )
    assert "on IAM users on path /labellerr/:" in flat
    assert "on secrets named labellerr/connections/*:" in flat
    assert "Warning: AllowedBuckets is '*'" in text
    assert "Preflight passed" in text


def test_the_powers_follow_the_parameters_not_a_fixed_text(no_aws, project):
    code, text = run(
        project, "--parameter-overrides", "AllowedBuckets=acme-*", "IamPath=/vendors/labellerr/",
        "--stack-name", "prov-test",
    )  # fmt: skip
    assert code == 0, text
    flat = " ".join(text.split())
    assert "on buckets matching 'acme-*': list bucket," in flat
    assert "put bucket CORS (only in this account)" in flat
    assert "on IAM users on path /vendors/labellerr/:" in flat
    assert "the permissions boundary prov-test-connection-boundary" in flat
    assert "buckets matching '*'" not in flat
    assert "AllowedBuckets is '*'" not in text


def test_a_statement_added_to_a_function_is_described():
    template = {
        "Parameters": {"Bus": {"Type": "String", "Default": "b"}},
        "Conditions": {"Never": {"Fn::Equals": ["a", "b"]}},
        "Resources": {
            "Fn": {"Type": "AWS::Serverless::Function", "Properties": {"Policies": [{"Statement": [
                {"Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": {"Fn::Sub": "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${Bus}"}},
                {"Fn::If": ["Never", {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}, {"Ref": "AWS::NoValue"}]},
            ]}]}},
        },
    }  # fmt: skip
    resolver = Resolver(template, {"Bus": "my-queue"}, "s", "eu-west-3", account="123456789012")
    assert describe(function_statements(resolver)) == [
        "on arn:aws:sqs:eu-west-3:123456789012:my-queue: send message"
    ]


@pytest.mark.parametrize(
    ("override", "named"),
    [
        (
            "LabellerrApiUrl=http://api.labellerr.com",
            "LabellerrApiUrl='http://api.labellerr.com' is not https",
        ),
        (
            "SecretsKmsKeyArn=arn:aws:kms:eu-west-1:123456789012:key/abc",
            "SecretsKmsKeyArn is in eu-west-1, the stack in us-east-1",
        ),
        (
            "LabellerrCredentialsSecretArn=arn:aws:secretsmanager:eu-west-1:123456789012:secret:x",
            "LabellerrCredentialsSecretArn is in eu-west-1",
        ),
        ("AllowedBuckets=", "AllowedBuckets is empty"),
        ("AllowedBuckets=Acme_Data", "AllowedBuckets='Acme_Data' does not match its AllowedPattern"),
        ("LogLevel=LOUD", "LogLevel='LOUD' is not one of DEBUG, INFO, WARNING, ERROR"),
        ("KeyRotationCheckSeconds=0", "KeyRotationCheckSeconds=0 is below its MinValue 1"),
        ("KeyRotationGraceDays=181", "KeyRotationGraceDays=181 is above its MaxValue 180"),
        ("Bogus=1", "Bogus is overridden but the template has no such parameter"),
    ],
)
def test_each_problem_is_named_and_fails_the_preflight(no_aws, project, override, named):
    code, text = run(project, "--parameter-overrides", override)
    assert code == 1
    assert any(named in line for line in problems(text)), problems(text)


def test_a_small_check_interval_is_stretched_as_the_functions_stretch_it(no_aws, project):
    code, text = run(project, "--parameter-overrides", "KeyRotationCheckSeconds=1")
    assert code == 0, text
    assert "KeyRotationCheckSeconds=1 is stretched" in " ".join(text.split())
    from provisioner_core.rotation import RotationTiming

    for check, adoption, grace in ((1, 7, 3), (60, 180, 180), (3600, 7, 3), (1, 0, 0)):
        timing = RotationTiming(adoption_days=adoption, grace_days=grace, check_seconds=check)
        assert rotation_history.effective_interval(check, adoption, grace) == timing.interval_seconds()


def test_without_any_region_it_says_where_to_set_one(no_aws, project):
    config = project / "samconfig.toml"
    config.write_text(config.read_text().replace('region = "us-east-1"\n', ""))
    code, text = run(project)
    assert code == 1
    assert any("no region: set region in samconfig.toml, pass --region" in p for p in problems(text))


def test_the_sdk_region_is_used_when_samconfig_has_none_and_a_differing_one_is_a_warning(
    no_aws, project, monkeypatch
):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")
    code, text = run(project)
    assert code == 0
    assert "your AWS config's region is eu-west-3" in text
    config = project / "samconfig.toml"
    config.write_text(config.read_text().replace('region = "us-east-1"\n', ""))
    code, text = run(project)
    assert "in eu-west-3 (region from the AWS config chain)" in text


def test_plain_capability_iam_is_a_problem(no_aws, project):
    config = project / "samconfig.toml"
    config.write_text(config.read_text().replace('"CAPABILITY_NAMED_IAM"', '"CAPABILITY_IAM"'))
    code, text = run(project)
    assert code == 1
    assert any("Requires capabilities: [CAPABILITY_NAMED_IAM]" in p for p in problems(text))


def test_a_missing_template_is_a_message_not_a_traceback(no_aws, project, capsys):
    (project / "template.yaml").unlink()
    code, _ = run(project)
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("provisioner-preflight: ")
    assert "template.yaml" in err
    assert "Traceback" not in err


def test_without_offline_a_missing_credential_is_a_note(no_aws, project):
    out = io.StringIO()
    code = preflight.main(["--template", str(project / "template.yaml"),
                           "--config-file", str(project / "samconfig.toml")], out=out)  # fmt: skip
    assert code == 0
    assert "Caller: not checked (Unable to locate credentials)" in out.getvalue()


def test_the_history_estimate_counts_the_loops_states():
    [adoption, grace] = rotation_history.check_loops(ROTATION)
    assert set(adoption) == {"Wait for adoption", "Adopted?", "Check key adoption"}
    assert set(grace) == {"Wait during grace", "Grace over?", "Check rotation grace"}
    estimate = rotation_history.estimate(ROTATION, check_seconds=3600, adoption_days=7, grace_days=3)
    assert estimate.events_per_check == 5 + 2 + 2  # Task, Choice, Wait
    assert estimate.checks == 168 + 1 + 72 + 1
    assert not estimate.over_limit


def test_a_longer_loop_costs_more_per_check():
    longer = json.loads(json.dumps(ROTATION))
    states = longer["States"]
    states["Wait for adoption"]["Next"] = "Note"
    states["Note"] = {"Type": "Pass", "Next": "Check key adoption"}
    estimate = rotation_history.estimate(longer, check_seconds=3600, adoption_days=7, grace_days=3)
    assert estimate.events_per_check == 11


def test_no_allowed_parameters_outgrow_the_history():
    for adoption, grace in ((7, 3), (180, 180), (0, 0)):
        estimate = rotation_history.estimate(
            ROTATION, check_seconds=1, adoption_days=adoption, grace_days=grace
        )
        assert not estimate.over_limit, (adoption, grace, estimate)


def test_action_words():
    assert action_words("s3:PutBucketCORS") == "put bucket CORS"
    assert action_words("iam:CreateUser") == "create user"
    assert read_template(ROOT / "template.yaml")["Resources"]
