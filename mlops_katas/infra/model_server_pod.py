"""What a pod must leave alone for the day-03 model server image to start in it: the rules days 04 and 10 share.

Each function says in plain words what is wrong with one container (`who` names it in the message), or None.
"""

from __future__ import annotations

from fractions import Fraction

from .manifests import quantity

MIN_MEMORY_LIMIT = 128 * 2**20  # bytes: the day-03 server with its model uses over 100Mi
MIN_CPU_LIMIT = Fraction(1, 5)  # cores: its libraries take about two CPU-seconds to load


def _limits(container: dict):
    return (container.get("resources") or {}).get("limits") or {}


def low_memory_limit(container: dict, who: str) -> str | None:
    limits = _limits(container)
    memory = quantity(limits.get("memory")) if isinstance(limits, dict) else None
    if memory is None or memory >= MIN_MEMORY_LIMIT:
        return None  # a missing or malformed limit is another test's to report
    return (f"limits.memory of {who} is {limits['memory']!r}: the day-03 server with its model uses over 100Mi, so "
            "under a 128Mi limit it is OOM-killed while loading and never becomes ready")


def low_cpu_limit(container: dict, who: str) -> str | None:
    limits = _limits(container)
    if not isinstance(limits, dict) or "cpu" not in limits:
        return None  # no CPU limit: the server may use any idle CPU
    cpu = quantity(limits["cpu"])
    if cpu is None or cpu >= MIN_CPU_LIMIT:
        return None
    return (f"limits.cpu of {who} is {limits['cpu']!r}: the day-03 server's libraries alone take about two "
            "CPU-seconds to load, which such a limit stretches to minutes, so the probes restart it before it is "
            "up; give it at least 200m, or leave the CPU limit out")


def overridden_entry_point(container: dict, who: str) -> str | None:
    overrides = {k: container[k] for k in ("command", "args") if k in container}
    if overrides:
        return (f"{who} overrides the image's entry point with {overrides}: the tests run the day-03 image they "
                "built, whose CMD already serves on 0.0.0.0:8000; leave command and args out")
    if "workingDir" in container:
        return (f"{who} sets workingDir {container['workingDir']!r}: the day-03 image's CMD imports model_server "
                "from the image's WORKDIR (/app), so gunicorn finds nothing to import elsewhere and no pod is ever "
                "ready; leave workingDir out")
    return None


def own_model_path(container: dict, who: str) -> str | None:
    env = container.get("env") or []
    paths = [e.get("value") for e in env if isinstance(e, dict) and e.get("name") == "MODEL_PATH"]
    if not paths:
        return None
    return (f"{who} sets MODEL_PATH to {paths}: the day-03 image already points MODEL_PATH at the model it "
            "carries, and a path of your own is not in that image, so no pod would ever be ready; leave "
            "MODEL_PATH out of env")
