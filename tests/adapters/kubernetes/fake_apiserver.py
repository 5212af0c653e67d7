"""An in-process fake Kubernetes API server at the HTTP boundary, for the client's tests.

A threaded HTTP server on 127.0.0.1 (free port) answering the real REST paths for
namespaces, services, pods, deployments, HPAs, PDBs and Istio VirtualServices and
DestinationRules, with: bearer-token auth (401), forbidden namespaces (403), Istio's API
present or absent (404), server-side apply (create or merge, `managedFields` recording the
field manager, conflicts with other managers unless forced), resourceVersion conflicts
(409), a Deployment "controller" that creates pods which stay Pending (Unschedulable) or
turn Running when the test says so, load-balancer addresses on Services, and pods' logs
(`pods/NAME/log` with timestamps, tailLines and sinceTime, as text) that tests write.

Every body it receives is validated with `validate` (kubernetes-validate 1.30 strict, and
Istio's CRD schemas); an invalid one gets 422 and is kept in `invalid` for the test.
"""

from __future__ import annotations

import copy
import datetime
import itertools
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Validate = Callable[[dict[str, Any]], list[str]]
CORE = (
    "v1",
    {
        "namespaces": "Namespace",
        "services": "Service",
        "pods": "Pod",
        "nodes": "Node",
        "secrets": "Secret",
    },
)
GROUPS = {
    "apps/v1": {"deployments": "Deployment"},
    "autoscaling/v2": {"horizontalpodautoscalers": "HorizontalPodAutoscaler"},
    "policy/v1": {"poddisruptionbudgets": "PodDisruptionBudget"},
    "networking.istio.io/v1": {
        "virtualservices": "VirtualService",
        "destinationrules": "DestinationRule",
    },
    "security.istio.io/v1": {"peerauthentications": "PeerAuthentication"},
}


def rfc3339(when: datetime.datetime) -> str:
    return when.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message


def merge(old: Any, new: Any) -> Any:
    """Apply's effect on the fields we send: maps merge, everything else is replaced."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = dict(old)
        for key, value in new.items():
            out[key] = merge(old.get(key), value)
        return out
    return copy.deepcopy(new)


class FakeCluster:
    """One fake cluster. Knobs are plain attributes the test sets between calls."""

    def __init__(
        self, *, token: str, validate: Validate, lb_address: str | None = None, istio: bool = True
    ) -> None:
        self.token = token
        self.validate = validate
        self.lb_address = lb_address
        self.istio = istio
        self.schedulable = True  # new pods get scheduled (else: Pending, Unschedulable)
        self.start_ready = True  # scheduled pods turn Running and Ready at once
        self.unschedulable_since = datetime.datetime.now(datetime.UTC)
        self.forbidden_namespaces: set[str] = set()
        self.logs_forbidden = False  # RBAC without pods/log
        self.apply_gate: threading.Event | None = None  # applies wait until it is set
        self.conflicts = 0  # answer the next N applies with 409
        self.status_lag = 0  # Deployment reads that still show the previous generation
        self.objects: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        self.requests: list[tuple[str, str, str]] = []  # (method, path, content type)
        self.invalid: list[str] = []
        self.logs: dict[tuple[str, str], list[tuple[datetime.datetime, str]]] = {}
        self._owner: dict[tuple[str, str, str, str], str] = {}  # pod -> its Deployment
        self._lock = threading.RLock()
        self._versions = itertools.count(1)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeCluster:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    # --- what tests inspect and command -------------------------------------------------

    def get(self, api: str, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            found = self.objects.get((api, plural, namespace, name))
            return copy.deepcopy(found) if found else None

    def names(self, api: str, plural: str, namespace: str = "") -> list[str]:
        with self._lock:
            return sorted(
                k[3] for k in self.objects if k[:2] == (api, plural) and k[2] == namespace
            )

    # --- nodes: a cluster with none schedules every pod nowhere in particular; once a
    # test adds nodes, pods go to the matching node with the fewest pods ---------------

    def add_node(
        self, name: str, labels: dict[str, str], taints: tuple[dict[str, str], ...] = ()
    ) -> None:
        with self._lock:
            self.objects[("v1", "nodes", "", name)] = {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": name, "labels": {"kubernetes.io/os": "linux", **labels}},
                "spec": {"taints": [dict(t) for t in taints]},
            }

    def taint_node(self, name: str, key: str, effect: str = "NoSchedule") -> None:
        """What a cloud does when it takes a spot node back: a taint first..."""
        with self._lock:
            spec = self.objects[("v1", "nodes", "", name)]["spec"]
            spec["taints"] = [*spec.get("taints", []), {"key": key, "effect": effect}]

    def delete_node(self, name: str) -> None:
        """...then the node is gone, and the pods still on it with it (their Deployments
        start replacements)."""
        with self._lock:
            self.objects.pop(("v1", "nodes", "", name), None)
            for key in [k for k, p in self.objects.items() if k[1] == "pods"]:
                if self.objects[key]["spec"].get("nodeName") == name:
                    self._delete(key)

    def pods_on(self, node: str) -> list[str]:
        with self._lock:
            return sorted(
                k[3]
                for k, p in self.objects.items()
                if k[1] == "pods" and p["spec"].get("nodeName") == node
            )

    def _schedule(self, pod: dict[str, Any]) -> bool:
        """Put `pod` on a node its selector matches and whose NoSchedule taints it
        tolerates, the one with the fewest pods; False when there is none."""
        found = [o for k, o in self.objects.items() if k[1] == "nodes"]
        if not found:
            return True
        spec = pod["spec"]
        selector = spec.get("nodeSelector", {})
        tolerated = {(t.get("key"), t.get("value")) for t in spec.get("tolerations", [])}
        exists = {
            t.get("key") for t in spec.get("tolerations", []) if t.get("operator") == "Exists"
        }
        fits = []
        for node in found:
            labels = node["metadata"]["labels"]
            if any(labels.get(k) != v for k, v in selector.items()):
                continue
            taints = node["spec"].get("taints", [])
            if all(t["key"] in exists or (t["key"], t.get("value")) in tolerated for t in taints):
                fits.append(node["metadata"]["name"])
        if not fits:
            return False
        spec["nodeName"] = min(fits, key=lambda n: (len(self.pods_on(n)), n))
        return True

    def run_pods(self) -> None:
        """Every pod gets scheduled and turns Running and Ready (the cluster found capacity)."""
        with self._lock:
            self.schedulable, self.start_ready = True, True
            for key, pod in self.objects.items():
                if key[1] == "pods":
                    self._set_pod_status(pod)

    def edit(
        self,
        api: str,
        plural: str,
        namespace: str,
        name: str,
        change: dict[str, Any],
        *,
        manager: str,
    ) -> None:
        """Someone else (kubectl) updates an object: fields merged, an Update managedFields entry."""
        with self._lock:
            obj = self.objects[(api, plural, namespace, name)]
            self.objects[(api, plural, namespace, name)] = self._store(
                merge(obj, change), manager=manager, operation="Update", old=obj
            )

    def write_log(self, namespace: str, pod: str, *lines: str) -> None:
        """The pod's container prints `lines` now, each at its own time (the kubelet's
        nanosecond stamps; here microseconds, moved on by one where the clock has not)."""
        with self._lock:
            kept = self.logs.setdefault((namespace, pod), [])
            for line in lines:
                at = datetime.datetime.now(datetime.UTC)
                if kept and at <= kept[-1][0]:
                    at = kept[-1][0] + datetime.timedelta(microseconds=1)
                kept.append((at, line))

    def remove(self, api: str, plural: str, namespace: str, name: str) -> None:
        """Someone deletes an object behind crosscloud's back."""
        with self._lock:
            self._delete((api, plural, namespace, name))

    # --- request handling ---------------------------------------------------------------

    def handle(
        self, method: str, raw_path: str, headers: Any, body: bytes
    ) -> tuple[int, dict[str, Any] | str]:
        parts = urlsplit(raw_path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        self.requests.append((method, parts.path, str(headers.get("Content-Type", ""))))
        try:
            if headers.get("Authorization") != f"Bearer {self.token}":
                raise ApiError(401, "Unauthorized", "Unauthorized")
            if method == "PATCH" and self.apply_gate is not None:
                self.apply_gate.wait(timeout=120)
            log = method == "GET" and parts.path.endswith("/log")
            api, plural, namespace, name = self._route(parts.path.removesuffix("/log"))
            if namespace in self.forbidden_namespaces:
                raise ApiError(
                    403,
                    "Forbidden",
                    f'{plural} is forbidden: User "tester" cannot {method.lower()} resource'
                    f' "{plural}" in the namespace "{namespace}"',
                )
            with self._lock:
                if log:
                    return 200, self._log(plural, namespace, name, query)
                return 200, self._dispatch(
                    method, (api, plural, namespace, name), query, headers, body
                )
        except ApiError as exc:
            return exc.code, {
                "kind": "Status",
                "apiVersion": "v1",
                "status": "Failure",
                "message": exc.message,
                "reason": exc.reason,
                "code": exc.code,
            }

    def _log(self, plural: str, namespace: str, name: str, query: dict[str, str]) -> str:
        """The kubelet's answer to `kubectl logs`: lines, oldest first, each prefixed by
        its RFC 3339 time with nanoseconds (trailing zeros dropped) when asked."""
        if self.logs_forbidden:
            raise ApiError(
                403,
                "Forbidden",
                f'pods "{name}" is forbidden: User "tester" cannot get resource "pods/log"'
                f' in API group "" in the namespace "{namespace}"',
            )
        pod = self._existing(("v1", plural, namespace, name)) if plural == "pods" else None
        if pod is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        status = pod.get("status", {})
        if status.get("phase") != "Running":
            scheduled = {"type": "PodScheduled", "status": "True"} in status.get("conditions", [])
            container = pod["spec"]["containers"][0]["name"]
            raise ApiError(
                400,
                "BadRequest",
                f'container "{container}" in pod "{name}" is waiting to start: ContainerCreating'
                if scheduled
                else f"pod {name} does not have a host assigned",
            )
        lines = self.logs.get((namespace, name), [])
        if "sinceTime" in query:
            since = datetime.datetime.fromisoformat(query["sinceTime"][:26].rstrip("Z") + "+00:00")
            lines = [line for line in lines if line[0] >= since]
        if "tailLines" in query:
            count = int(query["tailLines"])
            lines = lines[len(lines) - count :] if count else []
        stamps = query.get("timestamps") == "true"
        return "".join(
            (f"{at.strftime('%Y-%m-%dT%H:%M:%S.%f').rstrip('0').rstrip('.')}Z " if stamps else "")
            + f"{text}\n"
            for at, text in lines
        )

    def _route(self, path: str) -> tuple[str, str, str, str]:
        parts = path.strip("/").split("/")
        if parts[:2] == ["api", "v1"]:
            api, rest, plurals = "v1", parts[2:], CORE[1]
        elif parts[0] == "apis" and len(parts) >= 3 and f"{parts[1]}/{parts[2]}" in GROUPS:
            api, rest = f"{parts[1]}/{parts[2]}", parts[3:]
            plurals = GROUPS[api]
            if ".istio.io/" in api and not self.istio:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        namespace = ""
        if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] in plurals:
            namespace, rest = rest[1], rest[2:]
        if not rest or rest[0] not in plurals or len(rest) > 2:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return api, rest[0], namespace, rest[1] if len(rest) == 2 else ""

    def _dispatch(
        self,
        method: str,
        key: tuple[str, str, str, str],
        query: dict[str, str],
        headers: Any,
        body: bytes,
    ) -> dict[str, Any]:
        api, plural, namespace, name = key
        if method == "GET" and not name:
            return self._list(api, plural, namespace, query.get("labelSelector", ""))
        if method == "GET":
            return self._status_view(self._existing(key))
        if method == "DELETE":
            self._existing(key)
            self._delete(key)
            return {"kind": "Status", "apiVersion": "v1", "status": "Success", "code": 200}
        if method == "PATCH":
            if headers.get("Content-Type") != "application/apply-patch+yaml":
                raise ApiError(415, "UnsupportedMediaType", "only server-side apply is served")
            return self._apply(key, json.loads(body), query)
        raise ApiError(405, "MethodNotAllowed", f"{method} is not served by the fake")

    def _existing(self, key: tuple[str, str, str, str]) -> dict[str, Any]:
        found = self.objects.get(key)
        if found is None:
            raise ApiError(404, "NotFound", f'{key[1]} "{key[3]}" not found')
        return found

    def _list(self, api: str, plural: str, namespace: str, selector: str) -> dict[str, Any]:
        wanted = dict(item.split("=", 1) for item in selector.split(",") if item)
        items = []
        for key, obj in sorted(self.objects.items()):
            if key[:2] != (api, plural) or (namespace and key[2] != namespace):
                continue
            labels = obj["metadata"].get("labels", {})
            if all(labels.get(k) == v for k, v in wanted.items()):
                items.append(self._status_view(obj))
        return {
            "kind": f"{CORE[1].get(plural) or plural}List",
            "apiVersion": api,
            "metadata": {},
            "items": items,
        }

    def _apply(
        self, key: tuple[str, str, str, str], body: dict[str, Any], query: dict[str, str]
    ) -> dict[str, Any]:
        api, plural, namespace, name = key
        problems = self.validate(body)
        meta = body.get("metadata", {})
        kind = GROUPS.get(api, CORE[1]).get(plural)
        if body.get("apiVersion") != api or body.get("kind") != kind or meta.get("name") != name:
            problems.append(f"body {body.get('kind')} {meta.get('name')} does not match the URL")
        if namespace and meta.get("namespace") not in (None, namespace):
            problems.append("metadata.namespace does not match the URL")
        if problems:
            self.invalid.extend(problems)
            raise ApiError(422, "Invalid", "; ".join(problems))
        if namespace and ("v1", "namespaces", "", namespace) not in self.objects:
            raise ApiError(404, "NotFound", f'namespaces "{namespace}" not found')
        if self.conflicts > 0:
            self.conflicts -= 1
            raise ApiError(
                409,
                "Conflict",
                "the object has been modified; please apply your changes to the latest version and try again",
            )
        old = self.objects.get(key)
        manager = query.get("fieldManager", "")
        if old is not None:
            if (
                "resourceVersion" in meta
                and meta["resourceVersion"] != old["metadata"]["resourceVersion"]
            ):
                raise ApiError(409, "Conflict", "the object has been modified")
            others = [
                m["manager"]
                for m in old["metadata"].get("managedFields", [])
                if m["manager"] != manager and m["operation"] == "Update"
            ]
            if others and query.get("force") != "true":
                raise ApiError(
                    409, "Conflict", f'Apply failed with 1 conflict: conflict with "{others[0]}"'
                )
        merged = merge(old or {}, body)
        stored = self._store(merged, manager=manager, operation="Apply", old=old)
        self.objects[key] = stored
        if plural == "deployments":
            self._reconcile_pods(stored)
        return self._status_view(stored)

    def _store(
        self, obj: dict[str, Any], *, manager: str, operation: str, old: dict[str, Any] | None
    ) -> dict[str, Any]:
        meta = obj.setdefault("metadata", {})
        now = rfc3339(datetime.datetime.now(datetime.UTC))
        if old is None:
            meta["uid"] = f"uid-{next(self._versions)}"
            meta["creationTimestamp"] = now
            meta["generation"] = 1
        elif old.get("spec") != obj.get("spec"):
            meta["generation"] = int(old["metadata"].get("generation", 1)) + 1
        meta["resourceVersion"] = str(next(self._versions))
        fields = [m for m in meta.get("managedFields", []) if m["manager"] != manager]
        fields.append(
            {
                "manager": manager,
                "operation": operation,
                "apiVersion": obj.get("apiVersion"),
                "time": now,
                "fieldsType": "FieldsV1",
                "fieldsV1": {},
            }
        )
        meta["managedFields"] = fields
        return obj

    def _status_view(self, obj: dict[str, Any]) -> dict[str, Any]:
        view = copy.deepcopy(obj)
        kind = view.get("kind")
        if kind == "Deployment":
            view["status"] = self._deployment_status(view)
        elif kind == "Service" and self.lb_address:
            field = "ip" if self.lb_address.replace(".", "").isdigit() else "hostname"
            view["status"] = {"loadBalancer": {"ingress": [{field: self.lb_address}]}}
        return view

    def _deployment_status(self, deployment: dict[str, Any]) -> dict[str, Any]:
        meta = deployment["metadata"]
        pods = [
            p
            for k, p in self.objects.items()
            if k[1] == "pods" and self._owner.get(k) == meta["name"] and k[2] == meta["namespace"]
        ]
        ready = sum(1 for p in pods if p["status"]["phase"] == "Running")
        generation = meta["generation"]
        if self.status_lag > 0:
            self.status_lag -= 1
            generation -= 1
        return {
            "observedGeneration": generation,
            "replicas": len(pods),
            "updatedReplicas": len(pods),
            "readyReplicas": ready,
            "availableReplicas": ready,
        }

    def _reconcile_pods(self, deployment: dict[str, Any]) -> None:
        meta, spec = deployment["metadata"], deployment["spec"]
        namespace = meta["namespace"]
        mine = sorted(
            k
            for k, p in self.objects.items()
            if k[1] == "pods" and k[2] == namespace and self._owner.get(k) == meta["name"]
        )
        for key in mine[spec["replicas"] :]:
            del self.objects[key]
        template = spec["template"]
        taken = {k[3] for k in mine}
        for index in range(len(mine), spec["replicas"]):
            while f"{meta['name']}-{meta['uid'][-4:]}-{index}" in taken:
                index += 1  # a replacement of a deleted pod: a name not in use
            name = f"{meta['name']}-{meta['uid'][-4:]}-{index}"
            taken.add(name)
            pod = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "labels": dict(template["metadata"]["labels"]),
                    "uid": f"pod-{next(self._versions)}",
                },
                "spec": copy.deepcopy(template["spec"]),
            }
            placed = self._schedule(pod)
            schedulable, self.schedulable = self.schedulable, self.schedulable and placed
            self._set_pod_status(pod)
            self.schedulable = schedulable
            self.objects[("v1", "pods", namespace, name)] = pod
            self._owner[("v1", "pods", namespace, name)] = meta["name"]

    def _set_pod_status(self, pod: dict[str, Any]) -> None:
        if not self.schedulable:
            since = rfc3339(self.unschedulable_since)
            pod["status"] = {
                "phase": "Pending",
                "conditions": [
                    {
                        "type": "PodScheduled",
                        "status": "False",
                        "reason": "Unschedulable",
                        "lastTransitionTime": since,
                        "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu. preemption: 0/3 nodes are available.",
                    }
                ],
            }
            return
        ready = "True" if self.start_ready else "False"
        now = rfc3339(datetime.datetime.now(datetime.UTC))
        pod["status"] = {
            "phase": "Running" if self.start_ready else "Pending",
            "podIP": f"10.0.0.{len(self.objects) % 250 + 2}",
            "startTime": now,
            "conditions": [
                {"type": "PodScheduled", "status": "True"},
                {"type": "Ready", "status": ready},
            ],
            "containerStatuses": [
                {
                    "name": pod["spec"]["containers"][0]["name"],
                    "ready": self.start_ready,
                    "restartCount": 0,
                    "state": {"running": {"startedAt": now}}
                    if self.start_ready
                    else {"waiting": {"reason": "ContainerCreating"}},
                }
            ],
        }

    def _delete(self, key: tuple[str, str, str, str]) -> None:
        obj = self.objects.pop(key, None)
        if obj is None:
            return
        if key[1] == "namespaces":
            for inner in [k for k in self.objects if k[2] == key[3]]:
                del self.objects[inner]
        if key[1] == "deployments":
            for inner in [
                k
                for k, p in self.objects.items()
                if k[1] == "pods" and k[2] == key[2] and self._owner.get(k) == key[3]
            ]:
                del self.objects[inner]
        owner = self._owner.pop(key, None) if key[1] == "pods" else None
        deployment = self.objects.get(("apps/v1", "deployments", key[2], owner or ""))
        if deployment is not None:  # its ReplicaSet replaces a deleted pod at once
            self._reconcile_pods(deployment)


def _handler(cluster: FakeCluster) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            code, payload = cluster.handle(self.command, self.path, self.headers, body)
            text = isinstance(payload, str)
            data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain" if text else "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_PATCH = do_DELETE = do_PUT = do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
