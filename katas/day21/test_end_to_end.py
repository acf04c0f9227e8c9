"""Task 6: the capstone end to end, on real parts, run twice as a learner runs it.

The stack of your `docker-compose.yml` (the MLflow server; the model service your capstone
deploys), Prometheus scraping the model service every second with day 18's burn-rate
rules, Alertmanager with your `alertmanager.yml`, a real SMTP sink. The first run trains
the `linear` candidate into an empty registry (a first deploy) and must end promoted and
serving with nobody paged. The second trains `interactions-by-name`: better in the gate,
broken behind the server (every /predict answers 500). Your monitor must notice, Prometheus
pages through Alertmanager, v1 serves again and the report says why.

Every claim is checked against the world, not only against your report: the registry's
`champion` alias, the version `/health` reports on the service port, the mail in the sink.
"""

from __future__ import annotations

import re
import time

import pytest

pytestmark = [pytest.mark.task(taskno=6), pytest.mark.end_to_end, pytest.mark.docker, pytest.mark.mlflow,
              pytest.mark.prometheus, pytest.mark.timeout(420)]

MAIL_WAIT_S = 60.0


def mail_text(message) -> str:
    """A mail's subject and every text part of it (plain and HTML: Alertmanager's default mail is HTML only)."""
    parts = [message.subject]
    for part in message.message.walk():
        if part.get_content_maintype() == "text":
            parts.append(part.get_content())
    return "\n".join(parts)


def first_deploy(world) -> dict:
    if "first" not in world.runs:
        world.run_capstone(world.capstone_py, "first", "linear")
    return world.runs["first"]


def test_a_first_deploy_is_promoted_and_serves_and_pages_nobody(capstone_world):
    world = capstone_world
    report = first_deploy(world)
    assert report["outcome"] == "promoted", (
        f"a first deploy of a healthy model should end promoted; the report says {report['outcome']!r}: "
        f"{report['reason']}\n{report['_stdout']}")
    assert report["_returncode"] == 0 and report["exit_code"] == 0, (
        f"a promoted run exits 0; capstone.py exited {report['_returncode']}, the report says {report['exit_code']}")
    assert report["version"] == "1" and report["previous"] is None, (
        f"into an empty registry the run registers version '1' with no previous champion; the report says "
        f"version {report['version']!r}, previous {report['previous']!r}")
    assert world.champion() == "1", f"the registry's champion alias should point at version 1, not {world.champion()!r}"
    assert world.serving() == "v1" and report["serving"] == "v1", (
        f"v1 should answer /health on the service port ({world.serving()!r}) and the report should say so "
        f"({report['serving']!r})")
    names = [stage["name"] for stage in report["stages"]]
    assert names == ["train", "gate", "register", "package", "deploy", "load", "monitor"], (
        f"a promoted run reports these stages in this order, got {names}")
    for stage in report["stages"]:
        assert stage["ok"] is True and stage["seconds"] > 0, f"every stage of a promoted run is ok and timed: {stage}"
    for name in names:
        assert re.search(rf"^{name}\b.*\d+(\.\d+)?\s*s\b", report["_stdout"], re.MULTILINE), (
            f"the printed report should have a line starting with {name!r} and its seconds:\n{report['_stdout']}")
    world.wait_for_rule_evaluations(after=time.time() + 2.0, timeout=30.0)  # two evaluations after the run
    assert not world.alerts(), f"a healthy model fires no alert (none even pending), Prometheus has {world.alerts()}"
    assert not world.smtp.messages, f"a healthy model pages nobody; the inbox has {[m.subject for m in world.smtp.messages]}"


def test_a_regression_pages_and_puts_the_previous_version_back(capstone_world):
    world = capstone_world
    first = first_deploy(world)
    assert first["outcome"] == "promoted", f"the first deploy should succeed before the regression: {first['reason']}"
    report = world.run_capstone(world.capstone_py, "regression", "interactions-by-name")
    assert report["outcome"] == "rolled_back" and report["exit_code"] == 3 and report["_returncode"] == 3, (
        f"a deployed model that fails every request must be rolled back (exit code 3); the report says "
        f"{report['outcome']!r}, exit {report['_returncode']}: {report['reason']}\n{report['_stdout']}")
    assert report["version"] == "2" and report["previous"] == "1", (
        f"the run registered version 2 over champion 1; the report says {report['version']!r} over "
        f"{report['previous']!r}")
    stages = {stage["name"]: stage for stage in report["stages"]}
    assert stages.get("gate", {}).get("ok") is True, f"the candidate passes the gate (it is better on paper): {stages}"
    assert stages.get("monitor", {}).get("ok") is False, f"the monitor stage must fail on the regression: {stages}"
    assert stages.get("rollback", {}).get("ok") is True, f"the rollback stage should succeed: {stages}"
    assert report["reason"].strip(), "the report says why it rolled back"
    assert world.serving() == "v1" and report["serving"] == "v1", (
        f"v1 should answer on the service port again ({world.serving()!r}; the report says {report['serving']!r})")
    assert world.champion() == "1", f"the champion alias should point at version 1 again, not {world.champion()!r}"
    deadline = time.monotonic() + MAIL_WAIT_S
    while not world.smtp.messages and time.monotonic() < deadline:
        time.sleep(0.5)
    subjects = [m.subject for m in world.smtp.messages]
    assert any("ErrorBudgetFastBurn" in mail_text(m) for m in world.smtp.messages), (
        f"Prometheus should page through Alertmanager: an email about ErrorBudgetFastBurn should arrive within "
        f"{MAIL_WAIT_S:g} s; the inbox has {subjects}")
