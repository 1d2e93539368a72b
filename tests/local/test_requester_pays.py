"""Requester Pays as S3 documents it (requester_pays), and through the local stack's S3."""

from __future__ import annotations

from provisioner_local.requester_pays import parse_payer, refused


def test_a_requester_pays_bucket_refuses_requests_without_the_payer_header():
    assert refused("Requester", {})
    assert not refused("Requester", {"X-Amz-Request-Payer": "requester"})
    assert not refused("Requester", {}, {"x-amz-request-payer": ["requester"]})
    assert not refused("BucketOwner", {})


def test_the_configuration_body_is_read():
    body = b'<RequestPaymentConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Payer>Requester</Payer></RequestPaymentConfiguration>'
    assert parse_payer(body) == "Requester"
    assert parse_payer(b"<RequestPaymentConfiguration/>") is None
