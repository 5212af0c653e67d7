"""examples/embeddings under load: the batched endpoint against the unbatched one and
against the model's own throughput at batch 32 measured in-process, in interleaved rounds."""

from __future__ import annotations

import json
import statistics
import subprocess
from pathlib import Path
from typing import Any

import servers
import trivial

TEXT = "A quick brown fox jumps over the lazy dog near the bank of the river."
SOURCE = "examples/embeddings/service.py:Embedder"
BODIES = {
    "batched": ("/embed", json.dumps({"texts": [TEXT]})),
    "unbatched": ("/embed_one", json.dumps({"text": TEXT})),
}


class ModelWorker:
    """The in-process model in a child process that idles between measurements."""

    def __init__(self) -> None:
        worker = Path(__file__).with_name("model_worker.py")
        self.proc = subprocess.Popen(
            [str(servers.MAIN_BIN / "python"), str(worker), TEXT],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._read()

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the in-process model worker died")
        return dict(json.loads(line))

    def throughput(self, batch: int, reps: int) -> tuple[float, float]:
        """(sentences per second, CPU us per sentence) encoding `reps` batches of `batch`."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{batch} {reps}\n")
        self.proc.stdin.flush()
        answer = self._read()
        return float(answer["per_s"]), float(answer["cpu_us"])

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def run(*, rounds: int, seconds: float, log_dir: Path) -> dict[str, Any]:
    """Rounds of: in-process batch 32 and batch 1, then each endpoint at 32 and 1 conns.

    Server CPU per request (`_cpu_us`) beside the in-process CPU per sentence is the figure
    that holds still on a busy machine; req/s against the in-process rate is the goal's.
    """
    worker = ModelWorker()
    spec = servers.Spec(
        "crosscloud-embeddings",
        (str(servers.MAIN_BIN / "crosscloud"), "serve", SOURCE, "--port={port}"),
    )
    rows: list[dict[str, float]] = []
    try:
        with servers.Server(spec, log=log_dir / "embeddings.log") as server:
            server.wait_ok(BODIES["unbatched"][0], BODIES["unbatched"][1].encode())
            for number in range(1, rounds + 1):
                rows.append(_round(worker, server, seconds, flip=number % 2 == 0))
                print(f"  embeddings round {number}/{rounds}: {rows[-1]}", flush=True)
    finally:
        worker.close()
    medians = {key: statistics.median(r[key] for r in rows) for key in rows[0]}
    return {"medians": medians, "samples": rows}


def _round(
    worker: ModelWorker, server: servers.Server, seconds: float, *, flip: bool
) -> dict[str, float]:
    """One round; `flip` swaps the endpoints' order, so rounds go AB, BA, AB (order effects
    on this shared machine cancel out in the medians)."""
    row: dict[str, float] = {}
    for batch, reps in ((32, 16), (1, 64)):
        row[f"inprocess_b{batch}_per_s"], row[f"inprocess_b{batch}_cpu_us"] = worker.throughput(
            batch, reps
        )
    for connections in trivial.CONNECTIONS:
        order = list(BODIES.items())
        for label, (path, body) in reversed(order) if flip else order:
            before = _batch_totals(server)
            result = trivial.measure(
                server, connections=connections, seconds=seconds, path=path, body=body
            )
            row[f"{label}_c{connections}_rps"] = result["rps"]
            row[f"{label}_c{connections}_p50_us"] = result["p50_us"]
            row[f"{label}_c{connections}_cpu_us"] = result["cpu_us_per_req"]
            if label == "batched":
                after = _batch_totals(server)
                batches = after[1] - before[1]
                row[f"batched_c{connections}_mean_batch"] = (
                    (after[0] - before[0]) / batches if batches else 0.0
                )
    return row


def _batch_totals(server: servers.Server) -> tuple[float, float]:
    """(items, batches) the embed endpoint has run so far, from /metrics."""
    totals = {"sum": 0.0, "count": 0.0}
    for line in servers.get(server.port, "/metrics").splitlines():
        for kind in totals:
            if line.startswith(f'crosscloud_batch_size_{kind}{{endpoint="embed"}}'):
                totals[kind] = float(line.rsplit(" ", 1)[1])
    return totals["sum"], totals["count"]
