"""One cluster connection per kubeconfig context, and every failure turned into one message.

Credentials come from the kubeconfig and the clouds' exec plugins (`aws eks get-token`,
`kubelogin`, `gke-gcloud-auth-plugin`) through the official client; crosscloud never reads,
logs or writes them (`persist_config=False`: refreshed tokens are not written back).
Errors name the placement and the context and carry only the API server's own message.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from crosscloud import errors
from crosscloud.adapters.kubernetes import clouds, model, resources

APPLY_PATCH = "application/apply-patch+yaml"
_config: Any = k8s_config  # the loader functions carry no type hints


@dataclass(frozen=True)
class Where:
    """The placement a call is for, to name it in messages."""

    placement: str  # provider/region
    context: str
    cluster: str  # its cluster type: EKS, AKS, GKE
    region: str

    @classmethod
    def of(cls, placement: model.RenderPlacement) -> Where:
        return cls(
            f"{placement.provider}/{placement.region}",
            placement.context,
            placement.type,
            placement.region,
        )

    def error(self, message: str, *, delay: float = 10.0) -> errors.TargetError:
        return errors.TargetError(
            f"placement {self.placement} (context {self.context!r}): {message}", delay=delay
        )


def _status_message(exc: k8s_client.ApiException) -> str:
    """The `message` of the Status body the API server sent (never the request headers)."""
    try:
        body = json.loads(exc.body or "{}")
    except ValueError:
        return str(exc.reason or "")
    return str(body.get("message") or exc.reason or "") if isinstance(body, dict) else ""


def translate(exc: Exception, where: Where, *, path: str, server: str) -> errors.TargetError:
    """One clear TargetError for an API or transport failure."""
    if isinstance(exc, k8s_client.ApiException):
        status, message = int(exc.status or 0), _status_message(exc)
        if status == 401:
            hint = clouds.kubernetes(where.cluster).credentials.format(region=where.region)
            return where.error(
                "the cluster rejected the credentials (401 Unauthorized): they are missing or"
                f" expired; refresh the context with `{hint}`",
                delay=60.0,
            )
        if status == 403:
            return where.error(f"forbidden (403): {message}", delay=60.0)
        if status == 404 and any(path.startswith(f"/apis/{g}/") for g in resources.ISTIO_GROUPS):
            return where.error(
                "Istio is not installed on this cluster (the networking.istio.io/v1 API is"
                " missing) but the placement asks for mesh: istio; install Istio or set"
                " mesh: none",
                delay=60.0,
            )
        return where.error(f"the API server answered {status}: {message}")
    if isinstance(exc, urllib3.exceptions.HTTPError):
        reason = getattr(exc, "reason", None) or exc
        return where.error(
            f"cannot reach the cluster at {server}: {type(reason).__name__}", delay=15.0
        )
    return where.error(f"{type(exc).__name__}: {exc}")


class Connection:
    """An ApiClient for one context, with JSON in and out over the real REST paths."""

    def __init__(
        self, where: Where, *, kubeconfig: str | None, timeout: tuple[float, float]
    ) -> None:
        self.where = where
        self.timeout = timeout
        self.api: Any = _api_client(where, kubeconfig)
        self.server = str(self.api.configuration.host)

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Sequence[tuple[str, str]] = (),
        body: Any = None,
        content_type: str | None = None,
    ) -> dict[str, Any]:
        """Call the API server; a non-2xx answer or a transport error raises TargetError."""
        try:
            return self._call(method, path, query=query, body=body, content_type=content_type)
        except (k8s_client.ApiException, urllib3.exceptions.HTTPError) as exc:
            raise translate(exc, self.where, path=path, server=self.server) from None

    def apply(
        self, path: str, body: dict[str, Any], *, manager: str, retries: int = 3
    ) -> dict[str, Any]:
        """Server-side apply (forced) as `manager`; a 409 conflict is retried `retries` times."""
        query = [("fieldManager", manager), ("force", "true")]
        for attempt in range(retries + 1):
            try:
                return self._call("PATCH", path, query=query, body=body, content_type=APPLY_PATCH)
            except k8s_client.ApiException as exc:
                if exc.status == 409 and attempt < retries:
                    continue
                raise translate(exc, self.where, path=path, server=self.server) from None
            except urllib3.exceptions.HTTPError as exc:
                raise translate(exc, self.where, path=path, server=self.server) from None
        raise AssertionError("unreachable")

    def maybe(
        self, method: str, path: str, *, query: Sequence[tuple[str, str]] = ()
    ) -> dict[str, Any] | None:
        """`request` for something that may be gone: None on 404 (GET or DELETE)."""
        try:
            return self._call(method, path, query=query)
        except k8s_client.ApiException as exc:
            if exc.status == 404:
                return None
            raise translate(exc, self.where, path=path, server=self.server) from None
        except urllib3.exceptions.HTTPError as exc:
            raise translate(exc, self.where, path=path, server=self.server) from None

    def text(self, path: str, *, query: Sequence[tuple[str, str]] = ()) -> str:
        """GET a plain-text answer (a pod's log); failures as in `request`."""
        try:
            return self._exchange("GET", path, query=query, accept="text/plain")
        except (k8s_client.ApiException, urllib3.exceptions.HTTPError) as exc:
            raise translate(exc, self.where, path=path, server=self.server) from None

    def _call(
        self,
        method: str,
        path: str,
        *,
        query: Sequence[tuple[str, str]] = (),
        body: Any = None,
        content_type: str | None = None,
    ) -> dict[str, Any]:
        text = self._exchange(method, path, query=query, body=body, content_type=content_type)
        parsed = json.loads(text) if text else {}
        return parsed if isinstance(parsed, dict) else {}

    def _exchange(
        self,
        method: str,
        path: str,
        *,
        query: Sequence[tuple[str, str]] = (),
        body: Any = None,
        content_type: str | None = None,
        accept: str = "application/json",
    ) -> str:
        headers = {"Accept": accept}
        if content_type:
            headers["Content-Type"] = content_type
        serialized = self.api.param_serialize(
            method=method,
            resource_path=path,
            query_params=list(query),
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        response: Any = self.api.call_api(*serialized, _request_timeout=self.timeout)
        response.read()
        text = str(response.data.decode("utf-8", errors="replace"))
        if not 200 <= response.status <= 299:
            raise k8s_client.ApiException.from_response(http_resp=response, body=text, data=None)
        return text

    def close(self) -> None:
        self.api.close()


def _api_client(where: Where, kubeconfig: str | None) -> k8s_client.ApiClient:
    try:
        contexts, _ = _config.list_kube_config_contexts(config_file=kubeconfig)
        names = sorted(str(item.get("name")) for item in contexts or [])
        if where.context not in names:
            raise where.error(
                f"no such context in the kubeconfig (it has: {', '.join(names) or 'none'})",
                delay=60.0,
            )
        configuration = k8s_client.Configuration()
        _config.load_kube_config(
            config_file=kubeconfig,
            context=where.context,
            client_configuration=configuration,
            persist_config=False,
        )
    except k8s_config.ConfigException as exc:
        raise where.error(f"cannot load the kubeconfig context: {exc}", delay=60.0) from None
    # Fail over to the next loop quickly: urllib3's default retries multiply the wait.
    configuration.retries = 0
    return k8s_client.ApiClient(configuration=configuration)
