"""The benchmark's printed table (ratios to the floor) and the goals of issue 2."""

from __future__ import annotations

from typing import Any

_COLUMNS = (
    ("c32 req/s", "c32", "rps", "{:,.0f}"),
    ("c32 p50 ms", "c32", "p50_us", "{:.2f}"),
    ("CPU us/req", "c32", "cpu_us_per_req", "{:.0f}"),
    ("c1 req/s", "c1", "rps", "{:,.0f}"),
    ("c1 p50 ms", "c1", "p50_us", "{:.2f}"),
    ("c1 CPU us/req", "c1", "cpu_us_per_req", "{:.0f}"),
)


def _cell(fmt: str, key: str, value: float, ratio: float) -> str:
    shown = value / 1000 if key == "p50_us" else value
    return f"{fmt.format(shown)} ({ratio:.2f}x)"


def trivial_table(results: dict[str, dict[str, Any]]) -> str:
    """One row per contender: medians, each with its ratio to the floor."""
    floor = results["floor"]
    header = ["contender", *(c[0] for c in _COLUMNS), "RSS MB"]
    rows = [header]
    for name, result in results.items():
        row = [name]
        for _label, conn, key, fmt in _COLUMNS:
            value = result[conn][key]
            row.append(_cell(fmt, key, value, value / floor[conn][key]))
        row.append(f"{result['rss_mb']:.0f}")
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)


def embeddings_table(medians: dict[str, float]) -> str:
    """The embeddings medians, one per line."""
    return "\n".join(f"  {key:<28} {value:,.1f}" for key, value in medians.items())


def coldstart_table(results: dict[str, dict[str, Any]]) -> str:
    """Median cold start and RSS per server."""
    return "\n".join(
        f"  {name:<16} cold start {r['start_s'] * 1000:.0f} ms   RSS {r['rss_mb']:.1f} MB"
        for name, r in results.items()
    )


def goals(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each goal of issue 2 that this run measured: the figure, the bound, met or not."""
    found: list[dict[str, Any]] = []

    def add(goal: str, value: float, bound: float, *, at_least: bool) -> None:
        met = value >= bound if at_least else value < bound
        found.append({"goal": goal, "value": value, "bound": bound, "met": met})

    trivial = results.get("trivial", {})
    if "crosscloud" in trivial and "floor" in trivial:
        cc, floor = trivial["crosscloud"]["c32"], trivial["floor"]["c32"]
        add("req/s at 32 conns >= 0.7x floor", cc["rps"] / floor["rps"], 0.7, at_least=True)
        cpu = cc["cpu_us_per_req"] / floor["cpu_us_per_req"]
        add("CPU/request <= 1.5x floor", cpu, 1.5 + 1e-9, at_least=False)
    emb = results.get("embeddings", {}).get("medians")
    if emb:
        limit = emb["inprocess_b32_per_s"]
        add(
            "batched c32 >= 0.8x in-process b32", emb["batched_c32_rps"] / limit, 0.8, at_least=True
        )
        cpu = emb["inprocess_b32_cpu_us"] / emb["batched_c32_cpu_us"]
        add(
            "(CPU) in-process b32 CPU/sentence / batched c32 CPU/req >= 0.8",
            cpu,
            0.8,
            at_least=True,
        )
        alone = emb["batched_c1_p50_us"] / emb["unbatched_c1_p50_us"]
        add("batched c1 p50 within 1.2x unbatched", alone, 1.2 + 1e-9, at_least=False)
    cold = results.get("coldstart", {}).get("crosscloud-echo")
    if cold:
        add("cold start < 1 s", cold["start_s"], 1.0, at_least=False)
        add("RSS < 60 MB", cold["rss_mb"], 60.0, at_least=False)
    return found


def goals_text(found: list[dict[str, Any]]) -> str:
    """One line per goal: met/MISSED, the figure and the bound."""
    lines = []
    for g in found:
        mark = "met" if g["met"] else "MISSED"
        lines.append(f"  [{mark}] {g['goal']}: {g['value']:.2f} (bound {g['bound']:.1f})")
    return "\n".join(lines)
