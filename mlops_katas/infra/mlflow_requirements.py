"""Pip-requirement inference done once per kind of model on a machine, not once per logged model.

`log_model` without `pip_requirements=` starts a second Python that imports MLflow and
loads the saved model, to see which packages it imports: about eight seconds a model.
The kata tests log the same kinds of models hundreds of times (a day's fixtures, every
alternative answer, every mutant), and a learner reruns them all day. What that second
Python finds depends only on the model's flavor, the classes the saved model refers to
and the installed packages, so the modules it reported are kept in the system's
temporary folder under a key made of exactly those, and reused. The classes are read
from the saved files without loading them (pickle opcodes, a skops file's schema); a
file read neither way goes into the key whole, so such a model is never mistaken for
another. The model records the requirements inference would have found.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import io
import json
import pickletools
import sys
import zipfile
from pathlib import Path

from ..practice_store import atomic_write_text
from .mlflow_env import _cache_root

PACKAGES = ("mlflow", "scikit-learn", "numpy", "scipy", "skops")
# Files MLflow writes beside the model that say nothing about what loading it imports.
METADATA = {"MLmodel", "conda.yaml", "python_env.yaml", "requirements.txt", "input_example.json",
            "serving_input_example.json", "registered_model_meta"}
STRING_OPS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "SHORT_BINSTRING", "BINSTRING", "STRING"}
MEMO_PUT = {"MEMOIZE", "PUT", "BINPUT", "LONG_BINPUT"}
MEMO_GET = {"GET", "BINGET", "LONG_BINGET"}


def install() -> None:
    """Route MLflow's inference through the cache (once per process; a no-op after)."""
    from mlflow.utils import requirements_utils

    capture = requirements_utils._capture_imported_modules
    if not getattr(capture, "kata_cached", False):
        requirements_utils._capture_imported_modules = _cached(capture)


def _cached(capture):
    @functools.wraps(capture)
    def cached(model_uri, flavor, record_full_module=False, extra_env_vars=None):
        key = model_key(model_uri, flavor, record_full_module, extra_env_vars)
        if key is None:  # not a saved model on this machine: nothing to read it by
            return capture(model_uri, flavor, record_full_module=record_full_module, extra_env_vars=extra_env_vars)
        path = _cache_root() / "requirements" / f"{key}.json"
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            pass
        modules = capture(model_uri, flavor, record_full_module=record_full_module, extra_env_vars=extra_env_vars)
        atomic_write_text(path, json.dumps(list(modules)))  # a parallel run reads no list or the whole one
        return modules

    cached.kata_cached = True
    return cached


def model_key(model_uri, flavor: str, record_full_module: bool, extra_env_vars) -> str | None:
    root = Path(str(model_uri).removeprefix("file://"))
    if not root.exists():
        return None
    key = hashlib.sha256(json.dumps([flavor, bool(record_full_module), sorted((extra_env_vars or {}).items()),
                                     sys.version]).encode())
    for package in PACKAGES:
        try:
            key.update(importlib.metadata.version(package).encode())
        except importlib.metadata.PackageNotFoundError:
            key.update(b"-")
    if (root / "MLmodel").is_file():  # how it is loaded: its flavors (not its run, time or id)
        import yaml

        key.update(json.dumps((yaml.safe_load((root / "MLmodel").read_text()) or {}).get("flavors"),
                              sort_keys=True, default=str).encode())
    files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
    for path in files:
        if path.name in METADATA and path.parent == root:
            continue
        key.update(str(path.relative_to(root) if root.is_dir() else path.name).encode() + b"\0")
        key.update(_what_loading_imports(path.read_bytes()) + b"\0")
    return key.hexdigest()[:32]


def _what_loading_imports(data: bytes) -> bytes:
    """The modules a saved file names for its classes, or the whole file when it is neither a
    pickle nor a zip holding skops' schema."""
    modules = _pickle_modules(data)
    if modules is None and zipfile.is_zipfile(io.BytesIO(data)):
        modules = _skops_modules(data)
    return json.dumps(sorted(modules)).encode() if modules is not None else hashlib.sha256(data).digest()


def _pickle_modules(data: bytes) -> set[str] | None:
    """Modules of the classes and functions a pickle refers to, read from its opcodes (nothing is
    loaded); None when `data` is not a pickle."""
    modules: set[str] = set()
    pushed: list[str | None] = []  # what each push left on the stack, as text (None: not a string)
    memo: dict[int, str | None] = {}
    try:
        for op, arg, _ in pickletools.genops(data):
            if op.name in STRING_OPS:
                pushed.append(arg.decode("latin-1") if isinstance(arg, bytes) else str(arg))
            elif op.name in MEMO_GET:
                pushed.append(memo.get(arg))
            elif op.name in MEMO_PUT:  # memoises the top of the stack; MEMOIZE's index is the memo's size
                memo[len(memo) if arg is None else arg] = pushed[-1] if pushed else None
            elif op.name == "STOP":
                return modules
            else:
                if op.name == "GLOBAL":
                    modules.add(str(arg).split(" ", 1)[0])
                elif op.name == "STACK_GLOBAL" and len(pushed) >= 2 and pushed[-2] is not None:
                    modules.add(pushed[-2])  # module, then name: the two values pushed last
                pushed.append(None)  # the global, or whatever else an op leaves: not a string
    except Exception:  # any parse error: not a pickle this reader understands
        return None
    return None


def _skops_modules(data: bytes) -> set[str] | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            schema = json.loads(archive.read("schema.json"))
    except (KeyError, ValueError, zipfile.BadZipFile):
        return None
    found: set[str] = set()

    def walk(node) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("__module__"), str):
                found.add(node["__module__"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return found
