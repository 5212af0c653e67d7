"""A small torch MLP service for bench/batch.py: 32 features in, 8 scores out, batched."""

from __future__ import annotations

from typing import Any

from crosscloud import Resources, Service, endpoint


class MLP(Service):
    """Two hidden layers of 256; fixed seed so every worker has the same weights."""

    resources = Resources(cpu=1, memory="512Mi")
    net: Any

    def setup(self) -> None:
        import torch

        torch.manual_seed(0)
        torch.set_num_threads(self.resources.threads())
        self.torch = torch
        self.net = torch.nn.Sequential(
            torch.nn.Linear(32, 256),
            torch.nn.ReLU(),
            torch.nn.Linear(256, 256),
            torch.nn.ReLU(),
            torch.nn.Linear(256, 8),
        ).eval()

    @endpoint(batch=True, max_batch_size=256)
    def predict(self, features: list[list[float]]) -> list[list[float]]:
        with self.torch.inference_mode():
            return self.net(self.torch.tensor(features)).tolist()  # type: ignore[no-any-return]
