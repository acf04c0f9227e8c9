"""Task 6: the real steps (`Steps`), one at a time and fast, against fake tools (see fake_tools.py).

`Steps(args, runner=docker, clock=clock, sleep=clock.sleep)` gets a fake `docker` /
`docker-compose` that parses its commands like the real ones, a real HTTP server on
loopback standing for the model service's port (the old container answers a little longer
after `up`, the new one takes a few seconds to start and then to be ready), and a fake
clock. The MLflow steps run against a real, private MLflow store. Every test checks the
world afterwards: which container runs which image in which project, which images exist,
what the port answers, where the registry's alias points.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse

import pytest

from capstone import LoadResult, Steps
from fake_tools import FakeDocker, ModelPort, readable_by
from mlops_katas.fakes import FakeClock

pytestmark = pytest.mark.task(taskno=6)

PROJECT = "capstone-test"
REPO = "reg.example:5000/capstone-model"
SERVER_IMAGE = "katas/day03-server:test"
WAIT_S = 20.0


class BoundedClock(FakeClock):
    """A fake clock whose `sleep` stops a wait that has gone on far past any deadline."""

    limit_s = 10 * WAIT_S

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        if self.elapsed > self.limit_s:
            pytest.fail(f"still waiting after {self.elapsed:.0f} s (of fake time) although --wait-seconds is "
                        f"{WAIT_S:g}: every wait needs a deadline", pytrace=False)


def make_args(tmp_path: Path, port: int, **overrides) -> argparse.Namespace:
    stack = tmp_path / "stack"
    stack.mkdir(exist_ok=True)
    compose_file = stack / "docker-compose.yml"
    compose_file.write_text("services: {mlflow: {image: x}, model: {image: y}}\n", encoding="utf-8")
    values = dict(tracking_uri="http://127.0.0.1:9", server_image=SERVER_IMAGE, model_name="capstone",
                  candidate="linear", image_repo=REPO, compose_file=compose_file, project=PROJECT, model_port=port,
                  prometheus_url="", margin=0.01, slice_tolerance=0.05, requests=20, rps=10.0, load_seconds=5.0,
                  min_availability=0.99, max_p95_ms=500.0, max_error_ratio=0.01, wait_seconds=WAIT_S,
                  store=tmp_path / "metrics.db", label=["org.example.team=fraud", "run=42", "note=two words", "query=a=b",
                         'quote=say "hi"', "Org.Example.Owner=Fraud Ops", "cost=$5 a day, ${BUDGET}",
                         "team=Équipe fraude"],
                  report_json=None)
    values.update(overrides)
    return argparse.Namespace(**values)


class World:
    def __init__(self, tmp_path: Path, port: ModelPort, docker: FakeDocker, clock: BoundedClock) -> None:
        self.tmp_path, self.port, self.docker, self.clock = tmp_path, port, docker, clock

    def steps(self, **overrides) -> Steps:
        args = make_args(self.tmp_path, self.port.port, **overrides)
        return Steps(args, runner=self.docker, clock=self.clock, sleep=self.clock.sleep)

    def containers(self) -> list[str]:
        return [f"{c.project}/{c.service} on {c.image}{'' if c.running else ' (stopped)'}"
                for c in self.docker.containers]


@pytest.fixture
def world(tmp_path):
    """v1 has been serving for a while in project PROJECT; images of v1 and v2 exist."""
    clock = BoundedClock()
    docker = FakeDocker(clock, compose_file=tmp_path / "stack" / "docker-compose.yml", project=PROJECT)
    docker.add_image(SERVER_IMAGE, user="10001:10001")  # day 03's image runs as a non-root user
    docker.add_image(f"{REPO}:v1", model_version="v1")
    docker.add_image(f"{REPO}:v2", model_version="v2")
    docker.start("model", f"{REPO}:v1", at=clock() - 100)
    with ModelPort(docker, clock) as port:
        yield World(tmp_path, port, docker, clock)


def set_timing(world: World, **timing) -> None:
    world.port.timing.update(timing)


def assert_finite_timeouts(world: World) -> None:
    import math

    unbounded = [c["argv"][:3] for c in world.docker.commands
                 if not (isinstance(c["timeout"], (int, float)) and math.isfinite(c["timeout"]) and c["timeout"] > 0)]
    assert not unbounded, (
        f"every docker / docker-compose command should get a finite timeout (a hung docker must not hang the run); "
        f"these got none: {unbounded}")


def result_or_none(call):
    """What `call()` returns, or None when it raised: giving up with an error is one right answer
    (an unfinished step's NotImplementedError goes through)."""
    try:
        return call()
    except NotImplementedError:
        raise
    except Exception:  # noqa: BLE001 - any error is how the step says it gave up
        return None


def raises(call, what: str) -> BaseException:
    """The exception `call()` raised (an unfinished step's NotImplementedError goes through)."""
    try:
        call()
    except NotImplementedError:
        raise
    except Exception as exc:  # noqa: BLE001 - any error is how the step says it failed
        return exc
    pytest.fail(f"{what} should have raised", pytrace=False)


# --- deploy, undeploy, serving ------------------------------------------------------------------


def test_deploy_runs_the_versions_image_as_the_model_service_of_the_project(world):
    steps = world.steps()
    mlflow_before = world.docker.container("mlflow")
    url = steps.deploy("2")
    model = world.docker.container("model")
    assert model is not None and model.image == f"{REPO}:v2" and model.running, (
        f"deploy('2') should run {REPO}:v2 as the 'model' service of project {PROJECT!r} (--project-name) from "
        f"--compose-file; the containers are now {world.containers()}")
    others = [c for c in world.docker.containers if c.project != PROJECT]
    assert not others, f"deploy should create nothing outside project {PROJECT!r}, found {world.containers()}"
    assert world.docker.container("mlflow") is mlflow_before and mlflow_before.running, (
        "deploy should leave the mlflow service alone (up names the model service only); it was recreated or "
        f"stopped: {world.containers()}")
    assert model.env.get("MODEL_PORT") == str(world.port.port), (
        f"compose should see MODEL_PORT={world.port.port} (--model-port) in its environment, it saw "
        f"{model.env.get('MODEL_PORT')!r}")
    ups = world.docker.compose_calls("up")
    assert ups and all(call["services"] == ["model"] for call in ups), (
        "deploy's `docker-compose up` should name the model service only (an `up` of every service would "
        f"recreate mlflow from the defaults); it ran {[call['argv'] for call in ups]}")
    without = [call["argv"] for call in ups if not call["options"].get("--no-deps")]
    assert not without, (
        "deploy's `docker-compose up` should pass --no-deps (`up -d --no-deps model`: without it compose also starts "
        f"or recreates the services model depends on); it ran {without}")
    parsed = urlparse(url)
    assert parsed.hostname in ("127.0.0.1", "localhost") and parsed.port == world.port.port, (
        f"deploy should return the service's URL on loopback at --model-port {world.port.port}, got {url!r}")
    assert_finite_timeouts(world)


def test_deploy_waits_for_the_new_version_not_for_any_answer(world):
    # After `up`, the old container answers /health with v1 for 2 s; v2 answers from 3 s, is ready from 4 s.
    steps = world.steps()
    steps.deploy("2")
    version, ready, _ = world.port.state()
    assert version == "v2", (
        f"deploy('2') returned while the port still answered {version!r}: it should wait until /health reports "
        "model_version 'v2', not for any answer (the old container answers for a while after `up`)")
    assert ready, "deploy('2') returned while /ready still answered 503: it should wait until /ready answers 200"
    assert steps.serving() == "v2", f"serving() should report 'v2' after the deploy, got {steps.serving()!r}"


def test_deploy_waits_for_exactly_its_version(world):
    world.docker.containers.remove(world.docker.container("model"))
    world.docker.add_image(f"{REPO}:v12", model_version="v12")
    world.docker.start("model", f"{REPO}:v12", at=world.clock() - 100)  # v12 serves, v2 is deployed over it
    world.steps().deploy("2")
    version, ready, _ = world.port.state()
    assert (version, ready) == ("v2", True), (
        f"deploy('2') returned while the port answered {version!r} (ready {ready}): it waits until /health reports "
        "exactly 'v2', and 'v12', which holds the digit 2, is another version")


def test_deploy_waits_for_exactly_its_version_not_one_that_starts_with_it(world):
    world.docker.containers.remove(world.docker.container("model"))
    world.docker.add_image(f"{REPO}:v12", model_version="v12")
    world.docker.start("model", f"{REPO}:v12", at=world.clock() - 100)  # v12 serves, v1 goes back over it
    world.steps().deploy("1")
    version, ready, _ = world.port.state()
    assert (version, ready) == ("v1", True), (
        f"deploy('1') returned while the port answered {version!r} (ready {ready}): it waits until /health reports "
        "exactly 'v1', and 'v12', which begins with 'v1', is another version")


def test_deploy_waits_for_ready_after_the_version_answers(world):
    set_timing(world, old_answers_s=0.0, start_s=1.0, ready_s=8.0)
    world.steps().deploy("2")
    version, ready, _ = world.port.state()
    assert version == "v2" and ready, (
        f"v2 answered /health from 1 s but /ready only from 8 s; deploy returned when the port showed version "
        f"{version!r}, ready {ready}: it should wait for both")


@pytest.mark.parametrize("up_s, start_s, ready_s", [
    pytest.param(0.0, WAIT_S - 3, WAIT_S - 2, id="ready-just-before-the-deadline"),
    # a slow `up` (a pull, the old container stopping) takes most of --wait-seconds: they count from when it returned
    pytest.param(WAIT_S - 5, 7.0, 8.0, id="slow-up"),
])
def test_deploy_succeeds_when_ready_within_wait_seconds_of_up_returning(world, up_s, start_s, ready_s):
    world.docker.up_s = up_s
    set_timing(world, start_s=start_s, ready_s=ready_s)
    started = world.clock()
    try:
        world.steps().deploy("2")
    except NotImplementedError:
        raise
    except Exception as exc:  # noqa: BLE001 - the message is the point
        pytest.fail(f"`up` took {up_s:g} s and v2 was ready {ready_s:g} s after it returned, with --wait-seconds "
                    f"{WAIT_S:g}, yet deploy raised after {world.clock() - started:.1f} s (the wait's --wait-seconds "
                    f"count from when `up` returned); {type(exc).__name__}: {str(exc)[:200]}", pytrace=False)
    assert world.port.state()[:2] == ("v2", True), f"deploy returned before v2 was ready: {world.port.state()}"


def test_deploy_gives_up_at_wait_seconds(world):
    steps = world.steps()
    assert steps.serving() == "v1", f"v1 serves before the deploy; serving() said {steps.serving()!r}"
    set_timing(world, start_s=10 * WAIT_S, ready_s=10 * WAIT_S)
    started = world.clock()
    error = raises(lambda: steps.deploy("2"), "deploy('2') of a version that never becomes ready")
    waited = world.clock() - started
    assert WAIT_S - 1 <= waited <= WAIT_S + 2, (
        f"v2 never became ready: deploy should keep trying for --wait-seconds ({WAIT_S:g} s) and then raise; "
        f"it raised {type(error).__name__} after {waited:.1f} s")
    assert steps.serving() is None, (
        "v1's container was replaced and v2 never answered: serving() asks /health each time and should say None, "
        f"not a version remembered from before; it said {steps.serving()!r}")


def test_deploy_reads_wait_seconds(world):
    set_timing(world, start_s=10 * WAIT_S, ready_s=10 * WAIT_S)
    started = world.clock()
    raises(lambda: world.steps(wait_seconds=7.0).deploy("2"), "deploy('2') of a version that never becomes ready")
    waited = world.clock() - started
    assert 6 <= waited <= 9, f"with --wait-seconds 7 deploy should give up after about 7 s, it took {waited:.1f} s"


def test_each_deploy_waits_its_own_wait_seconds(world):
    # the new version, then the previous one again (a rollback's undo), on one Steps: each takes 15 s to be ready
    set_timing(world, old_answers_s=0.0, start_s=WAIT_S - 6, ready_s=WAIT_S - 5)
    steps = world.steps()
    steps.deploy("2")
    assert world.port.state()[:2] == ("v2", True), f"deploy('2') returned before v2 was ready: {world.port.state()}"
    started = world.clock()
    try:
        steps.deploy("1")
    except NotImplementedError:
        raise
    except Exception as exc:  # noqa: BLE001 - the message is the point
        pytest.fail(f"on the same Steps, after deploy('2') took {WAIT_S - 5:g} s, deploy('1') (as a rollback redeploys "
                    f"the previous version) gave up after {world.clock() - started:.1f} s although v1 was ready "
                    f"{WAIT_S - 5:g} s after its `up`: each wait gets its own --wait-seconds ({WAIT_S:g} s) from when "
                    f"it begins, not what an earlier wait left of one kept deadline; {type(exc).__name__}: "
                    f"{str(exc)[:200]}", pytrace=False)
    assert world.port.state()[:2] == ("v1", True), f"deploy('1') returned before v1 was ready: {world.port.state()}"


def test_deploy_gives_up_at_wait_seconds_when_every_answer_is_slow(world):
    set_timing(world, start_s=10 * WAIT_S, ready_s=10 * WAIT_S)
    world.port.request_cost_s = 1.0  # each answer takes a second: a count of attempts is no deadline
    started = world.clock()
    raises(lambda: world.steps().deploy("2"), "deploy('2') of a version that never becomes ready")
    waited = world.clock() - started
    assert WAIT_S - 1 <= waited <= WAIT_S + 5, (
        f"with answers taking 1 s each, deploy should still give up about --wait-seconds ({WAIT_S:g} s) after it "
        f"began, reading the clock rather than counting attempts; it took {waited:.1f} s")


def test_deploy_pauses_between_attempts(world):
    set_timing(world, start_s=10 * WAIT_S, ready_s=10 * WAIT_S)
    raises(lambda: world.steps().deploy("2"), "deploy('2') of a version that never becomes ready")
    asked = [a for a in world.port.answers if a[0] in ("/health", "/ready")]
    assert world.clock.sleeps and len(asked) <= 10 * WAIT_S, (
        f"while it waits for the new version, deploy should pause with sleep between attempts (a few a second at "
        f"most), not ask the port again at once; in {WAIT_S:g} s it asked {len(asked)} times and slept "
        f"{len(world.clock.sleeps)} times")


def test_deploy_uses_the_versions_image_and_the_flags_port_whatever_the_environment_holds(world, monkeypatch):
    # a shell where someone ran compose by hand still exports the old image and another port
    monkeypatch.setenv("MODEL_IMAGE", f"{REPO}:v1")
    monkeypatch.setenv("MODEL_PORT", "1")
    steps = world.steps()
    try:
        steps.deploy("2")
    except NotImplementedError:
        raise
    except Exception as exc:  # noqa: BLE001 - the message is the point
        pytest.fail(f"with MODEL_IMAGE={REPO}:v1 and MODEL_PORT=1 exported in the caller's environment, deploy('2') "
                    f"raised {type(exc).__name__}: {str(exc)[:300]}; the compose command's MODEL_IMAGE and MODEL_PORT "
                    f"are the version's image and --model-port, whatever the environment holds", pytrace=False)
    model = world.docker.container("model")
    assert model is not None and model.image == f"{REPO}:v2", (
        f"deploy('2') should run {REPO}:v2 even when the caller's environment exports MODEL_IMAGE={REPO}:v1: the "
        f"version being deployed wins over the environment; the containers are {world.containers()}")
    assert model.env.get("MODEL_PORT") == str(world.port.port), (
        f"compose should see MODEL_PORT={world.port.port} (--model-port), not the MODEL_PORT=1 the caller's environment "
        f"exports; it saw {model.env.get('MODEL_PORT')!r}")


@pytest.mark.parametrize("step", ["deploy", "undeploy"])
def test_compose_runs_with_the_callers_environment(world, monkeypatch, tmp_path, step):
    # a rootless or remote docker engine, found through the caller's DOCKER_HOST; registry credentials under HOME
    monkeypatch.setenv("DOCKER_HOST", "unix:///run/user/1000/docker.sock")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KATAS_PROBE_VARIABLE", "kept")
    steps = world.steps()
    first = len(world.docker.commands)
    steps.deploy("2") if step == "deploy" else steps.undeploy()
    calls = [c for c in world.docker.commands[first:] if c.get("compose")]
    assert calls, f"{step} should run docker-compose; it ran {[c['argv'][:3] for c in world.docker.commands[first:]]}"
    probes = ("DOCKER_HOST", "HOME", "KATAS_PROBE_VARIABLE", "PATH")
    lost = sorted({(name not in probes, c["subcommand"], name) for c in calls for name, value in os.environ.items()
                   if name not in ("MODEL_IMAGE", "MODEL_PORT") and c["env"].get(name) != value})
    assert not lost, (
        f"{step}'s docker-compose should run with the caller's whole environment plus MODEL_IMAGE and MODEL_PORT "
        f"(DOCKER_HOST names the engine, PATH finds docker's helpers, HOME holds the registry credentials, and "
        f"every other variable, KATAS_PROBE_VARIABLE=kept included, goes on unchanged); {len(lost)} (subcommand, "
        f"variable) pairs were missing or changed, among them {[(sub, name) for _, sub, name in lost][:12]}")


def test_a_first_deploy_starts_the_service(world):
    world.docker.containers.remove(world.docker.container("model"))
    steps = world.steps()
    assert steps.serving() is None, "with no model service, serving() should be None"
    steps.deploy("1")
    model = world.docker.container("model")
    assert model is not None and model.image == f"{REPO}:v1", (
        f"a first deploy should start the model service on {REPO}:v1: {world.containers()}")
    assert steps.serving() == "v1", f"serving() should then report 'v1', got {steps.serving()!r}"


def test_deploy_of_a_version_without_an_image_raises(world):
    steps = world.steps()
    # compose cannot pull reg.example:5000/capstone-model:v9, and says so
    began = world.clock()
    error = raises(lambda: steps.deploy("9"), "deploy('9') without an image of v9")
    took = world.clock() - began
    assert took < 1 and "pull access denied" in str(error), (
        f"docker-compose up failed (no image of v9: 'pull access denied'): deploy should raise at once with docker's "
        f"own error, not retry up until --wait-seconds ({WAIT_S:g} s) runs out nor replace the error with its own "
        f"words; it raised after {took:.1f} s (of fake time): {type(error).__name__}: {str(error)[:300]}")
    assert steps.serving() == "v1", (
        f"compose failed before touching the running v1; serving() should still say 'v1', got {steps.serving()!r}")


def test_undeploy_removes_the_model_service_and_leaves_mlflow(world):
    steps = world.steps()
    mlflow_before = world.docker.container("mlflow")
    steps.undeploy()
    assert world.docker.container("model") is None, (
        f"undeploy should leave no model container at all (not even a stopped one): {world.containers()}")
    assert world.docker.container("mlflow") is mlflow_before and mlflow_before.running, (
        f"undeploy should leave the mlflow service running: {world.containers()}")
    assert steps.serving() is None, f"after undeploy nothing serves; serving() said {steps.serving()!r}"
    assert_finite_timeouts(world)


@pytest.mark.timeout(90)
def test_a_model_that_never_answers_hangs_neither_serving_nor_deploy(world, tmp_path):
    import socket
    import time as wall

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)  # connections are accepted by the kernel; no answer ever comes
        args = make_args(tmp_path, silent.getsockname()[1], wait_seconds=1.0)
        steps = Steps(args, runner=world.docker, clock=wall.monotonic, sleep=wall.sleep)
        began = wall.monotonic()
        assert steps.serving() is None, "serving() should be None when /health never answers"
        raises(lambda: steps.deploy("2"), "deploy('2') of a model port that never answers")
        took = wall.monotonic() - began
    assert took <= 40, (
        f"a /health that never answers should cost serving() and deploy (--wait-seconds 1) a few seconds each: "
        f"every HTTP request needs a finite timeout; they took {took:.1f} s")


class ReadyNeverAnswers:
    """A model port whose /health answers `version` at once and whose /ready accepts the request and never
    answers (a container that hangs while it loads its model)."""

    def __init__(self, version: str) -> None:
        self.version = version
        self.release = threading.Event()

    def __enter__(self) -> int:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format, *args):
                return

            def do_GET(self):
                if self.path.split("?")[0] == "/ready":
                    owner.release.wait(120)  # no answer until the test ends
                    return
                body = json.dumps({"status": "ok", "model_version": owner.version}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True, name="day21-ready-never-answers")
        self.thread.start()
        return self.server.server_address[1]

    def __exit__(self, *exc) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.mark.timeout(90)
def test_a_ready_check_that_never_answers_does_not_hang_deploy(world, tmp_path):
    with ReadyNeverAnswers("v2") as port:
        steps = Steps(make_args(tmp_path, port, wait_seconds=1.0), runner=world.docker, clock=time.monotonic,
                      sleep=time.sleep)
        began = time.monotonic()
        raises(lambda: steps.deploy("2"), "deploy('2') of a model whose /ready never answers")
        took = time.monotonic() - began
    assert took <= 40, (
        f"/health reports v2 but /ready accepts the request and never answers: with --wait-seconds 1, deploy should "
        f"give up within a few seconds (the /ready request needs a finite timeout too, not only /health); it took "
        f"{took:.1f} s")


def test_serving_is_what_health_reports_or_none(world, tmp_path):
    from mlops_katas.infra.http_server import free_port

    steps = world.steps()
    assert steps.serving() == "v1", f"v1 answers /health, serving() said {steps.serving()!r}"
    nobody = Steps(make_args(tmp_path, free_port()), runner=world.docker, clock=world.clock, sleep=world.clock.sleep)
    assert nobody.serving() is None, "serving() should be None when nothing listens on --model-port"


# --- images ---------------------------------------------------------------------------------------


def test_remove_image_removes_that_versions_image_only(world):
    world.docker.add_image(f"{REPO}:v3", model_version="v3")
    world.steps().remove_image("3")
    assert f"{REPO}:v3" not in world.docker.images, (
        f"remove_image('3') should remove {REPO}:v3; images left: {sorted(world.docker.images)}")
    assert {f"{REPO}:v1", f"{REPO}:v2", SERVER_IMAGE} <= set(world.docker.images), (
        f"remove_image('3') should remove no other image; images left: {sorted(world.docker.images)}")
    assert_finite_timeouts(world)


# --- load and monitor -----------------------------------------------------------------------------


def test_load_is_bounded_paced_and_recorded_in_the_store(world):
    monitoring = pytest.importorskip("earlier_days").monitoring
    steps = world.steps(requests=12, rps=4.0, load_seconds=60.0)
    started = world.clock()
    result = steps.load(f"http://127.0.0.1:{world.port.port}")
    predicts = [a for a in world.port.answers if a[0] == "/predict"]
    assert result == LoadResult(12, 12, 0), f"--requests 12 answered requests should give LoadResult(12, 12, 0), got {result}"
    assert len(predicts) == 12 and all(status == 200 for _, status, _ in predicts), (
        f"the load should POST 12 valid day-03 payloads to /predict; the port answered {predicts[:5]}...")
    assert world.clock() - started >= 11 / 4.0 - 0.01, (
        f"12 requests at --rps 4 take at least 2.75 s; the load took {world.clock() - started:.2f} s")
    latencies = monitoring.ModelPerformanceMonitor(str(steps.args.store)).get_recent_metrics("latency_ms", 24 * 365)
    assert len(latencies) == 12, f"each answered request is recorded in the --store (day 11), found {len(latencies)}"


def test_load_sends_held_out_rows(world):
    from earlier_days import make_data

    X_train, X_test = make_data()[:2]
    held_out = {tuple(row) for row in X_test.to_numpy(dtype=float).tolist()}
    steps = world.steps(requests=12, rps=100.0, load_seconds=60.0)
    steps.load(f"http://127.0.0.1:{world.port.port}")
    sent = [tuple(float(v) for v in row) for row in world.port.rows]
    assert len(sent) == 12, (
        f"the 12 requests should carry one row each (a payload of one row per request, not a batch), the port saw "
        f"{len(sent)} rows")
    foreign = [row for row in sent if row not in held_out]
    assert not foreign, (
        f"the load sends held-out rows (make_data()'s X_test, in the columns' order f0, f1, f2, segment), never "
        f"training rows; {len(foreign)} of {len(sent)} rows are not held-out rows, e.g. {foreign[0]}")
    assert len(set(sent)) >= 6, (
        f"the load goes through the held-out rows, one per request, not the same few rows again and again; its 12 "
        f"requests carried {len(set(sent))} different rows")


def test_load_starts_the_held_out_rows_over_when_they_run_out(world, monkeypatch):
    import earlier_days

    real = earlier_days.make_data
    monkeypatch.setattr(earlier_days, "make_data", lambda seed=earlier_days.SEED, n=40: real(seed, n=n))
    held_out = len(earlier_days.make_data()[1])  # 12 rows: fewer than the requests
    steps = world.steps(requests=held_out + 3, rps=1000.0, load_seconds=60.0)
    result = steps.load(f"http://127.0.0.1:{world.port.port}")
    assert result == LoadResult(held_out + 3, held_out + 3, 0), (
        f"--requests {held_out + 3} is more than the {held_out} held-out rows: the load goes round them again and "
        f"sends every request; got {result}")
    held_out_rows = {tuple(row) for row in earlier_days.make_data()[1].to_numpy(dtype=float).tolist()}
    sent = {tuple(float(v) for v in row) for row in world.port.rows}
    assert sent == held_out_rows, (
        f"the load goes through the {held_out} held-out rows before it starts them over, so {held_out + 3} requests "
        f"send every one of them (rows picked at random repeat some and skip others); {len(held_out_rows - sent)} "
        f"held-out rows were never sent")


HUGE_LOAD = """
import argparse, socket
from capstone import Steps
spare = socket.socket(); spare.bind(("127.0.0.1", 0)); port = spare.getsockname()[1]; spare.close()
now = [0.0]
def sleep(seconds):
    now[0] += seconds
args = argparse.Namespace(**{**ARGS, "model_port": port})
steps = Steps(args, runner=None, clock=lambda: now[0], sleep=sleep)
print(steps.load(f"http://127.0.0.1:{port}").sent)
"""


@pytest.mark.timeout(90)
def test_load_memory_does_not_grow_with_the_request_budget(world, run_in_limited_memory):
    world.steps(requests=1).load(f"http://127.0.0.1:{world.port.port}")  # in process first: an unfinished stub says so
    args = vars(make_args(world.tmp_path, world.port.port, requests=10**12, rps=10.0, load_seconds=1.0))
    try:
        done = run_in_limited_memory(f"from pathlib import PosixPath\nARGS = {args!r}\n" + HUGE_LOAD, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("--requests 10**12 at --rps 10 for --load-seconds 1 should send 10 requests and return, on the "
                    "clock it is given; it was still running after 60 s: pick each request's row when it is sent")
    assert done.returncode == 0 and done.stdout.split()[-1:] == ["10"], (
        "--requests 10**12 at --rps 10 for --load-seconds 1 sends 10 requests and returns: load's memory does not "
        "grow with --requests (each row picked when its request is sent, no list of every payload built first); "
        f"in a process limited to 3 GiB it exited {done.returncode}: {done.stdout[-200:]}{done.stderr[-600:]}")


def test_load_stops_at_load_seconds(world):
    result = world.steps(requests=100, rps=2.0, load_seconds=3.0).load(f"http://127.0.0.1:{world.port.port}")
    assert result.sent == 6, f"--rps 2 for --load-seconds 3 sends 6 requests (at 0, 0.5 ... 2.5 s), sent {result.sent}"


def test_monitor_reports_a_broken_model(world):
    world.docker.add_image(f"{REPO}:v3", model_version="v3", broken=True)
    steps = world.steps(requests=10)
    steps.deploy("3")
    load = steps.load(f"http://127.0.0.1:{world.port.port}")
    assert (load.sent, load.ok) == (10, 0), f"every /predict of v3 answers 500: sent 10, ok 0, got {load}"
    verdict = steps.monitor(f"http://127.0.0.1:{world.port.port}", load)
    assert not verdict.healthy and "availability" in verdict.reason, (
        f"a load nobody answered is a regression of availability: {verdict}")


def test_monitor_passes_a_healthy_model(world):
    steps = world.steps(requests=10)
    url = f"http://127.0.0.1:{world.port.port}"
    verdict = steps.monitor(url, steps.load(url))
    assert verdict.healthy, f"ten fast answered requests with no Prometheus should be healthy: {verdict}"


def test_monitor_judges_this_loads_latencies_only(world):
    monitoring = pytest.importorskip("earlier_days").monitoring
    import time as wall

    # --load-seconds 60: a window of the last --load-seconds would still hold the samples of ten seconds ago
    # --max-p95-ms 2000: a loaded machine's slow answers stay far below the 5 s samples the test is about
    steps = world.steps(requests=10, load_seconds=60.0, max_p95_ms=2000.0)
    earlier = monitoring.ModelPerformanceMonitor(str(steps.args.store), clock=lambda: wall.time() - 600)
    for _ in range(50):
        earlier.record_metric("latency_ms", 5000.0)  # an earlier, slow version, ten minutes ago
    just_before = monitoring.ModelPerformanceMonitor(str(steps.args.store), clock=lambda: wall.time() - 10)
    for _ in range(50):
        just_before.record_metric("latency_ms", 5000.0)  # and an earlier load, ten seconds ago
    url = f"http://127.0.0.1:{world.port.port}"
    verdict = steps.monitor(url, steps.load(url))
    assert verdict.healthy, (
        f"the store holds 5 s latencies from ten minutes and from ten seconds before this load; the p95 should be "
        f"this load's only (fast answers), not the store's last hour, day or --load-seconds: {verdict}")


def test_monitor_ignores_latencies_recorded_after_steps_were_built_but_before_the_load(world):
    monitoring = pytest.importorskip("earlier_days").monitoring
    import time as wall

    steps = world.steps(requests=10, load_seconds=60.0, max_p95_ms=2000.0)
    other = monitoring.ModelPerformanceMonitor(str(steps.args.store))
    for _ in range(50):
        other.record_metric("latency_ms", 5000.0)  # another writer of the store, while train ... deploy run
    wall.sleep(1.5)  # the load begins a moment later (the store's timestamps are the wall clock's)
    url = f"http://127.0.0.1:{world.port.port}"
    verdict = steps.monitor(url, steps.load(url))
    assert verdict.healthy, (
        "another writer of the store recorded 5 s latencies after Steps was built and 1.5 s before the load began: "
        "the p95 is that of the latencies recorded since the load began (fast answers), not since Steps was "
        f"built; got {verdict}")


@pytest.mark.parametrize("requests, slow, healthy", [(20, 10, False), (40, 1, True), (20, 1, True)])
def test_monitor_judges_the_95th_percentile_of_the_loads_latencies(world, monkeypatch, requests, slow, healthy):
    monitoring = pytest.importorskip("earlier_days").monitoring
    real = monitoring.ModelPerformanceMonitor.record_metric
    recorded = []

    def record_metric(self, name, value, *args, **kwargs):
        if name == "latency_ms":  # the load's latencies as the store keeps them: the last `slow` take 900 ms
            recorded.append(value)
            value = 900.0 if len(recorded) > requests - slow else 1.0
        return real(self, name, value, *args, **kwargs)

    monkeypatch.setattr(monitoring.ModelPerformanceMonitor, "record_metric", record_metric)
    steps = world.steps(requests=requests, rps=100.0)
    url = f"http://127.0.0.1:{world.port.port}"
    verdict = steps.monitor(url, steps.load(url))
    assert len(recorded) == requests, (
        f"the load records its {requests} latencies in the --store, it recorded {len(recorded)}")
    assert verdict.healthy is healthy, (
        f"of this load's {requests} latencies in the store, {slow} took 900 ms and the rest 1 ms: the p95 (the 95th "
        f"percentile as day 11's latency_percentile computes it, not the 0.95th, nor the median or the maximum) is "
        f"{'900' if not healthy else 'below 500'} ms, "
        f"so the model is {'not ' if not healthy else ''}healthy with --max-p95-ms 500; got {verdict}")


def test_monitor_judges_with_the_limits_of_the_flags(world):
    url = f"http://127.0.0.1:{world.port.port}"
    strict = world.steps(requests=10, max_p95_ms=0.001)
    verdict = strict.monitor(url, strict.load(url))
    assert not verdict.healthy and "p95" in verdict.reason, (
        f"with --max-p95-ms 0.001 no real answer is fast enough: the monitor should judge with that limit, not "
        f"the default 500 ms; got {verdict}")
    lenient = world.steps(requests=10, min_availability=0.5)
    lenient.load(url)
    verdict = lenient.monitor(url, LoadResult(10, 6, 4))
    assert verdict.healthy, (
        f"6 of 10 answered is healthy with --min-availability 0.5: the monitor should judge with that limit, not "
        f"the default 0.99; got {verdict}")


def test_monitor_does_not_call_a_model_healthy_when_prometheus_cannot_be_reached(world):
    from mlops_katas.infra.http_server import free_port

    steps = world.steps(requests=10, prometheus_url=f"http://127.0.0.1:{free_port()}", wait_seconds=5.0)
    url = f"http://127.0.0.1:{world.port.port}"
    load = steps.load(url)
    verdict = result_or_none(lambda: steps.monitor(url, load))
    assert verdict is None or not verdict.healthy, (
        "--prometheus-url was given but nothing answers there: Prometheus never counted the load, so the 5xx "
        f"ratio is unknown and the model is not healthy (raise, or an unhealthy verdict); got {verdict}")


@pytest.mark.timeout(60)
def test_a_prometheus_that_never_answers_does_not_hang_the_monitor(world):
    import socket
    import time as wall

    url = f"http://127.0.0.1:{world.port.port}"
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)  # connections are accepted by the kernel; no answer ever comes
        steps = real_time_steps(world, f"http://127.0.0.1:{silent.getsockname()[1]}", requests=5, rps=100.0,
                                wait_seconds=1.0)
        load = steps.load(url)
        began = wall.monotonic()
        verdict = result_or_none(lambda: steps.monitor(url, load))
        took = wall.monotonic() - began
    assert verdict is None or not verdict.healthy, (
        f"a Prometheus that never answers never counted the load: not healthy (raise, or an unhealthy verdict); "
        f"got {verdict}")
    assert took <= 30, (
        f"a Prometheus that accepts the connection and never answers should cost the monitor (--wait-seconds 1) a "
        f"few seconds: every HTTP request needs a finite timeout; it took {took:.1f} s")


@pytest.fixture
def prometheus(world):
    """A real Prometheus scraping the model port's /metrics twice a second."""
    import yaml

    from mlops_katas.infra.prometheus import PrometheusServer

    config = {"global": {"scrape_interval": "500ms"},
              "scrape_configs": [{"job_name": "model", "static_configs": [{"targets": [f"127.0.0.1:{world.port.port}"]}]}]}
    with PrometheusServer(yaml.safe_dump(config)) as server:
        yield server


def real_time_steps(world, prometheus_url: str, **overrides) -> Steps:
    """Steps on the wall clock: Prometheus scrapes in real time, so the monitor must wait in it."""
    import time as wall

    args = make_args(world.tmp_path, world.port.port, prometheus_url=prometheus_url, **overrides)
    return Steps(args, runner=world.docker, clock=wall.monotonic, sleep=wall.sleep)


@pytest.mark.prometheus
@pytest.mark.timeout(60)
def test_monitor_waits_until_prometheus_has_counted_the_whole_load(world, prometheus):
    world.docker.add_image(f"{REPO}:v3", model_version="v3", broken=True)
    world.steps().deploy("3")
    # a 5xx ratio limit of 0.6: all 20 /predict answers are 500s (ratio 1.0, unhealthy), while 20 of 45 and more
    # answers of every endpoint (/health included) would look healthy
    steps = real_time_steps(world, prometheus.url, requests=20, rps=100.0, wait_seconds=30.0, max_error_ratio=0.6)
    url = f"http://127.0.0.1:{world.port.port}"
    import urllib.request

    for _ in range(25):  # answers of other endpoints: model_requests_total counts them too, as day 03's does
        with urllib.request.urlopen(f"{url}/health", timeout=5) as answer:
            answer.read()
    world.port.hold_metrics(2.5)  # Prometheus' samples lag: the load's 500s show up a little later
    steps.load(url)
    verdict = steps.monitor(url, LoadResult(20, 20, 0))
    assert not verdict.healthy, (
        "the load's 20 requests all answered 500 on the server, and Prometheus counts them about 2 s after the "
        "load ends: the monitor must wait (up to --wait-seconds) until Prometheus has counted all 20 /predict "
        "answers before it reads the 5xx ratio, rather than judge an earlier, incomplete scrape; and the ratio is "
        "the 5xx share among /predict answers only (endpoint=\"/predict\"), not among the 25 /health answers "
        f"too (1.0 is past --max-error-ratio 0.6); got {verdict}")


def prometheus_count(prometheus, query: str, *, at_least: float = float("-inf"), at_most: float = float("inf"),
                     timeout: float = 20) -> None:
    """Wait until Prometheus' `query` (one number) is at least `at_least` and at most `at_most`."""
    import time as wall

    from stack import prometheus_query

    deadline = wall.monotonic() + timeout
    while True:
        result = prometheus_query(prometheus.url, query)
        if result and at_least <= float(result[0]["value"][1]) <= at_most:
            return
        assert wall.monotonic() < deadline, (
            f"Prometheus should show {at_least:g} <= {query} <= {at_most:g} within {timeout:g} s")
        wall.sleep(0.2)


@pytest.mark.prometheus
@pytest.mark.timeout(75)
@pytest.mark.parametrize("first_five", ["well", "with 500"])
def test_monitor_waits_for_this_loads_requests_not_for_any_count(world, prometheus, first_five):
    import threading

    # v3 answers its first five /predict one way and the other 15 the other way
    window = {"fails_after": 5} if first_five == "well" else {"fails_until": 5}
    world.docker.add_image(f"{REPO}:v3", model_version="v3", broken=True, **window)
    world.steps().deploy("3")
    steps = real_time_steps(world, prometheus.url, requests=20, rps=100.0, wait_seconds=30.0, max_error_ratio=0.6,
                            min_availability=0.0)
    url = f"http://127.0.0.1:{world.port.port}"
    world.port.hold_metrics(600, after_predicts=5)  # Prometheus' samples lag: they show the first five answers...
    load = steps.load(url)
    prometheus_count(prometheus, 'sum(model_requests_total{endpoint="/predict"})', at_least=5)
    release = threading.Timer(3.0, world.port.hold_metrics, args=(0,))  # ...until 3 s after the load ended
    release.start()
    try:
        verdict = steps.monitor(url, load)
    finally:
        release.cancel()
        world.port.hold_metrics(0)
    story = (f"Prometheus showed the load's first five /predict answers ({first_five}) until 3 s after the load "
             f"ended, then all 20: the monitor must wait until every request this load sent is counted (all it sent, "
             f"answered or not), not until some /predict answers are, comparing with the counts from before the load "
             f"(here none), not with those Prometheus shows once the load has ended; ")
    if first_five == "well":
        assert not verdict.healthy and "5xx" in verdict.reason, (
            f"{story}then the 5xx share, 15 of 20 (0.75), is past --max-error-ratio 0.6 (--min-availability 0 "
            f"leaves that the only signal); got {verdict}")
    else:
        assert verdict.healthy, (
            f"{story}then the 5xx share, 5 of 20 (0.25), is within --max-error-ratio 0.6 (and --min-availability 0 "
            f"accepts the failed answers); got {verdict}")


@pytest.mark.prometheus
@pytest.mark.timeout(60)
def test_monitor_counts_the_new_containers_answers_after_a_deploy_over_a_version_that_served(world, prometheus):
    set_timing(world, old_answers_s=0.0, start_s=0.0, ready_s=0.0)  # v2 is up and ready as soon as compose is done
    url = f"http://127.0.0.1:{world.port.port}"
    predicts = 'sum(model_requests_total{endpoint="/predict"}) or vector(0)'
    world.steps(requests=10, rps=100.0).load(url)  # v1 answered 10 /predict, and its container counted them
    prometheus_count(prometheus, predicts, at_least=10)
    steps = real_time_steps(world, prometheus.url, requests=10, rps=100.0, wait_seconds=10.0)
    steps.deploy("2")  # a new container, whose counters start at zero
    prometheus_count(prometheus, predicts, at_most=0)  # Prometheus has scraped it (a real start-up leaves time)
    load = steps.load(url)
    verdict = result_or_none(lambda: steps.monitor(url, load))
    assert verdict is not None and verdict.healthy, (
        "this Steps deployed v2 over v1, which had answered 10 /predict; v2 answered the load's 10 /predict with "
        "200 and Prometheus counts them from zero (a new container): the monitor should see the 10 it waits for "
        "and a 5xx share of 0, not compare with v1's counts read before the deploy (which never lets the new "
        f"count reach the load's 10); got {verdict if verdict is not None else 'an error'}")


@pytest.mark.prometheus
@pytest.mark.timeout(45)
def test_monitor_does_not_call_a_model_healthy_when_prometheus_never_counts_the_load(world, prometheus):
    import time as wall

    steps = real_time_steps(world, prometheus.url, requests=10, rps=100.0, wait_seconds=2.0)
    url = f"http://127.0.0.1:{world.port.port}"
    world.port.hold_metrics(600)  # Prometheus never sees these requests
    steps.load(url)
    began = wall.monotonic()
    verdict = result_or_none(lambda: steps.monitor(url, LoadResult(10, 10, 0)))
    waited = wall.monotonic() - began
    assert verdict is None or not verdict.healthy, (
        "Prometheus never counted the load's requests within --wait-seconds 2: the monitor should give up "
        f"(raise, or judge the model unhealthy), not call it healthy; got {verdict}")
    assert waited <= 2.0 + 10, (
        f"the monitor should give up about --wait-seconds (2 s) after it began waiting for Prometheus, it took "
        f"{waited:.1f} s")


@pytest.mark.prometheus
@pytest.mark.timeout(90)
def test_monitor_waits_for_prometheus_on_the_steps_clock(world, prometheus):
    import time as wall

    # the fake clock: a monitor that waits with the clock and sleep it was given gives up at once in wall time
    steps = world.steps(requests=10, prometheus_url=prometheus.url, wait_seconds=30.0)
    url = f"http://127.0.0.1:{world.port.port}"
    world.port.hold_metrics(600)  # Prometheus never sees the load's requests
    load = steps.load(url)
    began, fake_began = wall.monotonic(), world.clock()
    verdict = result_or_none(lambda: steps.monitor(url, load))
    took, fake_took = wall.monotonic() - began, world.clock() - fake_began
    assert verdict is None or not verdict.healthy, (
        f"Prometheus never counted the load within --wait-seconds 30: not healthy (raise, or an unhealthy verdict); "
        f"got {verdict}")
    assert took <= 20 and fake_took >= 29, (
        f"the monitor's wait for Prometheus should read the steps' clock and pause with their sleep (as every wait "
        f"does), giving up after --wait-seconds (30 s) on that clock; it took {fake_took:.1f} s on the steps' clock "
        f"and {took:.1f} s of wall time")


class BlackHoleFirst:
    """A TCP proxy to `upstream`: once `swallow_next()` was called, the next connection is accepted and never
    answered (as a Prometheus that hangs); every other connection is forwarded."""

    def __init__(self, upstream_port: int) -> None:
        import socket
        import threading

        self.upstream_port = upstream_port
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(32)
        self.port = self.listener.getsockname()[1]
        self.swallow = False
        self.held: list = []
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def swallow_next(self) -> None:
        self.swallow = True

    def _accept(self) -> None:
        import socket
        import threading

        while not self.closed:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            if self.swallow:
                self.swallow = False
                self.held.append(conn)
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
            except OSError:
                conn.close()
                continue
            for a, b in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source, sink) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(2)
                except OSError:
                    pass

    def close(self) -> None:
        self.closed = True
        self.listener.close()
        for conn in self.held:
            conn.close()


@pytest.mark.prometheus
@pytest.mark.timeout(90)
def test_a_prometheus_request_that_hangs_costs_seconds_not_the_whole_wait(world, prometheus):
    import time as wall
    from urllib.parse import urlparse

    proxy = BlackHoleFirst(urlparse(prometheus.url).port)
    try:
        steps = real_time_steps(world, f"http://127.0.0.1:{proxy.port}", requests=10, rps=100.0, wait_seconds=40.0)
        url = f"http://127.0.0.1:{world.port.port}"
        load = steps.load(url)
        proxy.swallow_next()  # the monitor's first new connection to Prometheus is never answered
        began = wall.monotonic()
        result_or_none(lambda: steps.monitor(url, load))
        took = wall.monotonic() - began
    finally:
        proxy.close()
    assert took <= 25, (
        f"one Prometheus request that is accepted and never answered should cost the monitor a few seconds (every "
        f"HTTP request has a timeout of a few seconds), not --wait-seconds (40 s) or more; the monitor took "
        f"{took:.1f} s")


@pytest.mark.timeout(90)
def test_a_model_request_that_hangs_costs_deploy_seconds_not_the_whole_wait(world, tmp_path):
    import time as wall

    set_timing(world, old_answers_s=0.0, start_s=0.0, ready_s=0.0)  # v2 answers and is ready as soon as it is up
    proxy = BlackHoleFirst(world.port.port)
    try:
        args = make_args(tmp_path, proxy.port, wait_seconds=40.0)
        steps = Steps(args, runner=world.docker, clock=wall.monotonic, sleep=wall.sleep)
        proxy.swallow_next()  # deploy's first request to the model port is accepted and never answered
        began = wall.monotonic()
        try:
            steps.deploy("2")
        except NotImplementedError:
            raise
        except Exception as exc:  # noqa: BLE001 - the message is the point
            pytest.fail(f"one /health request that was never answered made deploy('2') fail after "
                        f"{wall.monotonic() - began:.1f} s with {type(exc).__name__}: {str(exc)[:200]}; v2 was ready at "
                        f"once, so after that request timed out (in a few seconds) the next one should find it",
                        pytrace=False)
        took = wall.monotonic() - began
    finally:
        proxy.close()
    assert took <= 25, (
        f"one request to the model port that is accepted and never answered should cost deploy a few seconds (every "
        f"HTTP request has a timeout of a few seconds, not --wait-seconds), then the next attempt finds v2 ready; "
        f"deploy took {took:.1f} s of --wait-seconds 40")


@pytest.mark.prometheus
@pytest.mark.timeout(45)
@pytest.mark.parametrize("status", [503, 599])
def test_monitor_counts_every_5xx_status_not_only_500(world, prometheus, status):
    world.docker.add_image(f"{REPO}:v3", model_version="v3", broken=status)  # every /predict answers that status
    world.steps().deploy("3")
    # --min-availability 0 leaves the 5xx ratio (1.0 here, past --max-error-ratio 0.5) the only signal to fail
    steps = real_time_steps(world, prometheus.url, requests=10, rps=100.0, wait_seconds=20.0, min_availability=0.0,
                            max_error_ratio=0.5)
    url = f"http://127.0.0.1:{world.port.port}"
    verdict = steps.monitor(url, steps.load(url))
    assert not verdict.healthy and "5xx" in verdict.reason, (
        f"every /predict of the load answered {status}: the server's 5xx share counts every status from 500 to 599, "
        f"not only 500 or a list of the usual ones, so it is 1.0, past --max-error-ratio 0.5; got {verdict}")


@pytest.mark.prometheus
@pytest.mark.timeout(45)
def test_monitor_does_not_count_4xx_as_server_errors(world, prometheus):
    world.docker.add_image(f"{REPO}:v3", model_version="v3", broken=422)  # every /predict answers 422
    world.steps().deploy("3")
    # --min-availability 0 leaves the 5xx ratio the only signal: 422 is a client error, so it is 0
    steps = real_time_steps(world, prometheus.url, requests=10, rps=100.0, wait_seconds=20.0, min_availability=0.0,
                            max_error_ratio=0.5)
    url = f"http://127.0.0.1:{world.port.port}"
    verdict = steps.monitor(url, steps.load(url))
    assert verdict.healthy, (
        "every /predict of the load answered 422: the server's 5xx share counts statuses 500 to 599 only, so it is "
        f"0, within --max-error-ratio 0.5 (and --min-availability 0 accepts the failed answers); got {verdict}")


@pytest.mark.prometheus
@pytest.mark.timeout(45)
def test_monitor_counts_only_the_5xx_of_predict(world, prometheus):
    import urllib.error
    import urllib.request

    world.docker.add_image(f"{REPO}:v3", model_version="v3")  # a healthy image: every /predict answers 200
    world.docker.containers.remove(world.docker.container("model"))
    world.docker.start("model", f"{REPO}:v3", at=world.clock() - 3.5)  # up 3.5 s: answering, not yet ready
    url = f"http://127.0.0.1:{world.port.port}"
    for _ in range(20):  # /ready answers 503, and the serving container counts each
        try:
            urllib.request.urlopen(f"{url}/ready", timeout=5).close()
        except urllib.error.HTTPError as answer:
            answer.close()
    world.clock.advance(1.0)  # now v3 is ready
    steps = real_time_steps(world, prometheus.url, requests=10, rps=100.0, wait_seconds=20.0, max_error_ratio=0.5)
    verdict = steps.monitor(url, steps.load(url))
    assert verdict.healthy, (
        "the load's 10 /predict answers were all 200, while /ready answered 503 twenty times before v3 was ready: the "
        "server's 5xx share counts the 5xx among /predict answers only (endpoint=\"/predict\"), so it is 0, within "
        f"--max-error-ratio 0.5; got {verdict}")


@pytest.mark.prometheus
@pytest.mark.timeout(45)
def test_monitor_judges_the_5xx_ratio_with_max_error_ratio(world, prometheus):
    world.docker.add_image(f"{REPO}:v3", model_version="v3", broken=True)
    world.steps().deploy("3")
    # every /predict of v3 answers 500 (a 5xx ratio of 1.0); --max-error-ratio 1 tolerates even that
    steps = real_time_steps(world, prometheus.url, requests=10, rps=100.0, wait_seconds=20.0, max_error_ratio=1.0)
    url = f"http://127.0.0.1:{world.port.port}"
    steps.load(url)
    verdict = steps.monitor(url, LoadResult(10, 10, 0))
    assert verdict.healthy, (
        "Prometheus counts the load's 10 /predict answers, all 500: a 5xx ratio of 1.0, within --max-error-ratio 1; "
        f"the monitor should judge with that limit, not the default 0.01; got {verdict}")


# --- train, gate, set_champion -------------------------------------------------------------------


def test_gate_judges_the_candidate_on_the_held_out_rows_with_the_flags(world, monkeypatch):
    import inspect

    import earlier_days
    import numpy as np

    real = earlier_days.gate.run_gate
    seen = {}

    def run_gate(*args, **kwargs):
        bound = inspect.signature(real).bind(*args, **kwargs)
        bound.apply_defaults()
        seen.update(bound.arguments)
        return "the gate report"

    monkeypatch.setattr(earlier_days.gate, "run_gate", run_gate)
    steps = world.steps(model_name="fraud", margin=0.0, slice_tolerance=0.2)
    answer = steps.gate("models:/m-candidate")
    assert answer == "the gate report", f"gate returns run_gate's report, got {answer!r}"
    _, X_test, _, y_test = earlier_days.make_data()
    expected = {"tracking_uri": "http://127.0.0.1:9", "model_name": "fraud", "candidate_uri": "models:/m-candidate",
                "slice_by": "segment", "metric": "roc_auc", "margin": 0.0, "slice_tolerance": 0.2,
                "first_deploy": True}
    for name, value in expected.items():
        assert seen.get(name) == value, (
            f"run_gate's {name} should be {value!r} (from the flags: --margin 0 is a margin of 0, not the default), "
            f"got {seen.get(name)!r}")
    X, y = seen.get("X"), seen.get("y")
    import pandas as pd

    assert isinstance(X, pd.DataFrame) and list(X.columns) == list(X_test.columns), (
        f"run_gate gets the held-out rows as the DataFrame make_data() returns (columns {list(X_test.columns)}): "
        f"day 19's gate slices them by their 'segment' column, which a NumPy array has lost; got {type(X).__name__}")
    assert np.shape(X) == X_test.shape and np.array_equal(np.asarray(X, dtype=float), X_test.to_numpy(dtype=float)), (
        "the gate judges on the held-out rows, make_data()'s X_test, not the training rows")
    assert np.array_equal(np.asarray(y), np.asarray(y_test)), "the gate judges against the held-out labels, y_test"


@pytest.mark.mlflow
@pytest.mark.timeout(120)
def test_set_champion_moves_the_alias_and_none_removes_it(world, mlflow_store):
    import mlflow
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient(tracking_uri=mlflow_store.tracking_uri, registry_uri=mlflow_store.tracking_uri)
    for name in ("capstone", "fraud"):  # the alias moves in the model of --model-name (fraud), no other
        client.create_registered_model(name)
        for _ in range(2):  # two versions are enough to move an alias between; no model needs to load
            client.create_model_version(name, source=str(mlflow_store.workdir / "no-model"))
        client.set_registered_model_alias(name, "champion", "1")
    steps = world.steps(tracking_uri=mlflow_store.tracking_uri, model_name="fraud")
    steps.set_champion("2")
    now = client.get_model_version_by_alias("fraud", "champion").version
    assert str(now) == "2", (
        f"set_champion('2') with --model-name fraud points fraud's champion alias at version 2, it points at {now}")
    other = client.get_model_version_by_alias("capstone", "champion").version
    assert str(other) == "1", (
        f"set_champion moves the alias of --model-name (fraud) only; the model 'capstone' had its champion moved to "
        f"version {other}")
    steps.set_champion(None)
    try:
        left = client.get_model_version_by_alias("fraud", "champion").version
    except MlflowException:
        left = None
    assert left is None, (
        f"set_champion(None) removes the champion alias (undoing a first deploy), it still points at version {left}")


@pytest.mark.mlflow
@pytest.mark.timeout(180)
def test_register_promotes_with_day_19_keeping_the_previous_champion(world, mlflow_store):
    import mlflow
    from earlier_days import gate
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient(tracking_uri=mlflow_store.tracking_uri, registry_uri=mlflow_store.tracking_uri)
    steps = world.steps(tracking_uri=mlflow_store.tracking_uri, candidate="linear")
    candidate = steps.train()
    client.create_registered_model("capstone")
    client.create_model_version("capstone", source=candidate)  # version 1, the champion
    client.set_registered_model_alias("capstone", gate.CHAMPION, "1")
    passed = [gate.Check("size", True, 1.0, 2.0, "fits")]

    stale = gate.GateReport(candidate, "7", passed)  # judged against a champion that is no longer the one
    result_or_none(lambda: steps.register(stale))  # day 19's promote refuses it, with an error or not
    versions = sorted(int(v.version) for v in client.search_model_versions("name='capstone'"))
    assert versions == [1], (
        "a gate report judged against champion 7 while the champion is 1 is stale: register (day 19's promote) "
        f"should refuse it and register nothing; the versions are now {versions}")

    version = steps.register(gate.GateReport(candidate, "1", passed))
    assert str(version) == "2" and isinstance(version, str), f"register returns the new version '2', got {version!r}"
    assert str(client.get_model_version_by_alias("capstone", gate.CHAMPION).version) == "2", (
        "register points the champion alias at the new version")
    try:
        previous = str(client.get_model_version_by_alias("capstone", gate.PREVIOUS).version)
    except MlflowException:
        previous = None
    assert previous == "1", (
        f"register is day 19's promote: the version it replaces is kept as {gate.PREVIOUS!r} (1), got {previous!r}")


@pytest.mark.mlflow
@pytest.mark.timeout(180)
def test_train_logs_the_candidate_fitted_on_the_training_rows(world, mlflow_store):
    import mlflow
    import numpy as np
    from earlier_days import CANDIDATES, make_data

    steps = world.steps(tracking_uri=mlflow_store.tracking_uri, candidate="linear", model_name="fraud")
    uri = steps.train()
    info = mlflow.models.get_model_info(uri)
    assert info.signature is not None, f"the candidate at {uri} should be logged with a signature"
    client = mlflow.MlflowClient(tracking_uri=mlflow_store.tracking_uri)
    experiment = client.get_experiment(client.get_run(info.run_id).info.experiment_id)
    assert experiment.name == "fraud", f"the run is logged in experiment --model-name 'fraud', not {experiment.name!r}"
    X_train, X_test, y_train, _ = make_data()
    wanted = CANDIDATES["linear"]().fit(X_train, y_train).predict_proba(X_test)[:, 1]
    got = mlflow.sklearn.load_model(uri).predict_proba(X_test)[:, 1]
    assert np.allclose(got, wanted, atol=1e-9), (
        "the logged model should be --candidate linear fitted on make_data()'s training rows only (X_train, "
        "y_train); its predictions differ, so it saw other rows or another candidate")


# --- package --------------------------------------------------------------------------------------


PACKAGED_MODEL = "fraud"  # not the default --model-name: package reads the registered versions of --model-name


def register_two_versions(store) -> dict:
    """Versions 1 (linear) and 2 (interactions) of the model PACKAGED_MODEL in the test's own store; version ->
    the fitted model, so a test can tell which one an image holds."""
    import mlflow
    import sklearn
    from earlier_days import CANDIDATES, make_data
    from mlflow.models import infer_signature

    X_train, _, y_train, _ = make_data()
    mlflow.set_tracking_uri(store.tracking_uri)
    mlflow.set_registry_uri(store.tracking_uri)
    models = {}
    for version, candidate in (("1", "linear"), ("2", "interactions")):
        model = CANDIDATES[candidate]().fit(X_train, y_train)
        with mlflow.start_run(run_name=candidate):
            mlflow.sklearn.log_model(model, name="model", registered_model_name=PACKAGED_MODEL,
                                     signature=infer_signature(X_train.astype("float64"), model.predict(X_train)),
                                     pip_requirements=[f"scikit-learn=={sklearn.__version__}"])
        models[version] = model
    return models


def package_version_1(world, store):
    """Registers two versions, packages version 1; (the image name package returned, the fitted versions)."""
    models = register_two_versions(store)
    steps = world.steps(tracking_uri=store.tracking_uri, model_name=PACKAGED_MODEL)
    try:
        image = steps.package("1")
    except NotImplementedError:
        raise
    except Exception as exc:  # noqa: BLE001 - the message is the point
        pytest.fail(f"package('1') with --model-name {PACKAGED_MODEL} should build version 1 of the registered model "
                    f"{PACKAGED_MODEL!r} (models:/{PACKAGED_MODEL}/1), the only one in this store; it raised "
                    f"{type(exc).__name__}: {str(exc)[:300]}", pytrace=False)
    return image, models


@pytest.mark.mlflow
@pytest.mark.timeout(180)
def test_package_builds_the_registered_version_on_the_server_image(world, mlflow_store):
    import skops.io
    from earlier_days import make_data

    tag, models = package_version_1(world, mlflow_store)
    assert tag == f"{REPO}:v1", f"package('1') should return the image it built, {REPO}:v1 (--image-repo), got {tag!r}"
    assert tag in world.docker.images, (
        f"package('1') should build {REPO}:v1 with `docker build`; images now: {sorted(world.docker.images)}")
    image = world.docker.images[tag]
    assert image.base == SERVER_IMAGE, (
        f"the image should be built FROM --server-image {SERVER_IMAGE}, it was built from {image.base!r}")
    assert image.env.get("MODEL_VERSION") == "v1", (
        f"the image should set MODEL_VERSION=v1 for version '1', its environment is {image.env}")
    model_path = image.env.get("MODEL_PATH")
    assert model_path in image.files, (
        f"MODEL_PATH should point at the model file copied into the image; MODEL_PATH is {model_path!r}, the files "
        f"copied are {sorted(image.files)}")
    assert model_path.rsplit("/", 1)[-1] == "model.skops", (
        f"the model file in the image should be model.skops (day 07), MODEL_PATH is {model_path!r}")
    try:
        model = skops.io.loads(image.files[model_path])
    except Exception as exc:  # noqa: BLE001 - what matters is that it does not load safely
        pytest.fail(f"the copied model.skops should load with skops.io and no trusted types (skops.io.dump): "
                    f"{type(exc).__name__}: {str(exc)[:200]}", pytrace=False)
    X_test = make_data()[1]
    wanted, other = (models[v].predict(X_test).tolist() for v in ("1", "2"))
    assert wanted != other, "the two registered versions should predict differently (a broken test, not your code)"
    assert model.predict(X_test).tolist() == wanted, (
        f"the image should hold registered version 1 of the model --model-name names ({PACKAGED_MODEL!r}), "
        "not another version")
    assert image.user == world.docker.images[SERVER_IMAGE].user, (
        f"the image should keep the server image's non-root user ({world.docker.images[SERVER_IMAGE].user}): a "
        f"`USER root` to prepare the model file, never switched back, runs the server as root; it runs as "
        f"{image.user or 'root (no USER)'!r}")
    mode, owner = image.modes.get(model_path, (0o644, "0"))
    assert readable_by(image, model_path), (
        f"the server runs as {image.user!r} and must be able to read {model_path}, but COPY left it with mode "
        f"{mode:04o} owned by {owner!r}: a model file written 0600 (chmod 600, tempfile.mkstemp, "
        "NamedTemporaryFile) or copied with --chmod=600 is the root user's alone; leave other users' read bit set")


@pytest.mark.mlflow
@pytest.mark.timeout(180)
def test_package_puts_every_label_on_the_image(world, mlflow_store):
    tag, _ = package_version_1(world, mlflow_store)
    labels = world.docker.images[tag].labels if tag in world.docker.images else {}
    wanted = {"org.example.team": "fraud", "run": "42", "note": "two words", "query": "a=b",
              "quote": 'say "hi"', "Org.Example.Owner": "Fraud Ops", "cost": "$5 a day, ${BUDGET}",
              "team": "Équipe fraude"}  # make_args' labels
    missing = {key: value for key, value in wanted.items() if labels.get(key) != value}
    assert not missing, (
        f"the image should carry every --label exactly as given ({wanted}: spaces, '=', double quotes, '$', letters "
        f"outside ASCII and the key's capitals included); it lacks {missing}, its labels are {labels} (a LABEL line "
        "in a Dockerfile is read as docker reads it: `$NAME` and `${NAME}` are replaced, also inside double quotes, "
        "unless escaped as `\\$`, and json.dumps' `\\u00c9` stays six characters; `docker build --label` takes a "
        "value as it is)")
    assert_finite_timeouts(world)


def build_files(*folders: Path) -> set[tuple[Path, int]]:
    """The model copies and Dockerfiles under `folders` (what a build folder holds), with their modification times."""
    return {(path, path.stat().st_mtime_ns) for folder in folders for path in folder.rglob("*")
            if path.is_file() and (path.suffix == ".skops" or path.name in ("Dockerfile", "Containerfile"))}


@pytest.mark.mlflow
@pytest.mark.timeout(180)
def test_package_leaves_no_build_folder_behind(world, mlflow_store, tmp_path, monkeypatch, impl_dir):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where tempfile puts folders during this test
    workdir = tmp_path / "workdir"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    # tempfile's folder, the working directory, the compose file's and the store's folders, and capstone.py's own
    before = build_files(tmp_path, impl_dir)
    tag, _ = package_version_1(world, mlflow_store)
    assert tag in world.docker.images, f"package('1') should build {tag}; images now: {sorted(world.docker.images)}"
    left = sorted(str(path) for path, _ in build_files(tmp_path, impl_dir) - before)  # written by package
    assert not left, (
        f"once the image is built, package should remove its build folder (a copy of the model and its Dockerfile), "
        f"wherever it made it (a temporary folder, the working directory, beside capstone.py): each deploy would "
        f"leave one more behind; found {left}")


@pytest.mark.mlflow
@pytest.mark.timeout(180)
def test_package_leaves_no_build_folder_behind_when_the_build_fails(world, mlflow_store, tmp_path, monkeypatch,
                                                                     impl_dir):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where tempfile puts folders during this test
    workdir = tmp_path / "workdir"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    register_two_versions(mlflow_store)
    before = build_files(tmp_path, impl_dir)
    missing = "katas/day03-server:missing"  # docker build cannot pull it and fails
    steps = world.steps(tracking_uri=mlflow_store.tracking_uri, model_name=PACKAGED_MODEL, server_image=missing)
    raises(lambda: steps.package("1"), f"package('1') FROM an image docker cannot pull ({missing})")
    left = sorted(str(path) for path, _ in build_files(tmp_path, impl_dir) - before)  # written by package
    assert not left, (
        f"the build failed (docker cannot pull {missing}): whether or not the build succeeds, package should remove "
        f"its build folder (a copy of the model and its Dockerfile); found {left}")
