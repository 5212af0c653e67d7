"""The embeddings example with the real all-MiniLM-L6-v2 weights, served and batched."""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from crosscloud import Client
from tests.conftest import EXAMPLES, Served

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]


def _cos(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_embeddings_are_real_normalised_and_batched(serve: Callable[..., Served]) -> None:
    served = serve(str(EXAMPLES / "embeddings" / "service.py"), ready_timeout=180)
    texts = ["A man is eating food.", "A man is eating a piece of bread.", "The stock market fell."]
    with Client(served.url) as client:
        vectors = client.embed(texts=texts)
        one = client.embed_one(text=texts[0])
    assert [len(v) for v in vectors] == [384, 384, 384]
    assert all(math.isclose(_cos(v, v), 1.0, abs_tol=1e-4) for v in vectors)
    # A real model puts the two sentences about eating closer than the one about stocks.
    assert _cos(vectors[0], vectors[1]) > _cos(vectors[0], vectors[2]) + 0.3
    assert _cos(one, vectors[0]) > 0.999  # unbatched endpoint, same model

    def post(i: int) -> list[list[float]]:
        r = httpx.post(f"{served.url}/embed", json={"texts": [f"sentence number {i}"]}, timeout=60)
        r.raise_for_status()
        return r.json()  # type: ignore[no-any-return]

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(post, range(48)))
    assert all(len(r) == 1 and len(r[0]) == 384 for r in results)
    metrics = httpx.get(f"{served.url}/metrics").text
    count = _metric(metrics, 'crosscloud_batch_size_count{endpoint="embed"}')
    items = _metric(metrics, 'crosscloud_batch_size_sum{endpoint="embed"}')
    assert items == 48 + 3
    assert count < 48  # concurrent requests were merged into fewer model calls


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in metrics")
