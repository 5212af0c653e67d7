"""Build a service's image once per content and push it once per registry.

`build` writes the context (image_context), names the image by the context's digest, skips
the build when the engine already holds that image, and pushes to each registry (ECR, ACR,
Artifact Registry or any other, addresses as registry.py reads them) unless the push record
says that exact reference already went out with this digest.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from crosscloud import errors
from crosscloud.adapters import paths
from crosscloud.adapters.image import context as image_context
from crosscloud.adapters.image import engine as image_engine
from crosscloud.adapters.kubernetes import registry

CONTEXT_LABEL = "crosscloud.dev/context-digest"
Say = Callable[[str], None]


@dataclass(frozen=True)
class Repository:
    """`REPO[:TAG]` as given to `--tag`: the repository path and an optional extra tag."""

    name: str
    tag: str | None = None

    @classmethod
    def parse(cls, text: str) -> Repository:
        name, tag = text, None
        last = text.rsplit("/", 1)[-1]
        if ":" in last:
            name, _, tag = text.rpartition(":")
        if "@" in text or not name or tag == "":
            raise errors.UserError(
                f"--tag {text!r}: expected REPO[:TAG] such as echo or ghcr.io/me/echo:v1"
            )
        if name != name.lower():
            raise errors.UserError(f"--tag {text!r}: repository names are lowercase")
        return cls(name, tag)

    def ref(self, tag: str, *, under: str | None = None) -> str:
        """`name:tag`, put under registry `under` unless the name already names a host."""
        return registry.image_reference(under, f"{self.name}:{tag}")


@dataclass(frozen=True)
class BuildResult:
    """What `build` did: the image's references, whether it built, and what it pushed."""

    image: str  # the content-addressed local reference
    digest: str
    built: bool
    tags: tuple[str, ...]
    pushed: tuple[str, ...] = ()
    already_pushed: tuple[str, ...] = ()
    context: Path | None = None


class PushRecord:
    """references pushed and the context digest each carried (JSON file under the home)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path if path is not None else paths.home() / "images" / "pushed.json"

    def _load(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def has(self, ref: str, digest: str) -> bool:
        return self._load().get(ref) == digest

    def add(self, ref: str, digest: str) -> None:
        data = self._load()
        data[ref] = digest
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(data, indent=1, sort_keys=True))
        temporary.replace(self.path)


def _refs(repository: Repository, digest_tag: str, under: str | None) -> list[str]:
    refs = [repository.ref(digest_tag, under=under)]
    if repository.tag:
        refs.append(repository.ref(repository.tag, under=under))
    return refs


def _push_all(
    engine: image_engine.Engine,
    *,
    local: list[str],
    targets: Sequence[str | None],
    repository: Repository,
    digest: tuple[str, str],
    record: PushRecord,
    say: Say,
) -> tuple[list[str], list[str]]:
    pushed: list[str] = []
    already: list[str] = []
    tag, full = digest
    for under in targets:
        for source, ref in zip(local, _refs(repository, tag, under), strict=True):
            if record.has(ref, full):
                already.append(ref)
                continue
            if ref != source:
                engine.run(engine.tag_command(source, ref))
            say(f"pushing {ref}")
            engine.run(engine.push_command(ref), output=None)
            record.add(ref, full)
            pushed.append(ref)
    return pushed, already


def build(
    source: str,
    *,
    repository: Repository,
    engine: image_engine.Engine,
    registries: Sequence[str] = (),
    push: bool = False,
    base: str = image_context.DEFAULT_BASE,
    install: bool = True,
    keep_context: Path | None = None,
    record: PushRecord | None = None,
    say: Say = lambda line: None,
) -> BuildResult:
    """Build `source`'s image with `engine` (unless built already) and push it if asked.

    `registries` are prefixes such as `123456789012.dkr.ecr.us-west-2.amazonaws.com`; with
    none, `--push` pushes to the repository's own host. `keep_context` keeps the context
    folder there (it must be empty or absent); otherwise a temporary one is removed.
    """
    work = keep_context or Path(tempfile.mkdtemp(prefix="crosscloud-build-"))
    try:
        ctx = image_context.write_context(source, into=work, base=base, install=install)
        local = _refs(repository, ctx.tag, None)
        built = _build_once(engine, ctx, local, say)
        pushed: list[str] = []
        already: list[str] = []
        if push:
            targets: list[str | None] = list(registries) or [None]
            pushed, already = _push_all(
                engine,
                local=local,
                targets=targets,
                repository=repository,
                digest=(ctx.tag, ctx.digest),
                record=record or PushRecord(),
                say=say,
            )
        return BuildResult(
            image=local[0],
            digest=ctx.digest,
            built=built,
            tags=tuple(local),
            pushed=tuple(pushed),
            already_pushed=tuple(already),
            context=work if keep_context else None,
        )
    finally:
        if keep_context is None:
            shutil.rmtree(work, ignore_errors=True)


def _build_once(
    engine: image_engine.Engine, ctx: image_context.BuildContext, local: list[str], say: Say
) -> bool:
    if engine.succeeds(engine.exists_command(local[0])):
        say(f"{local[0]} is up to date (context sha256:{ctx.digest[:16]}); not rebuilding")
        for extra in local[1:]:
            engine.run(engine.tag_command(local[0], extra))
        return False
    say(f"building {local[0]} with {engine.name}")
    engine.run(
        engine.build_command(
            context=ctx.path,
            containerfile=ctx.path / image_context.CONTAINERFILE,
            tags=local,
            labels={CONTEXT_LABEL: f"sha256:{ctx.digest}"},
        ),
        output=say,
    )
    return True
