"""The promise under every fault: nothing left behind, or ROLLBACK_FAILED naming exactly what is left, and
one DELETE (once the fault is gone) leaves nothing. DELETED always means nothing is left.

The operations are not a hand-kept list: discovery journeys record every AWS call each function makes,
and every Labellerr operation the stand-in is asked for, and every recorded (function, operation) gets a
permanent fault, a fault that happens once, and a fault whose call takes effect while its reply is lost;
forward (in onboarding and in offboarding), and in compensation (the rollback, with a late forward fault
that leaves the most to undo; for what only a rollback after Register in Labellerr does, a fault on the
export create, after the import connection exists in Labellerr).

Labellerr faults act on the stand-in, which cannot tell its callers apart: a `labellerr:list:1` meant for
a rollback may be spent by the forward step's retry. Those cases still hold the invariant.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest

from provisioner_local.faults import parse_fault
from tests.support.api import http, record_of
from tests.support.buckets import new_bucket
from tests.support.clients import Clients
from tests.support.executions import wait_until_ended
from tests.support.records import age_claim
from tests.support.residue import world
from tests.support.shards import Shard

pytestmark = pytest.mark.faults

KINDS = {"permanent": "", "once": ":1", "lost": ":lost"}
ROLLBACK = "RollbackFunction"
# A late forward fault: the probe is written and cannot be deleted by Verify access, so the rollback has
# the user, keys, secret, policy, CORS rule and probe to remove.
LATE_TRIGGER = "s3:DeleteObject@VerifyAccessFunction"
# The import connection exists in Labellerr, every export create fails: the rollback has Labellerr to clean.
LABELLERR_TRIGGER = "labellerr:create@export"
LABELLERR = "labellerr"
PREFIX = "images/"


@dataclass
class Journey:
    connection_id: str
    bucket: str
    body: dict[str, Any]
    # "" sends no Idempotency-Key: then the API's first PutItem is its registry claim, not the key's item.
    idempotency_key: str
    post_status: int = 0
    post_answer: Any = None
    fired: list[str] = field(default_factory=list)


def _post(c: Clients, journey: Journey) -> None:
    headers = {"Idempotency-Key": journey.idempotency_key} if journey.idempotency_key else {}
    journey.post_status, journey.post_answer = http(c.stack, "POST", "/connections", journey.body, headers)
    if journey.post_status == 202:
        wait_until_ended(c.sfn, journey.post_answer["execution_arn"])


def _delete(c: Clients, connection_id: str) -> tuple[int, Any]:
    status, answer = http(c.stack, "DELETE", f"/connections/{connection_id}")
    if status == 202:
        wait_until_ended(c.sfn, answer.get("execution_arn"))
    return status, answer


def run_journey(
    c: Clients, onboard_faults: list[str], offboard_faults: list[str], *, with_key: bool = True
) -> Journey:
    bucket = new_bucket(c, customer_cors=True)
    connection_id = f"m-{uuid.uuid4().hex[:10]}"
    journey = Journey(
        connection_id,
        bucket,
        {"connection_name": "m", "connection_id": connection_id, "s3_uri": f"{bucket}/{PREFIX}",
         "access": "import_export"},
        uuid.uuid4().hex if with_key else "",
    )  # fmt: skip
    c.stack.set_faults(onboard_faults)
    _post(c, journey)
    journey.fired = c.stack.injected_faults
    record = record_of(c.stack, connection_id)
    if offboard_faults and record is not None and record["status"] == "ACTIVE":
        c.stack.set_faults(offboard_faults)
        _delete(c, connection_id)
        journey.fired += c.stack.injected_faults
    c.stack.set_faults([])
    return journey


# --- discovery ------------------------------------------------------------------------------------------


@dataclass
class Discovered:
    onboarding: list[tuple[str, str, str]]
    # The API's calls for a POST without an Idempotency-Key (its first PutItem is then the claim).
    api_without_key: list[tuple[str, str, str]]
    offboarding: list[tuple[str, str, str]]
    rollback: list[tuple[str, str, str]]
    # What only a rollback that follows Register in Labellerr does (its Labellerr calls among them).
    labellerr_rollback: list[tuple[str, str, str]]
    # The AWS calls that got a successful answer somewhere in discovery: only their replies can be lost (a
    # call that only ever answers NoSuchEntity, say DeleteLoginProfile of a user without one, has none).
    answered: set[tuple[str, str, str]] = field(default_factory=set)

    def kinds(self, call: tuple[str, str, str]) -> list[str]:
        if call[0] == LABELLERR or call in self.answered:
            return list(KINDS)
        return [kind for kind in KINDS if kind != "lost"]


def _labellerr_operation(path: str) -> str:
    """The stand-in operation of a logged request path (details is /connectors/connections/{id}/details)."""
    return path.rstrip("/").rsplit("/", 1)[-1]


def _calls(c: Clients, since: int = 0) -> list[tuple[str, str, str]]:
    """Every (function, service, operation) since the faults were last set; Labellerr's from the stand-in's
    request log entries from `since` on (the stand-in cannot tell which function asked)."""
    seen: dict[tuple[str, str, str], None] = {}
    for function, service, operation in c.stack.function_calls:
        if function is not None:
            seen[(function, service, operation)] = None
    labellerr = c.stack.labellerr
    for entry in labellerr.request_log[since:] if labellerr is not None else []:
        seen[(LABELLERR, LABELLERR, _labellerr_operation(entry["path"]))] = None
    return list(seen)


def _log_size(c: Clients) -> int:
    return len(c.stack.labellerr.request_log) if c.stack.labellerr is not None else 0


@pytest.fixture(scope="module")
def discovered(clients: Clients) -> Discovered:
    c = clients
    bucket = new_bucket(c, customer_cors=True)
    body = {"connection_name": "d", "connection_id": f"d-{uuid.uuid4().hex[:8]}", "s3_uri": f"{bucket}/{PREFIX}",
            "access": "import_export"}  # fmt: skip
    c.stack.set_faults([])
    journey = Journey(body["connection_id"], bucket, body, uuid.uuid4().hex)
    since = _log_size(c)
    answered: set[tuple[str, str, str]] = set()

    def seen_answered() -> None:
        answered.update((str(f), service, op) for f, service, op in c.stack.answered_calls if f is not None)

    _post(c, journey)
    onboarding = _calls(c, since)
    seen_answered()
    c.stack.set_faults([])
    since = _log_size(c)
    _delete(c, journey.connection_id)
    offboarding = _calls(c, since)
    seen_answered()
    without_key = Journey(f"k-{uuid.uuid4().hex[:8]}", bucket, {**body}, "")
    without_key.body["connection_id"] = without_key.connection_id
    c.stack.set_faults([])
    _post(c, without_key)
    api_without_key = [call for call in _calls(c) if call[0] == "ApiFunction"]
    seen_answered()
    c.stack.set_faults([])
    _delete(c, without_key.connection_id)
    rolled_back = Journey(f"r-{uuid.uuid4().hex[:8]}", bucket, {**body}, uuid.uuid4().hex)
    rolled_back.body["connection_id"] = rolled_back.connection_id
    c.stack.set_faults([LATE_TRIGGER])
    _post(c, rolled_back)
    rollback = [call for call in _calls(c) if call[0] == ROLLBACK]
    seen_answered()
    after_labellerr = Journey(f"r-{uuid.uuid4().hex[:8]}", bucket, {**body}, uuid.uuid4().hex)
    after_labellerr.body["connection_id"] = after_labellerr.connection_id
    c.stack.set_faults([LABELLERR_TRIGGER])
    _post(c, after_labellerr)
    log = c.stack.labellerr.request_log if c.stack.labellerr is not None else []
    # The forward step's last call is the export create that failed; all after it is the rollback's.
    last_create = max(i for i, entry in enumerate(log) if entry["path"].endswith("/create"))
    labellerr_rollback = [
        call
        for call in _calls(c, last_create + 1)
        if (call[0] == ROLLBACK and call not in rollback) or call[0] == LABELLERR
    ]
    seen_answered()
    c.stack.set_faults([])
    assert {f for f, _, _ in onboarding} >= {"ApiFunction", "ValidateRequestFunction", "VerifyAccessFunction"}
    assert {f for f, _, _ in offboarding} >= {"BeginOffboardingFunction", "RemoveConnectionFunction"}
    assert {op for _, _, op in rollback} >= {"DeleteUser", "DeleteSecret", "DeleteObject", "PutBucketCors"}
    assert {op for f, _, op in onboarding if f == LABELLERR} >= {"test", "create"}
    assert {op for f, _, op in offboarding if f == LABELLERR} >= {"list", "delete"}
    assert {op for f, _, op in labellerr_rollback if f == LABELLERR} >= {"list", "delete"}
    assert (ROLLBACK, "secretsmanager", "GetSecretValue") in labellerr_rollback
    return Discovered(onboarding, api_without_key, offboarding, rollback, labellerr_rollback, answered)


# --- the invariant --------------------------------------------------------------------------------------


def _named(entry: str, item: str) -> bool:
    label = entry.split(" (")[0]
    if label.startswith("Labellerr connections of "):
        # A Labellerr look-up that failed names every Labellerr connection the connection may have.
        return item.startswith("Labellerr ")
    return label == item or (item.startswith("access keys of ") and label == "IAM user " + item[15:])


def _uncertain(entry: str) -> bool:
    return entry.startswith("unknown:") or "could not be checked" in entry


def truth_problems(c: Clients, journey: Journey, *, stale_allowed: bool) -> list[str]:
    """What is wrong with the end state as the record tells it, right after the journey."""
    record = record_of(c.stack, journey.connection_id)
    found = world(c, journey.connection_id, journey.bucket, PREFIX)
    if record is None or record["status"] in ("FAILED", "DELETED"):
        status = record and record["status"]
        return [f"{status}: but these exist: {sorted(found)}"] if found else []
    status = record["status"]
    if status == "ACTIVE":
        user = f"labellerr-{journey.connection_id}"
        wanted = {f"IAM user {user}", f"access keys of {user}", f"secret labellerr/connections/{user[10:]}",
                  f"CORS rule {user} on bucket {journey.bucket}"}  # fmt: skip
        aws = {i for i in found if not i.startswith(("policy ", "Labellerr "))}
        # import_export: exactly one import and one export connection in Labellerr, never a second.
        labellerr = sorted(i.split(" ")[1] for i in found if i.startswith("Labellerr "))
        problems = (
            [] if aws == wanted and labellerr == ["export", "import"] else [f"ACTIVE with {sorted(found)}"]
        )
        keys = [k["AccessKeyId"] for k in c.iam.list_access_keys(UserName=user)["AccessKeyMetadata"]]
        if keys != [record.get("access_key_id")]:
            problems.append(f"ACTIVE names key {record.get('access_key_id')} but the user has {keys}")
        return problems
    if status == "ROLLBACK_FAILED":
        left = list(record.get("left_behind") or [])
        problems = [
            f"exists but not in left_behind: {item}"
            for item in found
            if not any(_named(e, item) for e in left)
        ]
        problems += [f"left_behind names what does not exist: {e}" for e in left
                     if not _uncertain(e) and not any(_named(e, item) for item in found)]  # fmt: skip
        return problems
    if stale_allowed:
        return []
    return [f"record stuck in {status} (left by {record.get('execution_arn')})"]


def finish_problems(c: Clients, journey: Journey) -> list[str]:
    """With the fault gone, the client's retry and one DELETE must leave nothing, and say DELETED."""
    problems = []
    if journey.post_status >= 500:
        # What a client does with a 5xx: send the same request with the same Idempotency-Key.
        first = journey.post_status
        _post(c, journey)
        # With its key the retry gets the run (202), or is told the first is still settling (409); without
        # one, a 409 is the honest answer for an id that now exists.
        allowed = (202, 409) if journey.idempotency_key else tuple(range(200, 500))
        if journey.post_status not in allowed:
            problems.append(f"POST answered {first}, its retry {journey.post_status}: {journey.post_answer}")
    record = record_of(c.stack, journey.connection_id)
    if record is None:
        found = world(c, journey.connection_id, journey.bucket, PREFIX)
        return problems + ([f"no record, yet {sorted(found)}"] if found else [])
    if record["status"] in ("PROVISIONING", "DEPROVISIONING"):
        # A claim left behind: as a client would after the grace period for claims whose run never started.
        age_claim(c, journey.connection_id)
    status, answer = _delete(c, journey.connection_id)
    after = record_of(c.stack, journey.connection_id)
    found = world(c, journey.connection_id, journey.bucket, PREFIX)
    if status != 202 or after is None or after["status"] != "DELETED" or found:
        problems.append(
            f"one DELETE did not finish: {status} {answer}; record {after and after['status']}; left {sorted(found)}"
        )
    return problems


# (label, faults while onboarding, faults while offboarding, whether the POST sends an Idempotency-Key)
Case = tuple[str, list[str], list[str], bool]


def run_cases(c: Clients, cases: list[Case], shard: Shard, *, minimum: int = 20) -> None:
    """Run this shard's share of `cases` (every shard together runs each case once)."""
    assert len(cases) >= minimum, cases
    cases = shard.of(cases)
    failures = []
    for label, onboard, offboard, with_key in cases:
        spec = (onboard + offboard)[-1]
        if spec.startswith(f"{LABELLERR}:"):
            key, stale_allowed = ":".join(spec.split("@")[0].split(":")[:2]), False
        else:
            fault = parse_fault(spec)
            key = fault.key
            # Only a registry that refuses every write may leave a claim behind: nothing could settle it.
            stale_allowed = fault.service == "dynamodb" and fault.times is None
        journey = run_journey(c, onboard, offboard, with_key=with_key)
        # A fault that never fired proves nothing: the case must really have hit it.
        problems = [] if key in journey.fired else ["the fault never fired"]
        problems += truth_problems(c, journey, stale_allowed=stale_allowed)
        problems += finish_problems(c, journey)
        if problems:
            failures.append(f"{label}: " + "; ".join(problems))
    assert not failures, f"{len(failures)} of {len(cases)} cases broke the promise:\n" + "\n".join(failures)
    print(f"{len(cases)} cases kept the promise")


def _spec(call: tuple[str, str, str], kind: str) -> str:
    function, service, operation = call
    if function == LABELLERR:
        return f"{LABELLERR}:{operation}{KINDS[kind]}"
    return f"{service}:{operation}{KINDS[kind]}@{function}"


@pytest.mark.parametrize("shard", Shard.all(4), ids=str)
def test_forward_faults_in_onboarding(clients: Clients, discovered: Discovered, shard: Shard) -> None:
    cases: list[Case] = [
        (_spec(call, kind), [_spec(call, kind)], [], True)
        for call in discovered.onboarding
        for kind in discovered.kinds(call)
    ]
    cases += [
        (f"{_spec(call, kind)} (no Idempotency-Key)", [_spec(call, kind)], [], False)
        for call in discovered.api_without_key
        for kind in discovered.kinds(call)
    ]
    run_cases(clients, cases, shard)


@pytest.mark.parametrize("shard", Shard.all(2), ids=str)
def test_faults_in_offboarding(clients: Clients, discovered: Discovered, shard: Shard) -> None:
    cases: list[Case] = [
        (_spec(call, kind), [], [_spec(call, kind)], True)
        for call in discovered.offboarding
        for kind in discovered.kinds(call)
    ]
    run_cases(clients, cases, shard)


@pytest.mark.parametrize("shard", Shard.all(2), ids=str)
def test_compensation_faults_in_rollback(clients: Clients, discovered: Discovered, shard: Shard) -> None:
    cases: list[Case] = [
        (f"{LATE_TRIGGER} + {_spec(call, kind)}", [LATE_TRIGGER, _spec(call, kind)], [], True)
        for call in discovered.rollback
        for kind in discovered.kinds(call)
    ]
    run_cases(clients, cases, shard)


def test_compensation_faults_in_a_rollback_after_register_in_labellerr(
    clients: Clients, discovered: Discovered
) -> None:
    cases: list[Case] = [
        (f"{LABELLERR_TRIGGER} + {_spec(call, kind)}", [LABELLERR_TRIGGER, _spec(call, kind)], [], True)
        for call in discovered.labellerr_rollback
        for kind in discovered.kinds(call)
    ]
    run_cases(clients, cases, Shard(0, 1), minimum=9)
