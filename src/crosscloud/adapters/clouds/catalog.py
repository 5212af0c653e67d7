"""Reads price catalogs: the CSV shipped inside the package, a user's `--catalog` CSV that
replaces or extends it, and this machine as the free `local` offering."""

from __future__ import annotations

import os
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from crosscloud import errors
from crosscloud.domain import catalog

SHIPPED_NAME = "price_catalog.csv"


def shipped_text() -> str:
    """The text of the catalog shipped with crosscloud."""
    shipped = resources.files("crosscloud.adapters.clouds") / "data" / SHIPPED_NAME
    return shipped.read_text("utf-8")


def shipped() -> list[catalog.CatalogRow]:
    return catalog.parse_catalog(shipped_text(), SHIPPED_NAME)


def read(path: Path) -> list[catalog.CatalogRow]:
    """A user's catalog CSV; UserError if unreadable, ManifestError naming bad lines."""
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise errors.UserError(f"{path}: cannot read price catalog: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise errors.UserError(f"{path}: the price catalog is not UTF-8 text") from None
    return catalog.parse_catalog(text, str(path))


def load(
    user: Path | None = None,
    *,
    replace: bool = False,
    local_regions: Sequence[str] = ("local",),
) -> list[catalog.CatalogRow]:
    """The catalog to plan with: the shipped one extended by `user` (user rows win on the
    same provider/region/instance type), or only `user` when `replace`; plus this machine
    in each local region unless the user's rows already describe it."""
    if replace and user is None:
        raise errors.UserError("replacing the price catalog needs a catalog file (--catalog)")
    rows = [] if replace else shipped()
    if user is not None:
        rows = catalog.merge(rows, read(user))
    return catalog.merge(this_machine(local_regions), rows)


def this_machine(regions: Sequence[str] = ("local",)) -> list[catalog.CatalogRow]:
    """This machine's usable CPUs and physical memory as free `local` rows."""
    return catalog.local_rows(cpus=_cpus(), memory_bytes=_memory_bytes(), regions=regions)


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _memory_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return 4 * 2**30
