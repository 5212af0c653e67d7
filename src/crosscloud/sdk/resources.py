"""`Resources`: what one replica of a service needs (CPU, memory, accelerators)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

from crosscloud import errors
from crosscloud.domain import quantity


@dataclass(frozen=True, init=False)
class Resources:
    """CPU cores, memory and accelerators for one replica; validated when built.

    >>> Resources(cpu="500m", memory="4Gi", accelerators="A100:2")
    """

    cpu: float = 1.0
    memory: int = 2 * 2**30
    accelerators: tuple[quantity.Accelerator, ...] = field(default=())

    def __init__(
        self,
        cpu: str | float = 1,
        memory: str | int = "2Gi",
        accelerators: str | list[str] | tuple[str, ...] | None = None,
    ) -> None:
        try:
            parsed_cpu = quantity.parse_cpu(cpu)
            parsed_memory = quantity.parse_memory(memory)
            names = [accelerators] if isinstance(accelerators, str) else list(accelerators or ())
            parsed_acc = tuple(quantity.parse_accelerator(a) for a in names)
        except ValueError as exc:
            raise errors.ServiceDefinitionError(f"Resources: {exc}") from None
        object.__setattr__(self, "cpu", parsed_cpu)
        object.__setattr__(self, "memory", parsed_memory)
        object.__setattr__(self, "accelerators", parsed_acc)

    def threads(self, available: int | None = None) -> int:
        """Compute threads one replica should use: its CPU share, at least 1, at most the
        cores it can run on (oversubscribing cores slows torch down several times)."""
        cores = available if available is not None else len(os.sched_getaffinity(0))
        return max(1, min(cores, math.floor(self.cpu)))

    def to_json(self) -> dict[str, object]:
        return {
            "cpu": self.cpu,
            "memory": self.memory,
            "accelerators": [str(a) for a in self.accelerators],
        }
