"""API token text, id and stored hash (pure)."""

from __future__ import annotations

import hashlib

import pytest

from crosscloud.domain import tokens


def test_new_token_format_id_and_hash() -> None:
    token_id, text = tokens.new_token(bytes(range(6)), b"\xff" * 32)
    assert token_id == "000102030405"
    assert text.startswith("cc_000102030405_") and len(text) == 16 + 43
    assert tokens.token_id(text.encode()) == token_id
    record = tokens.record_for(
        text, token_id=token_id, deployment="shop", name="ci", services=(), now=5.0
    )
    assert record.sha256 == hashlib.sha256(text.encode()).hexdigest()
    assert record.last4 == text[-4:]
    assert text not in repr(record)  # the record never carries the token


def test_different_random_bytes_make_different_tokens() -> None:
    a = tokens.new_token(b"a" * 6, b"x" * 32)[1]
    b = tokens.new_token(b"a" * 6, b"y" * 32)[1]
    assert a != b and tokens.digest(a.encode()) != tokens.digest(b.encode())


@pytest.mark.parametrize(
    "given",
    [
        b"",
        b"cc_000102030405",
        b"cc_00010203040_" + b"A" * 43,  # id one digit short
        b"cc_00010203040G_" + b"A" * 43,  # not hex
        b"cc_000102030405_" + b"A" * 42,  # secret one short
        b"cc_000102030405_" + b"A" * 43 + b" ",
        b"xx_000102030405_" + b"A" * 43,
    ],
)
def test_malformed_tokens_have_no_id(given: bytes) -> None:
    assert tokens.token_id(given) is None


def test_wrong_random_byte_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="6 id bytes and 32 secret bytes"):
        tokens.new_token(b"a" * 5, b"x" * 32)


@pytest.mark.parametrize(
    ("services", "service", "allowed"),
    [((), "api", True), (("api",), "api", True), (("api",), "worker", False)],
)
def test_a_token_allows_its_services(
    services: tuple[str, ...], service: str, allowed: bool
) -> None:
    record = tokens.TokenRecord("i", "d", "n", "0" * 64, "abcd", 1.0, services=services)
    assert record.allows(service) is allowed
