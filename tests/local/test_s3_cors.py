"""The local stack's S3 answers browsers as S3 does: its rules as data, then over HTTP, moto's wrong cases first."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pytest

from provisioner_local import s3_cors
from provisioner_local.aws_patches import Patches
from provisioner_local.emulator import LocalStack
from provisioner_local.s3_cors import CorsRule, actual_request_headers, preflight, wildcard_match

FIXTURE_TEMPLATE = Path(__file__).parent / "fixtures" / "template.yaml"
BUCKET = "cors-emulation"
KEY = "images/cat.png"
LABELLERR = "https://pro.labellerr.com"
EVIL = "https://pro.labellerr.com.evil.example"
OURS = {
    "ID": "labellerr-access",
    "AllowedOrigins": ["https://*.labellerr.com"],
    "AllowedMethods": ["GET", "HEAD"],
    "AllowedHeaders": ["*"],
    "ExposeHeaders": ["ETag", "Content-Length", "Content-Type", "Content-Range", "Accept-Ranges"],
    "MaxAgeSeconds": 3600,
}


def rules(*api_rules):
    return [CorsRule.from_api(rule) for rule in api_rules]


# --- the rules as data


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("https://*.labellerr.com", "https://pro.labellerr.com", True),
        ("https://*.labellerr.com", "https://a.b.labellerr.com", True),
        ("https://*.labellerr.com", EVIL, False),
        ("https://*.labellerr.com", "http://pro.labellerr.com", False),
        ("https://*.labellerr.com", "https://labellerr.com", False),
        ("https://pro.labellerr.com", "https://pro.labellerr.com:8443", False),
        ("https://pro.labellerr.com", "https://pro.labellerr.co", False),
        ("http://localhost:*", "http://localhost:3000", True),
        ("*", "https://anything.example", True),
        ("*.labellerr.com", "https://x.labellerr.com", True),
    ],
)
def test_an_origin_pattern_matches_the_whole_origin(pattern, value, expected):
    assert wildcard_match(pattern, value) is expected


def test_no_configuration_refuses_every_preflight():
    for configured in (None, []):
        answer = preflight(configured, LABELLERR, "GET", "range")
        assert (answer.status, answer.error_code) == (403, "AccessForbidden")
        assert answer.error_message == s3_cors.NOT_ENABLED
        assert answer.headers == {}


def test_the_method_must_be_allowed():
    assert preflight(rules(OURS), LABELLERR, "GET", None).status == 200
    answer = preflight(rules(OURS), LABELLERR, "PUT", None)
    assert (answer.status, answer.error_message) == (403, s3_cors.NOT_ALLOWED)


def test_every_requested_header_must_be_allowed():
    narrow = {**OURS, "AllowedHeaders": ["Range", "x-amz-*"]}
    assert preflight(rules(narrow), LABELLERR, "GET", "range, X-Amz-Date").status == 200
    assert preflight(rules(narrow), LABELLERR, "GET", "range, authorization").status == 403
    no_headers = {key: value for key, value in OURS.items() if key != "AllowedHeaders"}
    assert preflight(rules(no_headers), LABELLERR, "GET", None).status == 200
    assert preflight(rules(no_headers), LABELLERR, "GET", "range").status == 403


def test_the_first_matching_rule_answers_and_later_ones_are_not_merged_in():
    customer = {"AllowedOrigins": ["https://*.labellerr.com"], "AllowedMethods": ["GET"], "MaxAgeSeconds": 60}
    configured = rules(customer, OURS)
    # No requested headers: the customer's rule matches first and ours is never read.
    plain = preflight(configured, LABELLERR, "GET", None)
    assert plain.headers["Access-Control-Allow-Methods"] == "GET"
    assert plain.headers["Access-Control-Max-Age"] == "60"
    assert "Access-Control-Expose-Headers" not in plain.headers
    # `range` requested: the customer's rule does not allow it, so evaluation goes on to ours.
    ranged = preflight(configured, LABELLERR, "GET", "range")
    assert ranged.headers["Access-Control-Allow-Methods"] == "GET, HEAD"
    assert ranged.headers["Access-Control-Allow-Headers"] == "range"
    assert ranged.headers["Access-Control-Expose-Headers"].startswith("ETag, Content-Length")
    # The actual GET has no requested headers: the customer's rule answers it.
    assert "Access-Control-Expose-Headers" not in actual_request_headers(configured, LABELLERR, "GET")


def test_two_rules_of_different_origins_each_serve_their_own_origin():
    other = {
        "AllowedOrigins": ["https://app.example.com"],
        "AllowedMethods": ["GET"],
        "AllowedHeaders": ["*"],
    }
    configured = rules(other, OURS)
    assert (
        preflight(configured, "https://app.example.com", "GET", "range").headers[
            "Access-Control-Allow-Methods"
        ]
        == "GET"
    )
    assert (
        preflight(configured, LABELLERR, "GET", "range").headers["Access-Control-Allow-Origin"] == LABELLERR
    )
    assert preflight(configured, "https://nobody.example", "GET", None).status == 403


def test_a_wildcard_origin_answers_star_without_credentials():
    answer = preflight(rules({"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}), LABELLERR, "GET", None)
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in answer.headers
    named = preflight(rules(OURS), LABELLERR, "GET", None)
    assert named.headers["Access-Control-Allow-Origin"] == LABELLERR
    assert named.headers["Access-Control-Allow-Credentials"] == "true"


def test_a_preflight_needs_origin_and_method():
    assert preflight(rules(OURS), None, "GET", None).status == 400
    assert preflight(rules(OURS), LABELLERR, None, None).status == 400


def test_an_actual_request_gets_headers_only_from_a_rule_allowing_its_method():
    head_only = {"AllowedOrigins": ["https://*.labellerr.com"], "AllowedMethods": ["HEAD"]}
    assert actual_request_headers(rules(head_only), LABELLERR, "GET") == {}
    assert (
        actual_request_headers(rules(head_only), LABELLERR, "HEAD")["Access-Control-Allow-Origin"]
        == LABELLERR
    )
    assert actual_request_headers(rules(OURS), EVIL, "GET") == {}
    assert actual_request_headers(None, LABELLERR, "GET") == {}


def test_install_is_undone_by_the_stacks_patches():
    from moto.moto_server import werkzeug_app
    from moto.s3.responses import S3Response

    before = (S3Response.key_response, S3Response.bucket_response, werkzeug_app.DISABLE_GLOBAL_CORS)
    patches = Patches()
    s3_cors.install(patches)
    try:
        assert S3Response.key_response is not before[0]
        assert werkzeug_app.DISABLE_GLOBAL_CORS is True
    finally:
        patches.undo()
    assert (S3Response.key_response, S3Response.bucket_response, werkzeug_app.DISABLE_GLOBAL_CORS) == before


# --- over HTTP, against the running local stack (IAM enforcement on, as the flow runs it)


@pytest.fixture(scope="module")
def stack():
    with LocalStack(template_path=FIXTURE_TEMPLATE, enforce_iam=True) as running:
        s3 = running.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        # Private (moto's default ACL), so an anonymous GET would be refused: preflights must not be.
        s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"\x89PNG not really")
        yield running


@pytest.fixture
def s3(stack):
    client = stack.client("s3")
    yield client
    client.delete_bucket_cors(Bucket=BUCKET)


def send(url, method, headers):
    request = urllib.request.Request(url, method=method, headers=headers)  # noqa: S310 - loopback only
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - loopback only
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def options(stack, origin, method="GET", request_headers="range", path=f"/{BUCKET}/{KEY}"):
    headers = {"Origin": origin, "Access-Control-Request-Method": method}
    if request_headers:
        headers["Access-Control-Request-Headers"] = request_headers
    return send(stack.endpoint_url + path, "OPTIONS", headers)


def cors_headers(headers):
    return {name: value for name, value in headers.items() if name.lower().startswith("access-control-")}


def test_http_no_configuration_is_403_not_200(stack, s3):
    status, headers, body = options(stack, LABELLERR)
    assert status == 403
    assert b"<Code>AccessForbidden</Code>" in body
    assert b"CORS is not enabled" in body
    assert cors_headers(headers) == {}


def test_http_evil_origin_is_refused_where_moto_matched_a_prefix(stack, s3):
    s3.put_bucket_cors(Bucket=BUCKET, CORSConfiguration={"CORSRules": [OURS]})
    status, headers, body = options(stack, EVIL)
    assert status == 403
    assert b"This CORS request is not allowed" in body
    assert cors_headers(headers) == {}


def test_http_method_and_requested_headers_are_evaluated(stack, s3):
    narrow = {"AllowedOrigins": ["https://*.labellerr.com"], "AllowedMethods": ["GET"]}
    s3.put_bucket_cors(Bucket=BUCKET, CORSConfiguration={"CORSRules": [narrow]})
    assert options(stack, LABELLERR, request_headers="")[0] == 200
    assert options(stack, LABELLERR, method="PUT", request_headers="")[0] == 403
    assert options(stack, LABELLERR, request_headers="range")[0] == 403


def test_http_unsigned_preflight_to_a_private_object_is_answered_from_cors(stack, s3):
    s3.put_bucket_cors(Bucket=BUCKET, CORSConfiguration={"CORSRules": [OURS]})
    status, headers, _ = options(stack, LABELLERR)
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == LABELLERR
    assert headers["Access-Control-Allow-Methods"] == "GET, HEAD"
    assert headers["Access-Control-Allow-Headers"] == "range"
    assert headers["Access-Control-Max-Age"] == "3600"
    assert "Content-Range" in headers["Access-Control-Expose-Headers"]
    # The bucket itself (ListObjects from a page) is evaluated the same way.
    assert options(stack, LABELLERR, path=f"/{BUCKET}")[0] == 200


def test_http_two_rules_of_different_origins_both_work(stack, s3):
    other = {
        "AllowedOrigins": ["https://app.example.com"],
        "AllowedMethods": ["GET"],
        "AllowedHeaders": ["*"],
    }
    s3.put_bucket_cors(Bucket=BUCKET, CORSConfiguration={"CORSRules": [other, OURS]})
    first = options(stack, "https://app.example.com")
    second = options(stack, LABELLERR)
    assert (first[0], first[1]["Access-Control-Allow-Methods"]) == (200, "GET")
    assert (second[0], second[1]["Access-Control-Allow-Methods"]) == (200, "GET, HEAD")


def test_http_get_and_head_carry_the_first_matching_rules_headers(stack, s3):
    customer = {"AllowedOrigins": ["https://*.labellerr.com"], "AllowedMethods": ["GET"]}
    s3.put_bucket_cors(Bucket=BUCKET, CORSConfiguration={"CORSRules": [customer, OURS]})
    url = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": KEY})
    status, headers, body = send(url, "GET", {"Origin": LABELLERR})
    assert (status, body) == (200, b"\x89PNG not really")
    assert headers["Access-Control-Allow-Origin"] == LABELLERR
    # The customer's rule came first: its (absent) ExposeHeaders are what a browser gets.
    assert "Access-Control-Expose-Headers" not in headers
    head_url = s3.generate_presigned_url("head_object", Params={"Bucket": BUCKET, "Key": KEY})
    status, headers, _ = send(head_url, "HEAD", {"Origin": LABELLERR})
    assert (status, headers["Access-Control-Allow-Methods"]) == (200, "GET, HEAD")


def test_http_no_cors_headers_without_a_match_or_without_origin(stack, s3):
    s3.put_bucket_cors(Bucket=BUCKET, CORSConfiguration={"CORSRules": [OURS]})
    url = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": KEY})
    for headers in ({"Origin": EVIL}, {}):
        status, answer_headers, _ = send(url, "GET", headers)
        assert status == 200
        assert cors_headers(answer_headers) == {}, "moto's server-wide flask-cors headers must be off"


def test_http_signed_get_with_an_issued_key_and_iam_enforced(stack, s3):
    s3.put_bucket_cors(Bucket=BUCKET, CORSConfiguration={"CORSRules": [OURS]})
    iam = stack.client("iam")
    iam.create_user(UserName="cors-reader")
    iam.put_user_policy(
        UserName="cors-reader",
        PolicyName="read",
        PolicyDocument=(
            '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject",'
            f' "Resource": "arn:aws:s3:::{BUCKET}/images/*"}}]}}'
        ),
    )
    key = iam.create_access_key(UserName="cors-reader")["AccessKey"]
    reader = boto3.client(
        "s3",
        endpoint_url=stack.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
    )
    seen = {}

    def add_origin(request, **_):
        request.headers["Origin"] = LABELLERR

    def keep_headers(http_response, **_):
        seen.update({name.lower(): value for name, value in http_response.headers.items()})

    reader.meta.events.register("before-sign.s3.GetObject", add_origin)
    reader.meta.events.register("after-call.s3.GetObject", keep_headers)
    try:
        assert reader.get_object(Bucket=BUCKET, Key=KEY, Range="bytes=0-0")["Body"].read() == b"\x89"
        assert seen["access-control-allow-origin"] == LABELLERR
        assert seen["content-range"].startswith("bytes 0-0/")
        # With an issued key in moto's IAM, the stack's enforcement is live: an unsigned preflight must still
        # be answered from CORS (moto alone: 403 for the private object; under its global enforcement, a
        # KeyError on the missing Authorization header).
        assert options(stack, LABELLERR)[0] == 200
    finally:
        iam.delete_access_key(UserName="cors-reader", AccessKeyId=key["AccessKeyId"])
        iam.delete_user_policy(UserName="cors-reader", PolicyName="read")
        iam.delete_user(UserName="cors-reader")
