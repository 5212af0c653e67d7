"""The Kubernetes target (EKS, AKS, GKE): apply, wait, report and delete per placement.

Objects from `render.render_placement` are applied with server-side apply (field manager
`crosscloud`, forced, so a hand edit of a field we own is taken back: drift is repaired by
applying again). Rollouts are polled until every Deployment's controller has seen its
generation and all replicas are available. Reports are data: replica records, capacity
shortfalls and the Services' load-balancer addresses; deciding what to do is the caller's.
Every call names its placement; a failing cluster raises TargetError and affects no other.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from crosscloud import errors
from crosscloud.adapters.kubernetes import (
    api,
    clouds,
    meta,
    model,
    nodes,
    pods,
    resources,
    workload,
)
from crosscloud.domain import state, targets

MANAGER = "crosscloud"


@dataclass(frozen=True)
class Rollout:
    """The outcome of `wait_rollout` for one placement."""

    placement: str
    services: tuple[targets.ServiceRollout, ...]
    shortfalls: tuple[targets.CapacityShortfall, ...] = ()
    timed_out: bool = False

    @property
    def done(self) -> bool:
        return all(item.done for item in self.services)


Progress = Callable[[targets.ServiceRollout], None]


def _selector(deployment: str) -> str:
    return f"{meta.MANAGED_BY}={meta.MANAGER},{meta.DEPLOYMENT}={deployment}"


def _ours(obj: Mapping[str, Any], deployment: str) -> bool:
    labels = obj.get("metadata", {}).get("labels") or {}
    return bool(
        labels.get(meta.MANAGED_BY) == meta.MANAGER and labels.get(meta.DEPLOYMENT) == deployment
    )


def endpoint_url(service: Mapping[str, Any]) -> str | None:
    """`http://<load-balancer ip or hostname>:<port>`, or None while none is assigned."""
    ingress = service.get("status", {}).get("loadBalancer", {}).get("ingress") or []
    for item in ingress:
        address = item.get("ip") or item.get("hostname")
        if address:
            ports = service.get("spec", {}).get("ports") or [{}]
            return f"http://{address}:{ports[0].get('port', 80)}"
    return None


class KubernetesTarget:
    """Talks to each placement's cluster through its kubeconfig context (a
    `ports.ClusterTarget`)."""

    def __init__(
        self,
        *,
        kubeconfig: str | None = None,
        unschedulable_after: float = 120.0,
        timeout: tuple[float, float] = (5.0, 30.0),
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.unschedulable_after = unschedulable_after
        self.timeout = timeout
        self._clock = clock
        self._sleep = sleep
        self._connections: dict[tuple[str, str], api.Connection] = {}
        self._connecting = threading.Lock()  # placements are synced from threads of their own

    def connection(self, placement: model.RenderPlacement) -> api.Connection:
        where = api.Where.of(placement)
        key = (where.placement, where.context)
        with self._connecting:
            if key not in self._connections:
                self._connections[key] = api.Connection(
                    where, kubeconfig=self.kubeconfig, timeout=self.timeout
                )
            return self._connections[key]

    def apply(
        self, placement: model.RenderPlacement, objects: Sequence[Mapping[str, Any]]
    ) -> list[str]:
        """Server-side apply each object in order; returns `Kind ns/name` of each applied."""
        conn = self.connection(placement)
        applied = []
        for obj in objects:
            self._apply_one(conn, obj)
            applied.append(resources.describe(obj))
        return applied

    def _apply_one(self, conn: api.Connection, obj: Mapping[str, Any]) -> dict[str, Any]:
        return conn.apply(resources.object_path(obj), dict(obj), manager=MANAGER)

    def apply_many(
        self, batches: Mapping[model.RenderPlacement, Sequence[Mapping[str, Any]]]
    ) -> dict[str, list[str] | errors.TargetError]:
        """`apply` to every placement at once; a failing one gives its error, not an abort."""
        return _each(batches, lambda placement, objects: self.apply(placement, objects))

    def rollout(
        self, placement: model.RenderPlacement, *, services: Iterable[str]
    ) -> list[targets.ServiceRollout]:
        """One look at each service's Deployment."""
        conn = self.connection(placement)
        where = api.Where.of(placement).placement
        found = []
        for name in services:
            body = conn.maybe("GET", resources.DEPLOYMENT.path(name, placement.namespace))
            found.append(_progress(where, name, body))
        return found

    def wait_rollout(
        self,
        placement: model.RenderPlacement,
        *,
        deployment: str,
        services: Sequence[str],
        timeout: float,
        poll: float = 2.0,
        progress: Progress | None = None,
    ) -> Rollout:
        """Poll until all `services` are rolled out, some cannot be scheduled (a capacity
        shortfall, returned), or `timeout` seconds pass (`timed_out`)."""
        deadline = time.monotonic() + timeout
        last: dict[str, targets.ServiceRollout] = {}
        key = api.Where.of(placement).placement
        while True:
            seen = self.rollout(placement, services=services)
            for item in seen:
                if progress is not None and last.get(item.service) != item:
                    progress(item)
                last[item.service] = item
            if all(item.done for item in seen):
                return Rollout(key, tuple(seen))
            short = self.shortfalls(placement, deployment=deployment)
            if short:
                return Rollout(key, tuple(seen), tuple(short))
            if time.monotonic() >= deadline:
                return Rollout(key, tuple(seen), timed_out=True)
            self._sleep(poll)

    def list_pods(
        self, placement: model.RenderPlacement, *, deployment: str
    ) -> list[dict[str, Any]]:
        """The deployment's pods in this placement (raw objects)."""
        listed = self.connection(placement).request(
            "GET",
            resources.POD.collection(placement.namespace),
            query=[("labelSelector", f"{meta.DEPLOYMENT}={deployment}")],
        )
        return [item for item in listed.get("items", []) if _ours(item, deployment)]

    def shortfalls(
        self, placement: model.RenderPlacement, *, deployment: str
    ) -> list[targets.CapacityShortfall]:
        """Services whose pods have been Unschedulable longer than `unschedulable_after`."""
        return pods.shortfalls(
            self.list_pods(placement, deployment=deployment),
            placement=api.Where.of(placement).placement,
            now=self._clock(),
            after=self.unschedulable_after,
        )

    def replicas(
        self, placement: model.RenderPlacement, *, deployment: str, version: int = 0
    ) -> list[state.ReplicaRecord]:
        """Each pod as a ReplicaRecord (id `provider/region/pod-name`), ordered by id, with
        its capacity (the node's pool) and `preempt_at` set (now) when its node is going
        away (`nodes.going_away`)."""
        key = api.Where.of(placement).placement
        found = self.list_pods(placement, deployment=deployment)
        kube = clouds.kubernetes(placement.type)
        known = self._nodes(placement) if found else None
        now = self._clock()
        records = []
        for pod in found:
            record = pods.replica_record(
                pod, deployment=deployment, placement=key, version=version, port=_port(pod)
            )
            capacity, noticed = nodes.of_pod(pod, known, kube)
            records.append(
                dataclasses.replace(record, capacity=capacity, preempt_at=now if noticed else None)
            )
        return sorted(records, key=lambda record: record.id)

    def _nodes(self, placement: model.RenderPlacement) -> dict[str, nodes.Node] | None:
        """The cluster's nodes by name; None when this identity may not list them."""
        try:
            listed = self.connection(placement).request("GET", resources.NODE.collection(None))
        except errors.TargetError as exc:
            if "forbidden (403)" in str(exc):  # RBAC without nodes: no spot signals
                return None
            raise
        return nodes.by_name(listed)

    def delete_pods(self, placement: model.RenderPlacement, names: Iterable[str]) -> list[str]:
        """Delete pods gracefully (their Service stops sending to them, they get SIGTERM
        and their grace period); their Deployment starts replacements. Returns the names
        deleted (one already gone is skipped)."""
        conn, gone = self.connection(placement), []
        for name in names:
            if conn.maybe("DELETE", resources.POD.path(name, placement.namespace)) is not None:
                gone.append(name)
        return gone

    def observe(
        self, placement: model.RenderPlacement, records: Iterable[state.ReplicaRecord]
    ) -> list[state.ReplicaObservation]:
        """What each recorded replica's pod is doing now (GONE when the pod is not there)."""
        conn = self.connection(placement)
        seen = []
        for record in records:
            pod = None
            if record.pod:
                pod = conn.maybe("GET", resources.POD.path(record.pod, placement.namespace))
            seen.append(pods.observation(record.id, pod))
        return seen

    def pod_log(
        self,
        placement: model.RenderPlacement,
        pod: str,
        *,
        tail: int | None = None,
        since: str | None = None,
    ) -> list[targets.LogLine]:
        """The pod's log lines with the kubelet's timestamps: the last `tail` lines, or
        those written at or after `since` (RFC 3339), or all of them."""
        query = [("timestamps", "true")]
        if tail is not None:
            query.append(("tailLines", str(tail)))
        if since is not None:
            query.append(("sinceTime", since))
        path = resources.POD.path(pod, placement.namespace) + "/log"
        text = self.connection(placement).text(path, query=query)
        return [targets.LogLine(*line.partition(" ")[::2]) for line in text.splitlines() if line]

    def endpoints(
        self, placement: model.RenderPlacement, *, deployment: str
    ) -> dict[str, str | None]:
        """Per service, its load balancer's URL (None until the cloud assigns one)."""
        listed = self.connection(placement).request(
            "GET",
            resources.SERVICE.collection(placement.namespace),
            query=[("labelSelector", _selector(deployment))],
        )
        return {
            str(item["metadata"]["name"]): endpoint_url(item)
            for item in listed.get("items", [])
            if _ours(item, deployment)
        }

    def report(
        self, placement: model.RenderPlacement, *, deployment: str, version: int = 0
    ) -> targets.PlacementReport:
        """Replicas, capacity shortfalls and endpoints of one placement in one look."""
        return targets.PlacementReport(
            placement=api.Where.of(placement).placement,
            replicas=tuple(self.replicas(placement, deployment=deployment, version=version)),
            shortfalls=tuple(self.shortfalls(placement, deployment=deployment)),
            endpoints=self.endpoints(placement, deployment=deployment),
        )

    def report_many(
        self, placements: Iterable[model.RenderPlacement], *, deployment: str
    ) -> dict[str, targets.PlacementReport | errors.TargetError]:
        """`report` for every placement at once; an unreachable one gives its error."""
        return _each(
            {placement: () for placement in placements},
            lambda placement, _: self.report(placement, deployment=deployment),
        )

    def delete(self, placement: model.RenderPlacement, *, deployment: str) -> list[str]:
        """Delete the objects labelled as this deployment's, then its namespace if nothing
        else lives there. Returns `Kind ns/name` of each deleted object."""
        conn = self.connection(placement)
        kinds = [
            kind
            for kind in resources.OWNED
            if placement.mesh == "istio" or kind.group not in resources.ISTIO_GROUPS
        ]
        deleted = []
        for kind in kinds:
            listed = conn.maybe(
                "GET",
                kind.collection(placement.namespace),
                query=[("labelSelector", _selector(deployment))],
            )
            for item in (listed or {}).get("items", []):
                if not _ours(item, deployment):
                    continue
                name = str(item["metadata"]["name"])
                if conn.maybe("DELETE", kind.path(name, placement.namespace)) is not None:
                    deleted.append(f"{kind.kind} {placement.namespace}/{name}")
        if self._namespace_is_ours_alone(conn, placement, deployment):
            conn.maybe("DELETE", resources.NAMESPACE.path(placement.namespace, None))
            deleted.append(f"Namespace {placement.namespace}")
        return deleted

    def _namespace_is_ours_alone(
        self, conn: api.Connection, placement: model.RenderPlacement, deployment: str
    ) -> bool:
        namespace = conn.maybe("GET", resources.NAMESPACE.path(placement.namespace, None))
        if namespace is None or not _ours(namespace, deployment):
            return False
        for kind in (resources.DEPLOYMENT, resources.SERVICE, resources.POD):
            listed = conn.request("GET", kind.collection(placement.namespace))
            if any(not _ours(item, deployment) for item in listed.get("items", [])):
                return False
        return True

    def close(self) -> None:
        for conn in self._connections.values():
            conn.close()
        self._connections.clear()


def _port(pod: Mapping[str, Any]) -> int:
    for container in pod.get("spec", {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == workload.PORT_NAME:
                return int(port["containerPort"])
    return 8000


def _progress(placement: str, name: str, body: Mapping[str, Any] | None) -> targets.ServiceRollout:
    if body is None:
        return targets.ServiceRollout(
            placement, name, desired=1, updated=0, available=0, observed=False
        )
    spec, status = body.get("spec", {}), body.get("status", {})
    generation = int(body.get("metadata", {}).get("generation", 0))
    return targets.ServiceRollout(
        placement,
        name,
        desired=int(spec.get("replicas", 1)),
        updated=int(status.get("updatedReplicas", 0)),
        available=int(status.get("availableReplicas", 0)),
        observed=int(status.get("observedGeneration", 0)) >= generation,
    )


def _each(
    items: Mapping[model.RenderPlacement, Any],
    call: Callable[[model.RenderPlacement, Any], Any],
) -> dict[str, Any]:
    """Run `call` for every placement in parallel; a TargetError is that placement's result."""

    def one(placement: model.RenderPlacement) -> Any:
        try:
            return call(placement, items[placement])
        except errors.TargetError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=max(1, len(items))) as pool:
        results = list(pool.map(one, items))
    return {api.Where.of(p).placement: result for p, result in zip(items, results, strict=True)}
