"""The `katas` command: progress, checks, hints, watch mode, reset, solutions, doctor, score,
interview practice (interview, mock, reflect) and weekly goals."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.markdown import Markdown
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from . import goals, interview, journal, lock, results
from .curriculum import (
    CurriculumError,
    Day,
    all_days,
    find_root,
    load_day,
    normalise_day,
)

console = Console()
STATE_FILE = Path(".katas") / "state.json"
STATE_VERSION = 1
CHECK_TIMEOUT_S = 3600


# --- state --------------------------------------------------------------------


def load_state(root: Path) -> dict:
    path = root / STATE_FILE
    if not path.is_file():
        return {"format_version": STATE_VERSION, "hints": {}}
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(state, dict) and isinstance(state.get("hints", {}), dict):
            return {"format_version": STATE_VERSION, "hints": {}, **state}
    except (OSError, ValueError):  # ValueError: bad JSON or bad UTF-8
        pass
    backup = Path(tempfile.mkstemp(prefix="state-", suffix=".json.bak", dir=path.parent)[1])
    shutil.copy2(path, backup)
    console.print(f"[yellow]{path} was unreadable; set it aside as {backup.name} and started afresh[/]")
    return {"format_version": STATE_VERSION, "hints": {}}


def save_state(root: Path, state: dict) -> None:
    path = root / STATE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)  # atomic: an interrupted write never leaves half a file


def last_results(root: Path) -> dict[str, dict]:
    return results.read_all(root / results.DEFAULT_DIR)


# --- list / status -------------------------------------------------------------


def cmd_list(root: Path, args: argparse.Namespace) -> int:
    days = all_days(root)
    found = last_results(root)
    table = Table(title="mlops-katas", show_lines=False)
    for column in ("day", "topic", "tiers", "progress", "tests", "journal"):
        table.add_column(column)
    reflected = journal.reflected_days(root)
    started = _started_days(root, days)
    complete = 0
    for day in days:
        data = found.get(day.name)
        if data is None or (day.name not in started and data.get("status") != "pass"):
            bar, tests = "[dim]not started[/]", "-"
        else:
            score, total = data.get("score", 0), data.get("max_score", 0)
            width = 20
            filled = round(width * score / total) if total else 0
            colour = "green" if data.get("status") == "pass" else "yellow"
            bar = f"[{colour}]{'█' * filled}[/][dim]{'░' * (width - filled)}[/]"
            tests = f"{score}/{total}" + (" ✓" if data.get("status") == "pass" else "")
            complete += data.get("status") == "pass"
        table.add_row(day.name, day.title, ", ".join(day.tiers), bar, tests, "✎" if day.name in reflected else "")
    console.print(table)
    console.print(f"{complete} of {len(days)} days complete. "
                  f"Next: [bold]katas check {_next_day(days, found, started)}[/]")
    return 0


def cmd_status(root: Path, args: argparse.Namespace) -> int:
    code = cmd_list(root, args)
    goals.print_goals(root, console)
    return code


def _started_days(root: Path, days: list[Day]) -> set[str]:
    """Days with a learner file that is no longer its stub (as the lock records it)."""
    stubs = lock.stub_blobs(root)
    return {day.name for day in days if not lock.untouched(root, day, stubs)}


def _next_day(days: list[Day], found: dict[str, dict], started: set[str]) -> str:
    """The day being worked on (started, not complete), else the first one not complete."""
    unfinished = [day.name for day in days if found.get(day.name, {}).get("status") != "pass"]
    return next((name for name in unfinished if name in started), unfinished[0] if unfinished else
                (days[-1].name if days else "day01"))


# --- check / watch ---------------------------------------------------------------


INTERRUPT_GRACE_S = 60  # pytest's teardown (containers, servers) after Ctrl-C


def _run_pytest(command: list[str], cwd: Path) -> int:
    """Run pytest; on Ctrl-C (which the terminal also sends to pytest) let its teardown
    finish instead of killing it, so no container or server outlives the run."""
    proc = subprocess.Popen(command, cwd=cwd)
    try:
        return proc.wait(timeout=CHECK_TIMEOUT_S)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: cleaning up (containers, servers)…[/]")
        try:
            proc.wait(timeout=INTERRUPT_GRACE_S)
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            proc.kill()
            proc.wait()
        raise
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            proc.wait(timeout=INTERRUPT_GRACE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        raise


def run_check(root: Path, day: Day, extra: list[str]) -> int:
    command = [sys.executable, "-m", "pytest", str(day.path.relative_to(root)), "-q", "--no-header", *extra]
    console.rule(f"{day.name}: {day.title}")
    try:
        code = _run_pytest(command, root)
    except subprocess.TimeoutExpired:
        console.print(f"[red]{day.name} did not finish within {CHECK_TIMEOUT_S} s[/]")
        return 1
    if any(arg == "--impl" or arg.startswith("--impl=") for arg in extra):
        return code  # results of another folder are not the learner's progress
    data = last_results(root).get(day.name)
    if data and data.get("status") == "pass":
        console.print(f"[green bold]{day.name} complete![/] See the reference answer: katas solution {day.name}")
    elif data:
        console.print(f"{data['score']}/{data['max_score']} tests pass. Stuck? [bold]katas hint {day.name}[/]")
    return code


def _day_or_next(root: Path, text: str | None) -> Day:
    """The day asked for, or the one the learner is on (what `katas list` suggests)."""
    if text:
        return _day(root, text)
    days = all_days(root)
    found = last_results(root)
    return load_day(root, _next_day(days, found, _started_days(root, days)))


def _with_task(args: argparse.Namespace) -> list[str]:
    return (["--task", str(args.task)] if args.task else []) + args.pytest_args


def cmd_check(root: Path, args: argparse.Namespace) -> int:
    return run_check(root, _day_or_next(root, args.day), _with_task(args))


def _needs_polling() -> bool:
    """inotify misses edits on WSL's Windows drives and some container bind mounts."""
    try:
        version = Path("/proc/version").read_text().lower()
    except OSError:
        version = ""
    return "microsoft" in version or bool(os.environ.get("KATAS_WATCH_POLL"))


def cmd_watch(root: Path, args: argparse.Namespace) -> int:
    from watchfiles import watch

    day = _day_or_next(root, args.day)
    poll = args.poll or _needs_polling()
    console.clear()  # each run starts on a clean screen, so the failure that matters is in view
    run_check(root, day, _with_task(args))
    console.print(f"[dim]watching {day.path.relative_to(root)} ({'polling' if poll else 'file events'}); Ctrl-C stops[/]")
    try:
        for changes in watch(day.path, force_polling=poll, poll_delay_ms=500,
                             watch_filter=lambda change, path: not path.endswith((".pyc", ".json"))):
            console.clear()
            console.print(f"[dim]{len(changes)} change(s), re-running[/]")
            run_check(root, day, _with_task(args))
    except KeyboardInterrupt:
        pass
    return 0


# --- hint ------------------------------------------------------------------------


def cmd_hint(root: Path, args: argparse.Namespace) -> int:
    day = _day(root, args.day)
    tasks = day.tasks
    if not tasks:
        console.print(f"[red]{day.name} has no tasks in its README[/]")
        return 1
    task = day.task(args.task) if args.task else _first_unfinished_task(root, day)
    if task is None:
        console.print(f"[red]{day.name} has no task {args.task}; tasks are 1..{len(tasks)}[/]")
        return 1
    state = load_state(root)
    seen = state["hints"].get(day.name)
    if not isinstance(seen, dict):
        seen = state["hints"][day.name] = {}
    previous = seen.get(str(task.number), 0)
    previous = previous if isinstance(previous, int) and previous >= 0 else 0
    level = min(previous + 1, len(task.hints))
    seen[str(task.number)] = level
    save_state(root, state)
    console.rule(f"{day.name} task {task.number}: {task.title} — hint {level} of {len(task.hints)}")
    console.print(Markdown(task.hints[level - 1]))
    if level < len(task.hints):
        console.print(f"[dim]Run the same command again for hint {level + 1}.[/]")
    elif previous >= len(task.hints):
        console.print(f"[dim]That was the last hint for task {task.number}; there are no more. "
                      f"The reference answer: katas solution {day.name} --peek[/]")
    return 0


def _first_unfinished_task(root: Path, day: Day):
    data = last_results(root).get(day.name)
    if data:
        failing = sorted({t.get("task_id") for t in data["tests"] if t["status"] != "pass" and t.get("task_id")})
        if failing:
            return day.task(failing[0])
    return day.tasks[0]


# --- reset / solution ------------------------------------------------------------------


def _task_files(day: Day, number: int) -> list[str]:
    """The learner files a task's heading names, e.g. `### Task 2 — Token bucket (`rate_limiter.py`)`."""
    task = day.task(number)
    if task is None:
        raise CurriculumError(f"{day.name} has no task {number}; tasks are 1..{len(day.tasks)}")
    named = [name for name in day.files if f"`{name}`" in task.title or f"`{Path(name).name}`" in task.title]
    if not named:
        raise CurriculumError(f"{day.name} task {number} names no file of its own; reset the whole day instead")
    return named


def cmd_reset(root: Path, args: argparse.Namespace) -> int:
    day = _day(root, args.day)
    files = _task_files(day, args.task) if args.task else list(day.files)
    if not args.yes:
        try:
            answer = input(f"Restore the stubs of {day.name} ({', '.join(files)})? "
                           "Your files are backed up first. [y/N] ")
        except EOFError:
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            console.print(f"nothing changed (no terminal? run katas reset {day.name} --yes)")
            return 1
    backups = root / ".katas" / "backups"
    backups.mkdir(parents=True, exist_ok=True)
    # A fresh folder every time, even twice in one second: a backup is never overwritten.
    backup = Path(tempfile.mkdtemp(prefix=f"{day.name}-{time.strftime('%Y%m%d-%H%M%S')}-", dir=backups))
    try:
        stubs = {name: lock.pristine_stub(root, str((day.path / name).relative_to(root))) for name in files}
    except subprocess.CalledProcessError:
        console.print("[red]the original stubs are not in this clone's git history (a shallow clone?): "
                      "run git fetch --unshallow, then katas reset again[/]")
        return 2
    for name, stub in stubs.items():
        path = day.path / name
        if path.exists():
            (backup / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, backup / name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(stub)
    # The progress belonged to the files just replaced: the day's results (and with them the
    # solution's unlock) go; the hint levels go for the tasks reset.
    (root / results.DEFAULT_DIR / f"{day.name}.json").unlink(missing_ok=True)
    state = load_state(root)
    hints = state["hints"].get(day.name)
    if isinstance(hints, dict) and args.task:
        hints.pop(str(args.task), None)
    else:
        state["hints"].pop(day.name, None)
    save_state(root, state)
    console.print(f"{day.name} {'task ' + str(args.task) + ' ' if args.task else ''}stubs restored, its results and "
                  f"hint levels cleared; your previous files are in {backup.relative_to(root)}")
    return 0


def cmd_solution(root: Path, args: argparse.Namespace) -> int:
    from rich.syntax import Syntax

    day = _day(root, args.day)
    data = last_results(root).get(day.name)
    if not args.peek and (data is None or data.get("status") != "pass"):
        console.print(f"Finish {day.name} first (katas check {day.name}), or look anyway with --peek.")
        return 1
    for name in day.files:
        path = root / "solutions" / day.name / name
        text = path.read_text(encoding="utf-8")
        if not console.is_terminal:  # piped or redirected: the file as it is, no wrapping or colour
            print(f"# --- {path.relative_to(root)}\n{text}", end="" if text.endswith("\n") else "\n")
            continue
        console.rule(str(path.relative_to(root)))
        console.print(Syntax(text, Syntax.guess_lexer(str(path), code=text), line_numbers=True))
    return 0


# --- doctor --------------------------------------------------------------------------


def cmd_doctor(root: Path, args: argparse.Namespace) -> int:
    from .doctor import checks

    table = Table(title="katas doctor")
    for column in ("what", "status", "details / how to get it"):
        table.add_column(column)
    required_ok = True
    for check in checks():
        if check.ok:
            mark = "[green]✓ found[/]"
        elif check.required:
            mark = "[red]✗ missing[/]"
        elif check.needed_by:
            mark = f"[yellow]– needed by {', '.join(check.needed_by)}[/]"
        else:
            mark = "[yellow]– optional[/]"
        required_ok &= check.ok or not check.required
        table.add_row(check.name, mark, check.detail)
    console.print(table)
    return 0 if required_ok else 1


# --- score -----------------------------------------------------------------------------


def cmd_score(root: Path, args: argparse.Namespace) -> int:
    from . import scoring

    learner_root = Path(args.fork).resolve() if args.fork else root
    if not (learner_root / "katas").is_dir():
        console.print(f"[red]{learner_root} has no katas/ folder: --fork takes a checkout of a fork[/]")
        return 2
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  console=console, transient=True) as progress:
        bar = progress.add_task("exporting the upstream tests", total=len(all_days(root)))

        def advance(day_name: str) -> None:
            progress.update(bar, description=f"scoring {day_name}", advance=1)

        try:
            result = scoring.score(root, learner_root, upstream=args.upstream,
                                   verified=bool(args.upstream or args.fork), pytest_args=args.pytest_args,
                                   progress=advance,
                                   cache=None if args.fork else learner_root / ".katas" / "score-cache")
        except scoring.ScoreError as exc:
            console.print(f"[red]cannot score: {exc}[/]")
            return 2
    out = Path(args.out).resolve()
    scoring.write_reports(result, out)
    console.print(Markdown(scoring.summary(result)))
    console.print(f"[dim]wrote {out}/results.json, summary.md and badge.json[/]")
    return 0


def cmd_lock(root: Path, args: argparse.Namespace) -> int:
    if args.check:
        stale = lock.compute(root) != lock.read(root)
        console.print(f"{lock.LOCK_FILE} is {'out of date: run katas lock' if stale else 'up to date'}")
        return 1 if stale else 0
    console.print(f"wrote {lock.write(root).relative_to(root)}")
    return 0


# --- entry point ------------------------------------------------------------------------


def _day(root: Path, text: str) -> Day:
    return load_day(root, normalise_day(text))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="katas", description="Work through the MLOps katas, one day at a time.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="days, progress and pass counts from your last runs").set_defaults(func=cmd_list)
    sub.add_parser("status", help="the list, plus each week's goals and interview practice").set_defaults(func=cmd_status)
    for name, func, text in (("check", cmd_check, "run one day's tests"),
                             ("watch", cmd_watch, "re-run one day's tests whenever you save")):
        p = sub.add_parser(name, help=text)
        p.add_argument("day", nargs="?", help="e.g. day15 or 15 (default: the day you are on)")
        p.add_argument("--task", type=int, help="only this README task's tests")
        p.add_argument("pytest_args", nargs=argparse.REMAINDER, help="extra pytest arguments")
        if name == "watch":
            p.add_argument("--poll", action="store_true", help="poll for changes (WSL, network drives)")
        p.set_defaults(func=func)
    p = sub.add_parser("hint", help="the next hint for the first unfinished task (one more level each call)")
    p.add_argument("day")
    p.add_argument("--task", type=int, help="a task number instead of the first unfinished one")
    p.set_defaults(func=cmd_hint)
    p = sub.add_parser("reset", help="restore a day's stubs (your files are backed up first)")
    p.add_argument("day")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--task", type=int, help="reset only the files of this task")
    p.set_defaults(func=cmd_reset)
    p = sub.add_parser("solution", help="show the reference answer once the day passes")
    p.add_argument("day")
    p.add_argument("--peek", action="store_true", help="show it even though the day does not pass yet")
    p.set_defaults(func=cmd_solution)
    sub.add_parser("doctor", help="what this machine has for each tier, and how to get what is missing").set_defaults(func=cmd_doctor)
    p = sub.add_parser("score", help="score every day: results.json, summary.md and a badge")
    p.add_argument("--out", default=".katas/score", help="folder for the score files")
    p.add_argument("--upstream", help="score against the tests of this git ref (where this checkout branched "
                   "from it), e.g. upstream/main; without it, against this checkout's own HEAD (unverified)")
    p.add_argument("--fork", help="(CI) score the learner files of the checkout at this path against the "
                   "tests of this checkout's HEAD")
    p.add_argument("pytest_args", nargs=argparse.REMAINDER, help="extra pytest arguments")
    p.set_defaults(func=cmd_score)
    p = sub.add_parser("lock", help="(maintainers) record the upstream fingerprint of tests and stubs")
    p.add_argument("--check", action="store_true", help="only say whether katas.lock is up to date")
    p.set_defaults(func=cmd_lock)
    interview.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        root = find_root()
        return args.func(root, args)
    except CurriculumError as exc:
        console.print(f"[red]{exc}[/]")
        return 2
    except KeyboardInterrupt:
        console.print("[yellow]stopped[/]")
        return 130
    except subprocess.CalledProcessError as exc:
        console.print(f"[red]{' '.join(map(str, exc.cmd))} failed: {(exc.stderr or b'').strip()[:500]!r}[/]")
        return 2


if __name__ == "__main__":
    sys.exit(main())
