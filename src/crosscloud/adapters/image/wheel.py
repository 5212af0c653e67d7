"""A byte-for-byte reproducible wheel of the installed crosscloud package.

Images install crosscloud from this wheel (carried in the build context), so the replica
runs exactly the code that built it, whether crosscloud came from PyPI or a checkout.
Fixed timestamps and sorted entries make the same source give the same bytes, which keeps
the build context's hash (and so the image tag) stable.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import zipfile
from pathlib import Path

import crosscloud

_EPOCH = (1980, 1, 1, 0, 0, 0)
_SKIP_DIRS = frozenset({"__pycache__"})
_SKIP_SUFFIXES = (".pyc", ".pyo")


def wheel_name() -> str:
    """`crosscloud-<version>-py3-none-any.whl`."""
    return f"crosscloud-{crosscloud.__version__}-py3-none-any.whl"


def _package_files(root: Path) -> list[Path]:
    found = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if any(part in _SKIP_DIRS for part in relative.parts):
            continue
        if path.is_file() and not path.name.endswith(_SKIP_SUFFIXES):
            found.append(path)
    return found


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def _metadata() -> str:
    lines = ["Metadata-Version: 2.1", "Name: crosscloud", f"Version: {crosscloud.__version__}"]
    try:
        requires = importlib.metadata.requires("crosscloud") or []
    except importlib.metadata.PackageNotFoundError:
        requires = []
    lines += [f"Requires-Dist: {item}" for item in requires]
    return "\n".join(lines) + "\n"


def _entries() -> list[tuple[str, bytes]]:
    root = Path(crosscloud.__file__).resolve().parent
    entries = [
        (f"crosscloud/{path.relative_to(root).as_posix()}", path.read_bytes())
        for path in _package_files(root)
    ]
    info = f"crosscloud-{crosscloud.__version__}.dist-info"
    entries += [
        (f"{info}/METADATA", _metadata().encode()),
        (
            f"{info}/WHEEL",
            b"Wheel-Version: 1.0\nGenerator: crosscloud\nRoot-Is-Purelib: true\n"
            b"Tag: py3-none-any\n",
        ),
        (
            f"{info}/entry_points.txt",
            b"[console_scripts]\ncrosscloud = crosscloud.cli.main:main\n",
        ),
    ]
    record = [_record_line(name, data) for name, data in entries] + [f"{info}/RECORD,,"]
    entries.append((f"{info}/RECORD", ("\n".join(record) + "\n").encode()))
    return entries


def write_wheel(folder: Path) -> Path:
    """Write the wheel into `folder` (created if needed); returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / wheel_name()
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in _entries():
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return target
