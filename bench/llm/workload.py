"""The LLM routing benchmark's workloads and its streaming client.

Multi-tenant: K system prompts of 2,000-6,000 tokens (4 bytes a token, as the mock engine
counts), sessions of several turns, each turn the whole conversation so far plus a new
user message. Control: single requests whose prompts share nothing. Both are built from a
seed, so every policy in a round gets the very same requests.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import Protocol

import aiohttp
import orjson

WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "zeta",
    "eta",
    "theta",
    "iota",
    "kappa",
    "lambda",
    "mu",
    "nu",
    "xi",
    "pi",
    "rho",
]


@dataclass(frozen=True)
class Engine:
    """What the replicas are: the model name to ask for and bytes per token."""

    model: str = "bench-model"
    bytes_per_token: int = 4  # the mock's count; tiny-gpt's tokenizer is byte-level: 1


def text(rng: random.Random, tokens: int, engine: Engine) -> str:
    """About `tokens` tokens of words drawn from `rng`."""
    out: list[str] = []
    size = 0
    while size < tokens * engine.bytes_per_token:
        word = rng.choice(WORDS) + str(rng.randrange(1000))
        out.append(word)
        size += len(word) + 1
    return " ".join(out)


@dataclass
class Session:
    """One conversation: a tenant's system prompt and the user's turns."""

    id: int
    tenant: int
    system: str
    turns: list[str]


@dataclass
class Workload:
    sessions: list[Session]
    engine: Engine


def multi_tenant(
    seed: int, *, tenants: int, sessions: int, engine: Engine, turns: tuple[int, int] = (3, 5)
) -> Workload:
    rng = random.Random(seed)
    systems = [
        f"tenant {k}: " + text(rng, rng.randrange(2000, 6001), engine) for k in range(tenants)
    ]
    out = []
    for i in range(sessions):
        tenant = rng.randrange(tenants)
        n = rng.randint(*turns)
        out.append(
            Session(
                i,
                tenant,
                systems[tenant],
                [text(rng, rng.randrange(30, 90), engine) for _ in range(n)],
            )
        )
    rng.shuffle(out)
    return Workload(out, engine)


def control(seed: int, *, requests: int, engine: Engine) -> Workload:
    """Single-turn requests with nothing in common (a unique system prompt each)."""
    rng = random.Random(seed + 7919)
    out = [
        Session(
            i,
            -1,
            f"request {i} {rng.random()}: " + text(rng, rng.randrange(2000, 6001), engine),
            [text(rng, 40, engine)],
        )
        for i in range(requests)
    ]
    return Workload(out, engine)


@dataclass
class Result:
    ttft: list[float] = field(default_factory=list)
    failed: int = 0
    requests: int = 0
    elapsed: float = 0.0


async def one_request(
    http: aiohttp.ClientSession,
    url: str,
    messages: list[dict[str, str]],
    result: Result,
    *,
    model: str = "bench-model",
) -> str:
    """Stream one chat completion; note its time to first token; the reply's text."""
    body = {
        "model": model,
        "messages": messages,
        "max_tokens": 16,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    start = time.perf_counter()
    first = 0.0
    parts: list[str] = []
    async with http.post(
        url, data=orjson.dumps(body), headers={"content-type": "application/json"}
    ) as resp:
        if resp.status != 200:
            result.failed += 1
            await resp.read()
            return ""
        async for line in resp.content:
            if not line.startswith(b"data: {"):
                continue
            chunk = orjson.loads(line[6:])
            for choice in chunk.get("choices") or ():
                if not first:
                    first = time.perf_counter() - start
                parts.append(choice["delta"].get("content") or "")
    result.ttft.append(first)
    result.requests += 1
    return "".join(parts)


class Router(Protocol):
    """Where each turn of a session goes."""

    def url(self, session: Session) -> str: ...

    def done(self, session: Session) -> None: ...


class Gateway:
    """Every request to one gateway URL (the gateway picks the replica)."""

    def __init__(self, base: str) -> None:
        self.target = base + "/v1/chat/completions"

    def url(self, session: Session) -> str:
        return self.target

    def done(self, session: Session) -> None:
        pass


class StickyOracle:
    """Session-sticky routing straight to the replicas: a new session goes to the replica
    with the fewest sessions open, and every later turn of it to the same one."""

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        self.open = [0] * len(urls)
        self.chosen: dict[int, int] = {}

    def url(self, session: Session) -> str:
        i = self.chosen.get(session.id)
        if i is None:
            i = min(range(len(self.urls)), key=lambda k: self.open[k])
            self.chosen[session.id] = i
            self.open[i] += 1
        return self.urls[i] + "/v1/chat/completions"

    def done(self, session: Session) -> None:
        self.open[self.chosen[session.id]] -= 1


async def run(workload: Workload, router: Router, *, concurrency: int) -> Result:
    """Run every session (turns in order, sessions `concurrency` at a time)."""
    result = Result()
    queue: asyncio.Queue[Session] = asyncio.Queue()
    for s in workload.sessions:
        queue.put_nowait(s)
    connector = aiohttp.TCPConnector(limit=concurrency * 2)
    timeout = aiohttp.ClientTimeout(total=120)

    async def worker(http: aiohttp.ClientSession) -> None:
        while not queue.empty():
            session = queue.get_nowait()
            url = router.url(session)
            messages = [{"role": "system", "content": session.system}]
            for turn in session.turns:
                messages.append({"role": "user", "content": turn})
                reply = await one_request(http, url, messages, result, model=workload.engine.model)
                messages.append({"role": "assistant", "content": reply})
            router.done(session)

    start = time.perf_counter()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
    result.elapsed = time.perf_counter() - start
    return result
