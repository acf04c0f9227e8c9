"""Is a Docker engine reachable? Probed once per run by the docker tier."""

from __future__ import annotations


def probe() -> str | None:
    try:
        import docker
    except ImportError:
        return "the Python package 'docker' is not installed (pip install -e .)"
    try:
        docker.from_env(timeout=5).ping()
    except Exception as exc:
        return f"no Docker engine answered ({exc.__class__.__name__}); start dockerd or Docker Desktop ('katas doctor')"
    return None
