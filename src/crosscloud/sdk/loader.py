"""Load a Service from `path.py[:Class]` or `module:Class`."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from pathlib import Path
from types import ModuleType

from crosscloud import errors
from crosscloud.sdk.definition import ServiceDefinition, define
from crosscloud.sdk.service import Service


def load(source: str) -> ServiceDefinition:
    """Import the service named by `source` and introspect it.

    `examples/echo/service.py:Echo`, `examples/echo/service.py` (when the file holds one
    Service) and `package.module:Class` are accepted.
    """
    target, _, class_name = source.partition(":")
    if target.endswith(".py") or "/" in target:
        module = _import_file(Path(target), source)
    else:
        module = _import_module(target, source)
    return define(_pick_class(module, class_name, source))


def _import_file(path: Path, source: str) -> ModuleType:
    if not path.is_file():
        raise errors.ServiceLoadError(f"{source}: no such file {str(path)!r}")
    path = path.resolve()
    module_name = f"crosscloud_user_{path.stem}_{abs(hash(str(path))):x}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise errors.ServiceLoadError(f"{source}: cannot import {str(path)!r}")
    module = importlib.util.module_from_spec(spec)
    # The service's own folder is importable, as it would be for `python service.py`.
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[module_name]
        raise errors.ServiceLoadError(
            f"{source}: importing {path.name} failed: {type(exc).__name__}: {exc}"
        ) from exc
    return module


def _import_module(name: str, source: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise errors.ServiceLoadError(f"{source}: cannot import module {name!r}: {exc}") from exc


def _pick_class(module: ModuleType, class_name: str, source: str) -> type[Service]:
    if class_name:
        cls = getattr(module, class_name, None)
        if cls is None:
            raise errors.ServiceLoadError(
                f"{source}: no {class_name!r} in it (Services found: {_names(module) or 'none'})"
            )
        if not (inspect.isclass(cls) and issubclass(cls, Service)):
            raise errors.ServiceLoadError(f"{source}: {class_name!r} is not a crosscloud.Service")
        return cls
    found = _services(module)
    if len(found) != 1:
        raise errors.ServiceLoadError(
            f"{source}: holds {len(found)} Services ({_names(module) or 'none'});"
            " name one as FILE:CLASS"
        )
    return found[0]


def _services(module: ModuleType) -> list[type[Service]]:
    return [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj)
        and issubclass(obj, Service)
        and obj is not Service
        and obj.__module__ == module.__name__
    ]


def _names(module: ModuleType) -> str:
    return ", ".join(c.__name__ for c in _services(module))
