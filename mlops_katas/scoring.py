"""`katas score`: every day scored in a tree the scored checkout cannot edit.

The tests, the harness and every provided file come from git (`git archive` of a
trusted commit into a temporary folder); from the checkout being scored only each
day's learner files are copied in (kata.toml `files`: regular files, no symlinks,
nothing outside the day). Anything else there (an added conftest or test file, a
`pytest.py`, an edited harness) is never run. Each day runs in its own `python -P`
process (no imports from the working folder) against the node ids a pristine
collection of the same tree found, and its outcomes come from the signed report
stream (`score_stream.py`), not from files the run could rewrite. A day whose
learner files are all still the stubs is not run: the self-check proves stubs fail
every test. A run that dies, ends early, overruns or disagrees with its own stream
scores 0 of its full maximum, with the reason.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from . import lock
from .curriculum import Day, all_days

GIT_TIMEOUT_S = 120
COLLECT_TIMEOUT_S = 600
DAY_TIMEOUT_S = 1200
INTERRUPT_GRACE_S = 60
MAX_LEARNER_FILE = 2 * 1024 * 1024
LOG_TAIL = 2000
# How the scored run finds its report stream and the key that signs it (score_stream.py).
STREAM_FD_ENV = "KATAS_SCORE_STREAM_FD"
KEY_FD_ENV = "KATAS_SCORE_KEY_FD"


def sign(key: bytes, payload: bytes) -> str:
    return hmac.new(key, payload, hashlib.sha256).hexdigest()


class ScoreError(Exception):
    """The scorer itself cannot run (no git, a ref that does not exist, collection failed)."""


@dataclass
class DayScore:
    day: str
    title: str
    expected: list[str]
    passed: set[str] = field(default_factory=set)
    messages: dict[str, str] = field(default_factory=dict)
    error: str | None = None  # why the whole day scores 0
    notes: list[str] = field(default_factory=list)  # learner files ignored, and why
    started: bool = True

    @property
    def score(self) -> int:
        return 0 if self.error else len(self.passed & set(self.expected))

    @property
    def max_score(self) -> int:
        return len(self.expected)

    @property
    def status(self) -> str:
        if self.error:
            return "error"
        return "pass" if self.expected and self.score == self.max_score else "fail"

    def to_json(self) -> dict:
        return {
            "version": 3, "day": self.day, "status": self.status, "message": self.error,
            "score": self.score, "max_score": self.max_score, "started": self.started, "notes": self.notes,
            "tests": [{"name": nodeid.split("::", 1)[-1],
                       "status": "pass" if (nodeid in self.passed and not self.error) else "fail",
                       "message": self.messages.get(nodeid)} for nodeid in self.expected],
        }


# --- the trusted tree -----------------------------------------------------------------


def _git(repo: Path, *args: str) -> bytes:
    try:
        done = subprocess.run(["git", *args], cwd=repo, capture_output=True, timeout=GIT_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ScoreError(f"git {' '.join(args)}: {exc}") from exc
    if done.returncode != 0:
        raise ScoreError(f"git {' '.join(args)} failed: {done.stderr.decode(errors='replace').strip()[:300]}")
    return done.stdout


def trusted_commit(repo: Path, upstream: str | None) -> str:
    """The commit whose tests score this checkout: where it branched from `upstream`, or HEAD."""
    if upstream is None:
        return _git(repo, "rev-parse", "HEAD").decode().strip()
    return _git(repo, "merge-base", "HEAD", upstream).decode().strip()


def export_tree(repo: Path, commit: str, dest: Path) -> None:
    """The committed tree at `commit`, as files in `dest`: what git stores, nothing the work tree adds."""
    with tarfile.open(fileobj=io.BytesIO(_git(repo, "archive", "--format=tar", commit))) as archive:
        archive.extractall(dest, filter="data")


# --- the learner's files --------------------------------------------------------------


def copy_learner_files(learner_root: Path, tree: Path, day: Day) -> tuple[bool, list[str]]:
    """Copy the day's learner files into `tree`; (any differs from its stub, notes on ignored files)."""
    source_day = (learner_root / "katas" / day.name).resolve()
    notes = []
    for name in day.files:
        relpath = f"katas/{day.name}/{name}"
        source = learner_root / relpath
        if source.is_symlink():
            notes.append(f"{relpath} is a symbolic link: ignored, the stub was scored")
            continue
        if not source.exists():
            notes.append(f"{relpath} is missing: the stub was scored")
            continue
        if not source.is_file() or source_day not in source.resolve().parents:
            notes.append(f"{relpath} is not a regular file in the day's folder: ignored")
            continue
        data = source.read_bytes()
        if len(data) > MAX_LEARNER_FILE:
            notes.append(f"{relpath} is larger than {MAX_LEARNER_FILE // 1024 // 1024} MiB: ignored")
            continue
        (tree / relpath).write_bytes(data)
    return not lock.untouched(tree, day, lock.stub_blobs(tree)), notes


# --- running ----------------------------------------------------------------------------


def _child_env(tree: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_", "KATAS_IMPL", "PYTHON")) and k != "HYPOTHESIS_PROFILE"}
    # The tree's own harness, not the one installed from the scored checkout.
    return {**env, "CI": "1", "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}


def expected_ids(tree: Path) -> dict[str, list[str]]:
    """Every test node id of every day, collected from the pristine tree (stubs only)."""
    try:
        done = subprocess.run([sys.executable, "-P", "-m", "pytest", "katas", "--collect-only", "-q",
                               "-p", "no:cacheprovider"], cwd=tree, env=_child_env(tree),
                              capture_output=True, text=True, timeout=COLLECT_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ScoreError(f"collecting the tests took longer than {COLLECT_TIMEOUT_S} s") from exc
    if done.returncode != 0:
        raise ScoreError(f"collecting the upstream tests failed:\n{(done.stdout + done.stderr)[-LOG_TAIL:]}")
    found: dict[str, list[str]] = {}
    for line in done.stdout.splitlines():
        if line.startswith("katas/day") and "::" in line:
            found.setdefault(line.split("/")[1], []).append(line.strip())
    return found


def _read_all(fd: int, into: list[bytes]) -> None:
    with os.fdopen(fd, "rb") as stream:
        into.append(stream.read())


def run_day(tree: Path, day: DayScore, pytest_args: list[str], timeout_s: float = DAY_TIMEOUT_S) -> None:
    """Run one day in its own process and fill `day` from its signed report stream."""
    key = secrets.token_bytes(32)
    stream_read, stream_write = os.pipe()
    key_read, key_write = os.pipe()
    os.write(key_write, key)
    os.close(key_write)
    env = {**_child_env(tree), STREAM_FD_ENV: str(stream_write), KEY_FD_ENV: str(key_read)}
    log_path = tree.parent / f"{day.day}.log"  # outside the folder the learner's code runs in
    received: list[bytes] = []
    reader = threading.Thread(target=_read_all, args=(stream_read, received), daemon=True)
    reader.start()
    try:
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-P", "-m", "pytest", f"katas/{day.day}", "-q", "-p", "no:cacheprovider",
                 "-p", "mlops_katas.score_stream", "--results-dir", str(tree.parent / "results"), *pytest_args],
                cwd=tree, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                pass_fds=(stream_write, key_read), start_new_session=True)
    finally:
        os.close(stream_write)
        os.close(key_read)
    try:
        returncode = proc.wait(timeout=timeout_s)
    except KeyboardInterrupt:
        # The run has its own session, so the terminal's Ctrl-C did not reach it: pass it
        # on and let pytest's teardown remove its containers and servers, then kill the rest.
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=INTERRUPT_GRACE_S)
        finally:
            _kill_group(proc)
        raise
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        day.error = f"the run took longer than {timeout_s:g} s and was stopped"
        reader.join(timeout=10)
        return
    _kill_group(proc)  # whatever the run left behind (a server, a forked child) goes too
    reader.join(timeout=30)
    _judge(day, received[0] if received else b"", key, returncode, _tail(log_path))


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def _tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-LOG_TAIL:]
    except OSError:
        return ""


def _judge(day: DayScore, raw: bytes, key: bytes, returncode: int, log_tail: str) -> None:
    """Turn the stream into passes, or an error that scores the day 0."""
    records = []
    for seq, line in enumerate(raw.splitlines()):
        signature, _, payload = line.partition(b" ")
        try:
            record = json.loads(payload)
        except ValueError:
            record = None
        if (record is None or not isinstance(record, dict) or record.get("seq") != seq
                or not secrets.compare_digest(signature.decode(errors="replace"), sign(key, payload))):
            day.error = "the run's report stream was tampered with (a record is forged, reordered or garbled)"
            return
        records.append(record)
    if not records or records[-1].get("kind") != "finish":
        day.error = (f"the run ended before pytest finished (exit code {returncode}); "
                     f"last output:\n{log_tail[-500:]}")
        return
    if records[-1].get("exitstatus") != returncode:
        day.error = (f"the run's exit code {returncode} disagrees with pytest's "
                     f"{records[-1].get('exitstatus')}: something ended the run from inside")
        return
    outcomes: dict[str, dict[str, str]] = {}
    for record in records[:-1]:
        outcomes.setdefault(record["nodeid"], {})[record["when"]] = record["outcome"]
        if record.get("message") and record["nodeid"] not in day.messages:
            day.messages[record["nodeid"]] = record["message"]
    for nodeid in day.expected:
        phases = outcomes.get(nodeid, {})
        if phases.get("setup") == "passed" and phases.get("call") == "passed" and phases.get("teardown") == "passed":
            day.passed.add(nodeid)
        elif not phases:
            day.messages.setdefault(nodeid, "not run")
    if returncode == 0 and len(day.passed) != len(day.expected):
        day.error = "pytest reported success but not every expected test passed: the run was altered"
        day.passed.clear()


# --- the whole score ----------------------------------------------------------------------


@dataclass
class Score:
    commit: str
    verified: bool
    days: list[DayScore]
    ignored: list[str]  # upstream files that differ in the scored checkout (never run)

    @property
    def complete(self) -> list[str]:
        return [d.day for d in self.days if d.status == "pass"]

    @property
    def percent(self) -> float:
        """Every day weighs the same; inside a day, each test is partial credit."""
        scored = [d.score / d.max_score for d in self.days if d.max_score]
        return round(100 * sum(scored) / len(scored), 1) if scored else 0.0

    def to_json(self) -> dict:
        return {
            "version": 3,
            "status": "pass" if self.days and len(self.complete) == len(self.days) else "fail",
            "message": None if self.verified else "not verified: scored against this checkout's own HEAD",
            "commit": self.commit, "verified": self.verified,
            "score": sum(d.score for d in self.days), "max_score": sum(d.max_score for d in self.days),
            "percent": self.percent, "days_complete": self.complete, "ignored": self.ignored,
            "days": {d.day: d.to_json() for d in self.days},
        }


def _cache_key(commit: str, day: Day, pytest_args: list[str]) -> str:
    """Same trusted commit, same learner files, same options and tiers: the same outcome."""
    files = [lock.blob_id((day.path / name).read_bytes()) if (day.path / name).is_file() else None
             for name in day.files]
    material = [commit, day.name, files, list(pytest_args), os.environ.get("KATAS_REQUIRE", "")]
    return hashlib.sha256(json.dumps(material).encode()).hexdigest()


def _cached(cache: Path | None, key: str, result: DayScore) -> bool:
    if cache is None:
        return False
    try:
        data = json.loads((cache / f"{key}.json").read_text(encoding="utf-8"))
        result.passed = set(data["passed"]) & set(result.expected)
        result.messages = {k: str(v) for k, v in data["messages"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False
    return True


def _remember(cache: Path | None, key: str, result: DayScore) -> None:
    if cache is None or result.error:  # a failed run may be the machine's fault: run it again next time
        return
    cache.mkdir(parents=True, exist_ok=True)
    (cache / f"{key}.json").write_text(json.dumps({"passed": sorted(result.passed), "messages": result.messages}),
                                       encoding="utf-8")


def score(repo: Path, learner_root: Path, *, upstream: str | None, verified: bool,
          pytest_args: list[str] = (), progress=None, cache: Path | None = None) -> Score:
    """Score `learner_root`'s learner files against the tests of `repo` at its trusted commit.
    With `cache`, a day whose learner files were scored before against the same commit is
    not run again (a learner's repeated local scoring; CI starts with none)."""
    commit = trusted_commit(repo, upstream)
    with tempfile.TemporaryDirectory(prefix="katas-score-") as tmp:
        tree = Path(tmp) / "tree"
        tree.mkdir()
        export_tree(repo, commit, tree)
        ignored = lock.tampered(learner_root, expected=lock.read(tree))
        expected = expected_ids(tree)
        days = []
        for day in all_days(tree):
            if progress:
                progress(day.name)
            result = DayScore(day.name, day.title, expected.get(day.name, []))
            result.started, result.notes = copy_learner_files(learner_root, tree, day)
            if not result.started:
                result.messages = {nodeid: "not started: the learner files are the stubs" for nodeid in result.expected}
                days.append(result)
                continue
            key = _cache_key(commit, day, list(pytest_args))
            if not _cached(cache, key, result):
                run_day(tree, result, list(pytest_args))
                _remember(cache, key, result)
            days.append(result)
        shutil.rmtree(tree, ignore_errors=True)
    return Score(commit, verified, days, ignored)


def summary(result: Score) -> str:
    lines = ["# mlops-katas score", ""]
    if not result.verified:
        lines += ["_Not verified: scored against this checkout's own commit. A fork's CI (or "
                  "`katas score --upstream upstream/main`) scores against upstream's tests._", ""]
    if result.ignored:
        lines += ["These upstream files differ here and were **ignored** (upstream's were used):", ""]
        lines += [f"- `{path}`" for path in result.ignored[:50]] + [""]
    lines += [f"**{len(result.complete)}/{len(result.days)} days complete, {result.percent:g} %** "
              f"(days weigh the same; commit `{result.commit[:12]}`)", "",
              "| day | topic | tests | status |", "|---|---|---|---|"]
    for day in result.days:
        if not day.started:
            status = "⚪ not started"
        elif day.error:
            status = f"🔴 {day.error.splitlines()[0]}"
        else:
            status = {"pass": "✅ complete", "fail": "🟡 in progress"}[day.status]
        lines.append(f"| {day.day} | {day.title} | {day.score}/{day.max_score} | {status} |")
    notes = [note for day in result.days for note in day.notes]
    if notes:
        lines += ["", "Notes:", ""] + [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"


def badge(result: Score) -> dict:
    """A shields.io endpoint badge: https://shields.io/badges/endpoint-badge"""
    done, total = len(result.complete), len(result.days)
    colour = "brightgreen" if done == total else ("yellow" if done else "lightgrey")
    message = f"{done}/{total} days" + ("" if result.verified else " (unverified)")
    return {"schemaVersion": 1, "label": "katas", "message": message, "color": colour}


def write_reports(result: Score, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(result.to_json(), indent=2) + "\n", encoding="utf-8")
    (out / "summary.md").write_text(summary(result), encoding="utf-8")
    (out / "badge.json").write_text(json.dumps(badge(result)) + "\n", encoding="utf-8")
