"""Containers against a real engine: start-up failures, removal, and reaping after a kill."""

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time

import docker
import pytest

from mlops_katas.infra import containers, docker_engine

from .reaping import reaped

pytestmark = [pytest.mark.docker, pytest.mark.timeout(180)]


def _gone(collection, object_id: str) -> bool:
    import docker

    try:
        collection.get(object_id)
    except docker.errors.NotFound:
        return True
    return False


def labelled(client, **labels) -> list:
    wanted = [f"{key}={value}" for key, value in labels.items()]
    return client.containers.list(all=True, filters={"label": wanted})


def wait_for_line(process: subprocess.Popen, text: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if text in line:
            return
        if not line and process.poll() is not None:
            break
    pytest.fail(f"the child process never printed {text!r} (exit code {process.poll()})")


def test_an_exited_container_fails_at_once_with_its_exit_code_and_log(docker_client, docker_base_image, request):
    started = time.monotonic()
    with pytest.raises(containers.ContainerFailed) as failure:
        with containers.run_container(docker_base_image, command=["sh", "-c", "echo model file missing; exit 3"],
                                      test=request.node.nodeid, client=docker_client):
            pass
    assert "exited with code 3" in str(failure.value) and "model file missing" in str(failure.value), str(failure.value)
    assert time.monotonic() - started < containers.WAIT_S / 2, "an exited container should not wait out the budget"
    assert not labelled(docker_client, **{docker_engine.TEST: request.node.nodeid}), "the failed container was left"


def test_a_container_is_waited_for_and_removed_afterwards(docker_client, docker_base_image, request):
    with containers.run_container(docker_base_image, command=["python3", "-m", "http.server", "8000"],
                                  wait_path="/", test=request.node.nodeid, client=docker_client) as running:
        import requests

        assert running.url == f"http://127.0.0.1:{running.port}"
        assert requests.get(running.url + "/", timeout=5).status_code == 200
        found = labelled(docker_client, **{docker_engine.TEST: request.node.nodeid})
        assert [c.id for c in found] == [running.container.id], "the container carries the run's labels"
        assert found[0].labels[docker_engine.SESSION] == docker_engine.SESSION_ID
    assert not labelled(docker_client, **{docker_engine.TEST: request.node.nodeid}), "the container was left"


def test_the_reaper_removes_containers_of_dead_runs_only(docker_client, docker_base_image, request):
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait(timeout=30)
    dead_labels = {**docker_engine.run_labels(request.node.nodeid), docker_engine.PID: str(finished.pid),
                   docker_engine.SESSION: "dead-session"}
    orphan = docker_client.containers.run(docker_base_image, ["sleep", "300"], detach=True, labels=dead_labels)
    mine = docker_client.containers.run(docker_base_image, ["sleep", "300"], detach=True,
                                        labels=docker_engine.run_labels(request.node.nodeid))
    orphan_network = docker_client.networks.create(f"katas-orphan-{finished.pid}", labels=dead_labels)
    try:
        removed = containers.reap(docker_client)
        assert reaped(f"container {orphan.name}", removed, lambda: _gone(docker_client.containers, orphan.id)), (
            f"the dead run's container should be reaped: {removed}")
        assert reaped(f"network {orphan_network.name}", removed,
                      lambda: _gone(docker_client.networks, orphan_network.id)), (
            f"the dead run's network should be reaped: {removed}")
        remaining = {c.id for c in labelled(docker_client, **{docker_engine.TEST: request.node.nodeid})}
        assert remaining == {mine.id}, "a live run's container must be left alone"
    finally:
        for container in (orphan, mine):
            containers.remove(container)
        with contextlib.suppress(docker.errors.NotFound):
            orphan_network.remove()



def _labelled_image(client, base_image, tmp_path, name, labels):
    context = tmp_path / name
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {base_image}\n")
    image, _ = client.images.build(path=str(context), tag=f"katas-test/{name}:1", labels=labels, rm=True)
    return image


def test_the_reaper_removes_per_run_images_of_dead_runs_but_not_the_build_cache(docker_client, docker_base_image,
                                                                                request, tmp_path):
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait(timeout=30)
    dead = {**docker_engine.run_labels(request.node.nodeid), docker_engine.PID: str(finished.pid),
            docker_engine.SESSION: "dead-session", "test.marker": "dead"}
    cache = {docker_engine.MANAGED: "true", f"{docker_engine.LABEL}.context-hash": "0" * 64}
    live = {**docker_engine.run_labels(request.node.nodeid), "test.marker": "live"}
    images = {name: _labelled_image(docker_client, docker_base_image, tmp_path, f"reap-{name}-{finished.pid}", labels)
              for name, labels in (("dead", dead), ("cache", cache), ("live", live))}
    try:
        removed = containers.reap(docker_client)
        assert reaped(f"image katas-test/reap-dead-{finished.pid}:1", removed,
                      lambda: _gone(docker_client.images, images["dead"].id)), f"the dead run's image should go: {removed}"
        assert not any(_gone(docker_client.images, images[name].id) for name in ("cache", "live")), (
            f"the build cache and a live run's images must stay: {removed}")
    finally:
        for image in images.values():
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                docker_client.images.remove(image.id, force=True)


def test_a_run_killed_with_sigkill_is_reaped_by_the_next(docker_client, docker_base_image):
    script = textwrap.dedent(f"""
        import time
        from mlops_katas.infra import containers
        with containers.run_container({docker_base_image!r}, command=["sleep", "300"], wait_path=None):
            print("started", flush=True)
            time.sleep(300)
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        wait_for_line(child, "started")
        left = labelled(docker_client, **{docker_engine.PID: str(child.pid)})
        assert len(left) == 1, "the child should have one labelled container running"
    finally:
        child.kill()
        child.wait(timeout=30)
    assert labelled(docker_client, **{docker_engine.PID: str(child.pid)}), "SIGKILL runs no teardown"
    containers.reap(docker_client)
    assert not labelled(docker_client, **{docker_engine.PID: str(child.pid)}), "the reaper should remove it"


def test_sigterm_to_a_pytest_run_still_removes_its_containers(docker_client, docker_base_image, tmp_path):
    test_file = tmp_path / "test_sleeps.py"
    test_file.write_text(textwrap.dedent(f"""
        import time
        def test_sleeps(docker_run):
            docker_run({docker_base_image!r}, command=["sleep", "300"], wait_path=None)
            print("started", flush=True)
            time.sleep(300)
    """))
    child = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-s", "-q", "-p", "mlops_katas.infra.docker_fixtures", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path), "-c", os.devnull, str(test_file)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    try:
        wait_for_line(child, "started")
        assert labelled(docker_client, **{docker_engine.PID: str(child.pid)}), "the test's container should run"
        child.send_signal(signal.SIGTERM)
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)
        leftovers = labelled(docker_client, **{docker_engine.PID: str(child.pid)})
        for container in leftovers:
            containers.remove(container)
    assert not leftovers, "after SIGTERM pytest should have run the teardown that removes the container"
