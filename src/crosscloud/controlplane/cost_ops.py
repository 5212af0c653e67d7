"""`GET /v1/cost` and `GET /v1/quotas`: the ledger and usage as plain data for
`crosscloud cost` and the dashboard.

Cost over a window is each billing interval's overlap with it times its price; requests
are the usage buckets that overlap it (5-minute buckets, so a window is exact to 5
minutes for requests and to the second for dollars). Cost by token splits each service's
cost over the window in proportion to the model tokens each API token used there (`usage`
of OpenAI answers), or, for a service that counted none, to the requests each sent it
(what no token accounts for, e.g. an open service's, is token "")."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from crosscloud import errors
from crosscloud.controlplane import costs, token_ops, usage
from crosscloud.controlplane.shared import Shared
from crosscloud.domain import cost, quantity
from crosscloud.planning import ledger

BY = ("service", "placement", "cloud", "deployment", "token")
DEFAULT_SINCE = 24 * 3600.0


def since_seconds(value: str | None) -> float:
    """`24h`, `30m`, `7d`, `90s` -> seconds; UserError for anything else."""
    if not value:
        return DEFAULT_SINCE
    text = value.strip()
    days = text.endswith("d") and text[:-1].replace(".", "", 1).isdigit()
    try:
        seconds = float(text[:-1]) * 86400 if days else quantity.parse_duration(text)
    except (ValueError, TypeError) as exc:
        raise errors.UserError(f"--since {value!r}: {exc} (e.g. 90m, 24h, 7d)") from None
    if seconds <= 0:
        raise errors.UserError(f"--since {value!r} must be more than 0")
    return seconds


def report(shared: Shared, query: Mapping[str, Any]) -> dict[str, Any]:
    """The cost over `since` (a duration, default 24h) grouped `by` one of BY."""
    by = str(query.get("by") or "service")
    if by not in BY:
        raise errors.UserError(f"--by {by!r} is not one of {', '.join(BY)}")
    window = since_seconds(query.get("since"))
    with shared.lock:
        now = shared.clock()
        since = now - window
        intervals = costs.current(shared, since=since, now=now)  # up to this second
        used = shared.store.list_usage(since=since)
        names = {t.id: t.name for t in shared.store.list_tokens()}
    if by == "token":
        rows = _by_token(intervals, used, since, now, names)
    else:
        rows = _rows(intervals, used, by=by, since=since, until=now)
    return {
        "currency": "USD",
        "by": by,
        "since": since,
        "until": now,
        "total": sum(r["cost"] for r in rows),
        "hourly": sum(i.price_hour for i in intervals if i.end is None),
        "rows": rows,
    }


def _rows(
    intervals: Sequence[cost.Interval],
    used: Sequence[cost.Usage],
    *,
    by: str,
    since: float,
    until: float,
) -> list[dict[str, Any]]:
    spent = ledger.totals(intervals, by=by, since=since, until=until)
    rate = ledger.hourly(intervals, by=by)
    requests: dict[str, int] = defaultdict(int)
    tokens: dict[str, int] = defaultdict(int)
    if by in ("service", "deployment"):
        for u in used:
            key = f"{u.deployment}/{u.service}" if by == "service" else u.deployment
            requests[key] += u.requests
            tokens[key] += u.tokens
    out = []
    for key in sorted(set(spent) | set(rate) | set(requests)):
        amount = spent.get(key, 0.0)
        out.append(_row(key, amount, rate.get(key, 0.0), requests.get(key), tokens.get(key)))
    return out


def _row(
    key: str, amount: float, hourly: float, requests: int | None, tokens: int | None
) -> dict[str, Any]:
    return {
        "key": key,
        "cost": amount,
        "hourly": hourly,
        "requests": requests,
        "tokens": tokens or None,
        "per_1k_requests": ledger.per_unit(amount, requests or 0, scale=1_000),
        "per_million_tokens": ledger.per_unit(amount, tokens or 0, scale=1_000_000),
    }


def _by_token(
    intervals: Sequence[cost.Interval],
    used: Sequence[cost.Usage],
    since: float,
    until: float,
    names: Mapping[str, str],
) -> list[dict[str, Any]]:
    """Each service's cost split by its tokens' model tokens (by their requests where it
    counted none); one row per token."""
    spent = ledger.totals(intervals, by="service", since=since, until=until)
    by_requests: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    by_tokens: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    requests: dict[str, int] = defaultdict(int)
    tokens: dict[str, int] = defaultdict(int)
    for u in used:
        service = f"{u.deployment}/{u.service}"
        by_requests[service][u.token] += u.requests
        by_tokens[service][u.token] += u.tokens
        requests[u.token] += u.requests
        tokens[u.token] += u.tokens
    amounts: dict[str, float] = defaultdict(float)
    for service, amount in spent.items():
        model = by_tokens.get(service, {})
        shares = model if sum(model.values()) > 0 else by_requests.get(service, {})
        for token, part in ledger.split_by_share(amount, shares).items():
            amounts[token] += part
    out = []
    for token in sorted(set(amounts) | set(requests)):
        row = _row(token, amounts.get(token, 0.0), 0.0, requests.get(token), tokens.get(token))
        row["name"] = names.get(token, "no token" if token == "" else "")
        out.append(row)
    return out


def quotas(shared: Shared, meter: usage.UsageMeter, query: Mapping[str, Any]) -> dict[str, Any]:
    """Every active token's quota and its last measured rates (requests and 429s per
    second, model tokens per minute), per service it called."""
    deployment = query.get("deployment") or None
    with shared.lock:
        found = [t for t in shared.store.list_tokens(deployment=deployment) if t.active]
    rates = meter.rates()
    out = []
    for record in found:
        seen = {s: r for (s, t), r in rates.items() if t == record.id}
        out.append(
            {
                **token_ops.describe(record),
                "quota": record.quota.as_dict(),
                "rps": sum(r["rps"] for r in seen.values()),
                "throttled_rps": sum(r["throttled_rps"] for r in seen.values()),
                "tokens_per_minute": sum(r["tokens_per_minute"] for r in seen.values()),
                "by_service": seen,
            }
        )
    return {"tokens": out}


def metrics(shared: Shared) -> bytes:
    """Prometheus text: dollars spent since the ledger began (a counter) and the burn rate
    (a gauge), by deployment, service, placement, cloud and capacity."""
    with shared.lock:
        now = shared.clock()
        intervals = costs.current(shared, since=0.0, now=now)
    spent: dict[tuple[str, ...], float] = defaultdict(float)
    rate: dict[tuple[str, ...], float] = defaultdict(float)
    for i in intervals:
        key = (i.deployment, i.service, i.placement, i.cloud, i.capacity)
        spent[key] += i.cost(since=i.start, until=now)
        rate[key] += i.price_hour if i.end is None else 0.0
    names = ("deployment", "service", "placement", "cloud", "capacity")
    lines = [
        "# HELP crosscloud_cost_usd_total US dollars spent on replicas, from the cost ledger.",
        "# TYPE crosscloud_cost_usd_total counter",
    ]
    lines += [
        f"crosscloud_cost_usd_total{_labels(names, k)} {v!r}" for k, v in sorted(spent.items())
    ]
    lines += [
        "# HELP crosscloud_cost_usd_per_hour US dollars per hour of the replicas running now.",
        "# TYPE crosscloud_cost_usd_per_hour gauge",
    ]
    lines += [
        f"crosscloud_cost_usd_per_hour{_labels(names, k)} {v!r}" for k, v in sorted(rate.items())
    ]
    return ("\n".join(lines) + "\n").encode()


def _labels(names: Sequence[str], values: Sequence[str]) -> str:
    def escape(v: str) -> str:
        return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    return "{" + ",".join(f'{n}="{escape(v)}"' for n, v in zip(names, values, strict=True)) + "}"
