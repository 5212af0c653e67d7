"""Usage from the gateway's counters: requests and model tokens per service and API token,
what grew between two scrapes, and rates for `/v1/quotas`."""

from __future__ import annotations

from crosscloud.adapters.store import memory
from crosscloud.controlplane import usage
from crosscloud.domain import cost

FIRST = """\
# TYPE crosscloud_gateway_requests_total counter
crosscloud_gateway_requests_total{service="chat",placement="local/a",status="200"} 10.0
crosscloud_gateway_requests_total{service="chat",placement="local/a",status="500"} 2.0
crosscloud_gateway_requests_total{service="echo",placement="local/a",status="200"} 5.0
# TYPE crosscloud_gateway_token_requests_total counter
crosscloud_gateway_token_requests_total{service="chat",token="aaaaaaaaaaaa"} 7.0
# TYPE crosscloud_gateway_token_throttled_total counter
crosscloud_gateway_token_throttled_total{service="chat",token="aaaaaaaaaaaa"} 3.0
# TYPE crosscloud_gateway_prompt_tokens_total counter
crosscloud_gateway_prompt_tokens_total{service="chat",upstream="r1",placement="local/a"} 100.0
crosscloud_gateway_prompt_tokens_total{service="chat",upstream="r2",placement="local/a"} 50.0
# TYPE crosscloud_gateway_completion_tokens_total counter
crosscloud_gateway_completion_tokens_total{service="chat",upstream="r1",placement="local/a"} 10.0
# TYPE crosscloud_gateway_token_prompt_tokens_total counter
crosscloud_gateway_token_prompt_tokens_total{service="chat",token="aaaaaaaaaaaa"} 60.0
# TYPE crosscloud_gateway_token_completion_tokens_total counter
crosscloud_gateway_token_completion_tokens_total{service="chat",token="aaaaaaaaaaaa"} 6.0
"""
# 10 s later: chat +20 requests (token +15), 429s +5, r1 +40 tokens (the token's +25),
# r2 gone (no reset)
SECOND = (
    FIRST.replace('token="aaaaaaaaaaaa"} 60.0', 'token="aaaaaaaaaaaa"} 80.0')
    .replace('token="aaaaaaaaaaaa"} 6.0', 'token="aaaaaaaaaaaa"} 11.0')
    .replace('status="200"} 10.0', 'status="200"} 30.0')
    .replace('token="aaaaaaaaaaaa"} 7.0', 'token="aaaaaaaaaaaa"} 22.0')
    .replace('token="aaaaaaaaaaaa"} 3.0', 'token="aaaaaaaaaaaa"} 8.0')
    .replace('upstream="r1",placement="local/a"} 100.0', 'upstream="r1",placement="local/a"} 140.0')
    .replace(
        'crosscloud_gateway_prompt_tokens_total{service="chat",upstream="r2",placement="local/a"}'
        " 50.0\n",
        "",
    )
)
OWNERS = {"chat": "shop", "echo": "shop"}


def test_parse_splits_requests_by_token() -> None:
    seen = usage.parse(FIRST)
    assert seen.requests == {("chat", "aaaaaaaaaaaa"): 7.0}
    assert seen.totals == {
        ("chat", "local/a", 200): 10.0,
        ("chat", "local/a", 500): 2.0,
        ("echo", "local/a", 200): 5.0,
    }
    assert seen.throttled == {("chat", "aaaaaaaaaaaa"): 3.0}
    assert seen.model == {("chat", "r1"): 110.0, ("chat", "r2"): 50.0}
    assert seen.token_model == {("chat", "aaaaaaaaaaaa"): 66.0}


def test_the_first_scrape_is_a_baseline_then_growth_is_stored() -> None:
    meter = usage.UsageMeter()
    assert meter.add(1000.0, usage.parse(FIRST), deployment_of=OWNERS) == []
    rows = meter.add(1010.0, usage.parse(SECOND), deployment_of=OWNERS)
    bucket = cost.bucket_of(1010.0)
    assert sorted(rows, key=lambda r: r.token) == [
        cost.Usage(bucket, "shop", "chat", "", requests=5, tokens=15),
        cost.Usage(bucket, "shop", "chat", "aaaaaaaaaaaa", requests=15, tokens=25),
    ]
    assert meter.rates()[("chat", "aaaaaaaaaaaa")] == {
        "rps": 1.5,
        "throttled_rps": 0.5,
        "tokens_per_minute": 150.0,  # 25 model tokens in 10 s
    }


def test_a_service_of_no_deployment_is_not_stored() -> None:
    meter = usage.UsageMeter()
    meter.add(0.0, usage.parse(FIRST), deployment_of={})
    assert meter.add(10.0, usage.parse(SECOND), deployment_of={}) == []


def test_buckets_past_the_retention_are_dropped_hourly() -> None:
    """The store keeps `cost.USAGE_KEEP` of usage: the daemon's sampling drops older
    buckets at its first pass, then once an hour (not at every 5 s scrape)."""
    store = memory.MemoryStore()
    day = 86400.0
    now = 200 * day
    store.add_usage(
        [cost.Usage(cost.bucket_of(now - d * day), "shop", "chat", requests=1) for d in range(150)]
    )
    meter = usage.UsageMeter()
    calls: list[float] = []

    def prune(*, before: float) -> int:
        calls.append(before)
        return store.prune_usage(before=before)

    for t in (now, now + 5.0, now + 3000.0, now + 3601.0):
        usage.sample(
            meter,
            "http://127.0.0.1:9",  # nothing listens: no scrape, the pruning still runs
            now=t,
            deployment_of=dict,
            store_usage=store.add_usage,
            prune_usage=prune,
        )
    assert len(calls) == 2
    kept = store.list_usage(since=0.0)
    assert len(kept) == 90  # days 0..89 of the 150
    assert min(u.bucket for u in kept) >= now + 3601.0 - cost.USAGE_KEEP - cost.BUCKET


def test_a_token_whose_counters_the_gateway_dropped_adds_nothing() -> None:
    """A revoked token's counters leave the gateway's /metrics a minute later: what it
    had sent is not counted again, for no token either."""
    meter = usage.UsageMeter()
    meter.add(1000.0, usage.parse(SECOND), deployment_of=OWNERS)
    dropped = "\n".join(line for line in SECOND.splitlines() if "aaaaaaaaaaaa" not in line)
    later = dropped.replace('status="200"} 30.0', 'status="200"} 33.0')  # 3 without a token
    rows = meter.add(1010.0, usage.parse(later), deployment_of=OWNERS)
    assert [(r.service, r.token, r.requests, r.tokens) for r in rows] == [("chat", "", 3, 0)]
