"""Hypothesis profiles for the katas, registered when Hypothesis is first imported.

Hypothesis calls this through its `hypothesis` entry point, so days that never use
Hypothesis do not pay for importing it. Learners get fresh random examples each run;
CI and scoring (`CI` set) get the same examples every run, so scores are reproducible.
"""

from __future__ import annotations

import os


def register() -> None:
    from hypothesis import HealthCheck, Phase, settings

    # No "explain" phase: it re-runs a failing example many times to annotate lines,
    # which makes every run against a stub slow and adds little for these katas.
    phases = [phase for phase in Phase if phase is not Phase.explain]
    # Hypothesis may already have loaded its own "ci" profile (it looks at CI variables,
    # tox's included); start both of ours from its plain default, not from whatever is loaded.
    base = settings.get_profile("default")
    # A failing run reads as one short block: one counterexample (no ExceptionGroup of
    # several), and no `@reproduce_failure` advice to paste into a test file the learner
    # must not edit (the example database replays the failure on the next run anyway).
    quiet = {"deadline": None, "print_blob": False, "report_multiple_bugs": False, "phases": phases}
    settings.register_profile("learner", parent=base, **quiet)
    # The learner's profile without the example database: every run starts from nothing,
    # as a fresh clone does (scripts/hypothesis-reliability measures catch rates with it).
    settings.register_profile("learner-fresh", parent=base, database=None, **quiet)
    settings.register_profile(
        "ci",
        parent=base,
        derandomize=True,
        database=None,
        **quiet,
        suppress_health_check=[HealthCheck.too_slow],
    )
    settings.load_profile("ci" if os.environ.get("CI") else "learner")
