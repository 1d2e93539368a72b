"""S3's CORS evaluation, and the moto patch that makes the local stack's S3 answer browsers as S3 does.

moto 5.2.5 cannot prove anything about CORS (../shared/notes/real-buckets.md, "CORS as S3 evaluates it"): it
answers 200 without a configuration, ignores the method and the requested headers, matches origins by prefix,
refuses every preflight when two rules name different origins, refuses unsigned preflights to private objects,
crashes on them under IAM enforcement, and its server adds flask-cors headers to every answer.

What S3 does, and what this module does instead:
- a preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) is answered from the bucket's CORS
  configuration alone: it is unsigned, so neither IAM nor the object's ACL is consulted;
- the first rule whose origin, method and every requested header match wins; no configuration, or no match,
  is 403 AccessForbidden;
- an origin or header pattern holds at most one `*`, which matches any run of characters, and the whole value
  must match; header names compare case-insensitively;
- any other request with an `Origin` is served as usual, with the winning rule's CORS headers added.

The evaluation is written here from S3's documented rules, not shared with provisioner_core.cors_probe: the
local stack is the oracle the probe is tested against, and one matcher in both would hide its own bugs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from provisioner_local.moto_targets import (
    S3_BUCKET_RESPONSE,
    S3_KEY_RESPONSE,
    SERVER_GLOBAL_CORS,
    SETTINGS_GLOBAL_CORS,
    PatchSet,
)

ANSWER_HEADERS = (
    "Access-Control-Allow-Origin",
    "Access-Control-Allow-Methods",
    "Access-Control-Allow-Headers",
    "Access-Control-Expose-Headers",
    "Access-Control-Max-Age",
    "Access-Control-Allow-Credentials",
)
NOT_ENABLED = "CORSResponse: CORS is not enabled for this bucket."
NOT_ALLOWED = (
    "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, "
    "request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted "
    "by the resource's CORS spec."
)
_VARY = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"

Response = tuple[int, dict[str, Any], Any]


@dataclass(frozen=True)
class CorsRule:
    origins: tuple[str, ...]
    methods: tuple[str, ...]
    headers: tuple[str, ...] = ()
    expose: tuple[str, ...] = ()
    max_age: int | None = None

    @classmethod
    def from_api(cls, rule: Mapping[str, Any]) -> CorsRule:
        """A rule as GetBucketCors returns it and PutBucketCors takes it."""
        max_age = rule.get("MaxAgeSeconds")
        return cls(
            origins=tuple(rule.get("AllowedOrigins") or ()),
            methods=tuple(rule.get("AllowedMethods") or ()),
            headers=tuple(rule.get("AllowedHeaders") or ()),
            expose=tuple(rule.get("ExposeHeaders") or ()),
            max_age=None if max_age is None else int(max_age),
        )

    @classmethod
    def from_moto(cls, rule: Any) -> CorsRule:
        max_age = rule.max_age_seconds
        return cls(
            origins=tuple(rule.allowed_origins or ()),
            methods=tuple(rule.allowed_methods or ()),
            headers=tuple(rule.allowed_headers or ()),
            expose=tuple(rule.exposed_headers or ()),
            max_age=None if max_age in (None, "") else int(max_age),
        )


@dataclass(frozen=True)
class CorsAnswer:
    status: int
    headers: dict[str, str]
    error_code: str = ""
    error_message: str = ""


def wildcard_match(pattern: str, value: str) -> bool:
    """S3's pattern: at most one `*`, any run of characters (none included); the whole value must match."""
    if "*" not in pattern:
        return pattern == value
    head, _, tail = pattern.partition("*")
    # A second `*` is refused by PutBucketCors; taken literally here so it never widens a match.
    return len(value) >= len(head) + len(tail) and value.startswith(head) and value.endswith(tail)


def requested_headers(value: str | None) -> tuple[str, ...]:
    """Access-Control-Request-Headers as names: comma-separated, any case, blanks dropped."""
    return tuple(name.strip().lower() for name in (value or "").split(",") if name.strip())


def rule_matches(rule: CorsRule, origin: str, method: str, headers: Iterable[str] = ()) -> bool:
    if not any(wildcard_match(pattern, origin) for pattern in rule.origins):
        return False
    if method not in rule.methods:
        return False
    allowed = [pattern.lower() for pattern in rule.headers]
    return all(any(wildcard_match(pattern, name.lower()) for pattern in allowed) for name in headers)


def first_match(
    rules: Sequence[CorsRule], origin: str, method: str, headers: Iterable[str] = ()
) -> CorsRule | None:
    names = tuple(headers)
    return next((rule for rule in rules if rule_matches(rule, origin, method, names)), None)


def _answer_headers(rule: CorsRule, origin: str, allow_headers: Sequence[str]) -> dict[str, str]:
    wildcard = "*" in rule.origins
    answer = {
        "Access-Control-Allow-Origin": "*" if wildcard else origin,
        "Access-Control-Allow-Methods": ", ".join(rule.methods),
        "Vary": _VARY,
    }
    if not wildcard:
        answer["Access-Control-Allow-Credentials"] = "true"
    if allow_headers:
        # S3 echoes the requested names, not the rule's patterns.
        answer["Access-Control-Allow-Headers"] = ", ".join(allow_headers)
    if rule.expose:
        answer["Access-Control-Expose-Headers"] = ", ".join(rule.expose)
    if rule.max_age is not None:
        answer["Access-Control-Max-Age"] = str(rule.max_age)
    return answer


def preflight(
    rules: Sequence[CorsRule] | None, origin: str | None, method: str | None, request_headers: str | None
) -> CorsAnswer:
    """S3's answer to `OPTIONS` on a bucket with these rules (None or empty: no CORS configuration)."""
    if not origin:
        return CorsAnswer(400, {}, "BadRequest", "Insufficient information. Origin request header needed.")
    if not method:
        return CorsAnswer(400, {}, "BadRequest", f"Invalid Access-Control-Request-Method: {method}")
    if not rules:
        return CorsAnswer(403, {}, "AccessForbidden", NOT_ENABLED)
    names = requested_headers(request_headers)
    rule = first_match(rules, origin, method, names)
    if rule is None:
        return CorsAnswer(403, {}, "AccessForbidden", NOT_ALLOWED)
    return CorsAnswer(200, _answer_headers(rule, origin, names))


def actual_request_headers(
    rules: Sequence[CorsRule] | None, origin: str | None, method: str
) -> dict[str, str]:
    """The CORS headers S3 adds to a non-preflight request (GET, HEAD, ...) that carries `Origin`."""
    if not origin or not rules:
        return {}
    rule = first_match(rules, origin, method)
    return {} if rule is None else _answer_headers(rule, origin, ())


def error_body(answer: CorsAnswer, method: str | None, resource_type: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{answer.error_code}</Code><Message>{escape(answer.error_message)}</Message>"
        f"<Method>{escape(method or '')}</Method><ResourceType>{resource_type}</ResourceType></Error>"
    ).encode()


# -- the moto patch


def _bucket_rules(backend: Any, bucket_name: str) -> list[CorsRule] | None:
    """The bucket's rules as GetBucketCors reads them (bucket_config_consistency may make them lag); None when
    there is no such bucket."""
    from moto.s3.exceptions import S3ClientError

    try:
        return [CorsRule.from_moto(rule) for rule in backend.get_bucket_cors(bucket_name)]
    except S3ClientError:
        return None


def _without_cors_headers(headers: Mapping[str, Any]) -> dict[str, Any]:
    """moto's own CORS answer headers (prefix-matched, possibly from the wrong rule) taken out."""
    return {name: value for name, value in headers.items() if not name.lower().startswith("access-control-")}


def _answer_preflight(response: Any, request: Any, full_url: str, resource_type: str) -> Response:
    response.setup_class(request, full_url)
    method = request.headers.get("Access-Control-Request-Method")
    rules = _bucket_rules(response.backend, response.bucket_name)
    if rules is None:
        # Same status as moto: nothing about a missing bucket is proven here.
        return 403, {}, b""
    answer = preflight(
        rules, request.headers.get("Origin"), method, request.headers.get("Access-Control-Request-Headers")
    )
    if answer.status != 200:
        return answer.status, {"Content-Type": "application/xml"}, error_body(answer, method, resource_type)
    return 200, dict(answer.headers), b""


def _with_cors(
    original: Callable[..., Response], resource_type: str
) -> Callable[[Any, Any, str, Any], Response]:
    def respond(response: Any, request: Any, full_url: str, headers: Any) -> Response:
        if request.method == "OPTIONS":
            return _answer_preflight(response, request, full_url, resource_type)
        status, answer_headers, body = original(response, request, full_url, headers)
        origin = request.headers.get("Origin")
        if not origin:
            return status, answer_headers, body
        fixed = _without_cors_headers(answer_headers)
        rules = _bucket_rules(response.backend, response.bucket_name) if response.bucket_name else None
        fixed.update(actual_request_headers(rules, origin, request.method))
        return status, fixed, body

    return respond


def install(patches: PatchSet) -> None:
    """Patch moto's S3 responses (and its server's global CORS off) through the local stack's `Patches`."""
    # flask-cors would answer every preflight 200 before S3 saw it; MOTO_DISABLE_GLOBAL_CORS is read only
    # when moto is first imported, so the switch is set where moto reads it when building its server's apps.
    patches.set(SERVER_GLOBAL_CORS, True)
    patches.set(SETTINGS_GLOBAL_CORS, True)
    # Instance methods: moto's URL map holds the *_dispatch classmethods, which call these at request time.
    patches.set(S3_KEY_RESPONSE, _with_cors(S3_KEY_RESPONSE.original(), "OBJECT"))
    patches.set(S3_BUCKET_RESPONSE, _with_cors(S3_BUCKET_RESPONSE.original(), "BUCKET"))
