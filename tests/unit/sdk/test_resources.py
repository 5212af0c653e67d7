"""Resources: quantities users write, validated when the class is defined."""

from __future__ import annotations

import pytest

from crosscloud import Resources, errors


@pytest.mark.parametrize(
    ("kwargs", "cpu", "memory", "accelerators"),
    [
        ({}, 1.0, 2 * 2**30, []),
        ({"cpu": "500m", "memory": "512Mi"}, 0.5, 512 * 2**20, []),
        ({"cpu": 2, "memory": "1G", "accelerators": "A100:2"}, 2.0, 10**9, ["A100:2"]),
        ({"accelerators": ["t4", "H100-80GB:8"]}, 1.0, 2 * 2**30, ["T4:1", "H100-80GB:8"]),
    ],
)
def test_valid_resources(
    kwargs: dict[str, object], cpu: float, memory: int, accelerators: list[str]
) -> None:
    r = Resources(**kwargs)  # type: ignore[arg-type]
    assert (r.cpu, r.memory, [str(a) for a in r.accelerators]) == (cpu, memory, accelerators)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cpu": "two"}, "not a CPU quantity"),
        ({"cpu": 0}, "more than 0"),
        ({"memory": "4GB"}, "not a memory quantity"),
        ({"accelerators": "A1000:2"}, "unknown accelerator 'A1000'; did you mean 'A100'"),
        ({"accelerators": "A100:0"}, "count must be 1 to 16"),
    ],
)
def test_invalid_resources_say_what_is_allowed(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(errors.ServiceDefinitionError, match=message):
        Resources(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("cpu", "available", "threads"), [(1, 2, 1), (4, 2, 2), ("500m", 8, 1)])
def test_threads_never_exceed_the_share_or_the_cores(
    cpu: object, available: int, threads: int
) -> None:
    assert Resources(cpu=cpu).threads(available) == threads  # type: ignore[arg-type]
