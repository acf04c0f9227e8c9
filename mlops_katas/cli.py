"""The `katas` command: progress, checks, hints, watch mode, reset, solutions, doctor, score."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.markdown import Markdown
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from . import lock, results
from .curriculum import CurriculumError, Day, all_days, find_root, load_day, normalise_day

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
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        backup = path.with_suffix(".json.bak")
        shutil.copy2(path, backup)
        console.print(f"[yellow]{path} was unreadable; kept a copy in {backup} and started afresh[/]")
        return {"format_version": STATE_VERSION, "hints": {}}


def save_state(root: Path, state: dict) -> None:
    path = root / STATE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")


def last_results(root: Path) -> dict[str, dict]:
    return results.read_all(root / results.DEFAULT_DIR)


# --- list / status -------------------------------------------------------------


def cmd_list(root: Path, args: argparse.Namespace) -> int:
    days = all_days(root)
    found = last_results(root)
    table = Table(title="mlops-katas", show_lines=False)
    for column in ("day", "topic", "tiers", "progress", "tests"):
        table.add_column(column)
    complete = 0
    for day in days:
        data = found.get(day.name)
        if data is None:
            bar, tests = "[dim]not started[/]", "-"
        else:
            score, total = data.get("score", 0), data.get("max_score", 0)
            width = 20
            filled = round(width * score / total) if total else 0
            colour = "green" if data.get("status") == "pass" else "yellow"
            bar = f"[{colour}]{'█' * filled}[/][dim]{'░' * (width - filled)}[/]"
            tests = f"{score}/{total}" + (" ✓" if data.get("status") == "pass" else "")
            complete += data.get("status") == "pass"
        table.add_row(day.name, day.title, ", ".join(day.tiers), bar, tests)
    console.print(table)
    console.print(f"{complete} of {len(days)} days complete. Next: [bold]katas check {_next_day(days, found)}[/]")
    return 0


def _next_day(days: list[Day], found: dict[str, dict]) -> str:
    for day in days:
        if found.get(day.name, {}).get("status") != "pass":
            return day.name
    return days[-1].name if days else "day01"


# --- check / watch ---------------------------------------------------------------


def run_check(root: Path, day: Day, extra: list[str]) -> int:
    command = [sys.executable, "-m", "pytest", str(day.path.relative_to(root)), "-q", "--no-header", *extra]
    console.rule(f"{day.name}: {day.title}")
    try:
        code = subprocess.run(command, cwd=root, timeout=CHECK_TIMEOUT_S, check=False).returncode
    except subprocess.TimeoutExpired:
        console.print(f"[red]{day.name} did not finish within {CHECK_TIMEOUT_S} s[/]")
        return 1
    data = last_results(root).get(day.name)
    if data and data.get("status") == "pass":
        console.print(f"[green bold]{day.name} complete![/] See the reference answer: katas solution {day.name}")
    elif data:
        console.print(f"{data['score']}/{data['max_score']} tests pass. Stuck? [bold]katas hint {day.name}[/]")
    return code


def cmd_check(root: Path, args: argparse.Namespace) -> int:
    return run_check(root, _day(root, args.day), args.pytest_args)


def _needs_polling() -> bool:
    """inotify misses edits on WSL's Windows drives and some container bind mounts."""
    try:
        version = Path("/proc/version").read_text().lower()
    except OSError:
        version = ""
    return "microsoft" in version or bool(os.environ.get("KATAS_WATCH_POLL"))


def cmd_watch(root: Path, args: argparse.Namespace) -> int:
    from watchfiles import watch

    day = _day(root, args.day)
    poll = args.poll or _needs_polling()
    run_check(root, day, args.pytest_args)
    console.print(f"[dim]watching {day.path.relative_to(root)} ({'polling' if poll else 'file events'}); Ctrl-C stops[/]")
    try:
        for changes in watch(day.path, force_polling=poll, poll_delay_ms=500,
                             watch_filter=lambda change, path: not path.endswith((".pyc", ".json"))):
            console.print(f"[dim]{len(changes)} change(s), re-running[/]")
            run_check(root, day, args.pytest_args)
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
    seen = state.setdefault("hints", {}).setdefault(day.name, {})
    level = min(seen.get(str(task.number), 0) + 1, len(task.hints))
    seen[str(task.number)] = level
    save_state(root, state)
    console.rule(f"{day.name} task {task.number}: {task.title} — hint {level} of {len(task.hints)}")
    console.print(Markdown(task.hints[level - 1]))
    if level < len(task.hints):
        console.print(f"[dim]Run the same command again for hint {level + 1}.[/]")
    return 0


def _first_unfinished_task(root: Path, day: Day):
    data = last_results(root).get(day.name)
    if data:
        failing = sorted({t.get("task_id") for t in data["tests"] if t["status"] != "pass" and t.get("task_id")})
        if failing:
            return day.task(failing[0])
    return day.tasks[0]


# --- reset / solution ------------------------------------------------------------------


def cmd_reset(root: Path, args: argparse.Namespace) -> int:
    day = _day(root, args.day)
    if not args.yes:
        answer = input(f"Restore the stubs of {day.name} ({', '.join(day.files)})? Your files are backed up first. [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            console.print("nothing changed")
            return 1
    backup = root / ".katas" / "backups" / f"{day.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    for name in day.files:
        path = day.path / name
        relpath = str(path.relative_to(root))
        if path.exists():
            (backup / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, backup / name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(lock.pristine_stub(root, relpath))
    console.print(f"{day.name} stubs restored; your previous files are in {backup.relative_to(root)}")
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
        console.rule(str(path.relative_to(root)))
        lexer = Syntax.guess_lexer(str(path), code=path.read_text(encoding="utf-8"))
        console.print(Syntax(path.read_text(encoding="utf-8"), lexer, line_numbers=True))
    return 0


# --- doctor --------------------------------------------------------------------------


def cmd_doctor(root: Path, args: argparse.Namespace) -> int:
    from .doctor import checks

    table = Table(title="katas doctor")
    for column in ("what", "status", "details / how to get it"):
        table.add_column(column)
    required_ok = True
    for check in checks():
        mark = "[green]✓ found[/]" if check.ok else ("[red]✗ missing[/]" if check.required else "[yellow]– optional[/]")
        required_ok &= check.ok or not check.required
        table.add_row(check.name, mark, check.detail)
    console.print(table)
    return 0 if required_ok else 1


# --- score -----------------------------------------------------------------------------


def cmd_score(root: Path, args: argparse.Namespace) -> int:
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    changed = lock.tampered(root, args.upstream)
    days = all_days(root)
    run_dir = out / "days"
    shutil.rmtree(run_dir, ignore_errors=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  console=console) as progress:
        bar = progress.add_task("scoring", total=len(days))
        for day in days:
            progress.update(bar, description=f"scoring {day.name}")
            subprocess.run([sys.executable, "-m", "pytest", str(day.path), "-q", "--results-dir", str(run_dir),
                            "-p", "no:cacheprovider", *args.pytest_args],
                           cwd=root, capture_output=True, timeout=CHECK_TIMEOUT_S, check=False,
                           env={**os.environ, "CI": "1"})
            progress.advance(bar)
    per_day = results.read_all(run_dir)
    score = sum(d["score"] for d in per_day.values())
    max_score = sum(d["max_score"] for d in per_day.values())
    complete = [name for name, d in per_day.items() if d["status"] == "pass"]
    report = {
        "version": 3,
        "status": "error" if changed else ("pass" if len(complete) == len(days) else "fail"),
        "message": f"test files differ from upstream: {', '.join(changed)}" if changed else None,
        "score": 0 if changed else score,
        "max_score": max_score,
        "days_complete": complete,
        "tampered": changed,
        "days": per_day,
    }
    (out / "results.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (out / "summary.md").write_text(_summary(days, per_day, changed, score, max_score), encoding="utf-8")
    (out / "badge.json").write_text(json.dumps(_badge(report, len(days))) + "\n", encoding="utf-8")
    console.print(Markdown(_summary(days, per_day, changed, score, max_score)))
    console.print(f"[dim]wrote {out}/results.json, summary.md and badge.json[/]")
    return 1 if changed else 0


def _summary(days: list[Day], per_day: dict, changed: list[str], score: int, max_score: int) -> str:
    lines = ["# mlops-katas score", ""]
    if changed:
        lines += ["**Not scored: these protected files differ from upstream:**", ""]
        lines += [f"- `{path}`" for path in changed] + [""]
    lines += [f"**{score}/{max_score} tests pass**", "", "| day | topic | tests | status |", "|---|---|---|---|"]
    for day in days:
        data = per_day.get(day.name, {})
        tests = f"{data.get('score', 0)}/{data.get('max_score', 0)}"
        status = {"pass": "✅ complete", "fail": "🟡 in progress", "error": "🔴 error"}.get(data.get("status"), "–")
        lines.append(f"| {day.name} | {day.title} | {tests} | {status} |")
    return "\n".join(lines) + "\n"


def _badge(report: dict, total_days: int) -> dict:
    """A shields.io endpoint badge: https://shields.io/badges/endpoint-badge"""
    if report["tampered"]:
        return {"schemaVersion": 1, "label": "katas", "message": "tests modified", "color": "red"}
    done = len(report["days_complete"])
    colour = "brightgreen" if done == total_days else ("yellow" if done else "lightgrey")
    return {"schemaVersion": 1, "label": "katas", "message": f"{done}/{total_days} days", "color": colour}


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
    for name in ("list", "status"):
        sub.add_parser(name, help="days, progress and pass counts from your last runs").set_defaults(func=cmd_list)
    for name, func, text in (("check", cmd_check, "run one day's tests"),
                             ("watch", cmd_watch, "re-run one day's tests whenever you save")):
        p = sub.add_parser(name, help=text)
        p.add_argument("day", help="e.g. day15 or 15")
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
    p.set_defaults(func=cmd_reset)
    p = sub.add_parser("solution", help="show the reference answer once the day passes")
    p.add_argument("day")
    p.add_argument("--peek", action="store_true", help="show it even though the day does not pass yet")
    p.set_defaults(func=cmd_solution)
    sub.add_parser("doctor", help="what this machine has for each tier, and how to get what is missing").set_defaults(func=cmd_doctor)
    p = sub.add_parser("score", help="score every day: results.json, summary.md and a badge")
    p.add_argument("--out", default=".katas/score", help="folder for the score files")
    p.add_argument("--upstream", help="git ref whose katas.lock the test files must match, e.g. upstream/main")
    p.add_argument("pytest_args", nargs=argparse.REMAINDER, help="extra pytest arguments")
    p.set_defaults(func=cmd_score)
    p = sub.add_parser("lock", help="(maintainers) record the upstream fingerprint of tests and stubs")
    p.add_argument("--check", action="store_true", help="only say whether katas.lock is up to date")
    p.set_defaults(func=cmd_lock)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        root = find_root()
        return args.func(root, args)
    except CurriculumError as exc:
        console.print(f"[red]{exc}[/]")
        return 2
    except subprocess.CalledProcessError as exc:
        console.print(f"[red]{' '.join(map(str, exc.cmd))} failed: {(exc.stderr or b'').strip()[:500]!r}[/]")
        return 2


if __name__ == "__main__":
    sys.exit(main())
