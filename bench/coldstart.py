"""Cold start of each function of template.yaml, against `import boto3; boto3.client("s3")`.

Each measurement is a fresh interpreter (bench/coldstart_probe.py) that times, with perf_counter, the import
of the handler module plus the first AWS client that function makes. The first client is read from the
handler's source: the first `aws.client("<service>")` executed at import, else the first in the handler
function, else the first in the module.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess  # nosec B404 # runs only our own interpreter on our own probe script
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from provisioner_local.template import REGION, FunctionSpec, SamTemplate

PROBE: Final = Path(__file__).resolve().with_name("coldstart_probe.py")
PROBE_TIMEOUT_S: Final = 60
# The probe makes a client and never calls AWS: any string will do (a placeholder, not a credential).
_DUMMY_CREDENTIAL: Final = "bench-coldstart"
# What a Lambda execution environment has besides the template's variables; dummy credentials, no IMDS.
_LAMBDA_ENVIRONMENT: Final = {
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_ACCESS_KEY_ID": _DUMMY_CREDENTIAL,
    "AWS_SECRET_ACCESS_KEY": _DUMMY_CREDENTIAL,
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
}
_INHERITED: Final = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")


@dataclass(frozen=True)
class Target:
    logical_id: str
    code_dir: Path
    module: str
    paths: tuple[str, ...]
    environment: Mapping[str, str]
    service: str | None
    memory_mb: int


@dataclass(frozen=True)
class Sample:
    ms: float
    cpu_ms: float


@dataclass
class ColdStarts:
    runs: int
    baseline: list[Sample] = field(default_factory=list)
    functions: dict[str, list[Sample]] = field(default_factory=dict)
    services: dict[str, str | None] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ImportProfile:
    """`python -X importtime` of one cold start: the handler module's direct imports, slowest first."""

    module_ms: float
    direct_imports_ms: tuple[tuple[str, float], ...]
    during_client_ms: float


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _client_calls(nodes: Sequence[ast.AST]) -> list[tuple[int, int, str]]:
    found = []
    for root in nodes:
        for node in ast.walk(root):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "client"
                and _dotted(node.func.value).split(".")[-1] == "aws"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                found.append((node.lineno, node.col_offset, node.args[0].value))
    return sorted(found)


def first_client_service(source: str, handler: str = "lambda_handler") -> str | None:
    """The service of the first `aws.client("...")` the function runs on its first invocation."""
    tree = ast.parse(source)
    definitions = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    at_import = [statement for statement in tree.body if not isinstance(statement, definitions)]
    in_handler = [
        statement
        for statement in tree.body
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef) and statement.name == handler
    ]
    for scope in (at_import, in_handler, [tree]):
        calls = _client_calls(scope)
        if calls:
            return calls[0][2]
    return None


def _layer_paths(spec: FunctionSpec) -> list[str]:
    return [str(path) for layer in spec.layer_dirs for path in (layer / "python", layer) if path.is_dir()]


def targets(template_path: Path) -> list[Target]:
    template = SamTemplate.load(template_path)
    result = []
    for spec in template.functions():
        service = first_client_service(spec.handler_path.read_text(encoding="utf-8"), spec.handler_function)
        result.append(
            Target(
                logical_id=spec.logical_id,
                code_dir=spec.code_uri,
                module=spec.handler_module,
                paths=(str(spec.code_uri), *_layer_paths(spec)),
                environment=dict(spec.environment),
                service=service,
                memory_mb=spec.memory_size,
            )
        )
    return result


def probe_environment(target: Target | None) -> dict[str, str]:
    environment = {key: os.environ[key] for key in _INHERITED if key in os.environ}
    environment.update(_LAMBDA_ENVIRONMENT)
    if target is not None:
        environment.update(target.environment)
        environment["AWS_LAMBDA_FUNCTION_NAME"] = target.logical_id
        environment["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = str(target.memory_mb)
    return environment


def _run_probe(target: Target | None, *, importtime: bool = False) -> subprocess.CompletedProcess[str]:
    if target is None:
        spec: dict[str, object] = {"mode": "baseline"}
        cwd = PROBE.parent
    else:
        spec = {
            "mode": "handler",
            "paths": list(target.paths),
            "module": target.module,
            "service": target.service,
        }
        cwd = target.code_dir
    flags = ["-I", *(["-X", "importtime"] if importtime else [])]
    completed = subprocess.run(  # noqa: S603  # nosec B603 # our own interpreter and probe, no shell
        [sys.executable, *flags, str(PROBE), json.dumps(spec)],
        cwd=cwd,
        env=probe_environment(target),
        capture_output=True,
        text=True,
        timeout=PROBE_TIMEOUT_S,
        check=False,
    )
    if completed.returncode != 0:
        lines = completed.stderr.strip().splitlines()
        raise RuntimeError(lines[-1] if lines else f"probe exited with {completed.returncode}")
    return completed


def probe(target: Target | None) -> Sample:
    """One cold start in a fresh interpreter (wall and CPU ms); the baseline when target is None."""
    result = json.loads(_run_probe(target).stdout.strip().splitlines()[-1])
    return Sample(ms=float(result["ms"]), cpu_ms=float(result["cpu_ms"]))


def parse_importtime(stderr: str, module: str) -> ImportProfile:
    """From `-X importtime` output: the direct imports of `module` (the level-1 lines just before its
    level-0 line) and the level-0 imports after it (made while creating the first client)."""
    entries: list[tuple[int, str, float]] = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or line.count("|") < 2:
            continue
        _, cumulative, name = line.split("|", 2)
        if not cumulative.strip().isdigit():
            continue
        name = name[1:] if name.startswith(" ") else name
        level = (len(name) - len(name.lstrip(" "))) // 2
        entries.append((level, name.strip(), int(cumulative) / 1000))
    index = next((i for i, (level, name, _) in enumerate(entries) if level == 0 and name == module), None)
    if index is None:
        return ImportProfile(0.0, (), 0.0)
    previous = max((i for i in range(index) if entries[i][0] == 0), default=-1)
    children = [(name, ms) for level, name, ms in entries[previous + 1 : index] if level == 1]
    return ImportProfile(
        module_ms=entries[index][2],
        direct_imports_ms=tuple(sorted(children, key=lambda child: -child[1])),
        during_client_ms=sum(ms for level, _, ms in entries[index + 1 :] if level == 0),
    )


def import_profile(target: Target) -> ImportProfile:
    return parse_importtime(_run_probe(target, importtime=True).stderr, target.module)


def measure(template_path: Path, *, runs: int = 5, warmup: int = 1) -> ColdStarts:
    """Interleaved rounds (the baseline, then every function), so drift hits all alike; the warm-up
    rounds fill the bytecode caches and are dropped."""
    found = targets(template_path)
    result = ColdStarts(runs=runs)
    for target in found:
        result.services[target.logical_id] = target.service
        result.functions[target.logical_id] = []
        if target.service is None:
            result.errors[target.logical_id] = "no aws.client(...) call found in the handler module"
    for round_ in range(warmup + runs):
        keep = round_ >= warmup
        baseline = probe(None)
        if keep:
            result.baseline.append(baseline)
        for target in found:
            if target.logical_id in result.errors:
                continue
            try:
                sample = probe(target)
            except (RuntimeError, subprocess.TimeoutExpired) as error:
                result.errors[target.logical_id] = str(error)
                continue
            if keep:
                result.functions[target.logical_id].append(sample)
    return result
