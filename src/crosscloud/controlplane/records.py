"""How a deployment is kept in the store: the manifest text as submitted, where it came
from, a hash of it and its services' source files, `scale` overrides (`crosscloud scale`)
and `autoscale` ones (the autoscaler's), as one JSON document with a schema version
(never pickled objects)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from crosscloud.domain import manifest, state

SCHEMA = 1


@dataclass(frozen=True)
class Submitted:
    """A manifest as the user submitted it, with the `scale` overrides applied since.

    `scale` pins a placement's count by hand until the next `up` that changes the
    manifest; `autoscale` holds the autoscaler's counts for the placements not pinned;
    `preempted` the time of the last preemption notice per placement (the spot policy's
    cooldown)."""

    text: str
    path: str
    scale: dict[str, int] = field(default_factory=dict)
    autoscale: dict[str, int] = field(default_factory=dict)
    preempted: dict[str, float] = field(default_factory=dict)
    #: the user's price catalog CSV given to `up --catalog` (for the cost ledger), or ""
    catalog: str = ""

    def overrides(self) -> dict[str, int]:
        """Replica counts by `service@placement`: a manual `scale` wins over the autoscaler."""
        return {**self.autoscale, **self.scale}

    @property
    def folder(self) -> Path:
        """Sources in the manifest are relative to the manifest's folder."""
        return Path(self.path).resolve().parent

    def parse(self) -> manifest.Manifest:
        return manifest.load_manifest(self.text, self.path)

    def dumps(self) -> str:
        doc = {"schema": SCHEMA, "text": self.text, "path": self.path, "scale": self.scale}
        if self.autoscale:
            doc["autoscale"] = self.autoscale
        if self.preempted:
            doc["preempted"] = self.preempted
        if self.catalog:
            doc["catalog"] = self.catalog
        return orjson.dumps(doc).decode()

    @classmethod
    def loads(cls, data: str) -> Submitted:
        doc = orjson.loads(data)
        return cls(
            text=doc["text"],
            path=doc["path"],
            scale=dict(doc.get("scale", {})),
            autoscale=dict(doc.get("autoscale", {})),
            preempted={k: float(v) for k, v in doc.get("preempted", {}).items()},
            catalog=str(doc.get("catalog", "")),
        )


@dataclass(frozen=True)
class Deployed:
    """A stored deployment as the loop works on it: its row, the manifest as submitted
    (with its `scale` and `autoscale` overrides) and that manifest parsed."""

    record: state.DeploymentRecord
    submitted: Submitted
    spec: manifest.Manifest

    @property
    def name(self) -> str:
        return self.record.name


def content_hash(submitted: Submitted, spec: manifest.Manifest) -> str:
    """A hash of the manifest text and every service's source file: a change to either is
    a new version (a rolling update)."""
    digest = hashlib.sha256(submitted.text.encode())
    for service in spec.spec.services:
        if service.source:
            digest.update(service.name.encode())
            file = source_file(submitted.folder, service.source)
            digest.update(file.read_bytes() if file.is_file() else b"<missing>")
    return digest.hexdigest()


def source_file(folder: Path, source: str) -> Path:
    """The Python file a `path.py[:Class]` source names, relative to the manifest."""
    return (folder / source.partition(":")[0]).resolve()


def submitted_of(record: state.DeploymentRecord) -> Submitted:
    return Submitted.loads(record.manifest_json)
