"""The Labellerr stand-in: Labellerr's wire format on loopback, and a connection test that really uses the key.

The local stack (with the light fixture template) gives a real S3 and IAM that enforces the policies of the
keys it issued; the project's own Labellerr client is the caller, so both sides of the wire are checked.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from provisioner_core.labellerr import LabellerrClient, LabellerrCredentials, S3Credentials
from provisioner_core.labellerr_errors import LabellerrRejected, LabellerrTestFailed, LabellerrUnavailable
from provisioner_core.labellerr_transport import multipart
from provisioner_local.emulator import LocalStack
from provisioner_local.labellerr_standin import LabellerrStandIn, split_faults
from provisioner_local.labellerr_wire import LabellerrFaultSpecError

FIXTURE_TEMPLATE = Path(__file__).parent / "fixtures" / "template.yaml"


@dataclass(frozen=True)
class Key:
    user: str
    s3: S3Credentials


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(template_path=FIXTURE_TEMPLATE) as local:
        yield local


@pytest.fixture(scope="module")
def bucket(stack: LocalStack) -> str:
    s3 = stack.client("s3")
    name = f"acme-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="images/cat.png", Body=b"\x89PNG cat")
    s3.put_object(Bucket=name, Key="private/payroll.csv", Body=b"name,salary\n")
    return name


def _key(stack: LocalStack, statements: list[dict[str, Any]]) -> Key:
    iam = stack.client("iam")
    user = f"labellerr-standin-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=user)
    document = {"Version": "2012-10-17", "Statement": statements}
    iam.put_user_policy(UserName=user, PolicyName="scoped", PolicyDocument=json.dumps(document))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    return Key(user, S3Credentials(key["AccessKeyId"], key["SecretAccessKey"]))


def _statements(bucket: str, prefix: str, *, write: bool = False, read: bool = True) -> list[dict[str, Any]]:
    actions = (["s3:GetObject"] if read else []) + (["s3:PutObject", "s3:DeleteObject"] if write else [])
    statements: list[dict[str, Any]] = [
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}"}
    ]
    if actions:
        statements.append(
            {"Effect": "Allow", "Action": actions, "Resource": f"arn:aws:s3:::{bucket}/{prefix}*"}
        )
    return statements


@pytest.fixture(scope="module")
def reader(stack: LocalStack, bucket: str) -> Key:
    return _key(stack, _statements(bucket, "images/"))


@pytest.fixture(scope="module")
def writer(stack: LocalStack, bucket: str) -> Key:
    return _key(stack, _statements(bucket, "images/", write=True))


@pytest.fixture(scope="module")
def outsider(stack: LocalStack) -> Key:
    # Full rights, on another bucket only.
    return _key(stack, _statements("someone-elses-bucket", "", write=True))


@pytest.fixture(scope="module")
def lister(stack: LocalStack, bucket: str) -> Key:
    return _key(stack, _statements(bucket, "images/", read=False))


@pytest.fixture
def labellerr(stack: LocalStack) -> Iterator[LabellerrStandIn]:
    with LabellerrStandIn(stack.endpoint_url, region=stack.region) as standin:
        yield standin


def client_for(standin: LabellerrStandIn, **kwargs: Any) -> LabellerrClient:
    credentials = LabellerrCredentials.from_secret_string(standin.secret_string)
    return LabellerrClient(credentials, standin.url, **kwargs)


def raw(
    standin: LabellerrStandIn,
    path: str,
    *,
    headers: dict[str, str],
    query: str = "",
    data: bytes | None = None,
) -> tuple[int, Any]:
    url = f"{standin.url}{path}?{query}"
    request = urllib.request.Request(url, headers=headers, data=data)  # noqa: S310 (loopback)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (loopback)
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


# -- the connection test is real


def test_test_passes_for_a_key_that_can_read_the_path(labellerr, reader, bucket):
    answer = client_for(labellerr).test_connection(reader.s3, f"{bucket}/images/", "import")
    assert [check["check"] for check in answer["checks"]] == ["list", "read"]
    assert "images/cat.png" in answer["checks"][1]["detail"]


def test_test_fails_for_a_key_without_access_to_the_bucket(labellerr, outsider, bucket):
    with pytest.raises(LabellerrTestFailed) as caught:
        client_for(labellerr).test_connection(outsider.s3, f"{bucket}/images/", "import")
    assert caught.value.status == 400
    assert "cannot list" in str(caught.value)
    assert "AccessDenied" in str(caught.value)


def test_test_fails_for_a_key_that_can_list_but_not_read(labellerr, lister, bucket):
    with pytest.raises(LabellerrTestFailed, match="cannot read objects under"):
        client_for(labellerr).test_connection(lister.s3, f"{bucket}/images/", "import")


def test_test_fails_for_a_key_scoped_to_another_prefix(labellerr, reader, bucket):
    # The reader may list the bucket but read only images/: reading under private/ is refused.
    with pytest.raises(LabellerrRejected, match="cannot read"):
        client_for(labellerr).test_connection(reader.s3, f"s3://{bucket}/private/", "import")


def test_test_fails_for_a_wrong_secret(labellerr, reader, bucket):
    wrong = S3Credentials(reader.s3.access_key_id, "x" * 40)
    with pytest.raises(LabellerrRejected, match="invalid AWS credentials"):
        client_for(labellerr).test_connection(wrong, f"{bucket}/images/", "import")


def test_test_fails_for_a_bucket_that_does_not_exist(labellerr, stack):
    key = _key(stack, [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}])
    with pytest.raises(LabellerrRejected, match="does not exist"):
        client_for(labellerr).test_connection(key.s3, f"missing-{uuid.uuid4().hex[:8]}/x/", "import")


def test_export_test_writes_and_deletes_a_probe(labellerr, writer, bucket, stack):
    answer = client_for(labellerr).test_connection(writer.s3, f"{bucket}/images/", "export")
    assert [check["check"] for check in answer["checks"]] == ["list", "read", "write"]
    left = stack.client("s3").list_objects_v2(Bucket=bucket, Prefix="images/")["Contents"]
    assert [item["Key"] for item in left] == ["images/cat.png"]


def test_export_test_fails_for_a_read_only_key(labellerr, reader, bucket):
    with pytest.raises(LabellerrTestFailed, match="cannot write to"):
        client_for(labellerr).test_connection(reader.s3, f"{bucket}/images/", "export")


def test_s3_out_of_reach_is_a_5xx():
    with LabellerrStandIn("http://127.0.0.1:9") as standin:
        s3 = S3Credentials("AKIAEXAMPLE000000001", "s" * 40)
        with pytest.raises(LabellerrUnavailable) as caught:
            client_for(standin).test_connection(s3, "bucket/images/", "import")
    assert caught.value.status == 502


# -- connections: create, list, details, delete


def test_connection_lifecycle_through_the_projects_client(labellerr, reader, writer, bucket):
    client = client_for(labellerr)
    first = client.create_connection(reader.s3, "import", "Satellite images", "made by a test")
    second = client.create_connection(writer.s3, "export", "Satellite images (export)")
    assert sorted(client.list_connections()) == sorted([first, second])
    assert client.list_connections("export") == [second]
    details = client.connection_details(first)
    assert details is not None
    assert (details.name, details.description, details.connector, details.connection_type) == (
        "Satellite images",
        "made by a test",
        "s3",
        "import",
    )
    assert details.created_by == labellerr.api_key
    assert "access_key_id" not in details.raw
    # The stand-in can tell which key made each connection, and check the secret without keeping it.
    stored = labellerr.connection(first)
    assert stored is not None
    assert stored.access_key_id == reader.s3.access_key_id
    assert labellerr.secret_matches(first, reader.s3.secret_access_key)
    assert not labellerr.secret_matches(first, writer.s3.secret_access_key)
    assert [c.access_key_id for c in labellerr.connections("export")] == [writer.s3.access_key_id]

    assert client.delete_connection(first) is True
    assert client.connection_details(first) is None
    assert client.delete_connection(first) is False
    assert client.list_connections() == [second]


@pytest.mark.parametrize(
    ("headers", "query", "status"),
    [
        ({}, "client_id={client_id}&uuid=u", 401),
        (
            {"api_key": "{api_key}", "api_secret": "wrong", "client_id": "{client_id}"},
            "client_id={client_id}&uuid=u",
            401,
        ),
        (
            {"api_key": "{api_key}", "api_secret": "{api_secret}", "client_id": "{client_id}"},
            "client_id=999&uuid=u",
            403,
        ),
        (
            {"api_key": "{api_key}", "api_secret": "{api_secret}", "client_id": "{client_id}"},
            "client_id={client_id}",
            400,
        ),
        (
            {"api_key": "{api_key}", "api_secret": "{api_secret}", "client_id": "{client_id}"},
            "client_id={client_id}&uuid=u",
            403,
        ),
        (
            {"api_key": "{api_key}", "api_secret": "s\u00e9cret", "client_id": "{client_id}"},
            "client_id={client_id}&uuid=u",
            401,
        ),
    ],
    ids=["no-headers", "wrong-secret", "other-client-id", "no-uuid", "no-email-id", "non-ascii-secret"],
)
def test_credentials_are_checked_like_labellerr(labellerr, headers, query, status):
    values = labellerr.credentials
    filled = {name: value.format(**values) for name, value in headers.items()}
    got, body = raw(labellerr, "/connectors/connections/list", headers=filled, query=query.format(**values))
    assert got == status
    assert body["code"] == status
    assert isinstance(body["error"], str)
    assert body["error"]


def test_unknown_ids_and_routes_answer_404_json(labellerr):
    values = labellerr.credentials
    headers = {name: values[name] for name in ("api_key", "api_secret", "client_id")}
    query = f"client_id={values['client_id']}&uuid={uuid.uuid4()}"
    status, body = raw(labellerr, "/connectors/connections/nope/details", headers=headers, query=query)
    assert (status, body) == (404, {"error": "Connection not found", "code": 404})
    status, body = raw(labellerr, "/connectors/connections/update", headers=headers, query=query)
    assert status == 404
    assert body["code"] == 404


def test_details_needs_no_email_id_like_the_sdk_sends_it(labellerr, reader):
    connection_id = client_for(labellerr).create_connection(reader.s3, "import", "x")
    values = labellerr.credentials
    headers = {
        "api_key": values["api_key"],
        "api_secret": values["api_secret"],
        "client_id": values["client_id"],
    }
    status, body = raw(
        labellerr,
        f"/connectors/connections/{connection_id}/details",
        headers=headers,
        query=f"client_id={values['client_id']}&uuid={uuid.uuid4()}",
    )
    assert status == 200
    assert body["response"]["connection_id"] == connection_id


def test_create_rejects_a_missing_field_and_bad_credentials_json(labellerr, reader):
    client = client_for(labellerr)
    with pytest.raises(LabellerrRejected, match="name is required"):
        client.create_connection(reader.s3, "import", " ")
    bad = S3Credentials(reader.s3.access_key_id, "")
    with pytest.raises(LabellerrRejected, match="credentials must be JSON"):
        client.create_connection(bad, "import", "x")
    assert labellerr.connections() == []


# -- faults


def test_faults_answer_500_for_the_first_n_calls_and_create_nothing(labellerr, reader):
    client = client_for(labellerr)
    labellerr.set_faults(["labellerr:create:1", "labellerr:delete"])
    with pytest.raises(LabellerrUnavailable) as caught:
        client.create_connection(reader.s3, "import", "x")
    assert caught.value.status == 500
    assert "Injected fault" in str(caught.value)
    assert labellerr.connections() == []
    connection_id = client.create_connection(reader.s3, "import", "x")
    with pytest.raises(LabellerrUnavailable):
        client.delete_connection(connection_id)
    assert labellerr.connection(connection_id) is not None
    assert labellerr.injected_faults == ["labellerr:create", "labellerr:delete"]
    labellerr.set_faults([])
    assert client.delete_connection(connection_id) is True


def test_a_test_fault_fails_every_test(labellerr, reader, bucket):
    labellerr.set_faults(["labellerr:test"])
    for _ in range(3):
        with pytest.raises(LabellerrUnavailable):
            client_for(labellerr).test_connection(reader.s3, f"{bucket}/images/", "import")
    assert labellerr.faults == ("labellerr:test",)


def test_a_lost_create_takes_effect_and_answers_500_once(labellerr, reader):
    client = client_for(labellerr)
    labellerr.set_faults(["labellerr:create:lost"])
    assert labellerr.faults == ("labellerr:create:lost",)
    with pytest.raises(LabellerrUnavailable) as caught:
        client.create_connection(reader.s3, "import", "lost-once")
    assert caught.value.status == 500
    [made] = [c for c in labellerr.connections() if c.name == "lost-once"]
    # The next call goes through: a client's retry that creates again makes a second connection.
    second = client.create_connection(reader.s3, "import", "lost-once")
    assert second != made.connection_id
    assert labellerr.injected_faults == ["labellerr:create"]
    labellerr.set_faults(["labellerr:delete:lost:2"])
    assert labellerr.faults == ("labellerr:delete:lost:2",)
    for connection_id in (made.connection_id, second):
        with pytest.raises(LabellerrUnavailable):
            client.delete_connection(connection_id)
        assert labellerr.connection(connection_id) is None
    labellerr.set_faults([])
    # Gone already is success for the caller.
    assert client.delete_connection(second) is False


def test_a_fault_scoped_to_a_connection_type_hits_only_those_calls(labellerr, reader):
    client = client_for(labellerr)
    labellerr.set_faults(["labellerr:create@export"])
    assert labellerr.faults == ("labellerr:create@export",)
    made = client.create_connection(reader.s3, "import", "scoped")
    with pytest.raises(LabellerrUnavailable):
        client.create_connection(reader.s3, "export", "scoped")
    assert [c.connection_id for c in labellerr.connections() if c.name == "scoped"] == [made]
    labellerr.set_faults([])
    client.delete_connection(made)


@pytest.mark.parametrize(
    "spec",
    ["labellerr:update", "labellerr:create:0", "iam:CreateUser", "labellerr", "labellerr:create:lost:0",
     "labellerr:create:lost:x", "labellerr:create:1:lost", "labellerr:create@both"],
)  # fmt: skip
def test_bad_fault_specs_fail_at_once(stack, spec):
    with pytest.raises(LabellerrFaultSpecError):
        LabellerrStandIn(stack.endpoint_url, faults=[spec])


def test_split_faults_sends_labellerr_ones_to_the_stand_in():
    specs = ["iam:CreateAccessKey", "labellerr:create:2", "s3:PutBucketCors:1", "labellerr:delete"]
    assert split_faults(specs) == (
        ["iam:CreateAccessKey", "s3:PutBucketCors:1"],
        ["labellerr:create:2", "labellerr:delete"],
    )


# -- secrets


def test_the_request_log_never_holds_a_secret(labellerr, reader, outsider, bucket):
    client = client_for(labellerr)
    client.test_connection(reader.s3, f"{bucket}/images/", "import")
    with pytest.raises(LabellerrRejected):
        client.test_connection(outsider.s3, f"{bucket}/images/", "import")
    client.create_connection(reader.s3, "import", "x")
    # A secret in a field that is not the credentials JSON, and credentials that are not JSON at all.
    labellerr.set_faults(["labellerr:create:1"])
    with pytest.raises(LabellerrUnavailable):
        client.create_connection(outsider.s3, "import", outsider.s3.secret_access_key)
    values = labellerr.credentials
    fields = [
        ("credentials", f"{{not json {reader.s3.secret_access_key}"),
        ("connector", "s3"),
        ("name", "x"),
        ("connection_type", "import"),
        ("client_id", values["client_id"]),
    ]
    body, content_type = multipart(fields)
    headers = {name: values[name] for name in ("api_key", "api_secret", "client_id")}
    headers |= {"email_id": values["api_key"], "content-type": content_type}
    status, answer = raw(
        labellerr,
        "/connectors/connections/create",
        headers=headers,
        query=f"client_id={values['client_id']}&uuid={uuid.uuid4()}",
        data=body,
    )
    assert status == 400
    assert "credentials must be JSON" in answer["error"]

    log = labellerr.request_log
    assert len(log) == 5
    text = json.dumps(log)
    for secret in (reader.s3.secret_access_key, outsider.s3.secret_access_key, labellerr.api_secret):
        assert secret not in text
    # What is there is useful: the key id, the path, the status and Labellerr's message.
    assert reader.s3.access_key_id in text
    assert log[0]["form"]["path"] == f"{bucket}/images/"
    assert log[0]["headers"]["api_secret"] == "***"
    assert log[0]["form"]["credentials"]["secret_access_key"] == "***"
    assert [entry["status"] for entry in log] == [200, 400, 200, 500, 400]
    assert "cannot list" in log[1]["error"]


def test_credentials_are_made_up_per_instance_and_kept_out_of_repr(stack):
    with LabellerrStandIn(stack.endpoint_url) as one, LabellerrStandIn(stack.endpoint_url) as two:
        assert set(one.credentials) == {"api_url", "client_id", "api_key", "api_secret"}
        assert one.credentials["api_url"] == one.url
        assert one.url.startswith("http://127.0.0.1:")
        assert one.api_secret != two.api_secret
        assert one.api_secret not in repr(one)
        # One stand-in does not accept another's credentials.
        other = LabellerrClient(LabellerrCredentials.from_secret_string(two.secret_string), one.url)
        with pytest.raises(LabellerrRejected) as caught:
            other.list_connections()
        assert caught.value.status == 401


def test_loopback_only(stack):
    with pytest.raises(ValueError, match="loopback"):
        LabellerrStandIn(stack.endpoint_url, host="0.0.0.0")  # noqa: S104
