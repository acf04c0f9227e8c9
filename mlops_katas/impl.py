"""Which folder a day's code is imported from, and keeping days apart in one run.

The same unchanged test files run against the learner's stubs (`katas/dayNN`), the
reference answers (`--impl solutions`) or any folder that mirrors a day's file names
(`--impl PATH`, how a mentor grades and how mutants are checked). Test files import
learner modules by their plain names (`from lru_cache import LRUCache`), so the
harness puts one day's folder at the front of `sys.path` at a time and swaps the
modules it loaded in and out of `sys.modules` as tests of different days run.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from .curriculum import Day


def resolve_impl_dir(day: Day, impl: str | Path | None) -> Path:
    """`impl` may hold day folders (`solutions/`) or be one day's folder itself."""
    if impl is None:
        return day.path
    base = Path(impl).expanduser().resolve()
    per_day = base / day.name
    return per_day if per_day.is_dir() else base


def _top_level_names(folder: Path) -> set[str]:
    names = {p.stem for p in folder.glob("*.py") if not p.name.startswith("test_")}
    names.discard("conftest")
    names |= {p.name for p in folder.iterdir() if (p / "__init__.py").is_file()}
    return names


class ModuleSwitch:
    """Makes one implementation folder at a time importable by plain module names."""

    def __init__(self) -> None:
        self.active: Path | None = None
        self._stash: dict[Path, dict[str, ModuleType]] = {}

    def activate(self, folder: Path) -> None:
        if folder == self.active:
            return
        if self.active is not None:
            self._stash[self.active] = self._pop_modules(self.active)
            while str(self.active) in sys.path:
                sys.path.remove(str(self.active))
        # A module of the same name imported from anywhere else (another day, a
        # library) must not shadow this folder's file.
        self._pop_modules(folder)
        sys.path.insert(0, str(folder))
        sys.modules.update(self._stash.pop(folder, {}))
        importlib.invalidate_caches()
        self.active = folder

    def _pop_modules(self, folder: Path) -> dict[str, ModuleType]:
        names = _top_level_names(folder) if folder.is_dir() else set()
        popped = {}
        for name in list(sys.modules):
            if name.split(".", 1)[0] in names:
                popped[name] = sys.modules.pop(name)
        return {
            name: module
            for name, module in popped.items()
            if _defined_in(module, folder)
        }


def _defined_in(module: ModuleType, folder: Path) -> bool:
    origin = getattr(module, "__file__", None)
    return origin is not None and Path(origin).resolve().is_relative_to(folder)


def load_file(path: Path, name: str) -> ModuleType:
    """Import one file under a name of its own, whatever folder the day's code comes from:
    a provided script, or an earlier day's reference answer a later day builds on."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while a class is made
    spec.loader.exec_module(module)
    return module
