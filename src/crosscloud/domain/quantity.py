"""Parsers for the units users write: CPU (`500m`), memory (`4Gi`), accelerators
(`A100:2`) and durations (`30s`). Pure; each raises ValueError with what is allowed."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

_MEMORY_UNITS = {
    "": 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
}
_MEMORY_RE = re.compile(r"^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$")
_CPU_RE = re.compile(r"^(\d+(?:\.\d+)?)(m?)$")
_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_ACCELERATOR_RE = re.compile(r"^([A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*)(?::(\d+))?$")

#: Accelerator names crosscloud knows how to place; spelled as in the price catalog.
KNOWN_ACCELERATORS = (
    "T4",
    "L4",
    "L40S",
    "A10",
    "A10G",
    "V100",
    "A100",
    "A100-80GB",
    "H100",
    "H100-80GB",
    "H200",
    "B200",
    "MI300X",
    "TPU-V5E",
)


def parse_cpu(value: str | int | float) -> float:
    """`2`, `0.5` or `500m` -> cores as a float (> 0)."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a CPU quantity; write cores like 2, 0.5 or 500m")
    if isinstance(value, int | float):
        cores = float(value)
    else:
        match = _CPU_RE.match(value.strip())
        if not match:
            raise ValueError(f"{value!r} is not a CPU quantity; write cores like 2, 0.5 or 500m")
        cores = float(match.group(1)) / (1000 if match.group(2) else 1)
    if cores <= 0:
        raise ValueError(f"{value!r}: CPU must be more than 0")
    return cores


def parse_memory(value: str | int) -> int:
    """`4Gi`, `512Mi`, `1G` or a number of bytes -> bytes (> 0)."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a memory quantity; write e.g. 512Mi, 4Gi or 1G")
    if isinstance(value, int):
        size = value
    else:
        match = _MEMORY_RE.match(value.strip())
        if not match:
            raise ValueError(
                f"{value!r} is not a memory quantity; write e.g. 512Mi, 4Gi or 1G"
                " (units Ki Mi Gi Ti, or k M G T)"
            )
        size = int(float(match.group(1)) * _MEMORY_UNITS[match.group(2) or ""])
    if size <= 0:
        raise ValueError(f"{value!r}: memory must be more than 0")
    return size


@dataclass(frozen=True)
class Accelerator:
    """A kind of accelerator and how many of it one replica needs."""

    name: str
    count: int = 1

    def __str__(self) -> str:
        return f"{self.name}:{self.count}"


def parse_accelerator(value: str) -> Accelerator:
    """`A100:2`, `H100-80GB:8` or `T4` (one) -> Accelerator; the name must be known."""
    match = _ACCELERATOR_RE.match(value.strip())
    if not match:
        raise ValueError(f"{value!r} is not an accelerator; write NAME[:COUNT] like A100:2")
    name, count = match.group(1).upper(), int(match.group(2) or 1)
    if name not in KNOWN_ACCELERATORS:
        near = did_you_mean(name, KNOWN_ACCELERATORS)
        hint = f"; did you mean {near!r}?" if near else ""
        raise ValueError(
            f"unknown accelerator {match.group(1)!r}{hint} (known: {', '.join(KNOWN_ACCELERATORS)})"
        )
    if not 1 <= count <= 16:
        raise ValueError(f"{value!r}: accelerator count must be 1 to 16")
    return Accelerator(name=name, count=count)


def parse_duration(value: str | int | float) -> float:
    """`30s`, `5m`, `1h30m`, `250ms` or a number of seconds -> seconds (>= 0)."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration; write e.g. 30s, 5m or 1h")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = value.strip()
        parts = _DURATION_RE.findall(text)
        if not text or "".join(n + u for n, u in parts) != text:
            raise ValueError(f"{value!r} is not a duration; write e.g. 250ms, 30s, 5m, 1h or 1h30m")
        seconds = sum(float(n) * _DURATION_UNITS[u] for n, u in parts)
    if seconds < 0:
        raise ValueError(f"{value!r}: a duration cannot be negative")
    return seconds


def did_you_mean(word: str, choices: tuple[str, ...] | list[str]) -> str | None:
    """The closest choice to a misspelled word, or None when nothing is close."""
    lowered = {c.lower(): c for c in choices}
    found = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[found[0]] if found else None
