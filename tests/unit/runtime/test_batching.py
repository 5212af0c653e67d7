"""The adaptive batcher: merging, splitting, size limits, and no waiting when alone."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from crosscloud.runtime.batching import Batcher, BatchResultError
from crosscloud.runtime.metrics import EndpointMetrics

NEVER_MS = 600_000.0  # a wait the tests would notice: they time out long before it ends


class Recorder:
    def __init__(self, result: Any = None) -> None:
        self.batches: list[list[int]] = []
        self.result = result

    async def __call__(self, kwargs: dict[str, list[Any]]) -> Any:
        self.batches.append(list(kwargs["xs"]))
        await asyncio.sleep(0)
        return self.result if self.result is not None else [x * 10 for x in kwargs["xs"]]


def _batcher(run: Recorder, *, max_batch_size: int = 4, max_wait_ms: float = NEVER_MS) -> Batcher:
    return Batcher(
        run=run,
        max_batch_size=max_batch_size,
        max_wait_ms=max_wait_ms,
        slots=1,
        metrics=EndpointMetrics("e"),
    )


def test_a_lone_request_runs_at_once_without_waiting_for_company() -> None:
    async def main() -> list[Any]:
        b = _batcher(run := Recorder())
        result = await asyncio.wait_for(b.submit({"xs": [1]}, 1), timeout=30)
        assert run.batches == [[1]]
        return result

    assert asyncio.run(main()) == [10]


def test_requests_in_the_same_turn_share_a_batch_and_get_their_own_slice() -> None:
    async def main() -> tuple[list[list[int]], list[Any]]:
        b = _batcher(run := Recorder())
        results = await asyncio.gather(b.submit({"xs": [1, 2]}, 2), b.submit({"xs": [3]}, 1))
        return run.batches, results

    batches, results = asyncio.run(main())
    assert batches == [[1, 2, 3]]
    assert results == [[10, 20], [30]]


def test_under_load_the_batcher_waits_to_fill_up_to_max_batch_size() -> None:
    async def main() -> list[list[int]]:
        b = _batcher(run := Recorder())
        await asyncio.gather(b.submit({"xs": [1]}, 1), b.submit({"xs": [2]}, 1))
        # Concurrency was seen (last batch had 2 items): arrivals in later turns are held
        # until the batch is full, instead of running one by one.
        tasks = []
        for x in (3, 4, 5, 6):
            tasks.append(asyncio.ensure_future(b.submit({"xs": [x]}, 1)))
            await asyncio.sleep(0.001)
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=30)
        return run.batches

    assert asyncio.run(main()) == [[1, 2], [3, 4, 5, 6]]


def test_max_wait_runs_a_partial_batch() -> None:
    async def main() -> list[list[int]]:
        b = _batcher(run := Recorder(), max_wait_ms=1)
        await asyncio.gather(b.submit({"xs": [1]}, 1), b.submit({"xs": [2]}, 1))
        await asyncio.wait_for(b.submit({"xs": [3]}, 1), timeout=30)
        return run.batches

    assert asyncio.run(main()) == [[1, 2], [3]]


def test_batches_never_exceed_max_batch_size_except_a_single_large_request() -> None:
    async def main() -> list[list[int]]:
        b = _batcher(run := Recorder(), max_batch_size=2)
        await asyncio.gather(
            *(b.submit({"xs": [x]}, 1) for x in range(5)), b.submit({"xs": [7, 8, 9]}, 3)
        )
        return run.batches

    sizes = [len(batch) for batch in asyncio.run(main())]
    assert sizes == [2, 2, 1, 3]


@pytest.mark.parametrize("bad", [[1], "nope", [1, 2, 3]])
def test_a_wrong_result_fails_every_request_of_that_batch(bad: Any) -> None:
    async def main() -> list[BaseException | list[Any]]:
        b = _batcher(Recorder(result=bad))
        return await asyncio.gather(
            b.submit({"xs": [1]}, 1), b.submit({"xs": [2]}, 1), return_exceptions=True
        )

    results = asyncio.run(main())
    assert all(isinstance(r, BatchResultError) for r in results)
    assert "for 2 inputs" in str(results[0])
