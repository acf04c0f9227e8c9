"""Is kind usable here? Probed once per run by the kind tier."""

from __future__ import annotations

import shutil


def probe() -> str | None:
    if shutil.which("kind") is None:
        return "kind is not on PATH ('katas doctor' says how to get it)"
    return None
