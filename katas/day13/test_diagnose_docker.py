"""Day 13, task 4 (docker tier): diagnose real containers that are healthy, slow, crash-looping or OOM-killed."""

from __future__ import annotations

import sqlite3
import uuid

import pytest

from diagnose import diagnose, gather
from mlops_katas.infra.http_server import free_port

pytestmark = [pytest.mark.task(taskno=4), pytest.mark.docker, pytest.mark.timeout(90)]


def causes(findings) -> list[str]:
    return [finding.cause for finding in findings]


def test_a_healthy_container_is_diagnosed_healthy(docker_client, docker_run, standin_image, wait_until):
    server = docker_run(standin_image, env={"APP_MODE": "healthy"})
    # A budget no busy machine exceeds: this test is about reading the container, not about its speed.
    findings = diagnose(server.container.name, server.url, client=docker_client, slow_ms=10_000.0)
    assert causes(findings) == ["healthy"], f"a running container answering /health in time is healthy: {findings}"
    logs = gather(server.container.name, server.url, client=docker_client).logs
    assert "starting model server" in logs, (
        f"this server writes all its log lines, the start-up line first, to stdout; gather's logs hold "
        f"stdout and stderr, got {logs!r}"
    )
    last = gather(server.container.name, server.url, client=docker_client, log_lines=1).logs
    assert len(last.splitlines()) == 1 and "starting model server" not in last and "/health" in last, (
        f"the probes since start-up each logged a 'GET /health' line after the start-up line; log_lines=1 "
        f"keeps the last line of the log, not the first, got {last!r}"
    )
    none = gather(server.container.name, server.url, client=docker_client, log_lines=0).logs
    assert none == "", f"log_lines=0 keeps none of the log's lines (as `docker logs --tail 0`), got {none!r}"
    server.container.kill()  # the server dies after those calls: the next diagnosis must see it
    wait_until(server.container, lambda attrs: not attrs["State"]["Running"], "stopped after docker kill")
    findings = diagnose(server.container.name, server.url, client=docker_client)
    assert causes(findings)[:1] == ["exited"], (
        f"the container was killed after the earlier calls; every gather asks Docker anew (no docker inspect kept "
        f"from an earlier call), so it is now exited: {findings}"
    )


def test_a_slow_container_is_diagnosed_slow(docker_client, docker_run, standin_image):
    server = docker_run(standin_image, env={"APP_MODE": "slow", "SLOW_S": "0.6"})
    findings = diagnose(server.container.name, server.url, client=docker_client)
    assert causes(findings) == ["slow"], f"/health takes 600 ms against a 200 ms budget: {findings}"
    findings = diagnose(server.container.name, server.url, client=docker_client, slow_ms=5000.0)
    assert causes(findings) == ["healthy"], f"diagnose passes slow_ms on: 600 ms is fine within 5000 ms: {findings}"
    probe = gather(server.container.name, server.url, client=docker_client, timeout_s=0.2).health
    assert probe.status is None and probe.error, f"gather(timeout_s=0.2) gives up on a 600 ms /health: {probe}"


def test_latency_from_the_monitoring_store_is_taken_into_account(docker_client, docker_run, standin_image,
                                                                   recorded_latency, unreadable_store):
    server = docker_run(standin_image, env={"APP_MODE": "healthy"})
    store = recorded_latency([900.0] * 20, older=[(0.75, 30.0)] * 5 + [(3.0, 7.0)] * 5)
    findings = diagnose(server.container.id, server.url, client=docker_client, metrics=store)
    assert "latency_ms" in store.asked, "diagnose reads latency_ms from the metrics store it is given"
    assert causes(findings) == ["slow"], f"the stored p95 latency is 900 ms: {findings}"
    last_hour = gather(server.container.id, server.url, client=docker_client, metrics=store).latency_ms
    snapshot = gather(server.container.id, server.url, client=docker_client)
    assert snapshot.container == server.container.id, (
        f"the snapshot names the container as it was asked for (its id here), not by Docker's name for it: "
        f"{snapshot.container!r}"
    )
    assert sorted(last_hour) == [30.0] * 5 + [900.0] * 20, (
        f"by default gather reads the last hour of latency (not the 3-hour-old samples), got {sorted(last_hour)}"
    )
    half_hour = gather(server.container.id, server.url, client=docker_client, metrics=store, hours=0.5).latency_ms
    assert sorted(half_hour) == [900.0] * 20, f"hours=0.5 reads only the last half hour, got {sorted(half_hour)}"
    with_zeros = recorded_latency([0.0] * 19 + [1000.0])
    samples = gather(server.container.id, server.url, client=docker_client, metrics=with_zeros).latency_ms
    assert sorted(samples) == [0.0] * 19 + [1000.0], (
        f"a latency of 0.0 ms is a sample like any other (not a missing value): expected 19 zeros and 1000.0, "
        f"got {sorted(samples)}"
    )
    try:
        failed = gather(server.container.id, server.url, client=docker_client, metrics=unreadable_store)
    except NotImplementedError:
        raise
    except sqlite3.OperationalError:
        return  # the store's error propagated: the caller knows the latency is unknown, not fast
    pytest.fail(f"the metrics store raised sqlite3.OperationalError, yet gather answered {failed}: a store that "
                "fails makes gather raise, since no latency is not fast latency")


def test_a_crash_looping_container_is_diagnosed_with_its_error(docker_client, faulty_container, wait_until):
    container, url = faulty_container("crash", restart_policy={"Name": "always"})
    wait_until(container, lambda attrs: attrs["RestartCount"] >= 3, "restarted 3 times")
    findings = diagnose(container.name, url, client=docker_client)
    assert causes(findings)[0] == "crash_loop", f"Docker keeps restarting it: {findings}"
    assert "error_logs" in causes(findings), f"the container logged its error: {findings}"
    evidence = next(f.evidence for f in findings if f.cause == "error_logs")
    assert "could not load model" in evidence, f"the evidence quotes the container's error line: {evidence}"
    tail = gather(container.name, url, client=docker_client, log_lines=2).logs
    assert len(tail.splitlines()) == 2, f"log_lines=2 keeps only the last 2 of the restarts' log lines, got {tail!r}"


def test_a_log_that_is_not_utf8_does_not_break_the_diagnosis(docker_client, faulty_container, wait_until):
    writes_bad_bytes = ("import sys; "
                        "sys.stderr.buffer.write(b'ERROR: cannot parse row caf\\xe9 (d\\xc3\\xa9j\\xc3\\xa0 vu)\\n'); "
                        "sys.exit(3)")
    # Docker's `local` log driver keeps the bytes as written (json-file would already have replaced them).
    container, url = faulty_container("bad-bytes", command=["python3", "-c", writes_bad_bytes],
                                      log_config={"type": "local"})
    wait_until(container, lambda attrs: attrs["State"]["Status"] == "exited", "exited")
    try:
        findings = diagnose(container.name, url, client=docker_client)
    except UnicodeDecodeError as exc:
        pytest.fail(f"the container wrote a Latin-1 byte (0xe9) to its log; gather decodes logs with invalid bytes "
                    f"replaced, it must not fail on them: {exc!r}")
    assert causes(findings)[:1] == ["exited"] and "error_logs" in causes(findings), (
        f"it exited with code 3 after logging an error line: {findings}"
    )
    evidence = next(f.evidence for f in findings if f.cause == "error_logs")
    assert "cannot parse row" in evidence, f"the evidence quotes the error line, bad byte replaced: {evidence!r}"
    logs = gather(container.name, url, client=docker_client).logs
    assert "caf\ufffd" in logs and "d\u00e9j\u00e0 vu" in logs, (
        f"the log is decoded as UTF-8 with the invalid byte replaced (U+FFFD, not dropped) and the valid UTF-8 "
        f"'d\u00e9j\u00e0 vu' kept as it is (not read as Latin-1); got {logs!r}"
    )


def test_an_oom_killed_container_is_diagnosed_oom(docker_client, faulty_container, wait_until):
    container, url = faulty_container("oom", mem_limit="32m", memswap_limit="32m")
    # Docker records the exit a moment before the OOM kill: wait for both, as `docker inspect` shows them.
    wait_until(container, lambda attrs: attrs["State"]["Status"] == "exited" and attrs["State"]["OOMKilled"],
               "exited with OOMKilled set")
    findings = diagnose(container.id, url, client=docker_client)
    assert causes(findings)[0] == "oom_killed", f"the kernel killed it for using more than 32 MiB: {findings}"
    assert "137" in findings[0].evidence, f"the evidence quotes exit code 137: {findings[0].evidence}"


def test_the_container_is_found_by_exactly_the_name_or_id_docker_inspect_takes(docker_client, docker_run,
                                                                               standin_image):
    name = f"katas-day13-lookup-{uuid.uuid4().hex[:8]}"
    server = docker_run(standin_image, env={"APP_MODE": "healthy"}, name=name)
    short_id = server.container.id[:12]  # what `docker ps` shows
    snapshot = gather(short_id, server.url, client=docker_client)
    assert snapshot.inspect is not None and snapshot.inspect.get("Id") == server.container.id, (
        f"{short_id} is the container's short id, as `docker ps` shows it, and `docker inspect {short_id}` finds it; "
        f"gather found {None if snapshot.inspect is None else snapshot.inspect.get('Id')}"
    )
    assert snapshot.container == short_id, (
        f"the snapshot names the container as it was asked for ({short_id}): {snapshot.container!r}"
    )
    part = name[:-4]
    findings = diagnose(part, server.url, client=docker_client)
    assert causes(findings) == ["not_found"], (
        f"no container is named {part!r}: {name!r} only begins with it; a name is matched whole, as `docker inspect` "
        f"matches it (`docker ps --filter name=` matches any part of a name), so this is not_found: {findings}"
    )


def test_a_container_that_does_not_exist_is_not_found(docker_client):
    name = f"katas-day13-ghost-{uuid.uuid4().hex[:8]}"
    findings = diagnose(name, f"http://127.0.0.1:{free_port()}", client=docker_client)
    assert causes(findings) == ["not_found"], f"there is no container {name}: {findings}"
