"""CORS as Labellerr's browser meets it: an unsigned preflight, a signed GET with `Origin`, the rule order.

A rule in the bucket's configuration proves nothing on its own: S3 answers with the first rule whose origin,
method and requested headers match, so a customer's earlier rule can answer instead of ours, and a rule that
is too broad serves origins it should not. These checks send what a browser sends and read what it would.

Each check is a verify_access check: {"operation", "outcome", "detail"}, outcome "passed", "failed",
"warning" or "not_tried". The unsigned requests go out through cors_http (urllib3, which botocore ships).
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from botocore.exceptions import BotoCoreError, ClientError

# Defined with the rule (Apply CORS imports cors.py without this module's HTTP client); re-exported here.
from provisioner_core.cors import REQUIRED_EXPOSE_HEADERS

# The wire (urllib3) is cors_http's; its names are re-exported, and cors_checks looks send_request up here.
from provisioner_core.cors_http import CONNECT_TIMEOUT_SECONDS as CONNECT_TIMEOUT_SECONDS
from provisioner_core.cors_http import READ_TIMEOUT_SECONDS as READ_TIMEOUT_SECONDS
from provisioner_core.cors_http import HttpAnswer as HttpAnswer
from provisioner_core.cors_http import send_request as send_request
from provisioner_core.partition_dns import s3_host

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from provisioner_core.contracts.checks import OperationCheck

DEFAULT_PROBE_ORIGINS = ("https://pro.labellerr.com",)
# What Labellerr's viewer sends on a ranged image read, and what it must be able to read back.
REQUEST_METHOD = "GET"
REQUEST_HEADERS = ("range",)
REQUIRED_METHODS = ("GET", "HEAD")
PROBE_KEY_NAME = "labellerr-cors-probe"


Sender = Callable[[str, Mapping[str, str]], HttpAnswer]


def _check(operation: str, outcome: str, detail: str) -> OperationCheck:
    return {"operation": operation, "outcome": outcome, "detail": detail}


# -- where and what to send


def endpoint_override(environ: Mapping[str, str] | None = None) -> str:
    """The S3 endpoint the SDK would use instead of AWS's (the local stack sets it), or ""."""
    env = os.environ if environ is None else environ
    return (env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or "").rstrip("/")


def object_url(bucket: str, key: str, region: str, endpoint: str = "") -> str:
    """Where a browser sends the request: the bucket's regional virtual-hosted endpoint, as presigned URLs do.

    The host ends in the DNS suffix of the region's partition (partition_dns; China's differs). A local
    endpoint gets path-style, as the local stack serves it. A bucket name with dots cannot be a TLS virtual
    host (the certificate's wildcard covers one label), so it gets path-style at the regional host.
    """
    path = quote(key, safe="/~")
    if endpoint:
        return f"{endpoint}/{bucket}/{path}"
    if "." in bucket:
        return f"https://{s3_host(region)}/{bucket}/{path}"
    return f"https://{bucket}.{s3_host(region)}/{path}"


def probe_key(prefix: str, objects: Sequence[Mapping[str, Any]] = ()) -> str:
    """An object under the prefix: a listed one if any (S3 does not need it to exist for a preflight)."""
    listed = next((str(o["Key"]) for o in objects if str(o.get("Key", "")).startswith(prefix)), None)
    return listed or prefix + PROBE_KEY_NAME


def wildcard_match(pattern: str, value: str) -> bool:
    """S3's origin pattern: at most one `*`, any run of characters; the whole value must match."""
    if "*" not in pattern:
        return pattern == value
    head, _, tail = pattern.partition("*")
    return len(value) >= len(head) + len(tail) and value.startswith(head) and value.endswith(tail)


def probe_origins(patterns: Sequence[str], configured: Sequence[str] = DEFAULT_PROBE_ORIGINS) -> list[str]:
    """For each allowed pattern the configured probe origins it matches, else the pattern with `*` filled."""
    origins: list[str] = []
    for pattern in patterns:
        matching = [origin for origin in configured if wildcard_match(pattern, origin)]
        if not matching:
            matching = [configured[0] if pattern == "*" and configured else pattern.replace("*", "probe", 1)]
        origins += [origin for origin in matching if origin not in origins]
    return origins


def foreign_origin(origin: str) -> str:
    """An origin that a prefix match would take for `origin` and S3's whole-origin match must refuse."""
    parts = urlsplit(origin)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}.evil.example{port}"


# -- sending


def preflight_headers(origin: str, method: str = REQUEST_METHOD) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": ",".join(REQUEST_HEADERS),
    }


def curl_command(url: str, origin: str, method: str = REQUEST_METHOD) -> str:
    """The same preflight as one line of shell, for a person to rerun against the bucket."""
    headers = preflight_headers(origin, method)
    return "curl -si -X OPTIONS " + " ".join(
        [*(f"-H {shlex.quote(f'{name}: {value}')}" for name, value in headers.items()), shlex.quote(url)]
    )


@contextmanager
def origin_header(s3: S3Client, origin: str) -> Iterator[dict[str, str]]:
    """GetObject calls of `s3` inside the block carry `Origin`; yields the answer's headers, lower-case."""
    seen: dict[str, str] = {}

    def add_origin(request: Any, **_: Any) -> None:
        request.headers["Origin"] = origin

    def keep_headers(http_response: Any, **_: Any) -> None:
        seen.update({name.lower(): value for name, value in http_response.headers.items()})

    events = s3.meta.events
    events.register("before-sign.s3.GetObject", add_origin, unique_id="labellerr-cors-origin")
    events.register("after-call.s3.GetObject", keep_headers, unique_id="labellerr-cors-headers")
    try:
        yield seen
    finally:
        events.unregister("before-sign.s3.GetObject", unique_id="labellerr-cors-origin")
        events.unregister("after-call.s3.GetObject", unique_id="labellerr-cors-headers")


def signed_get(s3: S3Client, bucket: str, key: str, origin: str) -> HttpAnswer:
    """A one-byte GetObject with `Origin`, signed by the client's key: the headers a browser would see."""
    with origin_header(s3, origin) as seen:
        try:
            response = s3.get_object(Bucket=bucket, Key=key, Range="bytes=0-0")
            response["Body"].read()
            return HttpAnswer(int(response["ResponseMetadata"]["HTTPStatusCode"]), dict(seen))
        except ClientError as error:
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            code = error.response.get("Error", {}).get("Code", "ClientError")
            return HttpAnswer(int(status), dict(seen), error=code)
        except BotoCoreError as error:
            return HttpAnswer(0, dict(seen), error=type(error).__name__)


# -- reading the answers


def _allows_origin(answer: HttpAnswer, origin: str) -> bool:
    return answer.headers.get("access-control-allow-origin") in (origin, "*")


def check_preflight(answer: HttpAnswer, origin: str, method: str = REQUEST_METHOD) -> OperationCheck:
    operation = "cors:Preflight"
    if answer.status == 0:
        return _check(operation, "failed", f"no answer to the preflight from {origin}: {answer.error}")
    if answer.status != 200:
        return _check(
            operation,
            "failed",
            f"S3 refused the preflight from {origin} ({method} with {', '.join(REQUEST_HEADERS)}) with "
            f"{answer.status}: no CORS rule serves it, so Labellerr's browser cannot load the images",
        )
    problems = []
    if not _allows_origin(answer, origin):
        problems.append(
            f"Access-Control-Allow-Origin is {answer.headers.get('access-control-allow-origin')!r}"
        )
    if method not in answer.header_list("access-control-allow-methods"):
        problems.append(f"{method} is not in Access-Control-Allow-Methods")
    allowed = {name.lower() for name in answer.header_list("access-control-allow-headers")}
    missing = [name for name in REQUEST_HEADERS if name not in allowed and "*" not in allowed]
    if missing:
        problems.append(f"Access-Control-Allow-Headers lacks {', '.join(missing)}")
    if problems:
        return _check(operation, "failed", f"preflight from {origin}: " + "; ".join(problems))
    return _check(
        operation,
        "passed",
        f"{origin} may {method} with {', '.join(REQUEST_HEADERS)} (max age "
        f"{answer.headers.get('access-control-max-age', 'unset')} s)",
    )


def check_signed_get(answer: HttpAnswer, origin: str, key: str) -> OperationCheck:
    operation = "cors:GetObject"
    if answer.status not in (200, 206):
        return _check(operation, "failed", f"GET of '{key}' with Origin {origin} failed: {answer.error}")
    if not _allows_origin(answer, origin):
        return _check(
            operation,
            "failed",
            f"GET of '{key}' with Origin {origin} carried no matching Access-Control-Allow-Origin: "
            "the browser would discard the image",
        )
    exposed = {name.lower() for name in answer.header_list("access-control-expose-headers")}
    hidden = [name for name in REQUIRED_EXPOSE_HEADERS if name.lower() not in exposed]
    if hidden:
        return _check(
            operation,
            "failed",
            f"GET of '{key}' from {origin} does not expose {', '.join(hidden)}: the viewer cannot read them "
            "(a rule before ours probably answered it; see cors:RuleOrder)",
        )
    return _check(operation, "passed", f"GET of '{key}' from {origin} is readable by the page")


def check_foreign_refused(
    answer: HttpAnswer, origin: str, rules: Sequence[Mapping[str, Any]] | None = None, rule_id: str = ""
) -> OperationCheck:
    """A granted foreign origin is our failure when our rule grants it, the customer's warning otherwise."""
    operation = "cors:ForeignOriginRefused"
    if answer.status == 0:
        return _check(operation, "not_tried", f"no answer to the preflight from {origin}: {answer.error}")
    if answer.status != 200 or not _allows_origin(answer, origin):
        return _check(operation, "passed", f"{origin} is refused ({answer.status})")
    granting = first_match(rules or (), origin, REQUEST_METHOD, REQUEST_HEADERS)
    if granting is not None and rule_id and granting[1].get("ID") != rule_id:
        return _check(
            operation,
            "warning",
            f"{origin} is allowed by the bucket's own rule {_describe(*granting)}, not by ours",
        )
    return _check(
        operation, "failed", f"{origin} is allowed: the allowed origins are broader than Labellerr's"
    )


# -- which rule S3 picks


def _rule_matches(rule: Mapping[str, Any], origin: str, method: str, headers: Sequence[str]) -> bool:
    if not any(wildcard_match(pattern, origin) for pattern in rule.get("AllowedOrigins") or ()):
        return False
    if method not in (rule.get("AllowedMethods") or ()):
        return False
    patterns = [pattern.lower() for pattern in rule.get("AllowedHeaders") or ()]
    return all(any(wildcard_match(p, name.lower()) for p in patterns) for name in headers)


def first_match(
    rules: Sequence[Mapping[str, Any]], origin: str, method: str, headers: Sequence[str] = ()
) -> tuple[int, Mapping[str, Any]] | None:
    """(index, rule) of the rule S3 answers with, or None."""
    return next(
        ((index, rule) for index, rule in enumerate(rules) if _rule_matches(rule, origin, method, headers)),
        None,
    )


def _describe(index: int, rule: Mapping[str, Any]) -> str:
    name = f"'{rule['ID']}'" if rule.get("ID") else "without ID"
    return f"#{index + 1} ({name})"


def _shortfalls(rule: Mapping[str, Any], origin: str) -> list[str]:
    lacking = [m for m in REQUIRED_METHODS if not _rule_matches(rule, origin, m, ())]
    shortfalls = [f"method {', '.join(lacking)}"] if lacking else []
    if not _rule_matches(rule, origin, REQUEST_METHOD, REQUEST_HEADERS):
        shortfalls.append(f"header {', '.join(REQUEST_HEADERS)}")
    exposed = {name.lower() for name in rule.get("ExposeHeaders") or ()}
    hidden = [name for name in REQUIRED_EXPOSE_HEADERS if name.lower() not in exposed]
    if hidden:
        shortfalls.append(f"ExposeHeaders {', '.join(hidden)}")
    return shortfalls


def check_rule_order(rules: Sequence[Mapping[str, Any]], rule_id: str, origin: str) -> OperationCheck:
    """Which rule S3 answers Labellerr's requests from `origin` with, and whether that rule serves them.

    A rule before ours that matches wins even when it grants less (no HEAD, no ExposeHeaders): S3 does not
    merge rules. Without a rule of ours (the customer manages CORS), the winner is judged the same way.
    """
    operation = "cors:RuleOrder"
    ours = next((index for index, rule in enumerate(rules) if rule_id and rule.get("ID") == rule_id), None)
    requests = (
        ("the preflight", REQUEST_METHOD, REQUEST_HEADERS),
        ("GET", "GET", ()),
        ("HEAD", "HEAD", ()),
    )
    unanswered: list[str] = []
    winners: dict[int, list[str]] = {}
    for label, method, headers in requests:
        picked = first_match(rules, origin, method, headers)
        if picked is None:
            unanswered.append(label)
        elif picked[0] != ours:
            winners.setdefault(picked[0], []).append(label)
    details = [f"no rule answers {' or '.join(unanswered)} from {origin}"] if unanswered else []
    failed = bool(unanswered)
    for index, labels in sorted(winners.items()):
        where = f"before '{rule_id}'" if ours is not None and index < ours else "first"
        shortfalls = _shortfalls(rules[index], origin)
        if shortfalls:
            failed = True
            details.append(
                f"rule {_describe(index, rules[index])} answers {' and '.join(labels)} from {origin} {where} "
                f"and lacks {'; '.join(shortfalls)}"
            )
        else:
            details.append(
                f"rule {_describe(index, rules[index])} answers {where} and serves Labellerr as well"
            )
    if failed and ours is not None:
        details.append(f"move '{rule_id}' above it, or give that rule what it lacks")
    if not details:
        return _check(operation, "passed", f"S3 answers {origin} with rule '{rule_id}'")
    return _check(operation, "failed" if failed else "passed", "; ".join(details))


# -- all of it


def cors_checks(
    s3: S3Client,
    *,
    bucket: str,
    key: str,
    region: str,
    origins: Sequence[str],
    rules: Sequence[Mapping[str, Any]],
    rule_id: str,
    object_exists: bool,
    send: Sender | None = None,
    endpoint: str | None = None,
    fetched: Mapping[str, HttpAnswer] | None = None,
) -> list[OperationCheck]:
    """Every CORS check for a connection, per probe origin, in the order a reader wants them.

    `fetched`: signed GETs already made with an origin (Verify access's own read carries the first one's),
    so each costs no second request.
    """
    sender: Sender = send or (lambda url, headers: send_request(url, headers))
    url = object_url(bucket, key, region, endpoint_override() if endpoint is None else endpoint)
    checks: list[OperationCheck] = []
    for origin in origins:
        answer = sender(url, preflight_headers(origin))
        checks.append(check_preflight(answer, origin))
        if object_exists:
            got = (fetched or {}).get(origin) or signed_get(s3, bucket, key, origin)
            checks.append(check_signed_get(got, origin, key))
        else:
            checks.append(_check("cors:GetObject", "not_tried", "no non-empty object under the prefix yet"))
        checks.append(check_rule_order(rules, rule_id, origin))
        foreign = foreign_origin(origin)
        if answer.status == 0:
            # The endpoint did not answer: a second try would only spend another timeout of the step's.
            checks.append(_check("cors:ForeignOriginRefused", "not_tried", f"no answer for {origin}"))
        else:
            foreign_answer = sender(url, preflight_headers(foreign))
            checks.append(check_foreign_refused(foreign_answer, foreign, rules, rule_id))
    return checks


def as_warnings(checks: Sequence[OperationCheck]) -> list[OperationCheck]:
    """For a bucket whose CORS the customer manages (apply_cors false): findings, not failures."""
    return [_warning(c) if c["outcome"] == "failed" else c.copy() for c in checks]


def _warning(check: OperationCheck) -> OperationCheck:
    return {**check, "outcome": "warning"}


def failures(checks: Sequence[OperationCheck]) -> list[OperationCheck]:
    return [c for c in checks if c["outcome"] == "failed"]
