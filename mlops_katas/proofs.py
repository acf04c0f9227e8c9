"""The proof ledger: which self-check verdicts still hold because nothing they rest on changed.

Proving every mutant and every blind reviewer's answer of every day takes some forty
minutes on two cores, and most commits touch one day. As a build cache keys a test's
result by its inputs, `tests/proofs/dayNN.json` records, for each mutant and alternative
check that passed, a digest of everything its verdict rests on: the harness, the root
conftest and pytest.ini, the day's folder (tests, conftest, README, stubs), the folders of
the days it names, its reference answer, and the alternative or the mutant itself (its
`# Killed-by:` line aside, which only says which test to try first). A check whose digest
is in the ledger was proven with these very inputs: the self-check reports it as reused
and does not run it again. A change to any input, the harness included, makes the check
run again. The reference answers and the stubs of every day always run (they are what
a learner meets, and what a new library release would break first), and so does each
day's README check.

A ledger is only as honest as whoever wrote it: so every CI run also re-proves a share of
the reused checks (`KATAS_REPROVE=0.1`), a different share for each commit, and
`KATAS_REPROVE=all` re-proves everything. An alternative whose run a missing tier left
partly unproven (the kind tier, say) is recorded as proven without that tier: the proof is
reused only where that tier is missing too, and a machine that has it runs the check.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterable
from itertools import combinations
from pathlib import Path

from . import alternatives, mutants, selfcheck
from .curriculum import Day
from .lock import _walk

LEDGER_DIR = Path("tests") / "proofs"
REPROVE = "KATAS_REPROVE"
# What every day's run rests on besides its own folders: the files pytest reads, the images
# and manifests the infra fixtures use, and the harness modules that a run or the self-check's
# judging can import (see `_imported_modules`). The `katas` command, the scorer, the harness's
# own tests and this ledger are not among them.
HARNESS_FILES = ("conftest.py", "pytest.ini", "pyproject.toml")
HARNESS_TREES = ("docker", "k8s")
PACKAGE = "mlops_katas"
MODULE_NAME = re.compile(PACKAGE + r"(?:\.\w+)*")
FROM_IMPORT = re.compile(r"^\s*from\s+(\.+[\w.]*|" + PACKAGE + r"[\w.]*)\s+import\s+(\([^)]*\)|.*)$", re.MULTILINE)
DAY_REFERENCE = re.compile(r"\bday(\d\d)\b")
# The harness names days in examples and help texts too; only a path into a day's folder is
# something it reads (the kind fixtures build day 03's server from `solutions/day03`).
DAY_PATH = re.compile(r"""["'](?:katas|solutions)["']\s*/\s*["']day(\d\d)["']""")


@functools.cache
def _tracked(root: Path) -> frozenset[Path] | None:
    """The files git tracks or would (their working-tree content is what is hashed): what
    runs leave behind (mlruns/, caches, all ignored) is not an input. None outside git."""
    try:
        done = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root, capture_output=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return frozenset(root / name for name in done.stdout.decode().split("\0") if name)


def _files(root: Path, folder: Path) -> list[Path]:
    tracked = _tracked(root)
    found = _walk(folder) if folder.is_dir() else [folder] if folder.is_file() else []
    return [p for p in found if tracked is None or p in tracked]


def _digest(root: Path, paths: list[Path], *extra: str) -> str:
    h = hashlib.sha256()
    for part in extra:
        h.update(part.encode() + b"\0")
    for path in sorted(set(paths)):
        h.update(str(path.relative_to(root)).encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def _named_days(root: Path, paths: list[Path], pattern: re.Pattern = DAY_REFERENCE) -> set[str]:
    """Days whose files a day's tests (or the harness) reach by name, e.g. day 07's conftest
    building day 03's server from `solutions/day03`."""
    found = set()
    for path in paths:
        if path.suffix in (".py", ".toml", ".sh", ".yaml", ".yml"):
            found |= {f"day{n}" for n in pattern.findall(path.read_text(encoding="utf-8", errors="replace"))}
    return {name for name in found if (root / "katas" / name / "kata.toml").is_file()}


def _day_trees(root: Path, name: str, *, used_by_others: bool = False) -> list[Path]:
    """A day's kata and reference folders. What another day or the harness uses of them is
    their code and data, never their tests or docs: a sharper day-03 test proves nothing anew
    about the days that build day 03's server."""
    paths = _files(root, root / "katas" / name) + _files(root, root / "solutions" / name)
    if not used_by_others:
        return paths
    return [p for p in paths if not (p.suffix == ".md" or p.name == "conftest.py"
                                     or (p.suffix == ".py" and p.name.startswith("test_")))]


def _module_file(root: Path, dotted: str) -> Path | None:
    base = root / Path(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(root: Path, path: Path) -> set[str]:
    """The harness modules a file imports, or names in a string as pytest plugins and entry
    points do (a package's `__init__` with each of its modules). Read with patterns, not
    parsed: this runs over every day's files in each self-check worker."""
    text = path.read_text(encoding="utf-8")
    names = set(MODULE_NAME.findall(text))
    if path.suffix == ".py":
        package = ".".join(path.relative_to(root).with_suffix("").parts)
        if path.name == "__init__.py":
            package += "._"
        for module, imported in FROM_IMPORT.findall(text):
            if module.startswith("."):
                level = len(module) - len(module.lstrip("."))
                parent = package.rsplit(".", level)[0]
                module = f"{parent}.{module[level:]}" if module[level:] else parent
            names |= {module} | {f"{module}.{name}" for name in re.findall(r"\w+", imported)}
    return {parent for name in names if name.split(".")[0] == PACKAGE for parent in _with_parents(name)}


def _with_parents(dotted: str) -> set[str]:
    parts = dotted.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts) + 1)}


def _imported_modules(root: Path, starts: list[Path]) -> list[Path]:
    """The harness's module files reachable by import from `starts`."""
    seen: dict[str, Path] = {}
    queue = [name for path in starts for name in _imports(root, path)]
    while queue:
        name = queue.pop()
        if name in seen or (path := _module_file(root, name)) is None:
            continue
        seen[name] = path
        queue += _imports(root, path)
    return sorted(set(seen.values()))


@functools.cache
def harness_digest(root: Path) -> str:
    paths = [root / name for name in HARNESS_FILES if (root / name).is_file()]
    for tree in HARNESS_TREES:
        paths += _files(root, root / tree)
    # A run imports the root conftest's plugins and what day files import; the self-check's
    # verdicts come from `selfcheck`.
    starts = [root / "conftest.py", root / "pyproject.toml", root / PACKAGE / "selfcheck.py",
              *sorted((root / "katas").glob("*/*.py"))]
    starts = [p for p in starts if p.is_file()]
    paths += [p for p in starts if p.parent.name == PACKAGE] + _imported_modules(root, starts)
    paths += [p for name in sorted(_named_days(root, paths, DAY_PATH)) for p in _day_trees(root, name, used_by_others=True)]
    return _digest(root, paths, f"python {sys.version_info.major}.{sys.version_info.minor}")


@functools.cache
def day_digest(root: Path, day_name: str) -> str:
    """The harness, the day's kata and reference folders, and those of the days it names."""
    own = _files(root, root / "katas" / day_name)
    others = _named_days(root, [p for p in own if p.suffix == ".py"]) - {day_name}
    paths = _day_trees(root, day_name) + [p for name in sorted(others) for p in _day_trees(root, name, used_by_others=True)]
    return _digest(root, paths, harness_digest(root))


def alternative_digest(root: Path, day: Day, slug: str) -> str:
    return _digest(root, _files(root, alternatives.folder(root, day) / slug), day_digest(root, day.name), "alternative")


def mutant_digest(root: Path, day: Day, path: Path) -> str:
    """The mutant's bug and patch (not its `# Killed-by:` hint), and the alternative it is based on."""
    text = "".join(line for line in path.read_text(encoding="utf-8").splitlines(keepends=True)
                   if not line.startswith("# Killed-by:"))
    base = mutants.load(path).base
    paths = _files(root, alternatives.folder(root, day) / base) if base else []
    return _digest(root, paths, day_digest(root, day.name), "mutant", text)


def check_names(root: Path, day: Day) -> set[str]:
    return ({f"alternative {p.name}" for p in alternatives.find(root, day)}
            | {f"mutant {p.stem}" for p in mutants.find(root / "tests" / "mutants" / day.name)})


class Ledger:
    """`tests/proofs/dayNN.json`: check name -> the digest it was proven with."""

    def __init__(self, root: Path, day: Day) -> None:
        self.root = root
        self.day = day
        self.path = root / LEDGER_DIR / f"{day.name}.json"

    def _read(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def proven(self, check: str, digest: str, *, lacking: Iterable[str] = ()) -> bool:
        """Proven with these inputs, fully or without some of the tiers this machine lacks
        (a run here would prove no more than that)."""
        recorded = self._read().get(check)
        lacking = sorted(set(lacking))
        return recorded is not None and any(
            recorded == without(digest, tiers)
            for size in range(len(lacking) + 1) for tiers in combinations(lacking, size))

    def record(self, check: str, digest: str) -> None:
        """Add a proof, and drop those of checks that no longer exist. Self-check workers
        record at the same time: one at a time, under a lock beside the ledger."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            current = check_names(self.root, self.day)
            entries = {name: value for name, value in self._read().items() if name in current}
            entries[check] = digest
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(entries, indent=1, sort_keys=True) + "\n", encoding="utf-8")
            os.replace(tmp, self.path)


# The tier a test was skipped for, as `selfcheck.unproven` recognises such a skip.
TIER_SKIP = re.compile(r"\b(\w+)" + re.escape(selfcheck.TIER_SKIP))


def tiers_left_unproven(results: dict) -> frozenset[str]:
    """The tiers a day run skipped tests of for lack of them (`results` as `DayRun.results`)."""
    return frozenset(match.group(1) for test in results.get("tests", []) if test.get("status") == "skip"
                     for match in [TIER_SKIP.search(test.get("message") or "")] if match)


def without(digest: str, tiers: Iterable[str]) -> str:
    """The digest a proof made while `tiers` were missing is recorded under: it differs from the
    full proof's, so a machine that has those tiers does not take it for one."""
    names = sorted(set(tiers))
    if not names:
        return digest
    return hashlib.sha256(f"{digest}\0proven without the {','.join(names)} tier".encode()).hexdigest()


def reprove_share(environ: dict[str, str] | None = None) -> float:
    """KATAS_REPROVE: `all` (1.0), a share such as `0.1`, or unset (0: reuse every proof)."""
    value = (os.environ if environ is None else environ).get(REPROVE, "").strip().lower()
    if value in ("", "0", "none"):
        return 0.0
    if value == "all":
        return 1.0
    try:
        share = float(value)
    except ValueError:
        share = -1.0
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"{REPROVE}={value!r}: use 'all', or a share between 0 and 1 such as 0.1")
    return share


def drawn(check_id: str, seed: str, share: float) -> bool:
    """Is this check in the share re-proved under `seed`? The same for every worker of a run;
    another seed (another commit) draws another share."""
    if share >= 1.0:
        return True
    value = int.from_bytes(hashlib.sha256(f"{seed}\0{check_id}".encode()).digest()[:8], "big")
    return value < share * 2**64
