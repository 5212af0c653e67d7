"""One service's replicas as the gateway sees them: health, ejection, load, idle
connections, counters; and the precomputed picking plan the hot path walks.

The plan (split groups -> failover levels -> available hosts, with Envoy's priority
loads) is rebuilt only when something changes (endpoints, a health flip, an ejection),
so a pick is a few list lookups and one policy call from `planning.routing`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from crosscloud import errors
from crosscloud.domain import policies
from crosscloud.gateway import config as gwconfig
from crosscloud.gateway import hold as gwhold
from crosscloud.planning import affinity, outlier, prefix, residency, routing

if TYPE_CHECKING:
    from crosscloud.adapters.security import tls
    from crosscloud.gateway.upstream import UpstreamConn

#: Idle upstream connections older than this are closed rather than reused: uvicorn drops
#: keep-alive connections after 5 s, and reusing one it is closing loses the request.
IDLE_TIMEOUT = 3.0
MAX_IDLE_PER_HOST = 128
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Host:
    """A replica: its address, state, load and pooled idle connections."""

    __slots__ = (
        "active",
        "completion_tokens",
        "connect_errors",
        "ejected",
        "ejections",
        "ewma",
        "failing",
        "hc_failures",
        "healthy",
        "id",
        "id_line",
        "idle",
        "models",
        "placement",
        "prompt_tokens",
        "running",
        "tls_session",
        "upstream",
        "waiting",
        "weight",
    )

    def __init__(self, upstream: gwconfig.Upstream) -> None:
        self.upstream = upstream
        self.id = upstream.id
        #: The last line of every response head it serves, built once.
        self.id_line = b"x-crosscloud-upstream: %b\r\n\r\n" % upstream.id.encode()
        self.placement = upstream.placement
        self.weight = float(upstream.weight)
        self.active = 0
        self.ewma = 0.0
        self.healthy = True  # the control plane only pushes ready replicas
        self.hc_failures = 0
        self.ejected = False
        #: False while the detector's count of consecutive errors for it is 0, so the
        #: request path can skip telling it about yet another success (see `record`).
        #: True at first: the detector may hold a count for this id from a former Host.
        self.failing = True
        self.idle: list[tuple[UpstreamConn, float]] = []
        #: The TLS session its last new connection saved, for the next one to resume.
        self.tls_session: tls.Saved | None = None
        self.connect_errors = 0
        self.ejections = 0
        #: From `usage` in its answers (gateway/llm.py).
        self.prompt_tokens = 0
        self.completion_tokens = 0
        #: What its `GET /v1/models` listed (health.py), and its engine's queue as its
        #: /metrics last said (vLLM's num_requests_waiting and _running); -1: not read.
        self.models: tuple[str, ...] = ()
        self.waiting = -1
        self.running = -1

    @property
    def available(self) -> bool:
        return self.healthy and not self.ejected and not self.upstream.draining

    def take_idle(self, now: float) -> UpstreamConn | None:
        """The most recently used idle connection still fresh enough to reuse."""
        idle = self.idle
        while idle:
            conn, since = idle.pop()
            if now - since < IDLE_TIMEOUT and not conn.closed:
                return conn
            conn.close()
        return None

    def put_idle(self, conn: UpstreamConn, now: float) -> None:
        if len(self.idle) >= MAX_IDLE_PER_HOST or self.upstream.draining:
            conn.close()
        else:
            self.idle.append((conn, now))

    def forget_idle(self, conn: UpstreamConn) -> None:
        self.idle = [(c, t) for c, t in self.idle if c is not conn]

    def close_idle(self) -> None:
        for conn, _ in self.idle:
            conn.close()
        self.idle = []


class _Level:
    __slots__ = ("counter", "hosts", "schedule")

    def __init__(self, hosts: list[Host]) -> None:
        self.hosts = hosts
        self.schedule = (
            routing.smooth_weighted_schedule([max(1, int(h.weight)) for h in hosts])
            if hosts
            else []
        )
        self.counter = 0


class _Group:
    __slots__ = ("levels", "loads", "weight")

    def __init__(self, levels: list[_Level], loads: list[float], weight: float) -> None:
        self.levels = levels
        self.loads = loads
        self.weight = weight


#: The plan of a zone the service does not declare: nothing may serve it.
_NOWHERE: tuple[list[_Group], list[float]] = ([], [])


class Cluster:
    """A service's hosts, outlier detector, retry accounting and picking plan."""

    def __init__(self, service: gwconfig.ServiceConfig, *, rng: random.Random) -> None:
        self.config = service
        self.name = service.name
        self.rng = rng
        self.detector = outlier.OutlierDetector(service.outlier)
        self.hosts: dict[str, Host] = {}
        self.active = 0
        self.active_retries = 0
        self.retries = 0
        self.retries_overflow = 0
        #: Metrics, updated in place on the hot path and read by the /metrics collector.
        self.by_key: dict[tuple[str, int], int] = {}
        #: Per placement that answered ("" when none did): a count per latency bucket
        #: (+Inf last) and then the summed seconds; see `latency_of`.
        self.latency: dict[str, list[float]] = {}
        self.groups: list[_Group] = []
        self.group_weights: list[float] = []
        #: Residency zones (name -> placements) and each zone's own picking plan, built
        #: from the hosts `residency.may_serve` allows: a zoned pick never sees the rest.
        self.zones: dict[str, tuple[str, ...]] = dict(service.residency)
        self.zoned: dict[str, tuple[list[_Group], list[float]]] = {}
        self.on_change: Callable[[], None] | None = None
        self._pick_in_level = self._policy(service.policy)
        #: Only the latency policy reads the response-time EWMA; others skip keeping it.
        self.tracks_latency = service.policy == "latency"
        #: Requests waiting while the service has no replica (scale from zero).
        self.held = gwhold.HoldQueue(self, service.hold)
        #: Prefix-affinity: recent prompts per replica, and the request being routed.
        self.prefixes = prefix.PrefixIndex(capacity=service.affinity_capacity)
        self.prefix_key: list[int] | None = None
        self.affinity_counts = dict.fromkeys(affinity.Reason, 0)
        self.prompt_tokens = 0
        self.completion_tokens = 0
        #: Ids of its replicas that refused a stream asking for `usage` and took the
        #: client's own request (gateway/llmexchange.py): not asked again.
        self.plain_streams: set[str] = set()
        self.set_endpoints(service.upstreams)

    def latency_of(self, placement: str) -> list[float]:
        """The histogram of `placement`, made on its first request."""
        counts = self.latency[placement] = [0.0] * (len(LATENCY_BUCKETS) + 2)
        return counts

    @property
    def latency_sum(self) -> float:
        """Seconds spent on finished requests, every placement together."""
        return sum(counts[-1] for counts in list(self.latency.values()))

    def reconfigure(self, service: gwconfig.ServiceConfig) -> None:
        """New policies for the same service; hosts keep their state and connections."""
        self.config = service
        self.zones = dict(service.residency)
        self.detector.config = service.outlier
        self._pick_in_level = self._policy(service.policy)
        self.tracks_latency = service.policy == "latency"
        self.held.config = service.hold
        if service.affinity_capacity != self.prefixes.capacity:
            self.prefixes = prefix.PrefixIndex(capacity=service.affinity_capacity)
        for host in self.set_endpoints(service.upstreams):
            host.close_idle()

    def served_models(self) -> set[str]:
        """The models declared for it, else the ones its replicas list."""
        if self.config.models:
            return set(self.config.models)
        return {m for h in self.hosts.values() for m in h.models}

    def _prefix_affinity(self, level: _Level) -> Host:
        """Prefix-affinity within a level the locality filters left (planning/affinity.py);
        the chosen replica is noted as holding the prompt at once, as SGLang's router does,
        so that the next request with the same prefix follows it while this one runs."""
        hashes, hosts = self.prefix_key, level.hosts
        if not hashes:
            return hosts[routing.pick_least_request(hosts, self.rng)]
        found = self.prefixes.match(hashes)
        matched = [found.get(h.id, 0) for h in hosts]
        sizes = [self.prefixes.blocks(h.id) for h in hosts]
        i, reason = affinity.pick(
            hosts, matched, len(hashes), self.rng, self.config.affinity, sizes
        )
        self.affinity_counts[reason] += 1
        host = hosts[i]
        self.prefixes.insert(host.id, hashes)
        return host

    def _policy(self, name: policies.Policy) -> Callable[[_Level], Host]:
        """The picker of policy `name`, chosen when the service is configured. Every name of
        `routing.POLICIES` has one; any other is refused, never replaced by a default."""
        rng = self.rng

        def round_robin(level: _Level) -> Host:
            level.counter += 1
            return level.hosts[routing.pick_round_robin(level.schedule, level.counter)]

        def least_request(level: _Level) -> Host:
            return level.hosts[routing.pick_least_request(level.hosts, rng)]

        def latency(level: _Level) -> Host:
            return level.hosts[routing.pick_latency(level.hosts, rng)]

        pickers: dict[policies.Policy, Callable[[_Level], Host]] = {
            "round-robin": round_robin,
            "least-request": least_request,
            "latency": latency,
            "prefix-affinity": self._prefix_affinity,
        }
        picker = pickers.get(name)
        if picker is None:
            raise errors.UserError(f"service {self.name!r}: {policies.unknown(name)}")
        return picker

    def set_endpoints(self, upstreams: Iterable[gwconfig.Upstream]) -> list[Host]:
        """Replace the upstream set; known ids keep their state. Returns removed hosts."""
        new: dict[str, Host] = {}
        for up in upstreams:
            host = self.hosts.get(up.id)
            if host is None or (host.upstream.host, host.upstream.port) != (up.host, up.port):
                host = Host(up)
            else:
                host.upstream, host.placement, host.weight = up, up.placement, float(up.weight)
            new[up.id] = host
        removed = [h for i, h in self.hosts.items() if new.get(i) is not h]
        self.hosts = new
        self.prefixes.forget(h.id for h in removed if h.id not in new)
        self.detector.set_hosts(list(new))
        for host in new.values():
            host.ejected = self.detector.is_ejected(host.id)
        self.rebuild()
        return removed

    def rebuild(self) -> None:
        """Recompute the picking plan after any change of health, ejection or endpoints."""
        live = [h for h in self.hosts.values() if not h.upstream.draining]
        self.groups, self.group_weights = self._plan(live)
        #: Whether `/v1/*` requests to it have their body read (models, prefixes, tokens).
        self.llm = (
            bool(self.config.models)
            or self.config.policy == "prefix-affinity"
            or any(h.models for h in self.hosts.values())
        )
        zones = self.zones
        self.zoned = {
            zone: self._plan([h for h in live if residency.may_serve(h.placement, zone, zones)])
            for zone in zones
        }
        if self.on_change is not None:
            self.on_change()
        if self.held.waiting and any(lv.hosts for g in self.groups for lv in g.levels):
            self.held.release()

    def _plan(self, live: list[Host]) -> tuple[list[_Group], list[float]]:
        """Split groups over `live` hosts, and each group's weight (0 while it has none)."""
        keys: list[str | None] = [k for k, _ in self.config.split] or [None]
        groups = []
        for key in keys:
            members = [h for h in live if key is None or key in (h.upstream.version, h.placement)]
            groups.append(self._group(members, dict(self.config.split).get(key or "", 1.0)))
        return groups, [g.weight if any(lv.hosts for lv in g.levels) else 0 for g in groups]

    def _group(self, members: list[Host], weight: float) -> _Group:
        order = self.config.failover
        ranks = sorted({routing.failover_rank(h.placement, order) for h in members}) or [0]
        levels, counts = [], []
        for rank in ranks:
            at = [h for h in members if routing.failover_rank(h.placement, order) == rank]
            up = [h for h in at if h.available]
            levels.append(_Level(up))
            counts.append((len(up), len(at)))
        return _Group(levels, routing.priority_loads(counts), weight)

    def pick(self, exclude: list[Host] | None = None, zone: str | None = None) -> Host | None:
        """The host for the next try; never one in `exclude`, never one outside `zone`
        (a residency zone); None when none is left."""
        if zone is None:
            groups, weights = self.groups, self.group_weights
        else:
            groups, weights = self.zoned.get(zone) or _NOWHERE
            if not groups:
                return None
        one = len(groups) == 1
        group = groups[0] if one else groups[routing.pick_weighted(weights, self.rng)]
        levels = group.levels
        level = levels[0] if len(levels) == 1 else levels[routing.pick_level(group.loads, self.rng)]
        if level.hosts and not exclude:
            return self._pick_in_level(level)
        return self._pick_excluding(exclude or [], groups)

    def _pick_excluding(self, exclude: list[Host], groups: list[_Group]) -> Host | None:
        for group in groups:
            for level in group.levels:
                rest = [h for h in level.hosts if h not in exclude]
                if rest:
                    return self._pick_in_level(_Level(rest))
        return None

    def record(self, host: Host, result: outlier.Outcome, now: float) -> None:
        """Feed one try's outcome to outlier detection; eject at once when it says so."""
        if host.ejected:
            return
        host.failing = result is not outlier.Outcome.SUCCESS
        decision = self.detector.record(host.id, result, now=now)
        if decision is not None:
            host.ejected = True
            host.ejections += 1
            host.close_idle()
            self.rebuild()

    def sweep(self, now: float) -> None:
        """The outlier interval: ejected hosts whose time is up come back."""
        back = self.detector.sweep(now=now)
        for host_id in back:
            self.hosts[host_id].ejected = False
        if back:
            self.rebuild()
