"""The gateway's per-request token check, from a parsed config (no sockets)."""

from __future__ import annotations

import pytest

from crosscloud import errors
from crosscloud.domain import tokens
from crosscloud.gateway import auth
from crosscloud.gateway import config as gwconfig

ALL_ID, ALL = tokens.new_token(b"\x01" * 6, b"a" * 32)
API_ID, API_ONLY = tokens.new_token(b"\x02" * 6, b"b" * 32)
_, UNKNOWN = tokens.new_token(b"\x03" * 6, b"c" * 32)


def _entry(token_id: str, text: str) -> dict[str, str]:
    return {"id": token_id, "sha256": tokens.digest(text.encode()).hex()}


CONFIG = gwconfig.parse(
    {
        "services": [
            {"name": "api", "auth": {"tokens": [_entry(ALL_ID, ALL), _entry(API_ID, API_ONLY)]}},
            {"name": "worker", "auth": {"tokens": [_entry(ALL_ID, ALL)]}},
            {"name": "open"},
        ]
    }
)


@pytest.mark.parametrize(
    ("service", "header", "status"),
    [
        ("api", f"Bearer {ALL}", None),
        ("api", f"bearer   {API_ONLY}", None),
        ("worker", f"Bearer {ALL}", None),
        ("worker", f"Bearer {API_ONLY}", 403),
        ("api", None, 401),
        ("api", "", 401),
        ("api", f"Basic {ALL}", 401),
        ("api", f"Bearer {UNKNOWN}", 401),
        ("api", f"Bearer {ALL[:-1]}B", 401),  # right id, wrong secret
        ("api", f"Bearer {ALL}x", 401),
        ("api", "Bearer not-a-token", 401),
        ("open", None, None),
        ("open", "Bearer whatever", None),
    ],
)
def test_answers(service: str, header: str | None, status: int | None) -> None:
    check = auth.for_config(CONFIG)
    assert check is not None
    denied = check(service, None if header is None else header.encode())
    assert (denied[0] if denied else None) == status
    if denied:
        assert ALL not in denied[1] and API_ONLY not in denied[1]  # never echoed back


def test_every_service_open_means_no_authorizer() -> None:
    assert auth.for_config(gwconfig.parse({"services": [{"name": "api"}]})) is None


def test_auth_with_no_tokens_refuses_everyone() -> None:
    check = auth.for_config(gwconfig.parse({"services": [{"name": "api", "auth": {}}]}))
    assert check is not None
    assert check("api", f"Bearer {ALL}".encode()) == auth.INVALID


def test_a_bad_hash_in_the_file_is_a_user_error() -> None:
    bad = {"services": [{"name": "api", "auth": {"tokens": [{"id": ALL_ID, "sha256": "xyz"}]}}]}
    with pytest.raises(errors.UserError, match=r"services\.0\.auth\.tokens\.0\.sha256"):
        gwconfig.parse(bad)
