"""Shared by the stand-in `kind` and `kubectl`: a JSON state file and a call log.

FAKE_KIND_STATE names the state file (clusters, namespaces, how each command should
behave); FAKE_KIND_LOG receives one JSON line per call, so tests can assert on the
exact commands the harness ran.
"""

import json
import os
import sys
from pathlib import Path


def state() -> dict:
    return json.loads(Path(os.environ["FAKE_KIND_STATE"]).read_text())


def save(data: dict) -> None:
    path = Path(os.environ["FAKE_KIND_STATE"])
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)


def log(tool: str, args: list[str], stdin: str | None = None) -> None:
    entry = {"tool": tool, "args": args, "pid": os.getpid(), "stdin": stdin}
    with open(os.environ["FAKE_KIND_LOG"], "a") as out:
        out.write(json.dumps(entry) + "\n")


def fail(message: str, code: int = 1) -> None:
    print(message, file=sys.stderr)
    sys.exit(code)


def option(args: list[str], name: str) -> str | None:
    """The value of `--name VALUE` or `--name=VALUE`."""
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None
