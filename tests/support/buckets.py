"""Customers' buckets as the suites make them: sample objects, their own CORS rules, encryption, policies."""

from __future__ import annotations

import json
import uuid
from typing import Any

from tests.support.clients import Clients

SAMPLE_KEYS = ("images/cat-1.png", "images/cat-2.png", "images/nested/dog.png")
# The customer's own rule on a flow test's bucket, which every connection must leave in place.
CUSTOMER_RULE = {
    "ID": "customer-upload",
    "AllowedOrigins": ["https://app.acme.example"],
    "AllowedMethods": ["PUT", "POST"],
    "AllowedHeaders": ["Content-Type"],
    "MaxAgeSeconds": 600,
}
# The fault matrix's customer rule, and the one object its buckets hold.
FAULTS_CUSTOMER_RULE = {
    "ID": "customer-upload",
    "AllowedOrigins": ["https://app.acme.example"],
    "AllowedMethods": ["PUT"],
    "AllowedHeaders": ["Content-Type"],
}
SAMPLE_KEY = "images/cat.png"


def tls_only_policy(bucket: str) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
         "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}  # fmt: skip


def sample_bucket(s3: Any) -> str:
    """A bucket with images under images/ and a private object the connection must not read."""
    name = f"acme-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    for key in SAMPLE_KEYS:
        s3.put_object(Bucket=name, Key=key, Body=b"\x89PNG\r\n\x1a\n" + key.encode())
    s3.put_object(Bucket=name, Key="private/payroll.csv", Body=b"name,salary\n")
    return name


def new_bucket(c: Clients, *, customer_cors: bool) -> str:
    """A bucket as customers have them: SSE-KMS under a customer key and a bucket policy (a Deny that spares
    the connection), so every read of Validate request's inspection answers, and a lost reply can be lost."""
    name = f"acme-{uuid.uuid4().hex[:12]}"
    c.s3.create_bucket(Bucket=name)
    key_arn = c.stack.client("kms").create_key(Description=f"fault matrix {name}")["KeyMetadata"]["Arn"]
    c.s3.put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn}}
            ]
        },
    )
    c.s3.put_bucket_policy(Bucket=name, Policy=json.dumps(tls_only_policy(name)))
    c.s3.put_object(Bucket=name, Key=SAMPLE_KEY, Body=b"\x89PNG\r\n\x1a\n")
    if customer_cors:
        c.s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": [FAULTS_CUSTOMER_RULE]})
        # The customer's rule is not seconds old when they onboard.
        c.stack.settle()
    return name
