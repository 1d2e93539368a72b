"""Health checks measured on a local stack with the Labellerr stand-in: one check of a healthy connection
(`import` and `import_export`, registered in Labellerr), then a sweep of many ACTIVE connections.

The onboarding phases run without the stand-in (their figures are of the hand-off off), so these phases
get a stack of their own. The stand-in tests a key with S3 calls signed with that key, as the check's own
reads are: its client is tagged (`bench-origin/labellerr`) so the recorder can tell Labellerr's test apart.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from typing import Any, Final

from bench import health_figures, health_seed
from bench.clients import ADMIN_ACCESS_KEY_ID, Clients
from bench.customer_bucket import seed_bucket
from bench.environments import concurrent_environments
from bench.recorder import LogSink, Recorder
from bench.workload import FINAL_STATUSES, history_of, wait_for_final

HEALTH_MACHINE: Final = "ConnectionHealthStateMachine"
ONBOARD_MACHINE: Final = "OnboardConnectionStateMachine"
LABELLERR_TAG: Final = "labellerr"
ACCESSES: Final = ("import", "import_export")
CHECK_BUCKET: Final = "bench-health-check"
# Lambda environments per function in the sweep: several times the cap, so that the Map's
# MaxConcurrencyPath is what bounds the checks in flight, not the local stack's one environment a function.
ENVIRONMENTS_PER_CAP: Final = 4
WATCH_S: Final = 0.005


class HealthBenchError(RuntimeError):
    """A health phase cannot produce its figures."""


@contextlib.contextmanager
def labellerr_calls_tagged() -> Iterator[None]:
    from botocore.config import Config

    from provisioner_local import labellerr_access

    original = labellerr_access._CONFIG
    tagged = original.merge(Config(user_agent_extra=f"bench-origin/{LABELLERR_TAG}"))
    labellerr_access._CONFIG = tagged  # type: ignore[misc]  # Final in the module, swapped for this run
    try:
        yield
    finally:
        labellerr_access._CONFIG = original  # type: ignore[misc]


def _status_reader(stack: Any) -> tuple[Callable[[str], str], Callable[[str], list[Any]]]:
    """In-process reads of moto's backend (no request, so no CPU taken from the executions measured)."""
    from moto.stepfunctions.responses import get_backend

    backend = get_backend(stack.account_id, stack.region)

    def status_of(arn: str) -> str:
        return str(backend.describe_execution(arn).status)

    def executions_of(machine_arn: str) -> list[Any]:
        return list(backend.describe_state_machine(machine_arn).executions)

    return status_of, executions_of


def onboard_registered(
    stack: Any, admin: Clients, connection_id: str, bucket: str, access: str
) -> dict[str, Any]:
    """One onboarding through the state machine, handed to Labellerr; the described execution."""
    sfn = admin("stepfunctions")
    status_of, _ = _status_reader(stack)
    request = {
        "connection_name": f"Bench {connection_id}",
        "connection_id": connection_id,
        "s3_uri": f"{bucket}/{connection_id}/",
        "access": access,
        "register_in_labellerr": True,
    }
    arn = sfn.start_execution(
        stateMachineArn=stack.state_machines[ONBOARD_MACHINE], name=connection_id, input=json.dumps(request)
    )["executionArn"]
    final, _ = wait_for_final(sfn, [arn], deadline_s=120, poll_s=WATCH_S, status_of=status_of)
    if final[arn]["status"] != "SUCCEEDED":
        raise HealthBenchError(
            f"onboarding {connection_id} {final[arn]['status']}: {final[arn].get('cause')}"
        )
    return final[arn]


def check_once(stack: Any, admin: Clients, connection_id: str, name: str) -> tuple[dict[str, Any], list[Any]]:
    """One health check through the state machine: its description and history."""
    sfn = admin("stepfunctions")
    status_of, _ = _status_reader(stack)
    arn = sfn.start_execution(
        stateMachineArn=stack.state_machines[HEALTH_MACHINE],
        name=name,
        input=json.dumps({"connection_id": connection_id, "repair": False}),
    )["executionArn"]
    final, _ = wait_for_final(sfn, [arn], deadline_s=120, poll_s=WATCH_S, status_of=status_of)
    return final[arn], history_of(sfn, arn)


def check_phase(stack: Any, recorder: Recorder, runs: int) -> dict[str, Any]:
    """Per access: one connection onboarded, one warm-up check, then `runs` checks measured one by one."""
    admin = Clients(stack.endpoint_url, stack.region, ADMIN_ACCESS_KEY_ID)
    seed_bucket(admin("s3"), CHECK_BUCKET)
    result: dict[str, Any] = {}
    for access in ACCESSES:
        connection_id = f"bench-health-{access.replace('_', '-')}"
        # An object under the prefix, so the check's 1-byte read (and Labellerr's) is made, as on real data.
        admin("s3").put_object(Bucket=CHECK_BUCKET, Key=f"{connection_id}/sample.png", Body=b"\x89PNG sample")
        onboard_registered(stack, admin, connection_id, CHECK_BUCKET, access)
        stack.settle()
        check_once(stack, admin, connection_id, f"{connection_id}-warm")
        phases, histories, statuses = [], [], []
        for index in range(1, runs + 1):
            phase = f"health-check:{access}:{index:02d}"
            with recorder.phase(phase):
                described, history = check_once(stack, admin, connection_id, f"{connection_id}-{index:02d}")
            phases.append(phase)
            histories.append(history)
            statuses.append(described["status"])
        record = health_figures.registry_item(admin, stack, connection_id)
        result[access] = health_figures.check_figures(
            recorder,
            phases,
            histories,
            statuses,
            stack=stack,
            record=record,
            labellerr_tag=LABELLERR_TAG,
        )
    return result


def seed_sweep(stack: Any, connections: int) -> list[str]:
    """`connections` ACTIVE connections (bench.health_seed); their ids."""
    admin = Clients(stack.endpoint_url, stack.region, ADMIN_ACCESS_KEY_ID)
    table = stack.function_environment["CONNECTIONS_TABLE"]
    planned = health_seed.plan(connections)
    buckets = sorted({index for _, index in planned})
    templates: dict[int, health_seed.Template] = {}
    for index in buckets:
        bucket, tid = health_seed.bucket_name(index), health_seed.template_id(index)
        seed_bucket(admin("s3"), bucket)
        admin("s3").put_object(Bucket=bucket, Key=f"{tid}/sample.png", Body=health_seed.OBJECT_BODY)
        onboard_registered(stack, admin, tid, bucket, "import")
        templates[index] = health_seed.read_template(admin, table, tid, bucket)
    make_labellerr = _labellerr_maker(stack)
    clones: dict[int, list[str]] = {index: [] for index in buckets}
    for connection_id, index in planned:
        if connection_id == templates[index].connection_id:
            continue
        health_seed.clone(admin, table, templates[index], connection_id, make_labellerr)
        clones[index].append(connection_id)
    for index, ids in clones.items():
        health_seed.add_cors_rules(admin, templates[index].bucket, templates[index], ids)
    stack.settle()
    return [connection_id for connection_id, _ in planned]


def _labellerr_maker(stack: Any) -> Callable[[str, str, str, str], str]:
    from provisioner_core.labellerr import LabellerrClient, LabellerrCredentials, S3Credentials

    values = stack.labellerr.credentials
    client = LabellerrClient(
        LabellerrCredentials(values["api_key"], values["api_secret"], values["client_id"]), values["api_url"]
    )

    def make(access_key_id: str, secret_access_key: str, kind: str, name: str) -> str:
        return client.create_connection(S3Credentials(access_key_id, secret_access_key), kind, name)

    return make


def sweep_phase(stack: Any, recorder: Recorder, connections: int) -> dict[str, Any]:
    """Seed, then one sweep ({"sweep": true}) and every continuation it starts, awaited; then the figures."""
    admin = Clients(stack.endpoint_url, stack.region, ADMIN_ACCESS_KEY_ID)
    machine_arn = stack.state_machines[HEALTH_MACHINE]
    cap = int(stack.function_environment.get("HEALTH_CHECK_CONCURRENCY", "5"))
    # The sweep checks every ACTIVE connection, the check phase's too: they count towards `connections`.
    active = [
        str(item["connection_id"]["S"])
        for item in health_figures.registry_items(admin, stack)
        if item["status"]["S"] == "ACTIVE"
    ]
    began = time.perf_counter()
    ids = active + seed_sweep(stack, max(1, connections - len(active)))
    seeded_s = time.perf_counter() - began
    status_of, executions_of = _status_reader(stack)
    before = {execution.execution_arn for execution in executions_of(machine_arn)}
    sfn = admin("stepfunctions")
    # The functions' metrics print a line an invocation: counted, not shown (they would bury the report).
    with (
        contextlib.redirect_stdout(LogSink(recorder)),
        concurrent_environments(stack, cap * ENVIRONMENTS_PER_CAP),
        recorder.phase("health-sweep"),
    ):
        started = time.perf_counter()
        sfn.start_execution(
            stateMachineArn=machine_arn, name="bench-sweep", input=json.dumps({"sweep": True})
        )
        arns = _await_sweep(machine_arn, before, status_of, executions_of, deadline_s=1800)
        wall_s = time.perf_counter() - started
    described = [sfn.describe_execution(executionArn=arn) for arn in arns]
    histories = [history_of(sfn, arn) for arn in arns]
    records = health_figures.registry_items(admin, stack)
    return health_figures.sweep_figures(
        recorder,
        "health-sweep",
        stack=stack,
        connection_ids=ids,
        described=described,
        histories=histories,
        records=records,
        wall_s=wall_s,
        seeded_s=seeded_s,
        cap=cap,
        environments=cap * ENVIRONMENTS_PER_CAP,
        labellerr_tag=LABELLERR_TAG,
    )


def _await_sweep(
    machine_arn: str,
    before: set[str],
    status_of: Callable[[str], str],
    executions_of: Callable[[str], list[Any]],
    *,
    deadline_s: float,
) -> list[str]:
    """The sweep's executions once all have ended. A continuation is started by a task of the execution
    before it, so once every execution seen has ended, none is still to come."""
    deadline = time.monotonic() + deadline_s
    while True:
        arns = [e.execution_arn for e in executions_of(machine_arn) if e.execution_arn not in before]
        if arns and all(status_of(arn) in FINAL_STATUSES for arn in arns):
            # Looked at again: the last to end may have started one more just before it ended.
            again = [e.execution_arn for e in executions_of(machine_arn) if e.execution_arn not in before]
            if len(again) == len(arns):
                return arns
        if time.monotonic() > deadline:
            raise TimeoutError(f"the sweep's executions still running after {deadline_s:g} s")
        time.sleep(0.05)


def run(recorder: Recorder, *, check_runs: int, sweep_connections: int) -> dict[str, Any]:
    """Both health phases on a stack of their own (with the Labellerr stand-in); the report's section."""
    from moto.moto_api._internal.models import moto_api_backend

    from provisioner_local.emulator import LocalStack

    # moto's state outlives a stopped stack in this process: the onboarding phases' connections would be
    # swept too, so the health phases start from an empty cloud.
    moto_api_backend.reset()
    with labellerr_calls_tagged():
        stack = LocalStack(port=0, labellerr=True)
        with contextlib.redirect_stdout(LogSink(recorder)):
            stack.start()
        try:
            recorder.instrument_handlers(stack)
            with contextlib.redirect_stdout(LogSink(recorder)):
                checks = check_phase(stack, recorder, check_runs)
            sweep = sweep_phase(stack, recorder, sweep_connections) if sweep_connections else None
        finally:
            stack.stop()
    return health_figures.section(checks, sweep)
