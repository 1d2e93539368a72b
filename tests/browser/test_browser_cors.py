"""Headless Chromium against the local stack's S3: what Labellerr's viewer does with a connected bucket.

The page loads an image under the prefix through a presigned URL with crossOrigin="anonymous", draws it on a
canvas and reads its pixels (which a browser forbids unless CORS allowed the image), and fetches the same URL
with {mode: "cors"}: a ranged read plus a header of the page's own, which no browser sends without a
preflight (a single byte range alone is CORS-safelisted and would not be preflighted).

The page's origin is http://pro.labellerr.com:<port> (the page server's port, which is known only at run
time), so the rule under test allows `http://*.labellerr.com:<port>`: the deployed default
`https://*.labellerr.com` with the scheme and port a loopback page can have, and still one `*`.
"""

from __future__ import annotations

import json
import uuid

import pytest

from provisioner_core.cors_probe import REQUIRED_EXPOSE_HEADERS, check_rule_order
from provisioner_local import s3_cors
from tests.support.browser import PAGE, chromium_binary, expected_pixels, png

pytestmark = pytest.mark.browser

BUCKET = "cors-browser"
KEY = "images/sample.png"
IMAGE = png()


def our_rule(page_port: int) -> dict:
    return {
        "ID": "labellerr-browser",
        "AllowedOrigins": [f"http://*.labellerr.com:{page_port}"],
        "AllowedMethods": ["GET", "HEAD"],
        "AllowedHeaders": ["*"],
        "ExposeHeaders": list(REQUIRED_EXPOSE_HEADERS),
        "MaxAgeSeconds": 3600,
    }


@pytest.fixture(scope="module")
def s3(stack):
    client = stack.client("s3")
    client.create_bucket(Bucket=BUCKET)
    # Private, as customers' buckets are: only the presigned URL reads it.
    client.put_object(Bucket=BUCKET, Key=KEY, Body=IMAGE, ContentType="image/png")
    return client


@pytest.fixture
def preflights(monkeypatch):
    """The preflights the stack's S3 answered, as (Origin, Access-Control-Request-Headers, status)."""
    seen = []
    answer = s3_cors._answer_preflight

    def recording(response, request, full_url, resource_type):
        result = answer(response, request, full_url, resource_type)
        seen.append(
            (request.headers.get("Origin"), request.headers.get("Access-Control-Request-Headers"), result[0])
        )
        return result

    monkeypatch.setattr(s3_cors, "_answer_preflight", recording)
    return seen


def visit(browser, s3, origin, rules):
    s3.put_bucket_cors(Bucket=BUCKET, CORSConfiguration={"CORSRules": rules})
    url = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": KEY}, ExpiresIn=300)
    page = PAGE.replace("__URL__", json.dumps(url))
    result = browser.visit(origin, f"/viewer-{uuid.uuid4().hex}.html", page)
    assert result["origin"] == origin
    return result


def test_an_allowed_origin_draws_the_image_and_reads_it_with_fetch(browser, s3, page_server, preflights):
    origin = page_server.origin("pro.labellerr.com")
    result = visit(browser, s3, origin, [our_rule(page_server.port)])
    assert result["image"] == {"loaded": True, "pixels": expected_pixels()}
    assert result["fetch"]["ok"], result["fetch"]
    assert result["fetch"]["status"] == 206
    assert result["fetch"]["bytes"] == list(IMAGE[:8])
    # Readable only because the rule exposes Content-Range.
    assert result["fetch"]["contentRange"] == f"bytes 0-7/{len(IMAGE)}"
    # The fetch was preflighted, unsigned, and S3's rules answered it. A single byte range is a
    # CORS-safelisted header (Fetch standard), so Chromium names only the viewer's own header.
    assert preflights == [(origin, "x-labellerr-viewer", 200)]


def test_a_foreign_origin_gets_neither_the_pixels_nor_the_bytes(browser, s3, page_server, preflights):
    origin = page_server.origin("pro.labellerr.com.evil.example")
    result = visit(browser, s3, origin, [our_rule(page_server.port)])
    assert result["image"]["loaded"] is False
    assert result["fetch"]["ok"] is False
    assert "Failed to fetch" in result["fetch"]["error"]
    assert [(o, status) for o, _, status in preflights] == [(origin, 403)]


def test_a_bucket_without_cors_serves_no_page(browser, s3, page_server):
    s3.delete_bucket_cors(Bucket=BUCKET)
    url = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": KEY}, ExpiresIn=300)
    result = browser.visit(
        page_server.origin("pro.labellerr.com"),
        "/viewer-no-cors.html",
        PAGE.replace("__URL__", json.dumps(url)),
    )
    assert result["image"]["loaded"] is False
    assert result["fetch"]["ok"] is False


def test_customer_rules_before_ours_for_other_origins_leave_labellerr_served(browser, s3, page_server):
    customer = [
        {
            "ID": "acme-upload",
            "AllowedOrigins": ["https://app.acme.example"],
            "AllowedMethods": ["PUT", "POST"],
        },
        {"ID": "acme-read", "AllowedOrigins": ["https://*.acme.example"], "AllowedMethods": ["GET"]},
    ]
    result = visit(
        browser, s3, page_server.origin("pro.labellerr.com"), [*customer, our_rule(page_server.port)]
    )
    assert result["image"] == {"loaded": True, "pixels": expected_pixels()}
    assert result["fetch"]["ok"]
    assert result["fetch"]["contentRange"] == f"bytes 0-7/{len(IMAGE)}"


def test_a_customer_rule_that_shadows_ours_hides_content_range_and_the_probe_says_so(
    browser, s3, page_server
):
    # The customer already allowed Labellerr by hand, as the vendor guide said: GET, no headers, no exposure.
    by_hand = {
        "ID": "acme-labellerr",
        "AllowedOrigins": [f"http://*.labellerr.com:{page_server.port}"],
        "AllowedMethods": ["GET"],
    }
    rules = [by_hand, our_rule(page_server.port)]
    origin = page_server.origin("pro.labellerr.com")
    result = visit(browser, s3, origin, rules)
    # The image still draws: its GET is answered by the customer's rule, which allows the origin...
    assert result["image"] == {"loaded": True, "pixels": expected_pixels()}
    # ...the preflight asks for headers that rule lacks, so ours answers it and the fetch goes ahead...
    assert result["fetch"]["ok"]
    assert result["fetch"]["status"] == 206
    # ...but the GET's answer is the customer's rule's: Content-Range stays hidden from the page.
    assert result["fetch"]["contentRange"] is None
    check = check_rule_order(rules, "labellerr-browser", origin)
    assert check["outcome"] == "failed"
    assert "'acme-labellerr'" in check["detail"]


def test_a_missing_chromium_fails_the_tier_and_says_how_to_install_it(monkeypatch):
    monkeypatch.delenv("CHROMIUM", raising=False)
    with pytest.raises(pytest.fail.Exception, match="apt-get install -y chromium"):
        chromium_binary(("/nonexistent/chromium",))
    monkeypatch.setenv("CHROMIUM", "/nonexistent/chromium")
    with pytest.raises(pytest.fail.Exception, match="does not skip"):
        chromium_binary()
