"""The gateway's per-request token check, from a parsed config (no sockets)."""

from __future__ import annotations

import time

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


def _limited(**quota: object) -> gwconfig.GatewayConfig:
    entry = {**_entry(ALL_ID, ALL), "quota": quota}
    other = _entry(API_ID, API_ONLY)
    return gwconfig.parse({"services": [{"name": "api", "auth": {"tokens": [entry, other]}}]})


def test_past_its_quota_a_token_gets_429_with_retry_after_and_others_do_not() -> None:
    check = auth.for_config(_limited(rps=0.01, burst=2))
    assert check is not None
    noisy, quiet = f"Bearer {ALL}".encode(), f"Bearer {API_ONLY}".encode()
    assert check("api", noisy) is None
    assert check("api", noisy) is None
    refused = check("api", noisy)
    assert refused is not None and refused[0] == 429 and len(refused) == 3
    assert refused[2] >= 99  # a 0.01/s quota: the next request in about 100 s
    assert "requests per second" in refused[1]
    assert check("api", quiet) is None
    assert check.admitted == {("api", ALL_ID): 2, ("api", API_ID): 1}
    assert check.throttled == {("api", ALL_ID): 1}


def test_a_concurrency_slot_is_handed_over_and_a_reload_keeps_quota_state() -> None:
    check = auth.for_config(_limited(concurrency=1, rps=0.01, burst=1))
    assert check is not None
    noisy = f"Bearer {ALL}".encode()
    assert check("api", noisy) is None
    slot = check.holding
    assert slot is not None and slot.in_flight == 1
    reloaded = auth.for_config(_limited(concurrency=1, rps=0.01, burst=1), check)
    assert reloaded is not None
    refused = reloaded("api", noisy)  # the same limiter: its slot and bucket are used
    assert refused is not None and "concurrent requests" in refused[1]
    slot.release()  # the request admitted before the reload ends
    refused = reloaded("api", noisy)
    assert refused is not None and "requests per second" in refused[1]
    assert reloaded.admitted == {("api", ALL_ID): 1}  # counters carry over


def test_a_quota_in_the_file_is_validated() -> None:
    with pytest.raises(errors.UserError, match=r"quota\.rps"):
        _limited(rps=0)


def test_memory_stays_bounded_by_the_tokens_in_use() -> None:
    """10,000 tokens with a quota, each used once: their buckets are gone once refilled
    (none while a request holds one), and a token's counters go a grace after it left the
    config, while the live tokens' stay."""
    many = [tokens.new_token(i.to_bytes(6, "big"), b"s" * 32) for i in range(1, 10_001)]
    entries = [{**_entry(i, t), "quota": {"rps": 0.01, "burst": 1}} for i, t in many]
    check = auth.for_config(
        gwconfig.parse({"services": [{"name": "api", "auth": {"tokens": entries}}]})
    )
    assert check is not None and check.limiters == {}  # nothing held before any request
    for _, token in many:
        assert check("api", f"Bearer {token}".encode()) is None
        assert check.holding is not None
        check.holding.release()
    held = check("api", f"Bearer {many[0][1]}".encode())  # refused: its bucket is empty
    assert held is not None and held[0] == 429
    assert check("api", f"Bearer {many[1][1]}".encode()) is not None
    in_flight_id, in_flight = many[2]
    check.limiters[in_flight_id].requests.level = 1.0  # type: ignore[union-attr]
    assert check("api", f"Bearer {in_flight}".encode()) is None  # and not released yet
    assert len(check.limiters) == 10_000
    now = time.monotonic()
    check.prune(now)
    assert len(check.limiters) == 10_000  # none has refilled yet
    check.prune(now + 101.0)  # 100 s to refill at 0.01/s: all idle but the one in flight
    assert list(check.limiters) == [in_flight_id]
    assert check("api", f"Bearer {many[0][1]}".encode()) is None  # made again, full
    assert len(check.admitted) == 10_000

    # the config now holds 10 of the tokens: the others' counters go after the grace
    kept = gwconfig.parse({"services": [{"name": "api", "auth": {"tokens": entries[:10]}}]})
    reloaded = auth.for_config(kept, check)
    assert reloaded is not None
    reloaded.prune(now + 102.0)
    assert len(reloaded.admitted) == 10_000  # not yet: the control plane reads them first
    reloaded.prune(now + 102.0 + auth.GRACE + 1.0)
    assert set(reloaded.admitted) == {("api", i) for i, _ in many[:10]}
    assert set(reloaded.throttled) <= set(reloaded.admitted)
