"""Numbers written the way Kubernetes and Istio read them: quantities and durations."""

from __future__ import annotations

_BINARY = (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10))


def cpu_quantity(cores: float) -> str:
    """2.0 -> `2`, 0.5 -> `500m` (whole millicores, at least 1m)."""
    milli = max(1, round(cores * 1000))
    return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"


def memory_quantity(size: int) -> str:
    """Bytes in the largest binary unit that divides them exactly: 4 GiB -> `4Gi`."""
    for suffix, unit in _BINARY:
        if size % unit == 0:
            return f"{size // unit}{suffix}"
    return str(size)


def duration(seconds: float) -> str:
    """Seconds as a protobuf/Go duration string: 30 -> `30s`, 0.25 -> `0.25s`.

    Whole milliseconds only; the `s` suffix is the one form both Istio's protobuf decoder
    and the CRD's CEL `duration()` accept.
    """
    milli = max(1, round(seconds * 1000))
    whole, frac = divmod(milli, 1000)
    if frac == 0:
        return f"{whole}s"
    return f"{whole}.{frac:03d}".rstrip("0") + "s"
