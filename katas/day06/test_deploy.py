"""Tasks 3 and 4: deploy.sh's decisions, with a recording fake `docker` first on PATH.

The fake (conftest.py) keeps a tiny engine state: a host port can be bound by one running
container at a time and `rm` refuses a running container unless forced. `curl` is real: the
health check goes to `server`, a real HTTP server on loopback that plays the new container
(healthy, failing or slow).
"""

import os
import threading
import time
from types import SimpleNamespace

import pytest

from mlops_katas.fakes import option_values
from mlops_katas.infra.http_server import free_port

NAME = "model"
IMAGE = "ml"


@pytest.fixture
def deploy(learner_file, run_bash, fake_docker, server, tmp_path):
    port = server.url.rsplit(":", 1)[1]
    state_file = tmp_path / "deployed-version"

    def run(version, *extra, env=None, timeout=20, **options):
        """options (retries=, interval=, timeout_s=) replace the defaults below."""
        settings = {"--retries": "3", "--interval": "0.1", "--timeout": "2"}
        settings.update({f"--{key.removesuffix('_s')}": str(value) for key, value in options.items()})
        args = ["--image", IMAGE, "--name", NAME, "--port", port, "--context", str(tmp_path),
                "--state-file", str(state_file), *[word for pair in settings.items() for word in pair],
                *extra, version]
        return run_bash(learner_file("deploy.sh"), args, env={**fake_docker.env, **(env or {})}, cwd=tmp_path, timeout=timeout)

    run.port = int(port)
    run.state_file = state_file
    return run


@pytest.fixture
def v1_serving(deploy, fake_docker):
    """v1 serving on the port, recorded in the state file, as an earlier deploy left it."""
    container_id = fake_docker.add_running(f"{NAME}-v1", f"{IMAGE}:v1", deploy.port)
    deploy.state_file.write_text("v1\n")
    return container_id


def passes(argv, arg):
    """Whether a recorded command line holds `arg`, as a word or as an option's value (`--tag=ml:v1`)."""
    return arg in argv or any(word.startswith("-") and word.split("=", 1)[1] == arg for word in argv if "=" in word)


def first_index(calls, sub, *args):
    """Index of the first call `docker sub ... args...`, or None."""
    return next((i for i, argv in enumerate(calls) if argv and argv[0] == sub and all(passes(argv, a) for a in args)),
                None)


def health_gaps(server):
    times = [r.at for r in server.received if r.path == "/health"]
    return [later - earlier for earlier, later in zip(times, times[1:])]


def state(deploy):
    return deploy.state_file.read_text().strip() if deploy.state_file.exists() else ""


def rollback_logged(stdout):
    """A line the on-call engineer finds with `grep -i -e rollback -e 'rolling back'`."""
    return any("rollback" in line.lower() or "rolling back" in line.lower() for line in stdout.splitlines())


def assert_failure_logged(clean, failing, utc_stamped, started, *, run, failure, how):
    """`failing` is `clean` made again with one more docker step failing: that failure is logged, on a
    timestamped UTC log line like every other line of the run."""
    assert utc_stamped.new_lines(clean.stdout, failing.stdout), (
        f"the same {run} run twice, the second time with a failing {failure}: that failure should be logged on "
        f"stdout ({how}), but the second run logged nothing the first did not"
        f"\n--- first run ---\n{clean.stdout}\n--- second run, {failure} failing ---\n{failing.stdout}")
    wrong = utc_stamped(failing.stdout, started, time.time())
    assert not wrong, (
        f"the line reporting the failed {failure} is a log line like every other: it should start with a UTC "
        f"timestamp (use the same logger, not a bare echo; this run had TZ={utc_stamped.env['TZ']}): {wrong}"
        f"\n{failing.output}")


def assert_only_serving(fake_docker, deploy, name, image, output):
    containers = fake_docker.containers
    running = {n: c for n, c in containers.items() if c["running"] and c["port"] == deploy.port}
    assert list(running) == [name], f"{name} should serve port {deploy.port}, found {sorted(running)}\n{output}"
    assert running[name]["image"] == image, f"{name} should run {image}, runs {running[name]['image']}"


# --- Task 3: usage, build, swap, promote -------------------------------------------------


@pytest.mark.task(taskno=3)
@pytest.mark.parametrize(
    "args",
    [[], ["v1", "v2"], ["--bogus", "v1"], ["--port", "abc", "v1"], ["--port", "70000", "v1"],
     ["--port", "0", "v1"], ["--port", "65536", "v1"], ["--port", "0x50", "v1"], ["--retries", "0", "v1"], ["--retries", "1.5", "v1"],
     ["--interval", "0", "v1"], ["--interval", "0.0", "v1"], ["--timeout", "x", "v1"], ["--timeout", "0", "v1"],
     ["--timeout", "0.0", "v1"], ["--interval", "inf", "v1"], ["--timeout", "nan", "v1"], ["v 1"], ["v1;reboot"], [".v1"], ["v1\n"], ["v" * 129], ["v1", "--port"],
     ["v1", "--image"], ["v1", "--name"], ["v1", "--context"], ["v1", "--build-arg"], ["v1", "--label"],
     ["v1", "--state-file"], ["v1", "--retries"], ["v1", "--interval"], ["v1", "--timeout"], ["v1", "--docker"],
     ["--interval", "1.2.3", "v1"], ["--timeout", "1.2.3", "v1"], ["--interval", "-1", "v1"], ["--timeout", ".", "v1"],
     ["--timeout", "1,5", "v1"], ["--retries", "00", "v1"], ["v1^"], ["v[1]"], ["v`1`"], ["--retries", "2+1", "v1"],
     ["--port", "8000+1", "v1"], ["--port", "18446744073709559616", "v1"], ["--interval", "1s", "v1"],
     ["--timeout", "5s", "v1"], ["--retries", "2\n3", "v1"], ["--timeout", "1\nx", "v1"], ["--interval", "00", "v1"],
     ["--timeout", "0.00", "v1"], ["--bogus", "x", "v1"]],
    ids=lambda a: " ".join(a).replace("\n", "\\n")[:40] or "no-version",
)
def test_a_bad_argument_prints_usage_and_exits_2(learner_file, run_bash, fake_docker, args):
    done = run_bash(learner_file("deploy.sh"), args, env=fake_docker.env, timeout=10)
    assert done.returncode == 2, f"{' '.join(args) or '(no arguments)'} should be a usage error (exit 2)\n{done.output}"
    assert "usage" in done.stderr.lower(), f"a usage error should print the usage on stderr\n{done.output}"
    assert fake_docker.calls == [], f"no docker command should run after a usage error, ran {fake_docker.calls}"


@pytest.mark.task(taskno=3)
@pytest.mark.parametrize("version", ["vé1", "v1é", "ü"])
def test_a_tag_with_letters_outside_ascii_is_a_usage_error(learner_file, run_bash, fake_docker, version):
    """Run in a UTF-8 locale, where [[:alnum:]] (and [a-z] in some) matches é and ü too."""
    done = run_bash(learner_file("deploy.sh"), [version], env={**fake_docker.env, "LC_ALL": "C.UTF-8"}, timeout=10)
    assert done.returncode == 2, (
        f"{version!r} is no image tag ([A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}} is ASCII only, whatever the locale; "
        f"[[:alnum:]] is not): a usage error (exit 2)\n{done.output}")
    assert fake_docker.calls == [], f"no docker command should run after a usage error, ran {fake_docker.calls}"


@pytest.mark.task(taskno=3)
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_prints_usage_and_exits_0(learner_file, run_bash, fake_docker, flag):
    done = run_bash(learner_file("deploy.sh"), [flag], env=fake_docker.env, timeout=10)
    assert done.returncode == 0 and "usage" in done.stdout.lower(), f"{flag} should print usage, exit 0\n{done.output}"


@pytest.mark.task(taskno=3)
@pytest.mark.parametrize(
    "image,port,version",
    [("localhost:5000/team/ml", "1", "_Build.1-RC"), ("ml", "65535", "V" + "7" * 127), ("ml", "8080", "7")],
    ids=["registry-with-port,port-1,leading-underscore", "port-65535,128-char-tag", "one-character-tag"],
)
def test_values_at_their_limits_are_accepted(learner_file, run_bash, fake_docker, tmp_path, image, port, version):
    args = ["--image", image, "--name", NAME, "--port", port, "--context", str(tmp_path), "--state-file",
            str(tmp_path / "deployed-version"), "--retries", "1", "--interval", "0.1", "--timeout", "0.5", version]
    done = run_bash(learner_file("deploy.sh"), args, env=fake_docker.env, cwd=tmp_path, timeout=20)
    assert done.returncode != 2, (
        f"--image {image}, --port {port} and VERSION {version} (a valid tag of {len(version)} characters) are all "
        f"valid: no usage error\n{done.output}")
    calls = fake_docker.calls
    assert first_index(calls, "build", f"{image}:{version}") is not None, f"it should build {image}:{version}: {calls}"
    run = first_index(calls, "run", f"{image}:{version}")
    assert run is not None and option_values(calls[run], "--publish", "-p") == [f"127.0.0.1:{port}:8000"], (
        f"it should run {image}:{version} published on 127.0.0.1:{port}: {calls}")


@pytest.mark.task(taskno=3)
@pytest.mark.parametrize("build", ["succeeds", "fails"])
@pytest.mark.parametrize("token, secret", [("s3cr3t-9f2b-token", "s3cr3t-9f2b-token"),
                                           ("c2VjcmV0LXRva2Vu==", "c2VjcmV0LXRva2Vu")], ids=["plain", "base64"])
def test_a_build_arg_value_never_reaches_the_log(deploy, fake_docker, build, token, secret):
    """A build arg may carry a secret, and the deploy's output is a CI log anyone may read."""
    if build == "fails":
        fake_docker.fail("build")
    done = deploy("v1", "--build-arg", f"PIP_TOKEN={token}", "--build-arg", "MODE=fast")
    assert done.returncode == (0 if build == "succeeds" else 1), (
        f"a deploy whose build {build} should exit {0 if build == 'succeeds' else 1}\n{done.output}")
    build_call = next((call for call in fake_docker.calls if call[:1] == ["build"]), [])
    assert f"PIP_TOKEN={token}" in option_values(build_call, "--build-arg"), (
        f"the build arg should still reach docker build: {build_call}")
    assert secret not in done.stdout + done.stderr, (
        f"the value of --build-arg PIP_TOKEN={token} appeared in the deploy's output (when the build {build}): log "
        f"the key (all before the first =) if you like, never any part of the value, it may be a token\n{done.output}")


@pytest.mark.task(taskno=3)
@pytest.mark.parametrize("args, why, codes", [
    (["v1", "--build-arg", "PIP_TOKEN=s3cr3t-9f2b-token", "--retries", "many"], "--retries many", (2,)),
    # --build-arg=K=V is no spelling the usage shows: refuse it, or read it as --build-arg K=V (getopt does).
    (["--build-arg=PIP_TOKEN=s3cr3t-9f2b-token", "v1"], "the option --build-arg=PIP_TOKEN=...", (2, 0)),
    (["v1", "--build-arg", "A=1", "PIP_TOKEN=s3cr3t-9f2b-token"], "the stray second VERSION PIP_TOKEN=...", (2,)),
], ids=["bad-retries", "joined-build-arg", "stray-positional"])
def test_a_usage_error_never_shows_a_build_arg_value(deploy, fake_docker, args, why, codes):
    done = deploy(args[-1], *args[:-1])  # the fixture puts its first argument last: keep the order as written
    meaning = {2: "a usage error (exit 2)", 0: "read as --build-arg K=V (a healthy deploy, exit 0)"}
    expected = " or ".join(meaning[code] for code in codes)
    assert done.returncode in codes, f"{why} should be {expected}, it exited {done.returncode}\n{done.output}"
    assert "s3cr3t-9f2b-token" not in done.stdout + done.stderr, (
        f"the deploy given {why} printed the token s3cr3t-9f2b-token: a usage error may name the option "
        f"(--build-arg), never repeat the rejected argument in full, it may hold a token\n{done.output}")


@pytest.mark.task(taskno=3)
def test_a_usage_error_never_repeats_an_unknown_option_given_with_its_value_in_full(learner_file, run_bash,
                                                                                      fake_docker):
    done = run_bash(learner_file("deploy.sh"), ["--bogus=s3cr3t-9f2b-token", "v1"], env=fake_docker.env, timeout=10)
    assert done.returncode == 2, f"the unknown option --bogus=... should be a usage error (exit 2)\n{done.output}"
    assert fake_docker.calls == [], f"no docker command should run after a usage error, ran {fake_docker.calls}"
    assert "s3cr3t-9f2b-token" not in done.stdout + done.stderr, (
        f"the usage error for the unknown option --bogus=s3cr3t-9f2b-token repeated its value: name the option "
        f"(--bogus) or say an option is unknown, never echo the rejected argument in full (hint 1.3's "
        f"`die_usage \"unknown argument: $1\"` does), it may hold a token\n{done.output}")


@pytest.mark.task(taskno=3)
def test_a_build_arg_without_a_value_is_passed_to_docker_build_as_given(deploy, fake_docker):
    # docker build takes the value of a bare `--build-arg KEY` from its own environment.
    done = deploy("v1", "--build-arg", "HTTP_PROXY", "--build-arg", "MODE=fast")
    assert done.returncode == 0, (
        f"--build-arg HTTP_PROXY (no =VALUE) is no usage error: a healthy deploy should exit 0, it exited "
        f"{done.returncode}\n{done.output}")
    build_call = next((call for call in fake_docker.calls if call[:1] == ["build"]), [])
    got = option_values(build_call, "--build-arg")
    assert "HTTP_PROXY" in got and "MODE=fast" in got, (
        f"docker build should get --build-arg HTTP_PROXY as given, next to MODE=fast; its build args were {got}")


@pytest.mark.task(taskno=3)
def test_first_deploy_builds_runs_and_records_the_version(deploy, fake_docker, server, tmp_path):
    done = deploy("v1", "--build-arg", "BASE_IMAGE=local/py", "--label", "team=ml", "--build-arg", "APP_MODE=fast",
                  "--label", "tier=gold", "--label", "owner=ML platform team", "--build-arg", "GREETING=hello world")
    assert done.returncode == 0, f"a healthy first deploy should exit 0\n{done.output}"
    calls = fake_docker.calls
    build, run = first_index(calls, "build", f"{IMAGE}:v1"), first_index(calls, "run", f"{IMAGE}:v1")
    assert build is not None and run is not None and build < run, f"it should build {IMAGE}:v1, then run it: {calls}"
    assert calls[build][-1] == str(tmp_path), f"the build context should be the last argument: {calls[build]}"
    assert {"BASE_IMAGE=local/py", "APP_MODE=fast"} <= set(option_values(calls[build], "--build-arg")), (
        f"every --build-arg (it is repeatable) should reach docker build: {calls[build]}")
    assert "GREETING=hello world" in option_values(calls[build], "--build-arg"), (
        f"--build-arg 'GREETING=hello world' should reach docker build in one piece, spaces and all: {calls[build]}")
    assert option_values(calls[run], "--publish", "-p") == [f"127.0.0.1:{deploy.port}:8000"], (
        f"the container should publish port 8000 on 127.0.0.1:{deploy.port} only (not on every interface): {calls[run]}")
    assert_only_serving(fake_docker, deploy, f"{NAME}-v1", f"{IMAGE}:v1", done.output)
    labels = fake_docker.containers[f"{NAME}-v1"]["labels"]
    assert labels.get("team") == "ml" and labels.get("tier") == "gold", (
        f"every --label (it is repeatable) should reach docker run, the container has {labels}")
    assert labels.get("owner") == "ML platform team", (
        f"--label 'owner=ML platform team' should reach docker run in one piece, spaces and all (keep repeatable "
        f"options in an array, not a string split on spaces); the container has {labels}")
    assert fake_docker.containers[f"{NAME}-v1"]["detached"], (
        f"docker run should get --detach: attached, the real CLI waits for the container to exit and the deploy "
        f"hangs: {calls[run]}")
    assert server.requests, "the health check should GET /health on the service port"
    asked = sorted({path for _, path in server.requests})
    assert asked == ["/health"], f"the health check should GET /health (not /ready or another route), asked for {asked}"
    assert state(deploy) == "v1", f"the state file should record v1 as serving, holds {state(deploy)!r}"


@pytest.mark.task(taskno=3)
def test_a_new_version_replaces_the_previous_one_in_order(deploy, fake_docker, server, v1_serving):
    done = deploy("v2")
    assert done.returncode == 0, f"a healthy v2 should be promoted (exit 0)\n{done.output}"
    timed = fake_docker.timed_calls()
    calls = [argv for argv, _ in timed]
    build = first_index(calls, "build", f"{IMAGE}:v2")
    stop = first_index(calls, "stop", f"{NAME}-v1")
    run = first_index(calls, "run", f"{IMAGE}:v2")
    remove = first_index(calls, "rm", f"{NAME}-v1")
    assert None not in (build, stop, run, remove), f"expected build v2, stop v1, run v2, rm v1; got {calls}"
    assert build < stop < run < remove, f"the order should be build, stop old, run new, rm old: {calls}"
    first_probe = server.received[0].at if server.received else float("inf")
    assert first_probe < timed[remove][1], "the old container should be removed only after the new one was checked"
    assert_only_serving(fake_docker, deploy, f"{NAME}-v2", f"{IMAGE}:v2", done.output)
    assert f"{NAME}-v1" not in fake_docker.containers, "the old container should be removed after the promotion"
    assert state(deploy) == "v2", f"the state file should now say v2, holds {state(deploy)!r}"


@pytest.mark.task(taskno=3)
def test_the_docker_binary_can_be_chosen_with_the_DOCKER_variable(deploy, fake_docker, tmp_path):
    elsewhere = tmp_path / "tools"
    elsewhere.mkdir()
    (elsewhere / "docker-cli").symlink_to(fake_docker.path)
    decoy = tmp_path / "decoy"
    decoy.mkdir()
    (decoy / "docker").write_text("#!/bin/sh\necho 'the docker on PATH was called although DOCKER is set' >&2\nexit 1\n")
    (decoy / "docker").chmod(0o755)
    done = deploy("v1", env={"DOCKER": str(elsewhere / "docker-cli"), "PATH": f"{decoy}:/usr/local/bin:/usr/bin:/bin"})
    assert done.returncode == 0, f"with DOCKER set, deploy.sh should use that binary\n{done.output}"
    assert fake_docker.calls, "the docker binary named by DOCKER should have been called"


@pytest.mark.task(taskno=3)
def test_the_docker_flag_wins_over_the_DOCKER_variable(deploy, fake_docker, tmp_path):
    decoy = tmp_path / "decoy-docker"
    decoy.write_text("#!/bin/sh\necho 'the DOCKER variable was used although --docker was given' >&2\nexit 1\n")
    decoy.chmod(0o755)
    done = deploy("v1", "--docker", str(fake_docker.path), env={"DOCKER": str(decoy)})
    assert done.returncode == 0, f"--docker PATH should choose the docker binary, over the DOCKER variable\n{done.output}"
    assert fake_docker.calls, "the docker binary named by --docker should have been called"


@pytest.mark.task(taskno=4)
@pytest.mark.parametrize("chosen_by", ["DOCKER variable", "--docker flag"])
def test_the_rollback_and_the_clean_up_use_the_chosen_docker_binary(deploy, fake_docker, server, v1_serving, tmp_path,
                                                                     chosen_by):
    decoy = tmp_path / "decoy"
    decoy.mkdir()
    (decoy / "docker").write_text("#!/bin/sh\necho 'the docker on PATH was called, not the chosen one' >&2\nexit 1\n")
    (decoy / "docker").chmod(0o755)
    env = {"DOCKER": str(fake_docker.path), "PATH": f"{decoy}:/usr/local/bin:/usr/bin:/bin"}
    extra = []
    if chosen_by == "--docker flag":
        env["DOCKER"], extra = str(decoy / "docker"), ["--docker", str(fake_docker.path)]
    promoted = deploy("v2", *extra, env=env)
    assert promoted.returncode == 0, f"a healthy v2 should be promoted (exit 0)\n{promoted.output}"
    assert f"{NAME}-v1" not in fake_docker.containers, (
        f"the previous v1 should be removed through the docker binary chosen by the {chosen_by}, like every other "
        f"docker command, not the docker on PATH\n{promoted.output}")
    server.set("failing")
    rolled_back = deploy("v3", *extra, env=env)
    assert rolled_back.returncode == 1, f"an unhealthy v3 should be rolled back (exit 1)\n{rolled_back.output}"
    assert f"{NAME}-v3" not in fake_docker.containers, (
        f"the rollback should remove v3 through the docker binary chosen by the {chosen_by}, not the docker on "
        f"PATH\n{rolled_back.output}")
    assert_only_serving(fake_docker, deploy, f"{NAME}-v2", f"{IMAGE}:v2",
                        f"the rollback should start v2 again through the docker binary chosen by the {chosen_by}\n"
                        f"{rolled_back.output}")


@pytest.mark.task(taskno=3)
@pytest.mark.parametrize("chosen_by", ["DOCKER variable", "--docker flag"])
def test_a_docker_path_with_spaces_names_one_program(deploy, fake_docker, server, v1_serving, tmp_path, chosen_by):
    elsewhere = tmp_path / "docker tools"
    elsewhere.mkdir()
    (elsewhere / "docker cli").symlink_to(fake_docker.path)
    chosen = str(elsewhere / "docker cli")
    decoy = tmp_path / "decoy"
    decoy.mkdir()
    (decoy / "docker").write_text("#!/bin/sh\necho 'the docker on PATH was called, not the chosen one' >&2\nexit 1\n")
    (decoy / "docker").chmod(0o755)
    env = {"PATH": f"{decoy}:/usr/local/bin:/usr/bin:/bin"}
    extra = []
    if chosen_by == "--docker flag":
        extra = ["--docker", chosen]
    else:
        env["DOCKER"] = chosen
    promoted = deploy("v2", *extra, env=env)
    assert promoted.returncode == 0, (
        f"the {chosen_by} names one program, {chosen!r}, spaces and all (quote it, do not split it into words): "
        f"a healthy v2 should be promoted (exit 0)\n{promoted.output}")
    assert_only_serving(fake_docker, deploy, f"{NAME}-v2", f"{IMAGE}:v2", promoted.output)
    server.set("failing")
    rolled_back = deploy("v3", *extra, env=env)
    assert rolled_back.returncode == 1, f"an unhealthy v3 should be rolled back (exit 1)\n{rolled_back.output}"
    assert_only_serving(fake_docker, deploy, f"{NAME}-v2", f"{IMAGE}:v2",
                        f"the rollback should use {chosen!r} too\n{rolled_back.output}")


@pytest.mark.task(taskno=3)
def test_an_empty_DOCKER_variable_means_docker_on_PATH(deploy, fake_docker):
    done = deploy("v1", env={"DOCKER": ""})
    assert done.returncode == 0, (
        f"the docker binary is ${{DOCKER:-docker}}: an empty DOCKER should fall back to the docker on PATH\n{done.output}")
    assert fake_docker.calls, "the docker on PATH should have been called"


# Variables a CI runner or a shell may have exported under the names a script is tempted to use for its settings
# and for its own lists (an array a script never empties starts with the exported value as its first element).
SAME_NAMED_VARIABLES = {"IMAGE": "from-env", "NAME": "from-env", "CONTEXT": "/from-env", "STATE_FILE": "/from-env/state",
                        "RETRIES": "2", "BUILD_ARGS": "from-env=1", "LABELS": "from-env=1", "LABEL_ARGS": "from-env=1"}


@pytest.mark.task(taskno=3)
@pytest.mark.parametrize("exported", [{}, SAME_NAMED_VARIABLES], ids=["clean-environment", "same-named-variables-exported"])
def test_the_defaults(learner_file, run_bash, fake_docker, server, tmp_path, exported):
    """Only --port (the test server's) and --interval (to keep the run short) are given; with
    same-named variables exported, only DOCKER may come from the environment."""
    port = int(server.url.rsplit(":", 1)[1])
    fake_docker.add_running("ml-model-v1", "ml-model:v1", port)
    (tmp_path / ".deployed-version").write_text("v1\n")
    server.set("failing")
    done = run_bash(learner_file("deploy.sh"), ["--port", str(port), "--interval", "0.1", "v2"],
                    env={**exported, **fake_docker.env}, cwd=tmp_path, timeout=30)
    if exported:
        assert not any("from-env" in arg for argv in fake_docker.calls for arg in argv), (
            "only DOCKER comes from the environment: variables such as IMAGE=from-env or NAME=from-env exported by "
            "the caller must not replace the documented defaults, and the build-arg and label lists start empty "
            f"whatever BUILD_ARGS or LABELS say: {fake_docker.calls}")
    assert done.returncode == 1, f"a v2 that never becomes healthy should fail the deploy (exit 1)\n{done.output}"
    calls = fake_docker.calls
    build = first_index(calls, "build", "ml-model:v2")
    assert build is not None and calls[build][-1] == ".", (
        f"by default the image is ml-model and the build context is . (the working directory): {calls}")
    assert first_index(calls, "stop", "ml-model-v1") is not None, (
        f"by default the state file is .deployed-version (it says v1) and containers are named ml-model-VERSION, "
        f"so ml-model-v1 should be stopped: {calls}")
    run = first_index(calls, "run", "ml-model:v2")
    assert run is not None and option_values(calls[run], "--name") == ["ml-model-v2"], (
        f"by default the new container is ml-model-v2: {calls}")
    assert len(server.requests) == 10, f"--retries defaults to 10 health checks, made {len(server.requests)}"
    assert_only_serving(fake_docker, SimpleNamespace(port=port), "ml-model-v1", "ml-model:v1", done.output)
    assert (tmp_path / ".deployed-version").read_text().strip() == "v1", "the default state file should still say v1"


# Names a script is tempted to read its port, health URL, retries, interval and timeout from.
EXPORTED_NAMES = {
    "same-names": {"port": ["PORT"], "url": [], "retries": ["RETRIES"], "interval": ["INTERVAL"],
                   "timeout": ["TIMEOUT"]},
    "other-names": {
        "port": ["DEPLOY_PORT", "APP_PORT", "HOST_PORT", "SERVICE_PORT", "MODEL_PORT", "HEALTH_PORT", "HTTP_PORT"],
        "url": ["HEALTH_URL", "HEALTHCHECK_URL", "MODEL_URL", "SERVICE_URL", "DEPLOY_URL", "BASE_URL"],
        "retries": ["DEPLOY_RETRIES", "HEALTH_RETRIES", "MAX_RETRIES", "RETRY_COUNT"],
        "interval": ["DEPLOY_INTERVAL", "HEALTH_INTERVAL", "CHECK_INTERVAL", "RETRY_INTERVAL"],
        "timeout": ["DEPLOY_TIMEOUT", "HEALTH_TIMEOUT", "CHECK_TIMEOUT", "CURL_TIMEOUT"]},
}


@pytest.mark.task(taskno=3)
@pytest.mark.parametrize("names", list(EXPORTED_NAMES.values()), ids=list(EXPORTED_NAMES))
def test_exported_PORT_INTERVAL_and_TIMEOUT_change_nothing(learner_file, run_bash, fake_docker, server, loopback_curl,
                                                            tmp_path, names):
    """No --port, --retries, --interval or --timeout, but settings exported under the names a script is tempted to
    use (PORT, or DEPLOY_PORT, HEALTH_URL, ...): a `curl` first on PATH sends the health checks meant for
    127.0.0.1:8000 to the test server, which answers after 0.5 s: a 500, then a 200."""
    server.set("healthy", delay_s=0.5)
    server.follow(["failing", "healthy"])
    dead = f"http://127.0.0.1:{free_port()}"
    exported = {**{n: "1" for n in names["port"]}, **{n: dead for n in names["url"]},
                **{n: "1" for n in names["retries"]}, **{n: "0.01" for n in names["interval"]},
                **{n: "0.2" for n in names["timeout"]}}
    done = run_bash(learner_file("deploy.sh"), ["v1"], env=loopback_curl.env({**fake_docker.env, **exported}),
                    cwd=tmp_path, timeout=30)
    calls = fake_docker.calls
    run = first_index(calls, "run", "ml-model:v1")
    assert run is not None and option_values(calls[run], "--publish", "-p") == ["127.0.0.1:8000:8000"], (
        f"exported {exported} change nothing: without --port the container is published on 127.0.0.1:8000: "
        f"{calls}\n{done.output}")
    if not loopback_curl.calls:
        return  # the health check does not use curl: nothing to redirect to the test server
    assert done.returncode == 0 and len(server.requests) == 2, (
        f"exported {exported} change nothing: the health check goes to http://127.0.0.1:8000/health, up to 10 "
        f"times, and without --timeout a request may take 5 s, so the 200 after 0.5 s at the 2nd check promotes v1 "
        f"(exit 0); made {len(server.requests)} checks, curl was asked for {loopback_curl.calls}\n{done.output}")
    assert all(gap >= 0.9 for gap in health_gaps(server)), (
        f"exported {exported} change nothing: without --interval the checks are 1 s apart, the gaps were "
        f"{health_gaps(server)}\n{done.output}")


@pytest.mark.task(taskno=3)
def test_the_port_defaults_to_8000(learner_file, run_bash, fake_docker, server, loopback_curl, tmp_path):
    """No --port: a `curl` first on PATH sends the health check meant for 127.0.0.1:8000 to the test server."""
    args = ["--retries", "2", "--interval", "0.1", "--timeout", "2", "v1"]
    done = run_bash(learner_file("deploy.sh"), args, env=loopback_curl.env(fake_docker.env), cwd=tmp_path, timeout=20)
    calls = fake_docker.calls
    run = first_index(calls, "run", "ml-model:v1")
    assert run is not None and option_values(calls[run], "--publish", "-p") == ["127.0.0.1:8000:8000"], (
        f"--port defaults to 8000: the container should be published on 127.0.0.1:8000: {calls}\n{done.output}")
    if not loopback_curl.calls:
        return  # the health check does not use curl: nothing to redirect to the test server
    assert server.requests and done.returncode == 0, (
        f"--port defaults to 8000: the health check should GET http://127.0.0.1:8000/health (here a healthy "
        f"server, so the deploy exits 0); curl was asked for {loopback_curl.calls}\n{done.output}")


@pytest.mark.task(taskno=3)
def test_the_name_defaults_to_ml_model_whatever_the_image(learner_file, run_bash, fake_docker, server, tmp_path):
    """--image is given, --name is not: the containers are still named ml-model-VERSION."""
    port = int(server.url.rsplit(":", 1)[1])
    fake_docker.add_running("ml-model-v1", "team/ml:v1", port)
    state_file = tmp_path / "deployed-version"
    state_file.write_text("v1\n")
    args = ["--image", "team/ml", "--port", str(port), "--context", str(tmp_path), "--state-file", str(state_file),
            "--retries", "2", "--interval", "0.1", "--timeout", "2", "v2"]
    done = run_bash(learner_file("deploy.sh"), args, env=fake_docker.env, cwd=tmp_path, timeout=20)
    calls = fake_docker.calls
    run = first_index(calls, "run", "team/ml:v2")
    assert run is not None and option_values(calls[run], "--name") == ["ml-model-v2"], (
        f"--name defaults to ml-model, whatever --image says: the new container is ml-model-v2: {calls}")
    assert first_index(calls, "stop", "ml-model-v1") is not None, (
        f"the previous container is ml-model-v1 (the default name), it should be stopped: {calls}")
    assert done.returncode == 0, f"a healthy v2 should be promoted (exit 0)\n{done.output}"
    assert_only_serving(fake_docker, SimpleNamespace(port=port), "ml-model-v2", "team/ml:v2", done.output)


@pytest.mark.task(taskno=3)
def test_the_default_state_file_is_in_the_working_directory_whatever_the_context(
        learner_file, run_bash, fake_docker, server, tmp_path):
    """--context points elsewhere, --state-file is not given: .deployed-version is the working directory's."""
    port = int(server.url.rsplit(":", 1)[1])
    context, work = tmp_path / "app", tmp_path / "work"
    context.mkdir()
    work.mkdir()
    fake_docker.add_running(f"{NAME}-v1", f"{IMAGE}:v1", port)
    (work / ".deployed-version").write_text("v1\n")
    args = ["--image", IMAGE, "--name", NAME, "--port", str(port), "--context", str(context), "--retries", "2",
            "--interval", "0.1", "--timeout", "2", "v2"]
    done = run_bash(learner_file("deploy.sh"), args, env=fake_docker.env, cwd=work, timeout=20)
    assert first_index(fake_docker.calls, "stop", f"{NAME}-v1") is not None, (
        f"the default state file is .deployed-version in the working directory (it says v1), not in --context: "
        f"{NAME}-v1 should be stopped: {fake_docker.calls}\n{done.output}")
    assert done.returncode == 0, f"a healthy v2 should be promoted (exit 0)\n{done.output}"
    assert (work / ".deployed-version").read_text().strip() == "v2", (
        "the .deployed-version in the working directory should now say v2")
    assert not (context / ".deployed-version").exists(), "no state file should be written into the build context"


# Names a script is tempted to give the version now serving; a caller may have exported any of them.
PREVIOUS_VARIABLES = {"PREVIOUS": "v0", "PREV": "v0", "PREVIOUS_VERSION": "v0", "CURRENT": "v0", "SERVING": "v0"}


@pytest.mark.task(taskno=3)
@pytest.mark.parametrize("content", ["", "\n", None], ids=["empty", "blank-line", "absent"])
def test_an_empty_state_file_means_nothing_is_serving(deploy, fake_docker, content):
    """PREVIOUS=v0 and the like are exported: only the state file names the version now serving."""
    if content is not None:
        deploy.state_file.write_text(content)
    done = deploy("v1", env=PREVIOUS_VARIABLES)
    assert done.returncode == 0, (
        f"an empty or absent state file means nothing serves yet, whatever PREVIOUS=v0 says: a first deploy (exit 0)"
        f"\n{done.output}")
    assert not [argv for argv in fake_docker.calls if argv[:1] in (["stop"], ["start"])], (
        f"with nothing serving there is nothing to stop or start: {fake_docker.calls}")
    strays = [argv for argv in fake_docker.calls if {f"{NAME}-", f"{NAME}-v0"} & set(argv)]
    assert not strays, (
        f"with nothing serving there is no previous container to remove either (no docker rm -f {NAME}- with an "
        f"empty version, nor one named by an exported PREVIOUS=v0): {strays}\n{done.output}")
    assert state(deploy) == "v1", f"the state file should record v1, holds {state(deploy)!r}"


@pytest.mark.task(taskno=3)
def test_a_state_file_without_a_final_newline_is_read(deploy, fake_docker, v1_serving):
    deploy.state_file.write_text("v1")
    done = deploy("v2")
    assert done.returncode == 0, (
        f"a state file holding v1 without a newline (as `printf %s v1` writes it) still names v1\n{done.output}")
    assert first_index(fake_docker.calls, "stop", f"{NAME}-v1") is not None, f"v1 should be stopped: {fake_docker.calls}"
    assert_only_serving(fake_docker, deploy, f"{NAME}-v2", f"{IMAGE}:v2", done.output)


@pytest.mark.task(taskno=3)
def test_a_slow_answer_within_the_timeout_passes(deploy, fake_docker, server):
    server.set("healthy", delay_s=0.6)
    done = deploy("v1", retries=2, interval=0.1, timeout_s=3)
    assert done.returncode == 0, (
        f"a 200 that takes 0.6 s is within --timeout 3: the health check should pass (the request limit is "
        f"--timeout, not --interval)\n{done.output}")
    assert state(deploy) == "v1", f"the state file should record v1, holds {state(deploy)!r}"


@pytest.mark.task(taskno=3)
def test_log_lines_are_timestamped_in_utc(deploy, timestamp, utc_stamped):
    started = time.time()
    done = deploy("v1", env=utc_stamped.env)
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert lines, f"deploy.sh should log its steps on stdout\n{done.output}"
    assert all(timestamp.match(line) for line in lines), f"every stdout line should start with a timestamp\n{done.output}"
    wrong = utc_stamped(done.stdout, started, time.time())
    assert not wrong, (
        f"timestamps should be UTC whatever TZ says (this run had TZ={utc_stamped.env['TZ']}, 14 h east): {wrong}")


@pytest.mark.task(taskno=3)
def test_timestamps_use_the_24_hour_clock(deploy, fake_docker, evening_date):
    """A `date` first on PATH answers as if it were 22:30 UTC; a stamp taken some other way shows the real time."""
    started = time.time()
    done = deploy("v1", env=evening_date.env(fake_docker.env))
    finished = time.time()
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert done.returncode == 0 and lines, f"a healthy first deploy exits 0 and logs its steps on stdout\n{done.output}"
    wrong = evening_date.off_the_clock(done.stdout, started, finished)
    assert not wrong, (
        f"timestamps use the 24-hour clock (date -u +%H, not %I): a `date` first on PATH said it was 22:30 UTC, "
        f"so a stamp should read 22:30, not 10:30: {wrong}\n{done.output}")


@pytest.mark.task(taskno=3)
def test_the_default_timeout_is_5_seconds(learner_file, run_bash, fake_docker, server, tmp_path):
    args = ["--image", IMAGE, "--name", NAME, "--port", server.url.rsplit(":", 1)[1], "--context", str(tmp_path),
            "--state-file", str(tmp_path / "deployed-version"), "--retries", "1"]
    server.set("healthy", delay_s=2.5)
    done = run_bash(learner_file("deploy.sh"), [*args, "v1"], env=fake_docker.env, cwd=tmp_path, timeout=20)
    assert done.returncode == 0, (
        f"without --timeout a health request may take up to 5 s: a 200 after 2.5 s passes (exit 0)\n{done.output}")
    server.set("slow", delay_s=60)
    done = run_bash(learner_file("deploy.sh"), [*args, "v2"], env=fake_docker.env, cwd=tmp_path, timeout=20,
                    hint="--timeout defaults to 5 s: a health request that never answers should end after 5 s")
    assert done.returncode == 1, (
        f"without --timeout a server that never answers fails its health check after 5 s (exit 1)\n{done.output}")
    assert done.seconds < 8.5, (
        f"without --timeout a health request that never answers should end after 5 s, not 10; the deploy took "
        f"{done.seconds:.1f} s\n{done.output}")


@pytest.mark.task(taskno=3)
def test_the_default_interval_is_1_second(learner_file, run_bash, fake_docker, server, tmp_path, recording_sleep):
    """A `sleep` first on PATH records how long the deploy asks to wait, then waits that long."""
    server.set("failing")
    sleep = recording_sleep()
    env = {**fake_docker.env, "PATH": sleep.path(fake_docker.env["PATH"])}
    args = ["--image", IMAGE, "--name", NAME, "--port", server.url.rsplit(":", 1)[1], "--context", str(tmp_path),
            "--state-file", str(tmp_path / "deployed-version"), "--retries", "2", "v1"]
    done = run_bash(learner_file("deploy.sh"), args, env=env, cwd=tmp_path, timeout=20)
    assert done.returncode == 1, f"a version failing both checks should fail the deploy (exit 1)\n{done.output}"
    assert len(server.requests) == 2, f"--retries 2 means 2 health checks, made {len(server.requests)}"
    assert all(0.9 <= gap < 4 for gap in health_gaps(server)), (
        f"without --interval the health checks should be 1 s apart (not the 5 s of --timeout), the gaps were "
        f"{health_gaps(server)}")
    sleeps = sleep.requests()
    if sleeps:
        total = sum(float(word.rstrip("s")) for word in sleeps)
        assert total == 1, (
            f"without --interval the one pause between the two health checks should be 1 s, it asked sleep for "
            f"{' + '.join(sleeps)} s\n{done.output}")


# --- Task 4: rollback ----------------------------------------------------------------------


@pytest.mark.task(taskno=4)
@pytest.mark.parametrize("failure", ["unhealthy", "does not start"])
def test_rollback_log_lines_are_timestamped_in_utc(deploy, fake_docker, server, v1_serving, timestamp, utc_stamped,
                                                   failure):
    if failure == "unhealthy":
        server.set("failing")
    else:
        fake_docker.fail("run")
    started = time.time()
    done = deploy("v2", env=utc_stamped.env)
    assert done.returncode == 1, f"a version that {failure.replace('unhealthy', 'is not healthy')} fails the deploy\n{done.output}"
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    untimed = [line for line in lines if not timestamp.match(line)]
    assert not untimed, (
        f"every stdout line, the rollback's too, should start with a timestamp (docker's own output belongs on "
        f"stderr): {untimed}")
    wrong = utc_stamped(done.stdout, started, time.time())
    assert not wrong, (
        f"the rollback's timestamps should be UTC whatever TZ says (this run had TZ={utc_stamped.env['TZ']}): {wrong}")


@pytest.mark.task(taskno=4)
@pytest.mark.parametrize("status", [500, 301, 204])
def test_an_unhealthy_version_is_rolled_back(deploy, fake_docker, server, v1_serving, status):
    server.set("failing", status=status)
    done = deploy("v2", interval=0.4)
    assert done.returncode == 1, f"a version that never becomes healthy should fail the deploy (exit 1)\n{done.output}"
    assert f"{NAME}-v2" not in fake_docker.containers, f"the broken container should be stopped and removed\n{done.output}"
    assert fake_docker.containers.get(f"{NAME}-v1", {}).get("id") == v1_serving, "the v1 container should be kept"
    assert_only_serving(fake_docker, deploy, f"{NAME}-v1", f"{IMAGE}:v1", done.output)
    assert deploy.state_file.read_bytes() == b"v1\n", (
        f"the state file should be left as it was (b'v1\\n'), not rewritten: holds {deploy.state_file.read_bytes()!r}")
    assert rollback_logged(done.stdout), (
        f"the rollback should be logged on stdout in a line containing 'rollback' or 'rolling back'\n{done.output}")
    assert len(server.requests) == 3, f"--retries 3 means 3 health checks before giving up, made {len(server.requests)}"
    assert all(gap >= 0.3 for gap in health_gaps(server)), (
        f"health checks should be --interval 0.4 s apart, the gaps were {health_gaps(server)}")


@pytest.mark.task(taskno=3)
def test_a_promotion_over_a_previous_version_logs_only_timestamped_lines(deploy, fake_docker, v1_serving, timestamp,
                                                                          utc_stamped):
    started = time.time()
    done = deploy("v2", env=utc_stamped.env)
    assert done.returncode == 0, f"a healthy v2 should be promoted (exit 0)\n{done.output}"
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    untimed = [line for line in lines if not timestamp.match(line)]
    assert not untimed, (
        f"every stdout line of a promotion over v1 should start with a timestamp; docker's own output (docker stop "
        f"and docker rm -f print the container's name) belongs on stderr, for the clean-up of v1 too: {untimed}")
    wrong = utc_stamped(done.stdout, started, time.time())
    assert not wrong, (
        f"timestamps should be UTC whatever TZ says (this run had TZ={utc_stamped.env['TZ']}, 14 h east): {wrong}")


@pytest.mark.task(taskno=3)
def test_a_version_healthy_at_a_later_check_is_promoted_at_once(deploy, fake_docker, server, v1_serving, timestamp):
    server.follow(["failing", "healthy", "failing"])
    done = deploy("v2", retries=3, interval=1.5)
    assert done.returncode == 0, (
        f"up to --retries checks: the first 200 (here the 2nd check) should promote v2 (exit 0)\n{done.output}")
    assert len(server.requests) == 2, (
        f"the health check should stop at the first 200, made {len(server.requests)} checks")
    assert all(gap >= 1.4 for gap in health_gaps(server)), (
        f"--interval 1.5 should put 1.5 s between health checks (not the 1 s default), the gaps were {health_gaps(server)}")
    assert_only_serving(fake_docker, deploy, f"{NAME}-v2", f"{IMAGE}:v2", done.output)
    assert state(deploy) == "v2", f"the state file should now say v2, holds {state(deploy)!r}"
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    first, last = (timestamp.match(line) for line in (lines[0], lines[-1])) if lines else (None, None)
    assert first and last and first.group(0) != last.group(0), (
        f"the last line comes after a 1.5 s pause between the checks: each line's timestamp should be the moment "
        f"it is written, not one taken at start-up\n{done.output}")


@pytest.mark.task(taskno=3)
def test_a_failed_removal_of_the_previous_container_still_records_the_new_version(deploy, fake_docker, v1_serving):
    fake_docker.fail("rm")
    done = deploy("v2")
    assert_only_serving(fake_docker, deploy, f"{NAME}-v2", f"{IMAGE}:v2",
                        f"docker rm of the stopped v1 failed after v2 passed its health check\n{done.output}")
    assert state(deploy) == "v2", (
        f"v2 serves, only removing the stopped v1 failed: the state file holds the version now serving, so it "
        f"should say v2, holds {state(deploy)!r} (log the failed rm and carry on)\n{done.output}")
    assert done.returncode == 0, (
        f"v2 was promoted: a failed clean-up of v1 is logged, the deploy still exits 0\n{done.output}")


@pytest.mark.task(taskno=3)
def test_a_failed_removal_of_the_previous_container_is_logged(deploy, fake_docker, v1_serving, utc_stamped):
    """The same promotion of v2 over v1 twice, the second time with a failing docker rm."""
    clean = deploy("v2")
    fake_docker.reset()
    fake_docker.add_running(f"{NAME}-v1", f"{IMAGE}:v1", deploy.port)
    deploy.state_file.write_text("v1\n")
    fake_docker.fail("rm")
    started = time.time()
    failing = deploy("v2", env=utc_stamped.env)
    assert clean.returncode == 0 and failing.returncode == 0, (
        f"a healthy v2 is promoted (exit 0), also when removing v1 fails\n{clean.output}\n{failing.output}")
    assert_failure_logged(clean, failing, utc_stamped, started, run="promotion", failure="docker rm -f of v1",
                          how="`|| log WARN ...`, not `|| true`")


@pytest.mark.task(taskno=4)
def test_a_failed_build_stops_the_deploy_before_anything_changes(deploy, fake_docker, v1_serving):
    fake_docker.fail("build", code=125)
    done = deploy("v2")
    assert done.returncode == 1, (
        f"a failed build should fail the deploy with exit 1, whatever docker's own status (125 here): 2 would "
        f"claim a usage error, other codes mean nothing to the caller\n{done.output}")
    calls = fake_docker.calls
    assert first_index(calls, "run") is None, f"nothing should run after a failed build: {calls}"
    after = [argv for argv in calls if argv[:1] != ["build"]]
    assert not after, (
        f"a failed build exits at once: no other docker command (no rollback either, nothing was changed), ran {after}")
    assert fake_docker.containers[f"{NAME}-v1"]["stops"] == 0, "the serving v1 should not even be stopped"
    assert_only_serving(fake_docker, deploy, f"{NAME}-v1", f"{IMAGE}:v1", done.output)
    assert deploy.state_file.read_bytes() == b"v1\n", (
        f"the state file should be left as it was (b'v1\\n'), not rewritten: holds {deploy.state_file.read_bytes()!r}")


@pytest.mark.task(taskno=4)
def test_a_failed_build_is_logged(deploy, fake_docker, server, utc_stamped):
    """The same first deploy of v1 twice, from an empty engine, the second time with a failing docker build."""
    clean = deploy("v1")
    fake_docker.reset()
    deploy.state_file.unlink(missing_ok=True)
    fake_docker.fail("build", code=125)
    started = time.time()
    failing = deploy("v1", env=utc_stamped.env)
    assert clean.returncode == 0 and failing.returncode == 1, (
        f"a healthy first deploy exits 0, the same deploy with a failing build exits 1\n{clean.output}\n{failing.output}")
    assert_failure_logged(clean, failing, utc_stamped, started, run="first deploy", failure="docker build",
                          how="`|| { log ERROR ...; exit 1; }`, not a bare `exit 1` nor a line on stderr only")


@pytest.mark.task(taskno=4)
def test_a_container_that_does_not_start_is_rolled_back(deploy, fake_docker, v1_serving):
    fake_docker.fail("run", code=125)
    done = deploy("v2")
    assert done.returncode == 1, (
        f"a container that does not start should fail the deploy with exit 1, whatever docker run's own status "
        f"(125 here, as the real CLI gives): the caller only knows 0, 1 and 2\n{done.output}")
    assert f"{NAME}-v2" not in fake_docker.containers, (
        "a failed `docker run` leaves a created container behind (as the real engine does); "
        f"the rollback should remove it with docker rm -f, left {list(fake_docker.containers)}")
    assert_only_serving(fake_docker, deploy, f"{NAME}-v1", f"{IMAGE}:v1", done.output)
    assert deploy.state_file.read_bytes() == b"v1\n", (
        f"the state file should be left as it was (b'v1\\n'), not rewritten: holds {deploy.state_file.read_bytes()!r}")
    assert rollback_logged(done.stdout), (
        f"this rollback should be logged too, in a line containing 'rollback' or 'rolling back'\n{done.output}")
    calls = fake_docker.calls
    remove, start = first_index(calls, "rm", f"{NAME}-v2"), first_index(calls, "start", f"{NAME}-v1")
    assert None not in (remove, start) and remove < start, (
        f"the rollback removes the new container first (docker rm -f {NAME}-v2), *then* starts {NAME}-v1 again, "
        f"when docker run failed too: {calls}")


@pytest.mark.task(taskno=4)
def test_a_failing_rollback_step_does_not_stop_the_rollback(deploy, fake_docker, v1_serving):
    fake_docker.fail("run")
    fake_docker.fail("rm", code=125)
    done = deploy("v2")
    assert done.returncode == 1, (
        f"a container that does not start should fail the deploy with exit 1, also when the rollback's docker rm "
        f"fails with its own status (125 here)\n{done.output}")
    assert_only_serving(fake_docker, deploy, f"{NAME}-v1", f"{IMAGE}:v1",
                        f"docker rm failed during the rollback; it should be logged and v1 started all the same\n"
                        f"{done.output}")
    assert deploy.state_file.read_bytes() == b"v1\n", (
        f"the state file should be left as it was (b'v1\\n'), not rewritten: holds {deploy.state_file.read_bytes()!r}")


@pytest.mark.task(taskno=4)
def test_a_failing_stop_of_the_previous_container_exits_1_not_dockers_status(deploy, fake_docker, v1_serving):
    fake_docker.fail("stop", code=125)
    done = deploy("v2")
    assert done.returncode == 1, (
        f"docker stop of v1 failed with status 125: the deploy failed, so exit 1, whatever docker's own status (the "
        f"caller only knows 0, 1 and 2): follow the docker call with `|| log ...`, do not let `set -e` exit with it"
        f"\n{done.output}")
    assert f"{NAME}-v2" not in fake_docker.containers, f"no v2 container should be left\n{done.output}"
    assert_only_serving(fake_docker, deploy, f"{NAME}-v1", f"{IMAGE}:v1", done.output)
    assert deploy.state_file.read_bytes() == b"v1\n", (
        f"the state file should be left as it was (b'v1\\n'), not rewritten: holds {deploy.state_file.read_bytes()!r}")


@pytest.mark.task(taskno=4)
def test_a_failing_stop_of_the_previous_container_is_logged(deploy, fake_docker, v1_serving, utc_stamped):
    """The same failed deploy of v2 twice (docker run fails), the second time with a failing docker stop too."""
    fake_docker.fail("run")
    clean = deploy("v2")
    fake_docker.fail("stop")
    started = time.time()
    failing = deploy("v2", env=utc_stamped.env)
    assert clean.returncode == 1 and failing.returncode == 1, (
        f"a container that does not start should fail the deploy (exit 1)\n{clean.output}\n{failing.output}")
    assert_failure_logged(clean, failing, utc_stamped, started, run="failed deploy", failure="docker stop of v1",
                          how="`|| log WARN ...`, not `|| true`")


@pytest.mark.task(taskno=4)
def test_a_failing_rollback_step_is_logged(deploy, fake_docker, v1_serving, utc_stamped):
    fake_docker.fail("run")
    clean = deploy("v2")
    fake_docker.fail("rm")
    started = time.time()
    failing = deploy("v2", env=utc_stamped.env)
    assert clean.returncode == 1 and failing.returncode == 1, (
        f"a container that does not start should fail the deploy (exit 1)\n{clean.output}\n{failing.output}")
    assert_only_serving(fake_docker, deploy, f"{NAME}-v1", f"{IMAGE}:v1", failing.output)
    assert_failure_logged(clean, failing, utc_stamped, started, run="rollback", failure="docker rm -f of the rollback",
                          how="`|| log ERROR ...`, not `|| true`")


@pytest.mark.task(taskno=4)
def test_a_failing_restart_of_the_previous_container_is_logged(deploy, fake_docker, server, v1_serving, utc_stamped):
    server.set("failing")
    clean = deploy("v2")
    fake_docker.fail("start", code=125)
    started = time.time()
    failing = deploy("v2", env=utc_stamped.env)
    assert clean.returncode == 1 and failing.returncode == 1, (
        f"a v2 that never becomes healthy should fail the deploy with exit 1, also when v1 cannot be started again "
        f"(here docker start fails with status 125, as the real CLI may: exit 1 whatever docker's own status, the "
        f"caller only knows 0, 1 and 2)\n{clean.output}\n{failing.output}")
    assert f"{NAME}-v2" not in fake_docker.containers, f"the unhealthy v2 should be removed\n{failing.output}"
    assert_failure_logged(clean, failing, utc_stamped, started, run="rollback", failure="docker start of v1",
                          how="nothing serves now, the on-call engineer must know")


@pytest.mark.task(taskno=4)
def test_a_hanging_health_check_is_bounded_by_the_timeout(deploy, fake_docker, server, v1_serving):
    server.set("slow", delay_s=60)
    done = deploy("v2", retries=2, timeout_s=0.3, timeout=20)
    assert done.returncode == 1, f"a server that never answers should fail the deploy (exit 1)\n{done.output}"
    assert len(server.requests) == 2, f"--retries 2 means 2 health checks, made {len(server.requests)}"
    assert all(gap < 3 for gap in health_gaps(server)), (
        f"each health request should give up after --timeout 0.3 s, not the 5 s default; gaps {health_gaps(server)}")
    assert f"{NAME}-v2" not in fake_docker.containers, "the hanging v2 container should be removed"
    assert_only_serving(fake_docker, deploy, f"{NAME}-v1", f"{IMAGE}:v1", done.output)


@pytest.mark.task(taskno=4)
def test_deploying_the_version_already_serving_is_refused(deploy, fake_docker, v1_serving, timestamp):
    done = deploy("v1")
    assert done.returncode == 1, f"v1 is already serving: deploying v1 again is refused (exit 1)\n{done.output}"
    v1 = fake_docker.containers.get(f"{NAME}-v1", {})
    assert v1.get("id") == v1_serving and v1.get("running"), (
        f"the serving v1 container should be left running, not removed or recreated: the new container would take "
        f"its very name, so a rollback would remove the one that serves\n{fake_docker.calls}\n{done.output}")
    assert v1.get("stops") == 0, f"the serving v1 should not even be stopped: {fake_docker.calls}\n{done.output}"
    assert fake_docker.calls == [], (
        f"the refusal comes before any docker command, not even a build: docker build -t {IMAGE}:v1 would re-tag "
        f"the image the serving v1 was made from; ran {fake_docker.calls}\n{done.output}")
    assert deploy.state_file.read_bytes() == b"v1\n", (
        f"the state file should be left as it was (b'v1\\n'), not rewritten: holds {deploy.state_file.read_bytes()!r}")
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert lines, (
        f"the refusal should be logged on stdout (a timestamped line saying why the deploy stops), not end the deploy "
        f"with a bare exit 1 that the CI job cannot explain\n{done.output}")
    untimed = [line for line in lines if not timestamp.match(line)]
    assert not untimed, (
        f"the refusal is a log line like every other: it should start with a timestamp (use the same logger, not a "
        f"bare echo): {untimed}")


@pytest.mark.task(taskno=4)
@pytest.mark.parametrize("serving,version", [("v10", "v1"), ("v1", "V1"), ("v1x2", "v1.2"), ("v1-rc", "v1")],
                         ids=["v10-serving,v1", "v1-serving,V1", "v1x2-serving,v1.2", "v1-rc-serving,v1"])
def test_only_the_very_tag_already_serving_is_refused(deploy, fake_docker, server, serving, version):
    fake_docker.add_running(f"{NAME}-{serving}", f"{IMAGE}:{serving}", deploy.port)
    deploy.state_file.write_text(f"{serving}\n")
    done = deploy(version)
    assert done.returncode == 0, (
        f"{serving} serves and {version} is another tag (tags are compared exactly: case counts, `.` is no wildcard, "
        f"and v1 is not part of v10): the deploy goes ahead and promotes a healthy {version} (exit 0), not a refusal"
        f"\n{fake_docker.calls}\n{done.output}")
    assert first_index(fake_docker.calls, "build", f"{IMAGE}:{version}") is not None, (
        f"it should build {IMAGE}:{version}: {fake_docker.calls}")
    assert state(deploy) == version, f"the state file should now say {version}, holds {state(deploy)!r}"


@pytest.mark.task(taskno=4)
def test_the_state_file_names_the_previous_version_until_the_new_one_is_healthy(deploy, fake_docker, server,
                                                                                v1_serving):
    """The state file is read every few milliseconds while the deploy runs its health checks."""
    server.set("failing")
    seen, watching = set(), threading.Event()

    def watch():
        while not watching.is_set():
            try:
                seen.add(deploy.state_file.read_text().strip())
            except OSError:
                pass
            time.sleep(0.005)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        done = deploy("v2", retries=3, interval=0.3)
    finally:
        watching.set()
        watcher.join(timeout=5)
    assert done.returncode == 1, f"a v2 that never becomes healthy should be rolled back (exit 1)\n{done.output}"
    assert "v2" not in seen, (
        f"the state file holds the version now serving: it should name v2 only once v2 has passed its health check "
        f"(write it last), not from docker run on and then put v1 back on rollback; while v2 was being checked it "
        f"read {sorted(seen)}\n{done.output}")
    assert deploy.state_file.read_bytes() == b"v1\n", (
        f"the state file should be left as it was (b'v1\\n'), not rewritten: holds {deploy.state_file.read_bytes()!r}")


@pytest.mark.task(taskno=4)
def test_a_failed_first_deploy_leaves_nothing_behind(deploy, fake_docker, server):
    server.set("failing")
    done = deploy("v1")
    assert done.returncode == 1, f"an unhealthy first version should fail the deploy (exit 1)\n{done.output}"
    assert fake_docker.containers == {}, f"no container should be left, found {list(fake_docker.containers)}"
    assert not deploy.state_file.exists(), (
        f"nothing was promoted, so no state file should be left behind (not even an empty one); it holds "
        f"{deploy.state_file.read_bytes()!r}")
    starts = [argv for argv in fake_docker.calls if argv[:1] == ["start"]]
    assert not starts, f"on a first deploy there is no previous container to start again, ran {starts}"


@pytest.mark.task(taskno=4)
def test_a_first_deploy_whose_container_does_not_start_leaves_nothing_behind(deploy, fake_docker):
    fake_docker.fail("run")
    done = deploy("v1")
    assert done.returncode == 1, f"a container that does not start should fail the deploy (exit 1)\n{done.output}"
    assert fake_docker.containers == {}, (
        f"a failed `docker run` leaves a created container behind (as the real engine does); on a first deploy too "
        f"it should be removed with docker rm -f, found {list(fake_docker.containers)}\n{done.output}")
    assert not deploy.state_file.exists(), (
        f"nothing was promoted, so no state file should be left behind (not even an empty one); it holds "
        f"{deploy.state_file.read_bytes()!r}")
    starts = [argv for argv in fake_docker.calls if argv[:1] == ["start"]]
    assert not starts, f"on a first deploy there is no previous container to start again, ran {starts}"


@pytest.mark.task(taskno=3)
def test_a_fractional_interval_is_slept_as_given(learner_file, run_bash, fake_docker, server, tmp_path,
                                                 recording_sleep):
    """A `sleep` first on PATH records how long the deploy asks to wait, then waits that long."""
    server.set("failing")
    sleep = recording_sleep()
    env = {**fake_docker.env, "PATH": sleep.path(fake_docker.env["PATH"])}
    args = ["--image", IMAGE, "--name", NAME, "--port", server.url.rsplit(":", 1)[1], "--context", str(tmp_path),
            "--state-file", str(tmp_path / "deployed-version"), "--retries", "3", "--interval", "0.3",
            "--timeout", "2", "v1"]
    done = run_bash(learner_file("deploy.sh"), args, env=env, cwd=tmp_path, timeout=20)
    assert done.returncode == 1, f"a version failing every check should fail the deploy (exit 1)\n{done.output}"
    assert len(server.requests) == 3, f"--retries 3 means 3 health checks, made {len(server.requests)}"
    sleeps = sleep.requests()
    if not sleeps:
        return  # it waits some other way than `sleep`: the gaps are checked by the other tests
    total = sum(float(word.rstrip("s")) for word in sleeps)
    assert abs(total - 0.6) < 1e-6, (
        f"--interval 0.3 means two pauses of 0.3 s between the three checks (fractions count, as in monitor.sh; "
        f"do not round them to whole seconds), it asked sleep for {' + '.join(sleeps)} s\n{done.output}")


# --- Sharper edges: what curl, bash arithmetic and the state file do by default ------------


@pytest.mark.task(taskno=3)
def test_a_redirect_to_a_page_answering_200_does_not_pass_the_health_check(
        learner_file, run_bash, fake_docker, redirecting_server, tmp_path):
    state_file = tmp_path / "deployed-version"
    args = ["--image", IMAGE, "--name", NAME, "--port", redirecting_server.url.rsplit(":", 1)[1], "--context", str(tmp_path),
            "--state-file", str(state_file), "--retries", "2", "--interval", "0.1", "--timeout", "2", "v1"]
    done = run_bash(learner_file("deploy.sh"), args, env=fake_docker.env, cwd=tmp_path, timeout=20)
    assert done.returncode == 1, (
        "only a 200 from /health itself passes: a 302 to a login page answering 200 is a failed check, so do not "
        f"follow redirects (no curl --location)\n{done.output}")
    assert fake_docker.containers == {}, f"the unhealthy v1 should be removed, found {list(fake_docker.containers)}"
    assert not state_file.exists() or not state_file.read_text().strip(), "nothing was promoted: no version recorded"


@pytest.mark.task(taskno=4)
def test_the_timeout_is_not_rounded_to_whole_seconds(deploy, fake_docker, server, v1_serving):
    server.set("healthy", delay_s=1.55)
    done = deploy("v2", retries=1, timeout_s=1.1)
    assert done.returncode == 1, (
        "a 200 that comes 1.55 s after the request is past --timeout 1.1: a failed check; pass the fraction to "
        f"curl --max-time as it is, do not round it up to whole seconds\n{done.output}")
    assert_only_serving(fake_docker, deploy, f"{NAME}-v1", f"{IMAGE}:v1", done.output)


@pytest.mark.task(taskno=3)
def test_retries_with_a_leading_zero_is_decimal(deploy, fake_docker, server):
    server.set("failing")
    done = deploy("v1", retries="010", interval=0.05)
    if done.returncode == 2:
        assert fake_docker.calls == [], f"a usage error should come before any docker command: {fake_docker.calls}"
        return
    assert done.returncode == 1, f"a version failing every check should fail the deploy (exit 1)\n{done.output}"
    assert len(server.requests) == 10, (
        f"--retries 010 is ten checks (or a usage error), not octal 8: made {len(server.requests)}; bash reads a "
        f"leading 0 as octal in $((...)) and ((...)), so write 10#$n\n{done.output}")


@pytest.mark.task(taskno=3)
@pytest.mark.parametrize("retries", ["18446744073709551617", "9999999999999999999", "999999999999999999"],
                         ids=["20-digits", "19-digits", "18-digits"])
def test_retries_too_big_for_shell_arithmetic_do_not_wrap_around(learner_file, run_until, fake_docker, server,
                                                                   tmp_path, retries):
    """18446744073709551617 is 2**64 + 1: bash arithmetic on it silently wraps to 1. 9999999999999999999 has only 19
    digits but is past 2**63 - 1 too: it wraps to a negative count, so no health check at all. 999999999999999999
    (18 digits) still fits: that many checks, begun at once (a `for i in $(seq 1 "$RETRIES")` never begins)."""
    server.set("failing")
    args = ["--image", IMAGE, "--name", NAME, "--port", server.url.rsplit(":", 1)[1], "--context", str(tmp_path),
            "--state-file", str(tmp_path / "deployed-version"), "--retries", retries,
            "--interval", "0.05", "--timeout", "2", "v1"]
    run = run_until(["bash", str(learner_file("deploy.sh")), *args], lambda: len(server.requests) > 1, seconds=8,
                    env={**os.environ, **fake_docker.env}, cwd=tmp_path)
    if run.returncode == 2:
        assert fake_docker.calls == [], f"a usage error should come before any docker command: {fake_docker.calls}"
        return
    size = ("still fits shell arithmetic (18 digits)" if len(retries) <= 18 else
            "is too big for shell arithmetic (past 2**63 - 1, so 19 digits may already be too many)")
    assert len(server.requests) > 1, (
        f"--retries {retries} {size}: refuse it (usage error, exit 2) or keep checking, but it must not wrap around "
        f"to a few or to a negative count, nor hang before the first check; it made {len(server.requests)} health check(s) and exited with {run.returncode}; check the "
        f"number of digits (at most 18 are always safe) before any $((10#$n)), and count the checks in arithmetic "
        f"(`for ((i = 1; i <= n; i++))`): `$(seq 1 \"$n\")` first writes out all n numbers, so for a big n the "
        f"checks never begin\n{run.stdout}{run.stderr}")


@pytest.mark.task(taskno=4)
def test_the_rollback_does_not_wait_another_interval_after_the_last_check(
        learner_file, run_bash, fake_docker, server, tmp_path):
    port = int(server.url.rsplit(":", 1)[1])
    fake_docker.add_running(f"{NAME}-v1", f"{IMAGE}:v1", port)
    state_file = tmp_path / "deployed-version"
    state_file.write_text("v1\n")
    server.set("failing")
    args = ["--image", IMAGE, "--name", NAME, "--port", str(port), "--context", str(tmp_path), "--state-file",
            str(state_file), "--retries", "1", "--interval", "60", "--timeout", "2", "v2"]
    done = run_bash(learner_file("deploy.sh"), args, env=fake_docker.env, cwd=tmp_path, timeout=15,
                    hint="--interval is the pause *between* health checks: after the last failed check the rollback "
                         "should start at once, not after another --interval (60 s here) of downtime")
    assert done.returncode == 1, f"a v2 failing its only check should be rolled back (exit 1)\n{done.output}"
    assert_only_serving(fake_docker, SimpleNamespace(port=port), f"{NAME}-v1", f"{IMAGE}:v1", done.output)


@pytest.mark.task(taskno=3)
def test_no_temporary_file_is_left_beside_the_state_file(learner_file, run_bash, fake_docker, server, tmp_path):
    port = server.url.rsplit(":", 1)[1]
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    state_file = state_dir / "deployed-version"
    args = ["--image", IMAGE, "--name", NAME, "--port", port, "--context", str(tmp_path), "--state-file",
            str(state_file), "--retries", "2", "--interval", "0.1", "--timeout", "2"]
    for version in ("v1", "v2"):
        done = run_bash(learner_file("deploy.sh"), [*args, version], env=fake_docker.env, cwd=tmp_path, timeout=20)
        assert done.returncode == 0, f"a healthy {version} should be promoted (exit 0)\n{done.output}"
    assert state_file.read_text().strip() == "v2", f"the state file should say v2, holds {state_file.read_text()!r}"
    left = sorted(path.name for path in state_dir.iterdir())
    assert left == [state_file.name], (
        f"only the state file should be left in its directory (write a temporary file, then mv it over), "
        f"found {left}")


@pytest.mark.task(taskno=3)
def test_the_state_file_is_replaced_by_a_temporary_file_from_its_own_folder(deploy, fake_docker, v1_serving,
                                                                             recording_mv):
    """An `mv` first on PATH records every move before making it."""
    before = deploy.state_file.stat().st_ino
    done = deploy("v2", env={"PATH": recording_mv.path(fake_docker.env["PATH"])})
    assert done.returncode == 0, f"a healthy v2 should be promoted (exit 0)\n{done.output}"
    assert state(deploy) == "v2", f"the state file should say v2, holds {state(deploy)!r}"
    folder = os.path.realpath(deploy.state_file.parent)
    elsewhere = [source for source in recording_mv.moves_onto(deploy.state_file)
                 if os.path.realpath(os.path.dirname(source)) != folder]
    assert not elsewhere, (
        f"the new state file should be made with mktemp in the state file's own folder ({folder}) and moved over it "
        f"from there: a fixed name in /tmp is shared by parallel deploys and open to a planted symlink, and mv across "
        f"filesystems is no atomic rename; it was moved from {elsewhere}\n{done.output}")
    assert deploy.state_file.stat().st_ino != before, (
        f"the state file should be replaced by a rename (a temporary file moved over it), not rewritten in place, "
        f"where a deploy killed half-way leaves it empty or half-written\n{done.output}")


@pytest.mark.task(taskno=3)
def test_a_symlink_planted_at_a_fixed_name_beside_the_state_file_is_not_written_through(deploy, fake_docker,
                                                                                        v1_serving, tmp_path):
    """Symlinks at the fixed names a temporary file might take point at a victim file in another folder."""
    victim = tmp_path / "elsewhere" / "victim"
    victim.parent.mkdir()
    victim.write_text("untouched\n")
    folder = deploy.state_file.parent
    planted = [folder / f"{deploy.state_file.name}{suffix}" for suffix in (".tmp", ".new", "~")]
    planted.append(folder / f".{deploy.state_file.name}.tmp")
    for link in planted:
        link.symlink_to(victim)
    done = deploy("v2")
    assert done.returncode == 0, f"a healthy v2 should be promoted (exit 0)\n{done.output}"
    assert victim.read_text() == "untouched\n", (
        f"symlinks planted beside the state file ({', '.join(link.name for link in planted)}) point at {victim}: "
        f"it should still hold 'untouched', but holds {victim.read_text()!r}; a fixed temporary name is open to a "
        f"planted symlink, make the temporary file with mktemp (a name of its own)\n{done.output}")
    assert not deploy.state_file.is_symlink() and deploy.state_file.is_file(), (
        f"the state file should be a regular file after the deploy, not a symlink moved into its place "
        f"(it points at {os.readlink(deploy.state_file) if deploy.state_file.is_symlink() else 'nothing'})"
        f"\n{done.output}")
    assert deploy.state_file.read_text().strip() == "v2", (
        f"the state file should hold v2, holds {deploy.state_file.read_text()!r}\n{done.output}")


@pytest.mark.task(taskno=4)
def test_a_rollback_leaves_no_temporary_file_beside_the_state_file(learner_file, run_bash, fake_docker, server, tmp_path):
    port = int(server.url.rsplit(":", 1)[1])
    fake_docker.add_running(f"{NAME}-v1", f"{IMAGE}:v1", port)
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    state_file = state_dir / "deployed-version"
    state_file.write_text("v1\n")
    server.set("failing")
    args = ["--image", IMAGE, "--name", NAME, "--port", str(port), "--context", str(tmp_path), "--state-file",
            str(state_file), "--retries", "3", "--interval", "0.3", "--timeout", "2", "v2"]
    seen, watching = set(), threading.Event()

    def watch():
        while not watching.is_set():
            try:
                seen.update(path.name for path in state_dir.iterdir())
            except OSError:
                pass
            time.sleep(0.005)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        done = run_bash(learner_file("deploy.sh"), args, env=fake_docker.env, cwd=tmp_path, timeout=20)
    finally:
        watching.set()
        watcher.join(timeout=5)
    assert done.returncode == 1, f"a v2 that never becomes healthy should be rolled back (exit 1)\n{done.output}"
    assert state_file.read_text().strip() == "v1", f"the state file should still say v1, holds {state_file.read_text()!r}"
    left = sorted(path.name for path in state_dir.iterdir())
    assert left == [state_file.name], (
        f"a rollback leaves the state file as it was and nothing beside it (write the temporary file only once "
        f"the new version is healthy, or remove it), found {left}")
    early = sorted(seen - {state_file.name})
    assert not early, (
        f"v2 never became healthy, so no temporary file should ever sit beside the state file: make it only once the "
        f"new version is healthy, not at start-up with a trap to remove it at exit (a deploy killed half-way would "
        f"leave it); while v2 was being checked the directory held {early}\n{done.output}")


@pytest.mark.task(taskno=4)
def test_a_container_that_never_listens_is_rolled_back(learner_file, run_bash, fake_docker, loopback_curl, tmp_path):
    """A `curl` first on PATH records when each health check was made (nothing listens, so no server sees them)."""
    port = free_port()
    fake_docker.add_running(f"{NAME}-v1", f"{IMAGE}:v1", port)
    state_file = tmp_path / "deployed-version"
    state_file.write_text("v1\n")
    args = ["--image", IMAGE, "--name", NAME, "--port", str(port), "--context", str(tmp_path), "--state-file",
            str(state_file), "--retries", "2", "--interval", "1", "--timeout", "1", "v2"]
    done = run_bash(learner_file("deploy.sh"), args, env=loopback_curl.env(fake_docker.env), cwd=tmp_path, timeout=15,
                    hint="a refused connection is a failed health check like any other: it counts against "
                         "--retries, or a container that never listens hangs the deploy")
    assert done.returncode == 1, f"a v2 that never listens should be rolled back (exit 1)\n{done.output}"
    gaps = loopback_curl.health_gaps
    assert all(gap >= 0.9 for gap in gaps), (
        f"refused checks should be --interval 1 s apart like any others (a container may need a moment before it "
        f"listens), not retried at once; the gaps between the checks were {[round(gap, 2) for gap in gaps]}"
        f"\n{done.output}")
    assert f"{NAME}-v2" not in fake_docker.containers, "the v2 container that never listened should be removed"
    assert_only_serving(fake_docker, SimpleNamespace(port=port), f"{NAME}-v1", f"{IMAGE}:v1", done.output)
    assert state_file.read_text().strip() == "v1", "the state file should still say v1"


@pytest.mark.task(taskno=3)
@pytest.mark.parametrize("args", [[], ["--retries", "2"]], ids=["no-arguments", "options-only"])
def test_an_exported_VERSION_is_no_VERSION_argument(learner_file, run_bash, fake_docker, tmp_path, args):
    """A CI runner often exports VERSION: only the command line names the version to deploy."""
    done = run_bash(learner_file("deploy.sh"), args, env={**fake_docker.env, "VERSION": "v1"}, cwd=tmp_path,
                    timeout=10)
    assert done.returncode == 2, (
        f"without a VERSION argument the deploy is a usage error (exit 2), also when VERSION=v1 is exported: no "
        f"setting but DOCKER comes from the environment\n{done.output}")
    assert "usage" in done.stderr.lower(), f"a usage error should print the usage on stderr\n{done.output}"
    assert fake_docker.calls == [], f"no docker command should run after a usage error, ran {fake_docker.calls}"


@pytest.mark.task(taskno=4)
@pytest.mark.parametrize("failure", ["failed build", "refusal"])
def test_a_deploy_that_changes_nothing_leaves_nothing_beside_the_state_file(
        learner_file, run_bash, fake_docker, server, tmp_path, failure):
    port = int(server.url.rsplit(":", 1)[1])
    fake_docker.add_running(f"{NAME}-v1", f"{IMAGE}:v1", port)
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    state_file = state_dir / "deployed-version"
    state_file.write_text("v1\n")
    if failure == "failed build":
        fake_docker.fail("build")
    version = "v1" if failure == "refusal" else "v2"
    args = ["--image", IMAGE, "--name", NAME, "--port", str(port), "--context", str(tmp_path), "--state-file",
            str(state_file), "--retries", "2", "--interval", "0.1", "--timeout", "2", version]
    done = run_bash(learner_file("deploy.sh"), args, env=fake_docker.env, cwd=tmp_path, timeout=20)
    assert done.returncode == 1, f"a {failure} should fail the deploy (exit 1)\n{done.output}"
    assert state_file.read_text().strip() == "v1", f"the state file should still say v1, holds {state_file.read_text()!r}"
    left = sorted(path.name for path in state_dir.iterdir())
    assert left == [state_file.name], (
        f"a {failure} changes nothing: only the state file should be in its directory, no temporary file beside it "
        f"(write one only once the new version is healthy), found {left}\n{done.output}")
