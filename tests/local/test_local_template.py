"""Template resolution: short tags, intrinsics, Globals, parameters, and the ASL substitution rules."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml

from provisioner_local.template import (
    CloudFormationLoader,
    SamTemplate,
    TemplateError,
    render_definition,
)

FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE_TEMPLATE = FIXTURES / "template.yaml"
REPO_ROOT = Path(__file__).resolve().parents[2]


def _load(text: str):
    return yaml.load(textwrap.dedent(text), Loader=CloudFormationLoader)  # noqa: S506 - a SafeLoader


def _template(text: str, base_dir: Path = FIXTURES, **overrides: str) -> SamTemplate:
    return SamTemplate(_load(text), base_dir=base_dir, parameter_overrides=overrides)


# --- the fixture template, end to end


def test_functions_merge_globals_and_resolve_intrinsics():
    functions = {spec.name: spec for spec in SamTemplate.load(FIXTURE_TEMPLATE).functions()}

    assert sorted(functions) == ["CallAwsFunction", "EchoFunction", "FailFunction"]
    echo, fail = functions["EchoFunction"], functions["FailFunction"]
    assert echo.code_uri == FIXTURES / "functions" / "echo"
    assert echo.handler_path == FIXTURES / "functions" / "echo" / "app.py"
    assert (echo.timeout, echo.memory_size) == (5, 512)
    assert (fail.timeout, fail.memory_size) == (20, 256)
    assert echo.environment == {
        "FIXTURE_GREETING": "hello-us-east-1",
        "FIXTURE_ORIGINS": "https://a.example,https://b.example",
        "FIXTURE_STAGE": "local",
    }
    core = (REPO_ROOT / "layers" / "provisioner_core").resolve()
    # SAM concatenates list properties, Globals first.
    assert echo.layer_dirs == (core,)
    assert fail.layer_dirs == (core, FIXTURES / "layer")
    assert echo.arn == "arn:aws:lambda:us-east-1:123456789012:function:EchoFunction"


def test_state_machine_substitutions_resolve_and_render():
    (machine,) = SamTemplate.load(FIXTURE_TEMPLATE).state_machines()

    assert machine.logical_id == "FixtureStateMachine"
    assert machine.name == "labellerr-provisioner-local-fixture"
    assert machine.arn.endswith(":stateMachine:labellerr-provisioner-local-fixture")
    assert machine.definition_substitutions == {
        "EchoFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:EchoFunction",
        "FailFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:FailFunction",
        "CaughtLabel": "caught-by-labellerr",
    }
    definition = json.loads(machine.render_definition())
    assert definition["States"]["Echo"]["Resource"].endswith(":function:EchoFunction")
    assert definition["States"]["Caught"]["Parameters"]["label"] == "caught-by-labellerr"


def test_parameter_overrides_reach_conditions_and_environment():
    template = SamTemplate.load(FIXTURE_TEMPLATE, {"Stage": "test", "Greeting": "bye"})
    environment = template.functions()[0].environment

    assert environment["FIXTURE_STAGE"] == "testing"
    assert environment["FIXTURE_GREETING"] == "bye-us-east-1"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"Nope": "x"}, r"undeclared parameter\(s\): Nope"),
        ({"Stage": "prod"}, "not one of AllowedValues"),
        ({"Greeting": "Hello!"}, "does not match AllowedPattern"),
    ],
)
def test_bad_parameter_overrides_are_rejected(overrides, message):
    with pytest.raises(TemplateError, match=message):
        SamTemplate.load(FIXTURE_TEMPLATE, overrides)


# --- DefinitionSubstitutions


def test_unresolved_placeholder_fails():
    with pytest.raises(TemplateError, match=r"no DefinitionSubstitutions entry for \$\{Missing\}"):
        render_definition('{"Resource": "${Missing}", "Other": "${Known}"}', {"Known": "x"})


def test_unused_substitution_fails():
    with pytest.raises(TemplateError, match="never used in the definition: Spare"):
        render_definition('{"Resource": "${Known}"}', {"Known": "x", "Spare": "y"})


def test_every_placeholder_is_replaced():
    assert render_definition('["${A}", "${B}", "${A}"]', {"A": "1", "B": "2"}) == '["1", "2", "1"]'


def test_state_machine_with_a_dangling_placeholder_fails(tmp_path):
    (tmp_path / "sm.json").write_text(
        '{"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "${Fn}"}}}'
    )
    template = _template(
        """
        Resources:
          Machine:
            Type: AWS::Serverless::StateMachine
            Properties:
              DefinitionUri: sm.json
              DefinitionSubstitutions:
                Function: arn:aws:lambda:us-east-1:123456789012:function:F
        """,
        base_dir=tmp_path,
    )
    (machine,) = template.state_machines()
    with pytest.raises(
        TemplateError, match=r"Machine: no DefinitionSubstitutions entry for \$\{Fn\}.*never used"
    ):
        machine.render_definition()


# --- short tags and intrinsics


def test_short_tags_become_long_forms():
    document = _load(
        """
        a: !Ref Thing
        b: !GetAtt Res.Outputs.Name
        c: !Sub "${AWS::Region}-x"
        d: !Join [",", [a, b]]
        e: !If [Cond, 1, 2]
        f: !Condition Cond
        """
    )
    assert document == {
        "a": {"Ref": "Thing"},
        "b": {"Fn::GetAtt": ["Res", "Outputs.Name"]},
        "c": {"Fn::Sub": "${AWS::Region}-x"},
        "d": {"Fn::Join": [",", ["a", "b"]]},
        "e": {"Fn::If": ["Cond", 1, 2]},
        "f": {"Condition": "Cond"},
    }


def test_intrinsics_resolve():
    template = _template(
        """
        Parameters:
          Env: {Type: String, Default: dev}
        Mappings:
          Sizes: {dev: {Memory: 128}}
        Conditions:
          IsDev: !Equals [!Ref Env, dev]
          NotDev: !Not [!Condition IsDev]
        Resources:
          Fn:
            Type: AWS::Serverless::Function
          Machine:
            Type: AWS::Serverless::StateMachine
          Role:
            Type: AWS::IAM::Role
          Value:
            Type: Custom::Thing
            Properties:
              Sub: !Sub ["${Name}/${AWS::AccountId}/${!Literal}", {Name: !Ref Env}]
              Attr: !Sub "${Fn.Arn}|${Machine.Name}|${Role.Arn}"
              Pick: !Select [1, !Split ["/", "a/b/c"]]
              Map: !FindInMap [Sizes, !Ref Env, Memory]
              Branch: !If [NotDev, prod-only, !Ref AWS::NoValue]
              List: [one, !If [IsDev, !Ref AWS::NoValue, two]]
              Ref: !Ref Machine
              Stack: !Ref AWS::StackName
        """
    )
    properties = template.resolve(template.resources["Value"]["Properties"])

    assert properties == {
        "Sub": "dev/123456789012/${Literal}",
        "Attr": (
            "arn:aws:lambda:us-east-1:123456789012:function:Fn|Machine|arn:aws:iam::123456789012:role/Role"
        ),
        "Pick": "b",
        "Map": 128,
        "List": ["one"],
        "Ref": "arn:aws:states:us-east-1:123456789012:stateMachine:Machine",
        "Stack": "labellerr-provisioner-local",
    }


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ({"Ref": "Nowhere"}, "Ref to 'Nowhere', which is neither a parameter nor a resource"),
        ({"Fn::Sub": "${Nowhere}"}, "Ref to 'Nowhere'"),
        ({"Fn::GetAtt": ["Fn", "Version"]}, r"GetAtt Fn.Version .* is not known to the local stack"),
        ({"Fn::GetAtt": ["Ghost", "Arn"]}, "no resource 'Ghost'"),
        ({"Fn::ImportValue": "shared-vpc"}, "Fn::ImportValue cannot be resolved"),
        ({"Ref": "NoDefault"}, "parameter NoDefault has no Default"),
        ({"Fn::If": ["Unknown", 1, 2]}, "no condition named 'Unknown'"),
    ],
)
def test_unresolvable_expressions_fail_clearly(expression, message):
    template = _template(
        """
        Parameters:
          NoDefault: {Type: String}
        Resources:
          Fn:
            Type: AWS::Serverless::Function
        """
    )
    with pytest.raises(TemplateError, match=message):
        template.resolve(expression, "Here")


def test_missing_handler_module_fails(tmp_path):
    template = _template(
        """
        Resources:
          Fn:
            Type: AWS::Serverless::Function
            Properties: {CodeUri: nowhere/, Handler: app.lambda_handler}
        """,
        base_dir=tmp_path,
    )
    with pytest.raises(TemplateError, match=r"handler module .*nowhere/app.py does not exist"):
        template.functions()


# --- the project's own template


@pytest.mark.skipif(not (REPO_ROOT / "template.yaml").exists(), reason="no template.yaml yet")
def test_project_template_resolves_with_every_substitution_used():
    template = SamTemplate.load(REPO_ROOT / "template.yaml")
    functions = template.functions()
    machines = template.state_machines()

    assert functions
    assert machines
    function_arns = {spec.arn for spec in functions}
    for machine in machines:
        # render_definition raises on a ${...} left over and on a substitution never used.
        definition = json.loads(machine.render_definition())
        resources = {
            state["Resource"] for state in definition["States"].values() if state.get("Type") == "Task"
        }
        # states:startExecution: the health sweep continuing in a new execution of itself.
        integrations = {"arn:aws:states:::lambda:invoke", "arn:aws:states:::states:startExecution"}
        assert resources <= function_arns | integrations
