"""OpenAI-compatible routes through the gateway: `/v1/*` requests go to the service that
serves the body's `model`, prefix-affinity gets the prompt's block hashes, and `usage` in
answers is counted per replica and service.

Only `/v1/*` requests pay for this (`BodyRead` is chosen in `Downstream._dispatch`; other
paths take the plain `Exchange`). The body is read up to `SCAN_LIMIT` before a replica is
chosen: whole, it is parsed once with orjson (model, prompt); a longer one is routed by a
scan of its first bytes for `"model"` and streamed on. A whole streaming request whose
client did not ask for `usage` is forwarded asking for it (streamusage.py). Then an
`LlmExchange` (llmexchange.py) carries the request and counts its answer's tokens.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import orjson

from crosscloud.gateway import cluster as gwcluster
from crosscloud.gateway import framing, streamusage
from crosscloud.gateway.framing import CONTINUE, response_bytes
from crosscloud.gateway.llmexchange import LlmExchange
from crosscloud.planning import prefix, quota

if TYPE_CHECKING:
    from crosscloud.gateway.downstream import Downstream

#: Request bodies are read up to this before routing; longer ones are scanned, not parsed.
SCAN_LIMIT = 1024 * 1024
_MODEL = re.compile(rb'"model"\s*:\s*"((?:[^"\\]|\\.){1,256})"')


def openai_error(
    status: int, message: str, *, param: str | None = None, code: str | None = None
) -> bytes:
    """An answer in OpenAI's error shape."""
    kind = "invalid_request_error" if status < 500 else "server_error"
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return response_bytes(status, orjson.dumps(body))


def models_answer(clusters: Iterable[gwcluster.Cluster]) -> bytes:
    """`GET /v1/models`: every model of every service, in OpenAI's list shape."""
    data = [
        {"id": model, "object": "model", "created": 0, "owned_by": c.name}
        for c in clusters
        for model in sorted(c.served_models())
    ]
    return response_bytes(200, orjson.dumps({"object": "list", "data": data}))


def read_request(body: bytes, *, whole: bool) -> tuple[str | None, dict[str, Any] | None]:
    """(model, parsed body): parsed when `whole` and JSON, else the model from a scan."""
    if whole:
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict):
            model = parsed.get("model")
            return (model if isinstance(model, str) else None), parsed
    found = _MODEL.search(body)
    if found is None:
        return None, None
    try:
        model = orjson.loads(b'"' + found[1] + b'"')
    except orjson.JSONDecodeError:
        return None, None
    return model, None


class BodyRead:
    """A `/v1/*` request whose body is read (up to SCAN_LIMIT) before it is routed; then
    an `LlmExchange` takes its place on the client connection and carries it on."""

    __slots__ = (
        "auth",
        "chunked",
        "client",
        "cluster",
        "complete",
        "exchange",
        "expect",
        "head",
        "http10",
        "keep_alive",
        "method",
        "parts",
        "residency",
        "size",
        "slot",
        "started",
        "token_key",
        "zone",
    )

    def __init__(
        self,
        client: Downstream,
        cluster: gwcluster.Cluster | None,
        *,
        head: bytes,
        method: bytes,
        chunked: bool,
        keep_alive: bool,
        http10: bool,
        expect: bool,
        auth: bytes | None = None,
        residency: bytes | None = None,
    ) -> None:
        self.client, self.cluster, self.head, self.method = client, cluster, head, method
        self.chunked, self.auth = chunked, auth
        #: The residency zone (known with the cluster), or the header that asks for one.
        self.zone: str | None = None
        self.residency = residency
        self.keep_alive, self.http10, self.expect = keep_alive, http10, expect
        self.parts: list[bytes] = []
        self.size = 0
        self.complete = self.started = False
        self.exchange: LlmExchange | None = None
        #: the token's quota slot, taken now (the connection's next request may set another)
        self.slot: quota.Limiter | None = client.holding
        self.token_key = client.holding_key
        client.holding, client.holding_key = None, None

    def start(self) -> None:
        self.started = True
        if self.expect:
            self.client.write(CONTINUE)
        self.client.resume_reading()
        if self.complete or self.size > SCAN_LIMIT:
            self._route()

    def request_body(self, data: bytes) -> None:
        if self.exchange is not None:
            self.exchange.request_body(data)
            return
        self.parts.append(data)
        self.size += len(data)
        if self.size > SCAN_LIMIT:
            if self.started:
                self._route()
            else:
                self.client.pause_reading()  # queued behind another request: wait

    def request_done(self) -> None:
        if self.exchange is not None:
            self.exchange.request_done()
            return
        self.complete = True
        if self.started:
            self._route()

    def client_gone(self) -> None:
        if self.exchange is not None:
            self.exchange.client_gone()
        self.drop_slot()

    def drop_slot(self) -> None:
        """Give back the quota slot of a request that never reached an exchange."""
        slot, self.slot = self.slot, None
        if slot is not None:
            slot.release()

    def reject(self, status: int, message: bytes) -> None:
        """The connection's own refusal (a body timeout, 413) before it was routed."""
        if self.exchange is not None:
            self.exchange.reject(status, message)
        elif self.started:
            self._answer(openai_error(status, message.decode()), close=True)

    def _answer(self, data: bytes, *, close: bool) -> None:
        self.exchange = None
        self.drop_slot()
        if close or not self.complete:
            # The rest of the body is not read: the connection closes after the answer.
            self.keep_alive = False
            self.client.refused = True
            data = data.replace(b"\r\n\r\n", b"\r\nconnection: close\r\n\r\n", 1)
        self.complete = True
        self.client.write(data)
        if self.client.parsing is self:
            self.client.parsing = None
        self.client.exchange_done(self)

    def _route(self) -> None:
        if self.exchange is not None:
            return
        body = b"".join(self.parts)
        model, parsed = read_request(body, whole=self.complete)
        cluster = self.cluster if self.cluster is not None else self._by_model(model)
        if cluster is None:
            return  # answered
        hashes, plain, stream = None, None, False
        if parsed is not None:
            stream = parsed.get("stream") is True
            if cluster.config.policy == "prefix-affinity":
                hashes = prefix.chain_hashes(prefix.template(parsed)) or None
            asked = streamusage.ask_usage(self.head, body, parsed, chunked=self.chunked)
            if asked is not None:
                plain = (self.head, body)  # sent instead to a server that refuses it
                self.head, body = asked
        self._hand_over(cluster, hashes, body, plain=plain, stream=stream)

    def _by_model(self, model: str | None) -> gwcluster.Cluster | None:
        """The service of an OpenAI request routed by its model, with its token checked
        there (and its residency zone found); None when it was answered instead."""
        if model is None:
            message = "you must provide a model parameter"
            self._answer(openai_error(400, message, param="model"), close=False)
            return None
        cluster = self.client.server.model_cluster(model)
        if cluster is None:
            message = f"The model `{model}` does not exist."
            error = openai_error(404, message, param="model", code="model_not_found")
            self._answer(error, close=False)
            return None
        denied, line = self.client.authorize_for(cluster, self.auth)
        if denied is not None:
            if len(denied) == 3:  # past the token's quota: 429 with Retry-After
                self._answer(framing.too_many_bytes(denied[1], denied[2], openai=True), close=False)
            else:
                self._answer(openai_error(denied[0], denied[1]), close=False)
            return None
        self.slot, self.client.holding = self.client.holding, None
        self.token_key, self.client.holding_key = self.client.holding_key, None
        if line:  # passed on: the gateway does not check tokens for this service
            self.head = self.head[:-2] + line + b"\r\n"
        if self.residency is not None or self.client.server.zoned_tokens:
            self.zone, denied = self.client.zone_for(cluster, self.auth, self.residency)
            if denied is not None:
                self._answer(openai_error(denied[0], denied[1]), close=False)
                return None
        return cluster

    def _hand_over(
        self,
        cluster: gwcluster.Cluster,
        hashes: list[int] | None,
        body: bytes,
        *,
        plain: tuple[bytes, bytes] | None,
        stream: bool,
    ) -> None:
        client = self.client
        client.holding, self.slot = self.slot, None  # the quota slot goes with the request
        exchange = LlmExchange(
            client,
            cluster,
            head=self.head,
            method=self.method,
            chunked=self.chunked,
            keep_alive=self.keep_alive,
            http10=self.http10,
            hashes=hashes,
            token_key=self.token_key,
            plain=plain,
            stream=stream,
            zone=self.zone,
        )
        self.exchange = exchange
        if client.current is self:
            client.current = exchange
        if client.parsing is self:
            client.parsing = exchange
        if plain is not None:
            exchange.load(body)  # the replica it goes to decides which body is sent
            exchange.start()
            return
        exchange.start()
        if body:
            exchange.request_body(body)
        if self.complete:
            exchange.request_done()
