"""moto's KMS private key, made on first use (aws_patches.LazyPrivateKey): the same key for every use, and
none at all for a key nobody signs with."""

from __future__ import annotations

from typing import Any

from provisioner_local.aws_patches import LazyPrivateKey


class _Key:
    def sign(self, message: bytes) -> bytes:
        return b"signed " + message


def test_the_key_is_made_at_its_first_use_and_kept() -> None:
    made: list[str] = []

    def make(key_spec: str) -> Any:
        made.append(key_spec)
        return _Key()

    lazy = LazyPrivateKey(make, "RSA_2048")
    assert made == []
    assert lazy.sign(b"m") == b"signed m"
    assert lazy.sign(b"n") == b"signed n"
    assert made == ["RSA_2048"]
