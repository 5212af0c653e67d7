"""Container engines (docker, podman, buildah): which one exists and the commands each takes.

All three build a Containerfile into a local image, tag it and push it; they differ in
spelling. Images are built in Docker's format because OCI images drop HEALTHCHECK.
"""

from __future__ import annotations

import shutil
import subprocess
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from crosscloud import errors

EngineName = Literal["docker", "podman", "buildah"]
ENGINES: tuple[EngineName, ...] = ("docker", "podman", "buildah")
Output = Callable[[str], None]
_TAIL = 30


@dataclass(frozen=True)
class Engine:
    """One engine binary plus global flags (podman/buildah: `--storage-driver vfs --root X`)."""

    name: EngineName
    binary: str
    global_args: tuple[str, ...] = ()

    def command(self, *args: str) -> list[str]:
        """The engine's argv for `args`, with the global flags first."""
        return [self.binary, *self.global_args, *args]

    def build_command(
        self, *, context: Path, containerfile: Path, tags: Sequence[str], labels: Mapping[str, str]
    ) -> list[str]:
        args = ["build", "-f", str(containerfile)]
        if self.name != "docker":
            args += ["--format", "docker"]
        for tag in tags:
            args += ["-t", tag]
        for key, value in sorted(labels.items()):
            args += ["--label", f"{key}={value}"]
        return self.command(*args, str(context))

    def exists_command(self, ref: str) -> list[str]:
        if self.name == "docker":
            return self.command("image", "inspect", ref)
        if self.name == "podman":
            return self.command("image", "exists", ref)
        return self.command("inspect", "--type", "image", ref)

    def tag_command(self, source: str, target: str) -> list[str]:
        return self.command("tag", source, target)

    def push_command(self, ref: str) -> list[str]:
        if self.name == "buildah":
            return self.command("push", ref, f"docker://{ref}")
        return self.command("push", ref)

    def run(self, command: list[str], *, output: Output | None = None) -> None:
        """Run an engine command; failure raises PermanentError with the output's tail."""
        code, tail = _stream(command, output)
        if code != 0:
            # Output already shown line by line is not repeated: its last line says why.
            shown = tail[-1:] if output is not None else tail
            step = command[len(self.global_args) + 1]
            raise errors.PermanentError(
                f"{self.name} {step} failed (exit {code}):\n" + "\n".join(shown)
            )

    def succeeds(self, command: list[str]) -> bool:
        """Whether a query command (image exists?) exits 0."""
        done = subprocess.run(command, capture_output=True, check=False)
        return done.returncode == 0


def _stream(command: list[str], output: Output | None) -> tuple[int, list[str]]:
    tail: deque[str] = deque(maxlen=_TAIL)
    try:
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
        )
    except OSError as exc:
        raise errors.PermanentError(f"cannot run {command[0]}: {exc}") from exc
    assert process.stdout is not None
    with process.stdout:
        for line in process.stdout:
            line = line.rstrip("\n")
            tail.append(line)
            if output is not None:
                output(line)
    return process.wait(), list(tail)


def _docker_daemon_answers(binary: str) -> bool:
    try:
        done = subprocess.run(
            [binary, "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            check=False,
            timeout=15,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def detect(
    preferred: EngineName | None = None,
    *,
    global_args: tuple[str, ...] = (),
    which: Callable[[str], str | None] = shutil.which,
    docker_ok: Callable[[str], bool] = _docker_daemon_answers,
) -> Engine:
    """The preferred engine, else the first usable of docker, podman, buildah.

    docker counts only when its daemon answers. None usable is a UserError (exit 2)
    saying what was looked for and how to install one.
    """
    seen: list[str] = []
    for name in (preferred,) if preferred else ENGINES:
        binary = which(name)
        if binary is None:
            seen.append(f"{name}: not on PATH")
            continue
        if name == "docker" and not docker_ok(binary):
            seen.append("docker: installed but its daemon does not answer (`docker info` failed)")
            continue
        return Engine(name, binary, global_args if name != "docker" else ())
    raise errors.UserError(
        "no container engine to build with ("
        + "; ".join(seen)
        + "): install docker (with a running daemon), podman or buildah"
        " (Debian/Ubuntu: apt-get install buildah), or pick one with --engine"
    )
