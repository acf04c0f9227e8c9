"""The upstream fingerprint of every file a learner must not change, and of every stub.

`katas.lock` maps each test file, day conftest, kata.toml and stub to its git blob id,
and so every file the tests run or read besides them: the harness, the stand-in images,
the reference answers later days build on, each day's provided files. Scoring compares
the working tree with it (and with the lock of an upstream git ref), so an edited test,
or a harness edited to pass everything, is reported, not scored; `katas reset` restores
a stub from the blob the lock names, which every clone of the repository holds.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

from .curriculum import all_days

LOCK_FILE = "katas.lock"
GIT_TIMEOUT_S = 30


def blob_id(data: bytes) -> str:
    """The id git gives a file's content (`git hash-object`)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def protected_files(root: Path) -> list[Path]:
    """Files whose upstream content decides the score: tests, fixtures, day metadata."""
    files = [root / "conftest.py", root / "pytest.ini"]
    for day in all_days(root):
        files += sorted(day.path.glob("test_*.py")) + sorted(day.path.glob("conftest.py"))
        files.append(day.path / "kata.toml")
    return files


SUPPORT_ROOT_FILES = ("pyproject.toml", "tox.ini")
SUPPORT_TREES = ("mlops_katas", "docker", "solutions")
CACHES = {"__pycache__", ".pytest_cache", ".hypothesis"}


def _walk(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not CACHES & set(p.relative_to(folder).parts))


def support_files(root: Path, protected: list[Path]) -> list[Path]:
    """What else the tests run or read, besides the `protected` files. Only edits and
    deletions count here: a learner may add files of their own (notes, helper modules)
    beside their work."""
    files = [root / name for name in SUPPORT_ROOT_FILES]
    for tree in SUPPORT_TREES:
        if (root / tree).is_dir():
            files += _walk(root / tree)
    protected = set(protected)
    for day in all_days(root):
        learner = {day.path / name for name in day.files}
        files += [p for p in _walk(day.path) if p not in learner and p not in protected and p.name != "README.md"]
    return files


def stub_files(root: Path) -> list[Path]:
    return [day.path / name for day in all_days(root) for name in day.files]


def compute(root: Path) -> dict[str, dict[str, str]]:
    def ids(paths: list[Path]) -> dict[str, str]:
        return {str(p.relative_to(root)): blob_id(p.read_bytes()) for p in paths if p.is_file()}

    protected = protected_files(root)
    return {"protected": ids(protected), "support": ids(support_files(root, protected)), "stubs": ids(stub_files(root))}


def write(root: Path) -> Path:
    path = root / LOCK_FILE
    path.write_text(json.dumps(compute(root), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return path


def read(root: Path, ref: str | None = None) -> dict[str, dict[str, str]]:
    """The lock in the working tree, or as committed at git `ref` (e.g. `upstream/main`)."""
    if ref is None:
        return json.loads((root / LOCK_FILE).read_text(encoding="utf-8"))
    text = subprocess.run(["git", "show", f"{ref}:{LOCK_FILE}"], cwd=root, capture_output=True,
                          text=True, timeout=GIT_TIMEOUT_S, check=True).stdout
    return json.loads(text)


def same_blob(data: bytes, blob: str | None) -> bool:
    """Is `data` the content of `blob` as git would store it? A checkout with
    `core.autocrlf=true` has CRLF line endings for LF blobs: not an edit."""
    return blob is not None and blob in (blob_id(data), blob_id(data.replace(b"\r\n", b"\n")))


def untouched(root: Path, day, stubs: dict[str, str]) -> bool:
    """Is every learner file of `day` (a Day under `root`) still the stub `stubs` records?
    The one definition of "not started" for `katas list`, the plugin and the scorer."""
    paths = [day.path / name for name in day.files]
    return bool(paths) and all(
        path.is_file() and same_blob(path.read_bytes(), stubs.get(str(path.relative_to(root))))
        for path in paths)


def stub_blobs(root: Path) -> dict[str, str]:
    """The lock's stub blob ids; none where there is no readable lock."""
    try:
        return read(root).get("stubs", {})
    except (OSError, ValueError):
        return {}


def tampered(root: Path, ref: str | None = None, *, expected: dict | None = None) -> list[str]:
    """Locked files that differ from the lock (the working tree's, `ref`'s, or `expected`),
    and test files or conftests that were added."""
    expected = read(root, ref) if expected is None else expected

    def differs(path: str, blob: str) -> bool:
        file = root / path
        return file.is_symlink() or not file.is_file() or not same_blob(file.read_bytes(), blob)

    changed = [path for section in ("protected", "support")
               for path, blob in expected.get(section, {}).items() if differs(path, blob)]
    present = [str(p.relative_to(root)) for p in protected_files(root) if p.is_file()]
    added = [path for path in present if path not in expected.get("protected", {})]
    return sorted(set(changed + added))


def pristine_stub(root: Path, relpath: str) -> bytes:
    """The original content of a stub, read from git's object store by its locked blob id."""
    blob = read(root)["stubs"].get(relpath)
    if blob is None:
        raise KeyError(f"{relpath} is not a stub listed in {LOCK_FILE}")
    return subprocess.run(["git", "cat-file", "blob", blob], cwd=root, capture_output=True,
                          timeout=GIT_TIMEOUT_S, check=True).stdout
