"""Tasks 4 and 5: the Deployer's decisions, against a fake Docker engine and a fake clock.

`engine` (conftest.py) answers `docker build/run/stop/start/rm` like a small Docker
engine: a port can be bound by one running container at a time, `rm` refuses a running
container unless forced. `health` answers probes for whatever runs on the probed port.
The tests look at what is left running, not at the exact commands you chose.
"""

import errno
import logging
import os
import subprocess
from types import SimpleNamespace

import numpy
import pytest

from deploy_automation import Deployer, RetryPolicy

PORT = 8080
MAX_ATTEMPTS = 4


def policy():
    return RetryPolicy(max_attempts=MAX_ATTEMPTS, initial_delay_s=0.5, max_delay_s=4.0, deadline_s=30.0,
                       probe_timeout_s=2.0)


@pytest.fixture
def make(engine, health, clock):
    def make(**kwargs):
        kwargs.setdefault("runner", engine)
        kwargs.setdefault("health_check", health)
        kwargs.setdefault("sleep", clock.sleep)
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("policy", policy())
        return Deployer("model", PORT, **kwargs)

    return make


@pytest.fixture
def v1_serving(engine):
    """Version v1 already serving on PORT, as a previous run of the deployer left it."""
    return engine.add_running("model-v1", "app:v1", PORT)


def assert_serves(engine, name, image):
    container = engine.serving(PORT)
    assert container is not None, f"nothing is serving on port {PORT}; {name} should be"
    assert (container.name, container.image) == (name, image), (
        f"port {PORT} should be served by {name} ({image}), found {container.name} ({container.image})"
    )


def assert_gone(engine, name):
    assert name not in engine.containers, (
        f"container {name} should be stopped and removed, found it "
        f"{'running' if engine.containers[name].running else 'stopped'}"
    )


# --- Task 4: build, run, check, promote ------------------------------------------


@pytest.mark.task(taskno=4)
@pytest.mark.parametrize(
    "args",
    [{"name": "my model"}, {"name": "-model"}, {"name": "_model"}, {"name": ""}, {"name": "mod\u00e8le"},
     {"name": "\u00e9model"}, {"name": "\u0663model"},
     {"name": "model\n"}, {"port": 0}, {"port": -1}, {"port": 65536},
     {"command_timeout_s": 0}, {"command_timeout_s": -1}, {"command_timeout_s": float("nan")},
     {"command_timeout_s": float("inf")}, {"command_timeout_s": numpy.float32("nan")}, {"command_timeout_s": None}],
    ids=repr,
)
def test_bad_settings_are_rejected(args, engine):
    settings = {"name": "model", "port": PORT, **args}
    # command_timeout_s=None would hand docker commands no limit at all: refused as a ValueError or a TypeError
    refused = (ValueError, TypeError) if None in args.values() else ValueError
    with pytest.raises(refused):
        Deployer(settings.pop("name"), settings.pop("port"), runner=engine, **settings)
        pytest.fail(f"Deployer accepted the bad setting {args}: it should raise ValueError")


@pytest.mark.task(taskno=4)
@pytest.mark.parametrize("port", [8080.5, 8080.0, "8080"], ids=repr)
def test_a_port_that_is_not_an_int_is_rejected(engine, port):
    # 8080.5 would be published as 127.0.0.1:8080.5:8000; a port read from a config file arrives as "8080"
    with pytest.raises((ValueError, TypeError)):
        Deployer("model", port, runner=engine)
        pytest.fail(f"Deployer accepted the port {port!r}: a port is an integer in 1-65535, anything else should raise "
                    f"ValueError or TypeError")


@pytest.mark.task(taskno=4)
@pytest.mark.parametrize("context", [".", None], ids=["build", "no-build"])
@pytest.mark.parametrize("version", ["", "v 2", "v2;rm -rf", "-v2", ".v2", "v2\n", "v\u00e9", "\u00e9v2", "\u0663", "x" * 129], ids=repr)
def test_a_version_that_is_not_a_valid_tag_is_rejected_before_any_command(make, engine, version, context):
    with pytest.raises(ValueError):
        make().deploy("app", version, context=context)
    assert engine.calls == [], (
        f"nothing should run for an invalid version, with or without a build; ran {engine.commands()}"
    )


@pytest.mark.task(taskno=4)
@pytest.mark.parametrize("context", [".", None], ids=["build", "no-build"])
@pytest.mark.parametrize("image", ["app:v1", "team/app:v1", "localhost:5000/team/app:v1", "app:1.0",
                                   "localhost:5000/team/app:latest-gpu", "app:2", "team/app:2024", "localhost:5000",
                                   "", "my app", "my\tapp", "app\n"], ids=repr)
def test_an_image_that_is_not_a_repository_without_a_tag_is_rejected_before_any_command(make, engine, image, context):
    with pytest.raises(ValueError):
        make().deploy(image, "v2", context=context)
    assert engine.calls == [], (
        f"nothing should run for image {image!r}, with or without a build; ran {engine.commands()}"
    )


@pytest.mark.task(taskno=4)
@pytest.mark.parametrize(
    "name, image, version, port",
    [("model", "localhost:5000/team/app", "v1", 65535), ("model", "app", "x" * 128, 65535),
     ("model", "app", "_1.0-RC_2", 65535), ("model", "team/app", "v1", 1), ("9ml_team.model-a", "app", "v1", PORT),
     ("m", "app", "v1", PORT), ("model", "app", "7", PORT)],
    ids=["registry-with-port", "128-char-tag", "underscore-first", "port-1", "name-digit-first-with-._-",
         "one-char-name", "one-char-tag"],
)
def test_valid_names_at_the_edges_of_the_rules_are_deployed(engine, health, clock, name, image, version, port):
    deployer = Deployer(name, port, runner=engine, health_check=health, sleep=clock.sleep, clock=clock,
                        policy=policy())
    result = deployer.deploy(image, version, context=".")
    assert result.promoted, (
        f"{name!r} deploying {image}:{version} on port {port} is valid and healthy and should be promoted: {result}"
    )
    assert f"{image}:{version}" in engine.images, f"the image should be built as {image}:{version}"
    container = engine.serving(port)
    assert container is not None and container.image == f"{image}:{version}", f"it should serve on port {port}"


@pytest.mark.task(taskno=4)
def test_first_deploy_builds_runs_and_promotes(make, engine):
    deployer = make()
    result = deployer.deploy("app", "v1", context="/src/app")
    assert result.promoted is True, f"a healthy first version should be promoted: {result}"
    assert result.version == "v1" and result.serving_version == "v1", f"the result should say v1 serves: {result}"
    assert deployer.current_version == "v1", "after promotion current_version should be the new version"
    assert "app:v1" in engine.images, "the image should be built and tagged image:version"
    assert [b["context"] for b in engine.builds] == ["/src/app"], f"the build should use the given context: {engine.builds}"
    assert_serves(engine, "model-v1", "app:v1")
    container = engine.containers["model-v1"]
    assert container.host_ip == "127.0.0.1", (
        f"the port should be published on 127.0.0.1 only, not on {container.host_ip} (every interface)"
    )


@pytest.mark.task(taskno=4)
def test_build_args_reach_the_build(make, engine, monkeypatch):
    monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)  # a bare `--build-arg KEY` would read it from here
    build_args = {"BASE_IMAGE": "local/python:3.11", "APP_VERSION": "v1", "PIP_EXTRA_INDEX_URL": "",
                  "APP_TITLE": "Churn model (beta)", "BANNER": "  ready\n"}
    make().deploy("app", "v1", context="ctx", build_args=build_args)
    assert engine.builds, "the image should be built"
    assert engine.builds[0]["build_args"] == build_args, (
        f"every build arg should reach docker unchanged as --build-arg KEY=VALUE (an empty value too, as KEY=: it "
        f"overrides the Dockerfile's default, while a bare KEY makes docker read KEY from its own environment; no "
        f"shell quoting: there is no shell; nothing stripped: BANNER keeps its leading blanks and its newline): got "
        f"{engine.builds[0]['build_args']}"
    )


@pytest.mark.task(taskno=4)
def test_without_a_context_the_existing_image_is_deployed_without_building(make, engine):
    engine.images.add("app:v1")
    result = make().deploy("app", "v1")
    assert result.promoted, f"an existing healthy image should be deployed: {result}"
    assert not any(argv[0] == "build" for argv in engine.commands()), "with no context there is nothing to build"


@pytest.mark.task(taskno=4)
def test_promotion_replaces_the_previous_version(make, engine, v1_serving):
    deployer = make(current_version="v1")
    result = deployer.deploy("app", "v2", context=".")
    assert (result.promoted, result.serving_version, deployer.current_version) == (True, "v2", "v2"), (
        f"a healthy v2 should be promoted and recorded: {result}"
    )
    assert_serves(engine, "model-v2", "app:v2")
    assert_gone(engine, "model-v1")


@pytest.mark.task(taskno=4)
def test_successive_deploys_leave_only_the_latest_container(make, engine):
    deployer = make()
    for version in ("v1", "v2", "v3", "v1"):  # the last: going back to v1, which no longer serves, is allowed
        assert deployer.deploy("app", version, context=".").promoted, (
            f"{version} is healthy and not the version serving, so it should be promoted"
        )
    assert list(engine.containers) == ["model-v1"], f"only model-v1 should be left, found {list(engine.containers)}"
    assert deployer.current_version == "v1", "current_version should follow the promotions"
    assert [b["tags"] for b in engine.builds] == [["app:v1"], ["app:v2"], ["app:v3"], ["app:v1"]], (
        f"every deploy with a context builds, also of a version built before (the context may have changed): "
        f"built {[b['tags'] for b in engine.builds]}"
    )


@pytest.mark.task(taskno=4)
def test_a_slow_start_is_retried_with_backoff(make, engine, health, clock):
    health.script["app:v1"] = [False, False, True]
    result = make().deploy("app", "v1", context=".")
    assert result.promoted, "a version that becomes healthy on the third probe should be promoted"
    assert clock.sleeps[-2:] == [0.5, 1.0], f"the health wait should use the policy's backoff, got {clock.sleeps}"
    assert all(url == f"http://127.0.0.1:{PORT}/health" for url, _ in health.probes), (
        f"the probe should target http://127.0.0.1:{PORT}/health, got {[u for u, _ in health.probes]}"
    )


@pytest.mark.task(taskno=4)
@pytest.mark.parametrize("context", [".", None], ids=["build", "no-build"])
def test_redeploying_the_serving_version_is_rejected(make, engine, v1_serving, context):
    with pytest.raises(ValueError):
        make(current_version="v1").deploy("app", "v1", context=context)
    assert engine.calls == [], (
        f"nothing should run for the version already serving (not even a rebuild of app:v1 or a stop of "
        f"model-v1), ran {engine.commands()}"
    )
    assert_serves(engine, "model-v1", "app:v1")


@pytest.mark.task(taskno=4)
def test_the_serving_version_is_recognised_by_its_value_however_the_string_was_made(make, engine, v1_serving):
    version = "".join(["v", "1"])  # equal to "v1" but another str object, as a version read from a CLI or a file
    with pytest.raises(ValueError):
        make(current_version="v1").deploy("app", version, context=".")
    assert engine.calls == [], f"nothing should run for the version already serving, ran {engine.commands()}"
    assert_serves(engine, "model-v1", "app:v1")


@pytest.mark.task(taskno=4)
def test_a_version_differing_from_the_serving_one_only_in_case_is_another_version(make, engine, v1_serving):
    deployer = make(current_version="v1")
    try:
        result = deployer.deploy("app", "V1", context=".")
    except ValueError as exc:
        pytest.fail(f"v1 serves; V1 is another tag (docker tags are case-sensitive), so deploying it is allowed, got "
                    f"{exc!r}")
    assert result.promoted and deployer.current_version == "V1", f"a healthy V1 should be promoted: {result}"
    assert_serves(engine, "model-V1", "app:V1")


@pytest.mark.task(taskno=4)
def test_every_step_is_logged_at_info_or_above(make, health, caplog, v1_serving):
    caplog.set_level(logging.DEBUG)
    health.script["app:v3"] = [False]
    deployer = make(current_version="v1")
    deployer.deploy("app", "v2", context=".")  # stop v1, run, health, remove v1, promote
    deployer.deploy("app", "v3", context=".")  # stop v2, run, health fails, rollback
    steps = [r for r in caplog.records if hasattr(r, "step")]
    assert steps, "the deploy steps should be logged with extra step="
    quiet = [(r.step, r.levelname) for r in steps if r.levelno < logging.INFO]
    assert not quiet, f"every step should be logged at INFO or above, these were below: {quiet}"


@pytest.mark.task(taskno=4)
def test_containers_carry_the_given_labels(make, engine):
    labels = {"org.katas.managed": "true", "team": "ml-platform", "description": "churn model (beta)",
              "owner": " ml-platform\n"}
    make(labels=labels).deploy("app", "v1", context=".")
    container = engine.containers.get("model-v1")
    assert container is not None, "model-v1 should be running"
    assert labels.items() <= container.labels.items(), (
        f"the container should carry {labels} exactly as given (no shell quoting: there is no shell; nothing "
        f"stripped: owner keeps its leading blank and its newline), "
        f"has {container.labels}"
    )


@pytest.mark.task(taskno=4)
def test_a_label_with_an_empty_value_is_kept(make, engine):
    labels = {"org.katas.managed": "true", "canary": ""}  # a marker label: what counts is that it is there
    make(labels=labels).deploy("app", "v1", context=".")
    container = engine.containers.get("model-v1")
    assert container is not None, "model-v1 should be running"
    assert container.labels.get("canary", "missing") == "", (
        f"every label reaches the container, one with an empty value too (docker ps --filter label=canary finds "
        f"it only if it is there): the container has {container.labels}"
    )


@pytest.mark.task(taskno=4)
def test_the_deployer_s_clock_and_sleep_default_to_time_monotonic_and_time_sleep(engine, health):
    import inspect
    import time

    result = Deployer("model", PORT, runner=engine, health_check=health, policy=policy()).deploy("app", "v1", context=".")
    assert result.promoted, f"without a clock and sleep given, a healthy v1 should be promoted: {result}"
    params = inspect.signature(Deployer).parameters
    assert params["clock"].default in (time.monotonic, None), (
        f"Deployer's clock should default to time.monotonic, got {params['clock'].default!r}: the wall clock "
        f"(time.time) jumps when NTP or an operator sets it, so a health deadline measured with it can end at once "
        f"or hours late"
    )
    assert params["sleep"].default in (time.sleep, None), (
        f"Deployer's sleep should default to time.sleep, got {params['sleep'].default!r}"
    )


@pytest.mark.task(taskno=4)
@pytest.mark.parametrize("build", ["succeeds", "fails", "times-out"])
def test_build_arg_values_are_never_logged(make, engine, caplog, build):
    caplog.set_level(logging.DEBUG)
    secret = "s3cret-token-9f2c"
    if build == "fails":
        engine.broken_builds.add("app:v1")
    elif build == "times-out":  # the TimeoutExpired raised carries the whole command line, build args included
        engine.fail_commands.add("build:timeout")
    result = make().deploy("app", "v1", context=".",
                           build_args={"PIP_EXTRA_INDEX_URL": f"https://ci:{secret}@pypi.example/simple",
                                       "APP_VERSION": "v1"})
    assert engine.builds and engine.builds[0]["build_args"].get("PIP_EXTRA_INDEX_URL", "").endswith("/simple"), (
        f"the build args should reach the build: {engine.builds}"
    )
    leaked = [(r.levelname, r.getMessage()[:120]) for r in caplog.records
              if secret in r.getMessage() or secret in repr(vars(r))]
    assert not leaked, (
        f"a build arg's value may be a credential (the token in PIP_EXTRA_INDEX_URL) and should never reach the log, "
        f"at any level, in a message or a field (log the keys, or nothing); the build that {build.replace('-', ' ')} leaked it in "
        f"{leaked}"
    )
    assert secret not in result.reason, (
        f"a build arg's value should never reach DeployResult.reason either (callers log it and show it); the build "
        f"that {build.replace('-', ' ')} gave the reason {result.reason[:300]!r}"
    )


def _texts_of(result, caplog):
    """The reason and every log record (its message and all its fields), where a build arg's value must not be."""
    return [result.reason, *(r.getMessage() + repr(vars(r)) for r in caplog.records)]


@pytest.mark.task(taskno=4)
def test_a_build_arg_value_containing_another_value_is_hidden_whole(make, engine, caplog):
    caplog.set_level(logging.DEBUG)
    engine.broken_builds.add("app:v1")  # the failed build echoes the values on stderr, as a RUN step may
    url = "https://ci:tok-9f2c-TAIL@pypi.example/simple"
    result = make().deploy("app", "v1", context=".", build_args={"TOKEN": "tok-9f2c", "PIP_EXTRA_INDEX_URL": url})
    leaked = [text[:200] for text in _texts_of(result, caplog) if "TAIL" in text or "https://ci:" in text]
    assert not leaked, (
        f"the value of PIP_EXTRA_INDEX_URL contains the value of TOKEN; hidden short one first, the rest of the long "
        f"one stays readable. Mark every character any value covers (or merge overlapping spans) and hide each "
        f"covered run whole; part of {url!r} reached the reason or the log in {leaked}"
    )


def _extras_of(record):
    """A record's own fields (what `extra=` added), its message and its exception: the texts a value must not be in
    (not its pathname or thread name, where one character such as `Q` may well appear)."""
    standard = {*vars(logging.LogRecord("", 0, "", 0, "", (), None)), "message", "asctime"}
    extras = {key: value for key, value in vars(record).items() if key not in standard}
    exception = repr(record.exc_info[1]) if record.exc_info else ""
    return record.getMessage() + repr(extras) + exception + (record.exc_text or "")


@pytest.mark.task(taskno=4)
@pytest.mark.parametrize("order", ["first-one-first", "second-one-first"])
def test_build_arg_values_that_overlap_leave_no_part_of_either(make, engine, caplog, order):
    caplog.set_level(logging.DEBUG)
    first, second = "k9Zq-QJ7w", "QJ7w-x8Vy"  # neither contains the other; echoed together as k9Zq-QJ7w-x8Vy
    build_args = {"TOKEN_A": first, "TOKEN_B": second}
    if order == "second-one-first":
        build_args = dict(reversed(build_args.items()))

    def runner(argv, timeout):
        if argv[1:2] == ["build"]:
            return subprocess.CompletedProcess(argv, 1, "", "#7 fetching k9Zq-QJ7w-x8Vy\nERROR: failed\n")
        return engine(argv, timeout)

    result = make(runner=runner).deploy("app", "v1", context=".", build_args=build_args)
    pieces = {value[i:j] for value in (first, second) for i in range(len(value)) for j in range(i + 4, len(value) + 1)}
    texts = [result.reason, *map(_extras_of, caplog.records)]
    leaked = sorted({piece for piece in pieces for text in texts if piece in text}, key=len, reverse=True)
    assert not leaked, (
        f"the build args {first!r} and {second!r} overlap in what docker printed ('k9Zq-QJ7w-x8Vy'): hiding one "
        f"and then the other leaves part of the second. Mark every character any value covers (or merge "
        f"overlapping spans) and hide each covered run whole; these parts reached the reason or the log: {leaked}"
    )


@pytest.mark.task(taskno=4)
@pytest.mark.parametrize("secret", ["Q", "9z"])
def test_a_build_arg_value_of_one_or_two_characters_is_hidden_too(make, engine, caplog, secret):
    caplog.set_level(logging.DEBUG)
    engine.broken_builds.add("app:v1")  # the failed build echoes the value on stderr, as a RUN step may
    result = make().deploy("app", "v1", context=".", build_args={"PIN": secret})
    leaked = [text[:200] for text in [result.reason, *map(_extras_of, caplog.records)] if secret in text]
    assert not result.promoted and not leaked, (
        f"every non-empty build arg value is hidden however short: {secret!r} should reach neither the reason nor a "
        f"log message or field (hiding it hides every {secret!r} there, the price of never leaking a value); got "
        f"{result} and the value in {leaked}"
    )


@pytest.mark.task(taskno=4)
@pytest.mark.parametrize("secret", ["pa$$w0rd+x?", "a(b", "t*k[1]", "^s|3\\cr.t{2}$"])
def test_build_arg_values_with_regex_metacharacters_are_hidden(make, engine, caplog, secret):
    caplog.set_level(logging.DEBUG)
    engine.broken_builds.add("app:v1")  # the failed build echoes the value on stderr, as a RUN step may
    result = make().deploy("app", "v1", context=".", build_args={"PASSWORD": secret})
    leaked = [text[:200] for text in _texts_of(result, caplog) if secret in text]
    assert not result.promoted and not leaked, (
        f"the build arg's value {secret!r} holds characters that mean something in a regular expression; it should "
        f"be hidden all the same (as plain text), and the failed build reported; got {result} and the value in "
        f"{leaked}"
    )


CREDENTIAL = "s3cret-token-9f2c"
INDEX_URL = f"https://ci:{CREDENTIAL}@pypi.example/simple"


def _leaked_through_a_raising_docker(make, caplog, raised):
    """Deploys v1 with a credential in the build arg PIP_EXTRA_INDEX_URL through a runner whose every docker command
    raises `raised(argv, timeout)`: the result, and every reason or log text holding the credential (200 characters)."""
    caplog.set_level(logging.DEBUG)

    def runner(argv, timeout):
        raise raised(argv, timeout)

    result = make(runner=runner).deploy("app", "v1", context=".", build_args={"PIP_EXTRA_INDEX_URL": INDEX_URL})
    return result, [text[:200] for text in _texts_of(result, caplog) if CREDENTIAL in text]


@pytest.mark.task(taskno=4)
@pytest.mark.parametrize("error", [FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT)),
                                   OSError(errno.EAGAIN, os.strerror(errno.EAGAIN))], ids=["missing", "fork-fails"])
def test_build_arg_values_are_not_leaked_when_docker_cannot_start(make, caplog, error):
    result, leaked = _leaked_through_a_raising_docker(make, caplog, lambda argv, timeout: error)
    assert not result.promoted and not leaked, (
        f"docker could not start ({error!r}): the deploy fails, and a build arg's value (a credential) should reach "
        f"neither the reason nor the log, not even as part of the command line; got {result} and the value in {leaked}"
    )


@pytest.mark.task(taskno=4)
@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_the_partial_output_of_a_timed_out_build_is_hidden(make, caplog, stream):
    printed = f"#7 0.412 fetching {INDEX_URL}\n".encode()

    def timed_out(argv, timeout):  # subprocess.run hands on what it read before the timeout, as bytes
        return subprocess.TimeoutExpired(argv, timeout, **{"output" if stream == "stdout" else "stderr": printed})

    result, leaked = _leaked_through_a_raising_docker(make, caplog, timed_out)
    assert not result.promoted and not leaked, (
        f"the build timed out after a RUN step printed a build arg's value on {stream}; that partial output, if "
        f"passed on, should have the value hidden; got {result} and the value in {leaked}"
    )


@pytest.mark.task(taskno=4)
def test_without_a_command_timeout_no_docker_command_waits_longer_than_300_s(make, engine, v1_serving):
    result = make(current_version="v1").deploy("app", "v2", context=".")
    assert result.promoted, f"a healthy v2 should be promoted: {result}"
    assert all(timeout <= 300 for _, timeout in engine.calls), (
        f"command_timeout_s defaults to 300 s: no docker command may wait longer, got {[t for _, t in engine.calls]}"
    )


@pytest.mark.task(taskno=4)
def test_a_command_timeout_under_a_second_is_valid(make, engine):
    try:
        deployer = make(command_timeout_s=0.5)
    except ValueError as exc:
        pytest.fail(f"command_timeout_s=0.5 is a finite positive number of seconds, so it is valid; got {exc!r}")
    result = deployer.deploy("app", "v1", context=".")
    assert result.promoted, f"a healthy v1 should be promoted: {result}"
    assert all(timeout <= 0.5 for _, timeout in engine.calls), (
        f"no docker command may wait longer than command_timeout_s (0.5 s): {[t for _, t in engine.calls]}"
    )


@pytest.mark.task(taskno=4)
def test_every_command_uses_the_given_docker_binary_and_timeout(make, engine, v1_serving):
    engine.binary = "/opt/bin/docker"
    result = make(docker="/opt/bin/docker", command_timeout_s=3, current_version="v1").deploy("app", "v2", context=".")
    assert result.promoted, f"the deploy through /opt/bin/docker should succeed: {result}"
    assert engine.calls, "the deploy should run docker commands"
    assert all(timeout <= 3 for _, timeout in engine.calls), (
        f"no docker command may wait longer than command_timeout_s: {[t for _, t in engine.calls]}"
    )


@pytest.mark.task(taskno=4)
def test_a_docker_binary_path_with_a_space_is_one_argument(make, engine, health, v1_serving):
    engine.binary = "/opt/Docker Desktop/bin/docker"  # a space, as in C:\Program Files\Docker on Windows
    health.script["app:v3"] = [False]
    deployer = make(docker="/opt/Docker Desktop/bin/docker", current_version="v1")
    try:
        promoted = deployer.deploy("app", "v2", context=".")
        rolled_back = deployer.deploy("app", "v3", context=".")
    except AssertionError:
        promoted = rolled_back = None  # the fake engine refused a command; the check below says which
    programs = sorted({argv[0] for argv, _ in engine.calls})
    assert programs == ["/opt/Docker Desktop/bin/docker"], (
        f"docker is the program to run, one argument as given (there is no shell to split it): every command, the "
        f"rollback's too, should start with '/opt/Docker Desktop/bin/docker', started with {programs}"
    )
    assert promoted is not None and promoted.promoted, f"a healthy v2 should be promoted: {promoted}"
    assert rolled_back is not None and not rolled_back.promoted, f"an unhealthy v3 must not be promoted: {rolled_back}"
    assert_serves(engine, "model-v2", "app:v2")


@pytest.mark.task(taskno=4)
@pytest.mark.parametrize("docker", ["/opt/bin/docker", None], ids=["given", "default"])
def test_the_docker_argument_is_used_whatever_the_environment_holds(make, engine, monkeypatch, docker):
    for variable in ("DOCKER", "DOCKER_BIN", "DOCKER_BINARY", "DOCKER_CLI", "DOCKER_PATH", "DOCKER_EXECUTABLE"):
        monkeypatch.setenv(variable, "/usr/bin/podman")
    engine.binary = docker or "docker"
    deployer = make(docker=docker) if docker else make()
    try:
        result = deployer.deploy("app", "v1", context=".")
    except AssertionError:
        result = None  # the fake engine refused a command; the check below says which
    programs = sorted({argv[0] for argv, _ in engine.calls})
    assert programs == [engine.binary], (
        f"the docker argument ({engine.binary!r}) is the program to run, whatever the environment holds "
        f"(DOCKER_BINARY and the like set to /usr/bin/podman here): commands started with {programs}"
    )
    assert result is not None and result.promoted, f"a healthy v1 should be promoted: {result}"


@pytest.mark.task(taskno=4)
def test_each_step_is_logged_with_its_name_and_version(make, caplog):
    caplog.set_level(logging.INFO)
    make().deploy("app", "v1", context=".")
    steps = [r.step for r in caplog.records if hasattr(r, "step")]
    wanted = ["build", "run", "health", "promote"]
    positions = [steps.index(s) if s in steps else -1 for s in wanted]
    assert -1 not in positions and positions == sorted(positions), (
        f"records with extra step= should include {wanted} in that order, got {steps}"
    )
    assert all(getattr(r, "version", None) == "v1" for r in caplog.records if hasattr(r, "step")), (
        "every step record should carry version='v1'"
    )
    loggers = {r.name for r in caplog.records if hasattr(r, "step")}
    assert loggers == {"deploy_automation"}, (
        f"without a logger the steps should go to logging.getLogger('deploy_automation'), went to {loggers}"
    )


@pytest.mark.task(taskno=4)
def test_steps_are_logged_on_the_given_logger(make, caplog):
    caplog.set_level(logging.INFO)
    make(logger=logging.getLogger("team.deploys")).deploy("app", "v1", context=".")
    loggers = {r.name for r in caplog.records if hasattr(r, "step")}
    assert loggers == {"team.deploys"}, f"the step records should go to the logger given, went to {loggers or 'none'}"


@pytest.mark.task(taskno=5)
@pytest.mark.parametrize("failure", ["build", "run", "health"])
def test_a_failed_step_is_logged_on_the_given_logger(make, engine, health, caplog, failure, v1_serving):
    caplog.set_level(logging.INFO)
    if failure == "health":
        health.script["app:v2"] = [False]
    else:
        engine.fail_commands.add(failure)
    make(current_version="v1", logger=logging.getLogger("team.deploys")).deploy("app", "v2", context=".")
    failed = [r for r in caplog.records if getattr(r, "step", None) == failure]
    assert failed, f"the failed {failure} step should be logged with extra step={failure!r}"
    loggers = {r.name for r in caplog.records if hasattr(r, "step")}
    assert loggers == {"team.deploys"}, (
        f"with docker {failure} failing, every step record (the failed {failure} included) should go to the logger "
        f"given, where the team reads its deploys; went to {sorted(loggers)}"
    )


@pytest.mark.task(taskno=5)
def test_a_rollback_is_logged_on_the_given_logger(make, health, caplog, v1_serving):
    caplog.set_level(logging.INFO)
    health.script["app:v2"] = [False]
    make(current_version="v1", logger=logging.getLogger("team.deploys")).deploy("app", "v2", context=".")
    rollbacks = {r.name for r in caplog.records if getattr(r, "step", None) == "rollback"}
    assert rollbacks == {"team.deploys"}, (
        f"the rollback records should go to the logger given, like every other step; went to {rollbacks or 'none'}"
    )


# --- Task 5: roll back --------------------------------------------------------------


@pytest.mark.task(taskno=5)
def test_an_unhealthy_version_is_rolled_back_and_the_previous_one_serves(make, engine, health, v1_serving):
    health.script["app:v2"] = [False]
    deployer = make(current_version="v1")
    result = deployer.deploy("app", "v2", context=".")
    assert result.promoted is False, "a version that never becomes healthy must not be promoted"
    assert result.version == "v2", f"the result should be about v2: {result}"
    assert result.serving_version == "v1", f"the result should say v1 still serves: {result}"
    assert result.reason, "the result should say why the deploy failed"
    assert deployer.current_version == "v1", "current_version should stay v1 after a rollback"
    assert_gone(engine, "model-v2")
    assert_serves(engine, "model-v1", "app:v1")
    assert engine.containers["model-v1"].id == v1_serving.id, "the previous container should be kept, not recreated"


@pytest.mark.task(taskno=5)
def test_the_health_check_is_retried_the_policy_s_number_of_times_before_rolling_back(make, health, v1_serving):
    health.script["app:v2"] = [False]
    make(current_version="v1").deploy("app", "v2", context=".")
    v2_probes = len(health.probes)
    assert v2_probes >= MAX_ATTEMPTS, f"v2 should get {MAX_ATTEMPTS} probes before the rollback, got {v2_probes}"


@pytest.mark.task(taskno=5)
def test_a_hanging_version_is_rolled_back_within_the_deadline(make, engine, health, clock, v1_serving):
    health.script["app:v2"] = ["hang"]
    slow_policy = RetryPolicy(max_attempts=100, initial_delay_s=0.5, max_delay_s=2, deadline_s=10, probe_timeout_s=3)
    result = make(current_version="v1", policy=slow_policy).deploy("app", "v2", context=".")
    assert not result.promoted, "a version whose health check hangs must not be promoted"
    assert clock.elapsed <= 10 + 1e-9, f"the deploy waited {clock.elapsed:g} s for health past its 10 s deadline"
    assert_gone(engine, "model-v2")
    assert_serves(engine, "model-v1", "app:v1")


@pytest.mark.task(taskno=5)
def test_a_version_this_deployer_promoted_is_restored_after_a_failed_deploy(make, engine, health):
    health.script["app:v2"] = [False]
    deployer = make()
    assert deployer.deploy("app", "v1", context=".").promoted, "a healthy v1 should be promoted"
    v1_id = engine.serving(PORT).id
    result = deployer.deploy("app", "v2", context=".")
    assert (result.promoted, result.serving_version) == (False, "v1"), f"v2 is unhealthy, v1 should serve: {result}"
    assert_gone(engine, "model-v2")
    assert_serves(engine, "model-v1", "app:v1")
    assert engine.containers["model-v1"].id == v1_id, (
        "the v1 container this deployer started should survive being stopped (no --rm) and be started again"
    )


@pytest.mark.task(taskno=5)
def test_a_failed_first_deploy_leaves_nothing_behind(make, engine, health):
    health.script["app:v1"] = [False]
    deployer = make()
    result = deployer.deploy("app", "v1", context=".")
    assert (result.promoted, result.serving_version) == (False, None), f"nothing should be serving: {result}"
    assert deployer.current_version is None, "nothing was ever promoted"
    assert engine.containers == {}, f"the broken container should be removed, found {list(engine.containers)}"
    starts = [argv for argv in engine.commands() if argv[:1] == ["start"]]
    assert not starts, f"on a first deploy there is no previous container to start again, yet it ran {starts}"


@pytest.mark.task(taskno=5)
@pytest.mark.parametrize("failure", ["build", "build:timeout"])
def test_a_failed_build_never_touches_the_serving_version(make, engine, failure, v1_serving):
    engine.fail_commands.add(failure)
    result = make(current_version="v1").deploy("app", "v2", context=".")
    assert not result.promoted, "a version that did not build must not be promoted"
    assert result.serving_version == "v1" and result.reason, f"the result should say v1 serves and why: {result}"
    assert not any(argv[0] == "run" for argv in engine.commands()), "nothing should run after a failed build"
    assert v1_serving.stops == 0, "the serving version should not even be stopped when the build fails"
    assert v1_serving.starts == 0, (
        f"a failed build touches nothing, so there is nothing to roll back: the serving container should not be "
        f"started again (docker start), ran {engine.commands()}"
    )
    assert_serves(engine, "model-v1", "app:v1")


@pytest.mark.task(taskno=5)
@pytest.mark.parametrize("outcome", ["cannot-start", "killed-by-a-signal"])
def test_a_build_command_that_cannot_start_or_is_killed_never_touches_the_serving_version(make, engine, outcome,
                                                                                         v1_serving):
    def runner(argv, timeout):
        if argv[1:2] != ["build"]:
            return engine(argv, timeout)
        if outcome == "cannot-start":
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), argv[0])
        return subprocess.CompletedProcess(argv, -9, "", "")  # the OOM killer ended it: a negative exit status

    result = make(runner=runner, current_version="v1").deploy("app", "v2", context=".")
    assert not result.promoted, f"a build that {outcome.replace('-', ' ')} failed; v2 must not be promoted: {result}"
    assert result.serving_version == "v1" and result.reason, f"the result should say v1 serves and why: {result}"
    assert v1_serving.stops == 0, (
        f"a build that {outcome.replace('-', ' ')} is a failed build: the serving version should not even be stopped"
    )
    assert v1_serving.starts == 0, (
        f"a build that {outcome.replace('-', ' ')} is a failed build: nothing to roll back, the serving container "
        f"should not be started again"
    )
    assert_serves(engine, "model-v1", "app:v1")


@pytest.mark.task(taskno=5)
@pytest.mark.parametrize("failure, error", [("build", "RUN pip install failed"),
                                            ("stop", "stop failed on purpose"),
                                            ("run", "run failed on purpose")])
def test_the_reason_carries_the_error_output_of_the_failed_command(make, engine, failure, error, v1_serving):
    if failure == "build":
        engine.broken_builds.add("app:v2")
    else:
        engine.fail_commands.add(failure)
    # An empty build arg hides nothing: "".replace would put *** between every character of the reason.
    result = make(current_version="v1").deploy("app", "v2", context=".", build_args={"EXTRA_INDEX": "", "MODE": "q9"})
    assert not result.promoted, f"with docker {failure} failing, v2 must not be promoted: {result}"
    assert error in result.reason, (
        f"the reason should carry what the failed docker {failure} wrote on stderr ('fake docker: {error}'), "
        f"got {result.reason!r}"
    )


@pytest.mark.task(taskno=4)
def test_no_part_of_a_build_arg_value_survives_shortening_the_error_output(make, engine):
    secret = "tok-" + "Q7x" * 20
    pieces = [secret[:k] for k in range(12, len(secret) + 1)] + [secret[-k:] for k in range(12, len(secret) + 1)]
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = records.append
    logger = logging.getLogger("day05.cut-output")  # its own, quiet: 343 deploys would flood the failure report
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        # Where the output is cut is yours to choose: move the value across every position a cut could fall at.
        for pad in range(0, 2400, 7):
            records.clear()

            def runner(argv, timeout, pad=pad):
                if argv[1:2] == ["build"]:
                    return subprocess.CompletedProcess(argv, 1, "", f"#7 fetching {secret} " + "z" * pad + "\nERROR: failed\n")
                return engine(argv, timeout)

            result = make(runner=runner, logger=logger).deploy("app", "v1", context=".", build_args={"TOKEN": secret})
            texts = [result.reason, *(r.getMessage() + repr(vars(r)) for r in records)]
            leaked = next((piece for piece in pieces for text in texts if piece in text), None)
            assert leaked is None, (
                f"with the build arg's value {pad + 15} characters before the end of docker's error output, "
                f"{leaked!r} (part of it) reached the log or the reason: hide every value before you shorten the "
                f"output, or a cut through a value leaves part of it"
            )
    finally:
        logger.removeHandler(handler)


@pytest.mark.task(taskno=5)
def test_the_reason_carries_the_end_of_a_long_error_output(make, engine, v1_serving):
    # a build log runs to thousands of lines; the error that explains the failure is the last one
    log = "".join(f"#{n} [build 3/7] RUN pip install -r requirements.txt: Collecting package-{n}\n" for n in range(400))
    log += "ERROR: No matching distribution found for torch==9.9\n"

    def runner(argv, timeout):
        if argv[1:2] == ["build"]:
            return subprocess.CompletedProcess(argv, 1, "", log)
        return engine(argv, timeout)

    result = make(runner=runner, current_version="v1").deploy("app", "v2", context=".")
    assert not result.promoted, f"a build that failed must not be promoted: {result}"
    assert "No matching distribution found for torch==9.9" in result.reason, (
        f"the reason should carry the end of what the failed build wrote on stderr (its last line is the error), "
        f"got {result.reason[:300]!r}"
    )


def _records_after(marks, caplog, command, level):
    """The records at `level` or above logged after the last `docker <command>` call recorded in `marks`."""
    start = next((seen for sub, seen in reversed(marks) if sub == command), None)
    assert start is not None, f"docker {command} should have run; ran {[sub for sub, _ in marks]}"
    return [r for r in caplog.records[start:] if r.levelno >= level]


@pytest.fixture
def marking(engine, caplog):
    """A runner in front of the fake engine that marks how many records were logged when each command ended."""
    marks = []

    def runner(argv, timeout):
        try:
            return engine(argv, timeout)
        finally:
            marks.append((argv[1] if len(argv) > 1 else "", len(caplog.records)))

    return runner, marks


@pytest.mark.task(taskno=5)
@pytest.mark.parametrize("failure, command", [("rm:timeout", "rm"), ("start", "start"), ("start:timeout", "start")])
def test_a_rollback_command_that_fails_is_logged(make, engine, health, caplog, marking, failure, command,
                                                 v1_serving):
    caplog.set_level(logging.INFO)
    runner, marks = marking
    health.script["app:v2"] = [False]
    engine.fail_commands.add(failure)
    make(runner=runner, current_version="v1").deploy("app", "v2", context=".")
    logged = _records_after(marks, caplog, command, logging.WARNING)
    assert logged, (
        f"the rollback's docker {command} failed ({failure}): that should be logged at WARNING or above, "
        f"not swallowed; nothing was logged after it"
    )


@pytest.mark.task(taskno=5)
def test_a_rollback_removal_that_exits_non_zero_is_logged(make, engine, health, caplog, v1_serving):
    caplog.set_level(logging.INFO)
    marks = []

    def runner(argv, timeout):
        try:
            if argv[1:2] != ["rm"]:
                return engine(argv, timeout)
            for ref in argv[2:]:  # the engine kills the container, then cannot remove it
                if ref in engine.containers:
                    engine.containers[ref].running = False
            return subprocess.CompletedProcess(
                argv, 1, "", "Error response from daemon: unable to remove filesystem: device or resource busy")
        finally:
            marks.append((argv[1] if len(argv) > 1 else "", len(caplog.records)))

    health.script["app:v2"] = [False]
    make(runner=runner, current_version="v1").deploy("app", "v2", context=".")
    logged = _records_after(marks, caplog, "rm", logging.WARNING)
    assert logged, (
        "the rollback's docker rm exited non-zero (device or resource busy): a container is left behind, which "
        "should be logged at WARNING or above, not swallowed; nothing was logged after it"
    )


@pytest.mark.task(taskno=5)
def test_a_container_created_by_a_docker_run_that_failed_is_removed(make, engine, v1_serving):
    def runner(argv, timeout):
        if argv[1:2] != ["run"]:
            return engine(argv, timeout)
        before = set(engine.containers)
        engine(argv, timeout)
        for name in set(engine.containers) - before:
            engine.containers[name].running = False  # created, then its start failed: what the real CLI leaves
        return subprocess.CompletedProcess(argv, 125, "", "docker: Error response from daemon: driver failed "
                                           "programming external connectivity: port is already allocated.")

    deployer = make(runner=runner, current_version="v1")
    result = deployer.deploy("app", "v2", context=".")
    assert (result.promoted, result.serving_version) == (False, "v1"), f"v2 did not start, v1 should serve: {result}"
    assert_gone(engine, "model-v2")
    assert_serves(engine, "model-v1", "app:v1")


@pytest.mark.task(taskno=4)
@pytest.mark.parametrize("failure", ["rm:timeout", "rm"], ids=["times-out", "exits-non-zero"])
def test_removing_the_previous_container_failing_is_logged(make, engine, caplog, marking, failure, v1_serving):
    caplog.set_level(logging.INFO)
    runner, marks = marking
    engine.fail_commands.add(failure)  # rm:timeout: the engine removes it, the CLI never returns
    result = make(runner=runner, current_version="v1").deploy("app", "v2", context=".")
    assert result.promoted, f"v2 serves and is healthy, so it is promoted even though removing v1 failed: {result}"
    logged = _records_after(marks, caplog, "rm", logging.WARNING)
    assert logged, (
        f"removing the previous container failed ({failure}): that should be logged at WARNING or above, not "
        f"swallowed (a non-zero exit is a failure too); "
        f"after it came only {[(r.levelname, r.getMessage()) for r in _records_after(marks, caplog, 'rm', 0)]}"
    )


@pytest.mark.task(taskno=5)
@pytest.mark.parametrize("when", ["after-the-promotion", "in-the-rollback"])
def test_a_failed_removal_is_logged_on_the_given_logger(make, engine, health, caplog, marking, when, v1_serving):
    caplog.set_level(logging.INFO)
    runner, marks = marking
    if when == "in-the-rollback":
        health.script["app:v2"] = [False]
    engine.fail_commands.add("rm")  # the container is left behind
    make(runner=runner, current_version="v1", logger=logging.getLogger("team.deploys")).deploy("app", "v2", context=".")
    logged = _records_after(marks, caplog, "rm", logging.WARNING)
    assert logged, f"the docker rm {when.replace('-', ' ')} failed: that should be logged at WARNING or above"
    assert {r.name for r in logged} >= {"team.deploys"}, (
        f"the warning that the docker rm {when.replace('-', ' ')} failed (a container is left behind) should go to "
        f"the logger given, where the team reads its deploys, not to {sorted({r.name for r in logged})}"
    )


@pytest.mark.task(taskno=5)
@pytest.mark.parametrize("failure", ["stop", "stop:timeout"])
def test_a_failed_stop_of_the_previous_version_is_logged_on_the_given_logger(make, engine, caplog, failure,
                                                                            v1_serving):
    caplog.set_level(logging.INFO)
    engine.fail_commands.add(failure)
    make(current_version="v1", logger=logging.getLogger("team.deploys")).deploy("app", "v2", context=".")
    elsewhere = sorted({(r.name, r.step) for r in caplog.records if hasattr(r, "step") and r.name != "team.deploys"})
    assert not elsewhere, (
        f"with docker {failure} failing, every step record (the failed stop of v1 included) should go to the logger "
        f"given, where the team reads its deploys; these went elsewhere: {elsewhere}"
    )


@pytest.mark.task(taskno=5)
@pytest.mark.parametrize("command", ["build", "stop", "run"])
def test_a_docker_command_that_cannot_start_is_logged_on_the_given_logger(make, engine, caplog, command, v1_serving):
    caplog.set_level(logging.INFO)

    def runner(argv, timeout):
        if argv[1:2] == [command]:
            raise OSError(errno.EAGAIN, os.strerror(errno.EAGAIN))
        return engine(argv, timeout)

    make(runner=runner, current_version="v1", logger=logging.getLogger("team.deploys")).deploy("app", "v2", context=".")
    stepped = [r for r in caplog.records if hasattr(r, "step")]
    elsewhere = sorted({(r.name, r.step) for r in stepped if r.name != "team.deploys"})
    assert stepped and not elsewhere, (
        f"with docker {command} unable to start (OSError), every step record (the failed {command} included) should "
        f"go to the logger given, where the team reads its deploys; "
        f"{f'these went elsewhere: {elsewhere}' if stepped else 'no step was logged'}"
    )


@pytest.mark.task(taskno=5)
@pytest.mark.parametrize("failure", ["start", "start:timeout"])
def test_a_failed_restart_of_the_previous_version_is_logged_on_the_given_logger(make, engine, health, caplog,
                                                                               marking, failure, v1_serving):
    caplog.set_level(logging.INFO)
    runner, marks = marking
    health.script["app:v2"] = [False]
    engine.fail_commands.add(failure)  # the rollback's docker start of model-v1
    make(runner=runner, current_version="v1", logger=logging.getLogger("team.deploys")).deploy("app", "v2",
                                                                                              context=".")
    logged = _records_after(marks, caplog, "start", logging.WARNING)
    assert logged, f"the rollback's docker start failed ({failure}): that should be logged at WARNING or above"
    assert {r.name for r in logged} >= {"team.deploys"}, (
        f"the warning that the rollback's docker start failed ({failure}: v1 may not be serving) should go to the "
        f"logger given, where the team reads its deploys, not to {sorted({r.name for r in logged})}"
    )


@pytest.mark.task(taskno=5)
@pytest.mark.parametrize("failure", ["build", "build:timeout"])
def test_a_failed_build_is_logged(make, engine, caplog, failure, v1_serving):
    caplog.set_level(logging.INFO)
    engine.fail_commands.add(failure)
    make(current_version="v1").deploy("app", "v2", context=".")
    builds = [r for r in caplog.records if getattr(r, "step", None) == "build"]
    assert builds, "a failed build is a step too and should be logged with extra step='build'"
    assert all(getattr(r, "version", None) == "v2" for r in builds), "the build record should carry version='v2'"


@pytest.mark.task(taskno=5)
@pytest.mark.parametrize("failure", ["run", "run:timeout"])
def test_a_failed_run_is_logged(make, engine, caplog, failure, v1_serving):
    caplog.set_level(logging.INFO)
    engine.fail_commands.add(failure)
    make(current_version="v1").deploy("app", "v2", context=".")
    runs = [r for r in caplog.records if getattr(r, "step", None) == "run"]
    assert runs, f"a failed docker run ({failure}) is a step too and should be logged with extra step='run'"
    assert all(getattr(r, "version", None) == "v2" for r in runs), "the run record should carry version='v2'"


@pytest.mark.task(taskno=5)
@pytest.mark.parametrize("failure", ["run", "run:timeout", "stop", "stop:timeout"])
def test_a_failed_stop_or_start_restores_the_previous_version(make, engine, failure, v1_serving):
    engine.fail_commands.add(failure)  # stop:timeout: the old container stopped, the CLI never returned
    deployer = make(current_version="v1")
    result = deployer.deploy("app", "v2", context=".")
    assert not result.promoted and deployer.current_version == "v1", (
        f"with docker {failure} failing, v2 did not replace v1 properly and must not be promoted: {result}"
    )
    assert result.serving_version == "v1" and result.reason, f"the result should say v1 serves and why: {result}"
    assert_gone(engine, "model-v2")
    assert_serves(engine, "model-v1", "app:v1")


@pytest.mark.task(taskno=5)
def test_the_rollback_uses_the_given_docker_binary_and_timeout(make, engine, health, v1_serving):
    engine.binary = "/opt/bin/docker"
    health.script["app:v2"] = [False]
    try:
        result = make(docker="/opt/bin/docker", command_timeout_s=3, current_version="v1").deploy(
            "app", "v2", context=".")
    except AssertionError:
        result = None  # the fake engine refused a command; the checks below say which
    binaries = {argv[0] for argv, _ in engine.calls}
    assert binaries == {"/opt/bin/docker"}, f"the rollback commands should also run /opt/bin/docker, ran {binaries}"
    assert all(timeout <= 3 for _, timeout in engine.calls), (
        f"no docker command, the rollback's included, may wait longer than command_timeout_s (3 s): "
        f"{[(argv[1], t) for argv, t in engine.calls]}"
    )
    assert result is not None and not result.promoted, f"an unhealthy v2 must not be promoted: {result}"
    assert_gone(engine, "model-v2")
    assert_serves(engine, "model-v1", "app:v1")


@pytest.mark.task(taskno=5)
def test_the_failed_health_step_is_logged_before_the_rollback(make, health, caplog, v1_serving):
    caplog.set_level(logging.INFO)
    health.script["app:v2"] = [False]
    make(current_version="v1").deploy("app", "v2", context=".")
    steps = [(r.step, getattr(r, "version", None)) for r in caplog.records if hasattr(r, "step")]
    names = [step for step, _ in steps]
    assert "health" in names, f"a failed health check is a step too and should be logged with step='health': {steps}"
    assert ("health", "v2") in steps, f"the health record should carry version='v2': {steps}"
    assert "rollback" in names and names.index("health") < names.index("rollback"), (
        f"the failed health step should be logged before the rollback it causes: {names}"
    )


@pytest.mark.task(taskno=5)
def test_after_a_rollback_the_next_version_can_still_be_deployed(make, engine, health, v1_serving):
    health.script["app:v2"] = [False]
    deployer = make(current_version="v1")
    deployer.deploy("app", "v2", context=".")
    result = deployer.deploy("app", "v3", context=".")
    assert result.promoted, f"a healthy v3 after a failed v2 should be promoted: {result}"
    assert list(engine.containers) == ["model-v3"], f"only model-v3 should be left, found {list(engine.containers)}"


@pytest.mark.task(taskno=5)
def test_after_a_rollback_the_serving_version_is_still_refused(make, engine, health, v1_serving):
    health.script["app:v2"] = [False]
    deployer = make(current_version="v1")
    assert not deployer.deploy("app", "v2", context=".").promoted, "an unhealthy v2 must not be promoted"
    engine.calls.clear()
    with pytest.raises(ValueError):
        deployer.deploy("app", "v1", context=".")
    assert engine.calls == [], (
        f"v2 was rolled back, so v1 is still the version serving: deploying v1 should be refused before any command "
        f"(it would stop model-v1 and clash with its name), ran {engine.commands()}"
    )
    assert_serves(engine, "model-v1", "app:v1")


@pytest.mark.task(taskno=5)
def test_a_version_that_was_rolled_back_may_be_deployed_again(make, engine, health, v1_serving):
    health.script["app:v2"] = [False, False, False, False, True]  # healthy once the retried deploy probes it
    deployer = make(current_version="v1")
    assert not deployer.deploy("app", "v2", context=".").promoted, "an unhealthy v2 must not be promoted"
    try:
        retried = deployer.deploy("app", "v2", context=".")
    except ValueError as exc:
        pytest.fail(f"v2 was rolled back and is not serving (v1 is): trying v2 again is allowed, got {exc!r}")
    assert retried.promoted and deployer.current_version == "v2", f"a healthy v2 on the retry should be promoted: {retried}"
    assert_serves(engine, "model-v2", "app:v2")


@pytest.mark.task(taskno=5)
def test_the_rollback_is_logged_as_a_warning_or_worse(make, health, caplog, v1_serving):
    caplog.set_level(logging.INFO)
    health.script["app:v2"] = [False]
    make(current_version="v1").deploy("app", "v2", context=".")
    rollbacks = [r for r in caplog.records if getattr(r, "step", None) == "rollback"]
    assert rollbacks, "the rollback should be logged with extra step='rollback'"
    assert all(r.levelno >= logging.WARNING for r in rollbacks), "a rollback should be logged as WARNING or ERROR"
    assert all(getattr(r, "version", None) == "v2" for r in rollbacks), "the rollback record should name version v2"


@pytest.mark.task(taskno=5)
@pytest.mark.parametrize("failure", ["rm:timeout", "start:timeout"])
def test_a_rollback_command_that_times_out_does_not_stop_the_rollback(make, engine, health, failure, v1_serving):
    health.script["app:v2"] = [False]
    engine.fail_commands.add(failure)  # the engine does the work (removes v2, starts v1), the CLI never returns
    deployer = make(current_version="v1")
    try:
        result = deployer.deploy("app", "v2", context=".")
    except Exception as exc:  # noqa: BLE001 - the contract is: a result, not an exception
        pytest.fail(f"a docker {failure.split(':')[0]} that times out during the rollback should be logged and the "
                    f"rollback go on, not raise {exc!r}")
    assert (result.promoted, result.serving_version) == (False, "v1"), f"v2 is unhealthy, v1 should serve: {result}"
    assert_serves(engine, "model-v1", "app:v1")


@pytest.mark.task(taskno=4)
@pytest.mark.parametrize("failure", ["rm:timeout", "rm"], ids=["times-out", "exits-non-zero"])
def test_removing_the_previous_container_failing_does_not_undo_the_promotion(make, engine, failure, v1_serving):
    engine.fail_commands.add(failure)  # rm:timeout: the engine removes it, the CLI never returns
    deployer = make(current_version="v1")
    try:
        result = deployer.deploy("app", "v2", context=".")
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"v2 serves and is healthy: a docker rm of v1 that fails ({failure}) should be logged, not "
                    f"raise {exc!r}")
    assert (result.promoted, result.serving_version, deployer.current_version) == (True, "v2", "v2"), (
        f"v2 serves and is healthy, so it is promoted even though removing v1 failed ({failure}): {result}"
    )
    assert_serves(engine, "model-v2", "app:v2")


@pytest.mark.task(taskno=5)
@pytest.mark.parametrize("context", [".", None], ids=["build", "no-build"])
@pytest.mark.parametrize("error, code", [(FileNotFoundError, errno.ENOENT), (PermissionError, errno.EACCES)],
                         ids=["missing", "not-executable"])
def test_a_docker_that_cannot_even_start_is_a_failed_step_not_an_exception(make, engine, context, error, code):
    def missing_docker(argv, timeout):
        raise error(code, os.strerror(code), argv[0])

    engine.images.add("app:v1")
    deployer = make(runner=missing_docker)
    try:
        result = deployer.deploy("app", "v1", context=context)
    except OSError as exc:
        pytest.fail(f"a docker binary that cannot be run (OSError) is a failed step: deploy should return "
                    f"promoted=False with a reason, not raise {exc!r}")
    assert (result.promoted, result.serving_version) == (False, None), f"nothing could run, nothing serves: {result}"
    assert result.reason, "the result should say why the deploy failed"
    assert deployer.current_version is None, "nothing was promoted"


@pytest.mark.task(taskno=5)
@pytest.mark.parametrize("command", ["stop", "run"])
def test_a_docker_command_that_cannot_start_after_the_build_is_rolled_back(make, engine, command, v1_serving):
    # an OSError is not only a missing binary: a fork that fails (EAGAIN, out of processes) or no file descriptor
    # left (EMFILE) can hit any command, also after the previous version was stopped
    def runner(argv, timeout):
        if argv[1:2] == [command]:
            raise OSError(errno.EAGAIN, os.strerror(errno.EAGAIN))
        return engine(argv, timeout)

    deployer = make(runner=runner, current_version="v1")
    try:
        result = deployer.deploy("app", "v2", context=".")
    except OSError as exc:
        pytest.fail(f"a docker {command} that cannot start (OSError) is a failed step: deploy should roll back and "
                    f"return a result, not raise {exc!r}")
    assert (result.promoted, result.serving_version) == (False, "v1") and result.reason, (
        f"docker {command} could not start: v2 must not be promoted, the result should say v1 serves and why: {result}"
    )
    assert deployer.current_version == "v1", "current_version should stay v1 when the deploy failed"
    assert_gone(engine, "model-v2")
    assert_serves(engine, "model-v1", "app:v1")


@pytest.mark.task(taskno=5)
@pytest.mark.parametrize("command, when", [("rm", "after-the-promotion"), ("start", "in-the-rollback")],
                         ids=["rm-after-the-promotion", "start-in-the-rollback"])
def test_a_clean_up_command_that_cannot_start_is_logged_and_deploy_returns_its_result(make, engine, health, caplog,
                                                                                      command, when, v1_serving):
    # a fork that fails (EAGAIN) can hit the last commands too: removing v1 once v2 serves, or starting v1 again
    caplog.set_level(logging.INFO)
    marks = []

    def runner(argv, timeout):
        try:
            if argv[1:2] == [command]:
                raise OSError(errno.EAGAIN, os.strerror(errno.EAGAIN))
            return engine(argv, timeout)
        finally:
            marks.append((argv[1] if len(argv) > 1 else "", len(caplog.records)))

    if when == "in-the-rollback":
        health.script["app:v2"] = [False]
    deployer = make(runner=runner, current_version="v1", logger=logging.getLogger("team.deploys"))
    try:
        result = deployer.deploy("app", "v2", context=".")
    except NotImplementedError:
        raise
    except Exception as exc:  # noqa: BLE001 - the contract is: a result, not an exception
        pytest.fail(f"a docker {command} {when.replace('-', ' ')} that cannot start (OSError) is a failed step: it "
                    f"should be logged and deploy return its result, not raise {exc!r}")
    expected = (True, "v2", "v2") if when == "after-the-promotion" else (False, "v1", "v1")
    got = (result.promoted, result.serving_version, deployer.current_version)
    assert got == expected, (
        f"the docker {command} {when.replace('-', ' ')} could not start: (promoted, serving_version, "
        f"current_version) should be {expected}, got {got} ({result})"
    )
    logged = [r for r in _records_after(marks, caplog, command, logging.WARNING) if r.name == "team.deploys"]
    assert logged, (
        f"the docker {command} {when.replace('-', ' ')} could not start (OSError): that should be logged at WARNING "
        f"or above on the logger given (a container is left behind or v1 is not serving); after it came only "
        f"{[(r.name, r.levelname, r.getMessage()) for r in _records_after(marks, caplog, command, 0)]}"
    )


@pytest.mark.task(taskno=4)
def test_a_command_that_exits_0_succeeded_whatever_it_wrote_on_stderr(make, engine, v1_serving):
    # docker build writes its progress on stderr, and the tools it runs their warnings: pip prints this one after
    # an install that succeeded; docker run warns on stderr about a platform it will emulate
    noise = {
        "build": ("#8 [3/4] RUN pip install -r requirements.txt\n#8 9.87 ERROR: pip's dependency resolver does not "
                  "currently take into account all the packages that are installed.\n#8 DONE 10.2s\n"),
        "run": "WARNING: The requested image's platform (linux/amd64) does not match the detected host platform\n",
    }

    def runner(argv, timeout):
        done = engine(argv, timeout)
        if done.returncode == 0 and argv[1] in noise:
            return subprocess.CompletedProcess(argv, 0, done.stdout, noise[argv[1]])
        return done

    deployer = make(runner=runner, current_version="v1")
    result = deployer.deploy("app", "v2", context=".")
    assert result.promoted and deployer.current_version == "v2", (
        f"every docker command exited 0, so every step succeeded whatever it wrote on stderr (build progress, pip's "
        f"'ERROR: pip's dependency resolver ...' after a good install, a platform warning): v2 is healthy and should "
        f"be promoted, got {result}"
    )
    assert_serves(engine, "model-v2", "app:v2")


@pytest.mark.task(taskno=4)
def test_a_runner_may_return_any_object_with_returncode_stdout_and_stderr(make, engine, v1_serving):
    def runner(argv, timeout):  # e.g. a runner that sends the commands over SSH and returns its own result type
        done = engine(argv, timeout)
        return SimpleNamespace(returncode=done.returncode, stdout=done.stdout, stderr=done.stderr)

    deployer = make(runner=runner, current_version="v1")
    try:
        promoted = deployer.deploy("app", "v2", context=".")
        engine.broken_builds.add("app:v3")
        failed = deployer.deploy("app", "v3", context=".")
    except AttributeError as exc:
        pytest.fail(f"a runner returns an object with returncode, stdout and stderr, not necessarily a "
                    f"subprocess.CompletedProcess: use only those three attributes; got {exc!r}")
    assert promoted.promoted, f"a healthy v2 should be promoted whatever type the runner's results have: {promoted}"
    assert not failed.promoted and "RUN pip install failed" in failed.reason, (
        f"a v3 whose build exited 1 should not be promoted, and the reason should carry its stderr: {failed}"
    )
    assert_serves(engine, "model-v2", "app:v2")
