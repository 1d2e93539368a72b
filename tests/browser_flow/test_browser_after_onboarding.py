"""End to end, as Labellerr's viewer will meet a connected bucket: the real template and state machine
onboard the bucket with the stack's own CorsAllowedOrigins, and headless Chromium, on an origin those
patterns allow, draws an image through a URL presigned with the key the flow issued.

Its own package: it runs a LocalStack of the real template, which must not overlap the fixture stack of
tests/browser (one stack owns the process's environment at a time).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from provisioner_local.emulator import LocalStack
from tests.support.browser import PAGE, Browser, PageServer, chromium_binary, expected_pixels, png
from tests.support.executions import wait_for_execution

pytestmark = pytest.mark.browser

IMAGE = png()
CUSTOMER_RULES = [
    {"ID": "acme-upload", "AllowedOrigins": ["https://app.acme.example"], "AllowedMethods": ["PUT", "POST"]},
    {"ID": "acme-read", "AllowedOrigins": ["https://*.acme.example"], "AllowedMethods": ["GET"]},
]


@pytest.fixture(scope="module")
def page_server() -> Iterator[PageServer]:
    server = PageServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def stack(page_server: PageServer) -> Iterator[LocalStack]:
    # The deployed default is https://*.labellerr.com; a loopback page has http and a port, so the
    # pattern keeps its one `*` and gains them.
    origins = f"http://*.labellerr.com:{page_server.port}"
    with LocalStack(port=0, parameter_overrides={"CorsAllowedOrigins": origins}) as running:
        yield running


def onboard(stack: LocalStack, *, customer_rules: list[dict[str, Any]]) -> tuple[Any, str, str]:
    s3, sfn = stack.client("s3"), stack.client("stepfunctions")
    bucket = f"acme-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="images/sample.png", Body=IMAGE, ContentType="image/png")
    if customer_rules:
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": customer_rules})
    request = {
        "connection_name": "b",
        "connection_id": f"b-{uuid.uuid4().hex[:8]}",
        "s3_uri": f"{bucket}/images/",
    }
    arn = sfn.start_execution(stateMachineArn=stack.state_machine_arn, name=request["connection_id"],
                              input=json.dumps(request))["executionArn"]  # fmt: skip
    described = wait_for_execution(sfn, arn, deadline_s=60)
    assert described["status"] == "SUCCEEDED", described.get("cause")
    output = json.loads(described["output"])
    secret = json.loads(
        stack.client("secretsmanager").get_secret_value(SecretId=output["secret_arn"])["SecretString"]
    )
    as_key = boto3.client(
        "s3", endpoint_url=stack.endpoint_url, region_name=secret["region"],
        aws_access_key_id=secret["access_key_id"], aws_secret_access_key=secret["secret_access_key"],
    )  # fmt: skip
    url = as_key.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "images/sample.png"}, ExpiresIn=300
    )
    return output, bucket, url


@pytest.mark.parametrize(
    "customer_rules", [[], CUSTOMER_RULES], ids=["no-cors-before", "customer-rules-before"]
)
def test_an_onboarded_bucket_serves_labellerrs_viewer_and_refuses_others(
    stack: LocalStack, page_server: PageServer, customer_rules: list[dict[str, Any]]
) -> None:
    output, bucket, url = onboard(stack, customer_rules=customer_rules)
    checks = {c["operation"]: c["outcome"] for c in output["verification"]["checks"]}
    assert checks["cors:Preflight"] == checks["cors:ForeignOriginRefused"] == "passed"
    rules = stack.client("s3").get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert [r["ID"] for r in rules] == [r["ID"] for r in customer_rules] + [
        f"labellerr-{output['connection_id']}"
    ]

    browser = Browser(chromium_binary(), page_server)
    page = PAGE.replace("__URL__", json.dumps(url))
    allowed = browser.visit(page_server.origin("pro.labellerr.com"), f"/ok-{uuid.uuid4().hex}.html", page)
    assert allowed["image"] == {"loaded": True, "pixels": expected_pixels()}
    assert allowed["fetch"]["ok"], allowed["fetch"]
    assert allowed["fetch"]["contentRange"] == f"bytes 0-7/{len(IMAGE)}"
    foreign = browser.visit(
        page_server.origin("pro.labellerr.com.evil.example"), f"/no-{uuid.uuid4().hex}.html", page
    )
    assert foreign["image"]["loaded"] is False
    assert foreign["fetch"]["ok"] is False
