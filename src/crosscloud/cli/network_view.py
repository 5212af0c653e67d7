"""What `status` and `up` say about isolated local regions (status's `network` rows)."""

from __future__ import annotations

from typing import Any

from crosscloud.controlplane import networks


def lines(dep: dict[str, Any]) -> list[str]:
    """One line per isolated region: its namespace, addresses and link; or one line
    saying that the regions share 127.0.0.1, and why."""
    rows = dep.get("network") or []
    fallback = [r for r in rows if not r["isolated"]]
    out = []
    if fallback:
        out.append(
            networks.fallback_line([r["placement"] for r in fallback], fallback[0]["reason"])
        )
    for row in rows:
        if row["isolated"]:
            out.append(
                f"{row['placement']}: netns {row['netns']}, replicas on {row['address']}"
                f" via {row['relay']}: {row['link']}"
            )
    return out


def fallbacks(dep: dict[str, Any]) -> list[str]:
    """Only the fallback line (for `up`), when there is one."""
    return [line for line in lines(dep) if "share 127.0.0.1" in line]
