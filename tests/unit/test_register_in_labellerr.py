"""Register in Labellerr against a fake Labellerr: test before create, one connection per type, and a retry
that finds what an earlier attempt created (also when that create's reply was lost) instead of a second."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from functions.register_in_labellerr.app import description_for, issued_key, register_in_labellerr
from provisioner_core.connection import labellerr_marker
from provisioner_core.contracts.step_results import IssuedKey, LabellerrRegistration
from provisioner_core.errors import VerificationFailed
from provisioner_core.labellerr import LabellerrClient, LabellerrConnection, S3Credentials
from provisioner_core.labellerr_errors import LabellerrTestFailed, LabellerrUnavailable
from tests.unit.conftest import make_connection

KEY = S3Credentials("AKIAEXAMPLE", "s3cr3t/value")


@dataclass
class FakeLabellerr:
    """Keeps connections like Labellerr; `lose_create` makes creates take effect and then fail."""

    connections: dict[str, LabellerrConnection] = field(default_factory=dict)
    calls: list[tuple[str, ...]] = field(default_factory=list)
    fail_test: bool = False
    lose_create: int = 0

    def test_connection(self, s3: S3Credentials, path: str, connection_type: str, data_type: str) -> dict:
        self.calls.append(("test", path, connection_type, data_type))
        if self.fail_test:
            raise LabellerrTestFailed("test_connection", "HTTP 400: cannot list", status=400)
        return {"status": "success", "message": f"Connection successful for {s3.secret_access_key}"}

    def create_connection(self, s3: S3Credentials, connection_type: str, name: str, description: str) -> str:
        self.calls.append(("create", connection_type, name, description))
        connection_id = f"lc-{len(self.connections) + 1}"
        self.connections[connection_id] = LabellerrConnection(
            connection_id, name, description, "s3", connection_type, None, None, raw={}
        )
        if self.lose_create:
            self.lose_create -= 1
            raise LabellerrUnavailable("create_connection", "HTTP 500", status=500)
        return connection_id

    def find_connections(self, *, description_marker: str = "", **_: Any) -> list[LabellerrConnection]:
        self.calls.append(("find", description_marker))
        return [c for c in self.connections.values() if description_marker in (c.description or "")]


Register = Callable[..., LabellerrRegistration]


@pytest.fixture
def register(dynamodb: Any) -> Register:
    """The step as the state machine runs it, with the table its Labellerr tests take their lease in."""

    def run(labellerr: FakeLabellerr, connection: Any, *, retry_count: int) -> LabellerrRegistration:
        return register_in_labellerr(
            cast(LabellerrClient, labellerr), dynamodb, KEY, connection, retry_count=retry_count
        )

    return run


def test_import_is_tested_then_created_once_with_the_marker(register: Register) -> None:
    labellerr = FakeLabellerr()
    connection = make_connection(description="Satellite tiles", labellerr_data_type="video")
    result = register(labellerr, connection, retry_count=0)
    assert labellerr.calls == [
        ("test", "acme-datasets/images/", "import", "video"),
        ("create", "import", "Satellite images", "Satellite tiles [labellerr-provisioner:satellite-images]"),
    ]
    assert result["labellerr_connection_ids"] == ["lc-1"]
    assert result["connections"] == [
        {"connection_type": "import", "labellerr_connection_id": "lc-1", "reused": False}
    ]
    assert result["test"]["outcome"] == "passed"
    assert "s3cr3t" not in json.dumps(result)


def test_import_export_tests_both_before_creating_either(register: Register) -> None:
    labellerr = FakeLabellerr()
    result = register(labellerr, make_connection(access="import_export"), retry_count=0)
    assert [c[:2] for c in labellerr.calls] == [
        ("test", "acme-datasets/images/"), ("test", "acme-datasets/images/"), ("create", "import"),
        ("create", "export"),
    ]  # fmt: skip
    assert [c["connection_type"] for c in result["connections"]] == ["import", "export"]
    assert len(set(result["labellerr_connection_ids"])) == 2


def test_a_failed_test_creates_nothing(register: Register) -> None:
    labellerr = FakeLabellerr(fail_test=True)
    with pytest.raises(LabellerrTestFailed):
        register(labellerr, make_connection(), retry_count=0)
    assert labellerr.connections == {}


def test_a_retry_after_a_lost_create_reply_reuses_that_connection(register: Register) -> None:
    labellerr = FakeLabellerr(lose_create=1)
    connection = make_connection(access="import_export")
    with pytest.raises(LabellerrUnavailable):
        register(labellerr, connection, retry_count=0)
    assert len(labellerr.connections) == 1
    result = register(labellerr, connection, retry_count=1)
    assert len(labellerr.connections) == 2
    assert [c["reused"] for c in result["connections"]] == [True, False]
    # The import connection was not tested again: it exists only because its test passed.
    assert [c[0] for c in labellerr.calls].count("test") == 3
    again = register(labellerr, connection, retry_count=2)
    assert again["labellerr_connection_ids"] == result["labellerr_connection_ids"]
    assert len(labellerr.connections) == 2


def test_a_first_attempt_does_not_search_and_other_connections_are_never_adopted(register: Register) -> None:
    labellerr = FakeLabellerr()
    labellerr.connections["other"] = LabellerrConnection(
        "other", "x", f"x {labellerr_marker('another-connection')}", "s3", "import", None, None, raw={}
    )
    result = register(labellerr, make_connection(), retry_count=1)
    assert result["labellerr_connection_ids"] != ["other"]
    first = FakeLabellerr()
    register(first, make_connection(), retry_count=0)
    assert not [c for c in first.calls if c[0] == "find"]


def test_the_description_is_the_marker_alone_when_the_connection_has_none() -> None:
    assert description_for(make_connection()) == "[labellerr-provisioner:satellite-images]"


def issued(access_key_id: str, secret_arn: str) -> IssuedKey:
    return {"access_key_id": access_key_id, "secret_arn": secret_arn, "secret_name": "x", "issued_at": "now"}


def test_the_key_comes_from_the_connection_secret_and_must_be_the_issued_one(secrets: Any) -> None:
    value = {"access_key_id": "AKIAEXAMPLE", "secret_access_key": "s3cr3t/value"}
    arn = secrets.create_secret(Name="labellerr/connections/x", SecretString=json.dumps(value))["ARN"]
    key = issued_key(secrets, issued("AKIAEXAMPLE", arn))
    assert key == KEY
    assert "s3cr3t" not in repr(key)
    with pytest.raises(VerificationFailed):
        issued_key(secrets, issued("AKIAOTHER", arn))
