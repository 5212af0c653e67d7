"""Rendering the control plane's status: tables for people, progress while waiting, and a
report naming what is not ready and why (with the replica's last log lines)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from crosscloud.adapters.local import procs
from crosscloud.domain import targets

FAILING = ("Failed", "CrashLoop")


def _groups(dep: dict[str, Any]) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    out = []
    for want in dep["services"]:
        mine = [
            r for r in dep["replicas"]
            if r["service"] == want["service"] and r["placement"] == want["placement"]
        ]  # fmt: skip
        out.append((want, mine))
    return out


def unreachable(dep: dict[str, Any]) -> dict[str, str]:
    """Cluster placements the control plane cannot reach now, with the reason."""
    return {c["placement"]: c["message"] for c in dep.get("clusters", []) if c["message"]}


def rollout_state(dep: dict[str, Any], version: int) -> tuple[bool, list[str]]:
    """(every placement ready at `version` with nothing old left, one line per placement).

    A cluster placement that cannot be reached does not hold the others up (its line
    says why), unless no placement can be reached at all."""
    down = unreachable(dep)
    rolling = _rolling(dep)
    groups = _groups(dep)
    done = len(down) < len({want["placement"] for want, _mine in groups}) or not groups
    lines = []
    for want, mine in groups:
        if want["placement"] in down:
            lines.append(f"{want['service']:<16} {want['placement']:<22} unreachable")
            continue
        ready = [r for r in mine if r["state"] == "Ready" and r["version"] == version]
        others = [r for r in mine if r not in ready]
        behind = rolling.get((want["service"], want["placement"]))
        if len(ready) != want["replicas"] or others or behind:
            done = False
        states = ", ".join(sorted({f"{r['state']} v{r['version']}" for r in others}))
        lines.append(
            f"{want['service']:<16} {want['placement']:<22} {len(ready)}/{want['replicas']} ready"
            + (f"  ({states})" if states else "")
            + (f"  (rolling out: {behind})" if behind else "")
        )
    return done, lines


def _rolling(dep: dict[str, Any]) -> dict[tuple[str, str], str]:
    """Cluster Deployments whose rollout has not finished, by (service, placement)."""
    out = {}
    for cluster in dep.get("clusters", []):
        for service, r in (cluster.get("rollout") or {}).items():
            if not r["done"]:
                out[(service, cluster["placement"])] = (
                    f"{r['updated']}/{r['desired']} updated, {r['available']} available"
                )
    return out


def halted(dep: dict[str, Any], version: int) -> list[dict[str, Any]]:
    """New-version replicas that keep failing: the rollout is stuck on them."""
    return [
        r for r in dep["replicas"]
        if r["version"] == version and r["state"] in FAILING and r["crash_count"] >= 2
    ]  # fmt: skip


def not_ready_report(dep: dict[str, Any], version: int, waited: float | None) -> str:
    head = f"not ready after {waited:g}s" if waited is not None else "rollout halted"
    lines = [f"{dep['name']} version {version}: {head}:"]
    for r in dep["replicas"]:
        if r["state"] == "Ready" and r["version"] == version:
            continue
        lines.append(
            f"  {r['id']} ({r['placement']}, v{r['version']}): {r['state']} {r['message']}"
        )
        for tail in procs.last_lines(Path(r["log"]), 8):
            lines.append(f"    | {tail}")
    old = sorted(
        {r["version"] for r in dep["replicas"] if r["state"] == "Ready" and r["version"] != version}
    )
    if old:
        lines.append(f"  version {', '.join(map(str, old))} keeps serving")
    return "\n".join(lines)


@contextlib.contextmanager
def progress() -> Iterator[Callable[[list[str]], None]]:
    """A live view on a terminal; changed lines only when stderr is not one."""
    console = Console(stderr=True)
    if not console.is_terminal:
        last: list[str] = []

        def show_plain(lines: list[str]) -> None:
            nonlocal last
            if lines != last:
                for line in lines:
                    console.print(line, highlight=False)
                last = lines

        yield show_plain
        return
    with Live(console=console, transient=True, refresh_per_second=8) as live:
        yield lambda lines: live.update(Text("\n".join(lines)))


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(time.time() - seconds)
    return f"{s}s" if s < 120 else f"{s // 60}m" if s < 7200 else f"{s // 3600}h"


def tables(status: dict[str, Any]) -> list[Table]:
    """One table per deployment: a row per (service, placement)."""
    out = []
    for dep in status["deployments"]:
        grid = Table(
            title=f"{dep['name']} (version {dep['version']}) behind {status['gateway']['url']}"
            f"{_auth_note(dep)}{_mtls_note(dep)}",
            title_justify="left",
        )
        columns = ("service", "placement", "ready", "endpoints", "restarts", "age", "version")
        for column in (*columns, "traffic", "errors"):
            grid.add_column(column, no_wrap=column != "endpoints")
        window = dep.get("traffic") or {"rows": []}
        seen = {(r["service"], r["placement"]): r for r in window["rows"]}
        if window.get("window_s"):
            span = f"{window['window_s']:.0f}s"
            grid.caption = f"traffic, errors: share of requests and 5xx rate, last {span}"
        for want, mine in _groups(dep):
            ready = [r for r in mine if r["state"] == "Ready"]
            bad = sorted({r["state"] for r in mine if r["state"] not in ("Ready", "Unknown")})
            if any(r.get("preempt_at") for r in mine):
                bad.append("noticed")
            if want["placement"] in unreachable(dep):
                bad.append("unreachable")
            started = [r["started_at"] for r in mine if r["started_at"]]
            grid.add_row(
                want["service"],
                want["placement"],
                _ready_cell(want, mine, ready, bad),
                _endpoints_cell(dep, want, ready),
                str(sum(r["restarts"] for r in mine)),
                _age(min(started) if started else None),
                ",".join(sorted({str(r["version"]) for r in mine})) or str(dep["version"]),
                *_traffic_cells(seen.get((want["service"], want["placement"]))),
            )
        for (service, placement), row in sorted(seen.items()):
            if not placement:  # answered by the gateway itself (no replica to take it)
                grid.add_row(service, "(none)", *["-"] * 5, *_traffic_cells(row))
        problems = [f"unreachable: {message}" for message in unreachable(dep).values()]
        problems += preemption_lines(dep)
        if problems:
            grid.caption = "\n".join([*problems, *([str(grid.caption)] if grid.caption else [])])
        out.append(grid)
    return out


def _ready_cell(
    want: dict[str, Any], mine: list[dict[str, Any]], ready: list[dict[str, Any]], bad: list[str]
) -> str:
    """`ready/desired` and the other states; `?/desired` while the loop cannot act. With
    spot replicas, how many of the ready ones run on spot and on-demand."""
    if any(r["state"] == "Unknown" for r in mine):
        seen = sum(1 for r in mine if r.get("recorded_state") == "Ready")
        return f"?/{want['replicas']} unknown ({seen} ready when last seen)"
    cell = f"{len(ready)}/{want['replicas']}"
    if want.get("spot") or any(r.get("capacity") == "spot" for r in mine):
        spot = sum(1 for r in ready if r.get("capacity") == "spot")
        cell += f" ({spot} spot, {len(ready) - spot} on-demand)"
    return cell + (f" {','.join(bad)}" if bad else "")


def preemption_lines(dep: dict[str, Any]) -> list[str]:
    """How many preemption notices the deployment got, and the last one."""
    seen = dep.get("preemptions") or []
    if not seen:
        return []
    last = seen[-1]
    at = time.strftime("%H:%M:%S", time.localtime(last["ts"]))
    return [f"preemptions seen: {len(seen)}; last at {at}: {last['message']}"]


def loop_lines(status: dict[str, Any], now: float) -> list[str]:
    """What to say first when the control loop cannot act (status's `loop`)."""
    loop = status.get("loop") or {}
    if not loop.get("error"):
        return []
    since = now - (loop.get("failing_since") or now)
    last = loop.get("last_pass_at")
    seen = f"{now - last:.0f}s ago" if last else "never since it started"
    return [
        f"warning: the control loop has failed for {since:.0f}s: {loop['error']}",
        f"  it last completed a pass {seen}; replica states below are as recorded then",
    ]


def leader_lines(status: dict[str, Any]) -> list[str]:
    """Which control plane leads, when several may share a PostgreSQL database (status's
    `controlplane`); a warning when none does, since then nothing acts."""
    plane = status.get("controlplane") or {}
    if not plane.get("shared"):
        return []
    leader = plane.get("leader")
    if leader is None:
        why = f": {plane['error']}" if plane.get("error") else ""
        return [
            f"warning: no control plane leads at the moment{why}",
            "  nothing is restarted or scaled meanwhile; replica states are as last recorded",
        ]
    standby = "" if plane.get("role") == "leader" else f"; standby pid {plane['pid']} answered"
    return [f"control plane: pid {leader['pid']} leads at {leader['url']}{standby}"]


def _endpoints_cell(dep: dict[str, Any], want: dict[str, Any], ready: list[dict[str, Any]]) -> str:
    """Local replicas' own addresses; a cluster placement's load balancer (its pods' IPs
    are not reachable from outside the cluster)."""
    local = [r for r in ready if targets.target_of(r["placement"]) is targets.Target.LOCAL]
    urls = [r["url"] for r in local]
    if len(local) < len(ready):
        urls += [
            e["url"]
            for e in dep["endpoints"]
            if (e["service"], e["placement"]) == (want["service"], want["placement"])
        ]
    return " ".join(url.partition("://")[2] or url for url in urls) or "-"


def _auth_note(dep: dict[str, Any]) -> str:
    auth = dep.get("auth") or {}
    if auth.get("mode") == "token":
        return f"; API token required ({auth.get('active_tokens', 0)} active)"
    if auth:
        return "; open: no API token yet (`crosscloud token create`)"
    return ""


def _mtls_note(dep: dict[str, Any]) -> str:
    if dep.get("mtls") == "disabled":
        return "; PLAINTEXT to replicas: mutual TLS disabled by spec.security.mtls"
    if not dep.get("mtls"):
        return ""
    plain = dep.get("plaintext_services") or []
    return "; mutual TLS to replicas" + (f" (plaintext to {', '.join(plain)})" if plain else "")


def _traffic_cells(row: dict[str, Any] | None) -> tuple[str, str]:
    """Share of the service's requests and 5xx rate over the last minute, "-" when idle."""
    if not row or not row["requests"]:
        return "-", "-"
    return f"{row['share']:.0%}", f"{row['error_rate']:.1%}"
