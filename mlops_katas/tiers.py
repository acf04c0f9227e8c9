"""Which infrastructure tiers this machine has, probed once per run and only when needed.

A missing tier skips its tests with one line saying what is missing and how to get
it; `--require TIER` (what CI passes for docker) turns that skip into a failure, so a
tier can never be silently skipped where it must run.
"""

from __future__ import annotations

import importlib

# Each probe returns None when the tier is usable, else why not and how to fix it.
PROBES = {
    "docker": "mlops_katas.infra.docker_engine:probe",
    "kind": "mlops_katas.infra.kind:probe",
    "redis": "mlops_katas.infra.redis_server:probe",
    "prometheus": "mlops_katas.infra.prometheus:probe",
}
TIERS = tuple(PROBES)


class Tiers:
    def __init__(self, required: set[str]) -> None:
        unknown = required - set(TIERS)
        if unknown:
            raise ValueError(f"--require takes {', '.join(TIERS)}; not {', '.join(sorted(unknown))}")
        self.required = required
        self._reasons: dict[str, str | None] = {}

    def missing(self, tier: str) -> str | None:
        if tier not in self._reasons:
            module, _, func = PROBES[tier].partition(":")
            self._reasons[tier] = getattr(importlib.import_module(module), func)()
        return self._reasons[tier]

    def probed(self) -> dict[str, str | None]:
        return dict(self._reasons)
