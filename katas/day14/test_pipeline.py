"""Tasks 3 and 4: pipeline.sh's steps and decisions, with recording fakes of docker, kubectl and kind.

The fakes log every call and answer as the test scripts them; `curl` is real and checks a
real HTTP server on loopback that plays the deployed model server.
"""

import re

import pytest

from mlops_katas.fakes import option_values

IMAGE = "ml"
NAME = "model"
PREVIOUS_ID = "sha256:" + "1" * 64  # what `docker inspect --format {{.Image}}` prints: the image ID container NAME runs
NO_SUCH_OBJECT = f"Error: No such object: {NAME}"  # what `docker inspect` prints on stderr when there is no container NAME
TEST_CMD = "pytest -q tests && echo tested"  # not the default: a pipeline that ignores --test-cmd runs another command


def has(argv, word):
    """`word` is in argv, alone or as the value of `--option=word`; an option `--opt` also as `--opt=value`."""
    return any(arg == word or arg.endswith("=" + word) or (word.startswith("--") and arg.startswith(word + "="))
               for arg in argv)


def index(calls, tool, *words):
    """Position of the first call of `tool` holding all `words`, or None."""
    return next((i for i, (t, argv) in enumerate(calls) if t == tool and all(has(argv, w) for w in words)), None)


def seconds(duration):
    """A kubectl duration ('5s', '5000ms', '1m') in seconds, or None."""
    found = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)", duration or "")
    if not found:
        return None
    return float(found.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[found.group(2)]


def health_times(server):
    return [r.at for r in server.received if r.path == "/health"]


def describe(calls):
    return "\n".join(f"  {tool} {' '.join(argv)}" for tool, argv in calls) or "  (no calls)"


@pytest.fixture
def pipeline(learner_file, run_bash, fake_tools, model_server, tmp_path):
    port = model_server.url.rsplit(":", 1)[1]

    def run(*extra, version="v2", timeout=20, env=None, hint=None, **options):
        """options (retries=, interval=, timeout_s=, rollout_timeout=) replace the defaults below; env= adds variables."""
        settings = {"--retries": "3", "--interval": "0.1", "--timeout": "2", "--rollout-timeout": "5"}
        settings.update({"--" + key.removesuffix("_s").replace("_", "-"): str(value) for key, value in options.items()})
        args = ["--image", IMAGE, "--name", NAME, "--port", port, "--context", str(tmp_path),
                "--test-cmd", TEST_CMD, *[word for pair in settings.items() for word in pair],
                *extra, version]
        extra_kw = {"hint": hint} if hint else {}
        return run_bash(learner_file("pipeline.sh"), args, env={**fake_tools.env, **(env or {})}, timeout=timeout, **extra_kw)

    run.port = int(port)
    run.context = str(tmp_path)
    return run


def previous_runs_v1(fake_tools):
    """The container NAME runs ml:v1 (image ID PREVIOUS_ID)."""
    fake_tools.answer("docker", "inspect", "{{.Config.Image}}", out=f"{IMAGE}:v1")
    fake_tools.answer("docker", "inspect", "{{.Image}}", out=PREVIOUS_ID)


def no_previous(fake_tools):
    """No container NAME exists yet."""
    fake_tools.answer("docker", "inspect", "{{.Config.Image}}", code=1, err=NO_SUCH_OBJECT)  # as the real CLI says
    fake_tools.answer("docker", "inspect", "{{.Image}}", code=1, err=NO_SUCH_OBJECT)


def new_container_is(fake_tools, status, **when):
    """Docker reports the new container's state as `status` (running: true only for "running"), with the
    fake's `answer` options in `when` (first=True to override an earlier answer, from_call=2...)."""
    fake_tools.answer("docker", "inspect", "{{.State.Status}}", out=status, **when)
    fake_tools.answer("docker", "inspect", "{{.State.Running}}", out="true" if status == "running" else "false", **when)


@pytest.fixture
def docker_previous(fake_tools):
    """The container NAME runs ml:v1 (image ID PREVIOUS_ID) and any new container reports itself running."""
    previous_runs_v1(fake_tools)
    new_container_is(fake_tools, "running")


@pytest.fixture
def docker_first(fake_tools):
    """No container NAME exists yet; the new one reports itself running."""
    no_previous(fake_tools)
    new_container_is(fake_tools, "running")


def options_before_image(argv, image):
    """True when every --label/--publish/--name/--detach word of a `docker run` comes before `image`
    (what follows the image is the container's command, not options)."""
    if image not in argv:
        return False
    at = argv.index(image)
    words = [i for i, arg in enumerate(argv) for name in ("--label", "-l", "--publish", "-p", "--name", "--detach", "-d")
             if arg == name or arg.startswith(name + "=")]
    return all(i < at for i in words)


def detached(argv):
    return any(arg in ("-d", "--detach", "--detach=true") or re.fullmatch(r"-[a-zA-Z]*d[a-zA-Z]*", arg) for arg in argv)


def forced(argv):
    return any(arg in ("-f", "--force", "--force=true") or re.fullmatch(r"-[a-zA-Z]*f[a-zA-Z]*", arg) for arg in argv)


def previous_back(calls, after):
    """Position of the first `docker run --name NAME` after `after` that starts ml:v1 (by name or by image ID), or None."""
    found = [after + 1 + i for i, (tool, argv) in enumerate(calls[after + 1:])
             if tool == "docker" and has(argv, "run") and has(argv, "--name") and has(argv, NAME)
             and (has(argv, f"{IMAGE}:v1") or has(argv, PREVIOUS_ID))]
    return found[0] if found else None



def deploy_and_undo(calls):
    """Positions in `calls` of the `docker run` that deploys v2 and of the first `docker rm NAME` after it, which
    begins the undo; each None when it did not happen."""
    deploy = index(calls, "docker", "run", "--name", NAME, f"{IMAGE}:v2")
    removed = index(calls[deploy + 1:], "docker", "rm", NAME) if deploy is not None else None
    return deploy, None if removed is None else deploy + 1 + removed


def seconds_to_undo(fake_tools) -> float:
    """Seconds from the deploy of v2 to the `docker rm NAME` that begins its undo; fails the test unless
    the deploy was undone (v1 runs as NAME again)."""
    calls = fake_tools.calls
    deploy, removed = deploy_and_undo(calls)
    assert removed is not None and previous_back(calls, deploy) is not None, (
        f"the failed deploy should be undone: {IMAGE}:v1 runs as {NAME} again:\n{describe(calls)}")
    return fake_tools.times[removed] - fake_tools.times[deploy]

# --- Task 3: usage, the steps in order --------------------------------------------------------


@pytest.mark.task(taskno=3)
@pytest.mark.parametrize("args", [[], ["v1", "v2"], ["--bogus", "v1"], ["--mode", "swarm", "v1"], ["--mode", "Docker", "v1"],
                                  ["--mode", "K8S", "v1"], ["--mode", "dockers", "v1"], ["--mode", "minik8s", "v1"], ["--port", "x", "v1"],
                                  ["--port", "0", "v1"], ["--port", "65536", "v1"], ["--retries", "0", "v1"], ["--retries", "1.5", "v1"],
                                  ["--rollout-timeout", "1.5", "v1"], ["--rollout-timeout", "0", "v1"],
                                  ["--interval", "0.0", "v1"], ["--timeout", "0", "v1"], ["--step-timeout", "0", "v1"],
                                  ["--interval", "abc", "v1"], ["--timeout", "x", "v1"], ["--step-timeout", "ten", "v1"],
                                  ["--interval", "1.2.3", "v1"], ["--timeout", ".", "v1"], ["--interval", "inf", "v1"],
                                  ["--step-timeout", "inf", "v1"], ["--timeout", "Infinity", "v1"],
                                  ["--step-timeout", "00", "v1"], ["--interval", "0.00", "v1"], ["--timeout", "00.0", "v1"],
                                  ["--retries", "00", "v1"], ["--rollout-timeout", "00", "v1"], ["--port", "00", "v1"],
                                  ["--port", "18446744073709559616", "v1"],
                                  ["--retries", "18446744073709551617", "v1"], ["--rollout-timeout", "18446744073709551617", "v1"],
                                  ["--port", "9999999999999999999", "v1"], ["--retries", "9999999999999999999", "v1"],
                                  ["--rollout-timeout", "1000000000000000000", "v1"], ["--retries", "00" + "1" + "0" * 18, "v1"],
                                  ["v 1"], [".v1"], ["v2\n"], ["v1\nv2"], ["v1-\u00e9"], ["v1:rc"], ["release/v1"], ["v1", "--image"], ["a" * 129]],
                         ids=lambda a: (" ".join(a).replace("\n", "<LF>") if a != ["a" * 129] else "129-char-version")
                         or "no-version")
def test_a_bad_argument_prints_usage_and_exits_2(learner_file, run_bash, fake_tools, args):
    # A VERSION exported by the caller (CI runners often set one) is not the VERSION argument.
    # A UTF-8 locale, as on most machines: there [[:alnum:]] also matches non-ASCII letters such as "é".
    done = run_bash(learner_file("pipeline.sh"), args, env={"VERSION": "v0", "LC_ALL": "C.UTF-8", **fake_tools.env},
                    timeout=10)
    assert done.returncode == 2, (f"{' '.join(args) or '(no arguments)'} should be a usage error (exit 2; an exported "
                                  f"VERSION=v0 is not the VERSION argument)\n{done.output}")
    assert "usage" in done.stderr.lower(), f"a usage error should print the usage on stderr\n{done.output}"
    assert fake_tools.calls == [], f"nothing should run after a usage error, ran:\n{describe(fake_tools.calls)}"


@pytest.mark.task(taskno=3)
@pytest.mark.parametrize("args", [["--help"], ["-h"], ["--mode", "k8s", "--port", "8080", "--help"],
                                  ["--name", "m", "-h"], ["--port", "0", "-h"], ["-h", "--port", "0"]],
                         ids=["--help", "-h", "--help-after-options", "-h-after-options", "-h-after-an-invalid-port",
                              "-h-before-an-invalid-port"])
def test_help_prints_the_usage_on_stdout_and_exits_0(learner_file, run_bash, fake_tools, args):
    flag = " ".join(args)
    done = run_bash(learner_file("pipeline.sh"), args, env=fake_tools.env, timeout=10)
    assert done.returncode == 0, (f"{flag} should exit 0 (-h/--help anywhere among the options, even next to an "
                                  f"invalid value), it exited {done.returncode}\n{done.output}")
    assert "usage" in done.stdout.lower(), f"{flag} should print the usage on stdout\n{done.output}"
    assert fake_tools.calls == [], f"{flag} should run nothing, ran:\n{describe(fake_tools.calls)}"


@pytest.mark.task(taskno=3)
def test_docker_mode_builds_tests_in_the_image_deploys_and_checks_health(pipeline, fake_tools, docker_previous, model_server):
    done = pipeline("--mode", "docker", "--label", "team=ml", "--label", "tier=gold", "--label", "owner=ML platform",
                    "--build-arg", "A=1", "--build-arg", "NOTE=two words", "--kind-cluster", "dev")
    calls = fake_tools.calls
    assert done.returncode == 0, (
        f"a healthy deploy should exit 0 (the old container {NAME} is running: the fake engine, like a real one, "
        f"refuses a plain `docker rm` of it and then `docker run --name {NAME}`, whose name is taken; remove it with "
        f"`docker rm --force`)\n{done.output}\ncalls:\n{describe(calls)}")
    build = index(calls, "docker", "build", f"{IMAGE}:v2")
    test = index(calls, "docker", "run", "--rm", f"{IMAGE}:v2")
    deploy = index(calls, "docker", "run", "--name", NAME, f"{IMAGE}:v2")
    assert None not in (build, test, deploy), f"expected docker build, a --rm test run and a --name {NAME} run:\n{describe(calls)}"
    assert build < test < deploy, f"the order must be build, test in the image, deploy:\n{describe(calls)}"
    command = calls[test][1][calls[test][1].index(f"{IMAGE}:v2") + 1:]
    assert command in (["sh", "-c", TEST_CMD], ["/bin/sh", "-c", TEST_CMD]), (
        f"the test run should execute --test-cmd in the image as `sh -c \"$TEST_CMD\"` (one word after -c, so `&&` "
        f"and spaces reach the shell), got the command {command}:\n{describe(calls)}")
    removed = index(calls, "docker", "rm", NAME)
    assert removed is not None and test < removed < deploy, (
        f"the deploy replaces the running container: `docker rm --force {NAME}` after the tests and before the new "
        f"container takes the name (without it `docker run --name {NAME}` fails: the name is taken):\n{describe(calls)}")
    assert sorted(option_values(calls[build][1], "--build-arg")) == ["A=1", "NOTE=two words"], (
        f"every --build-arg should reach docker build, each as one word (spaces kept):\n{describe(calls)}")
    assert index(calls, "kind") is None, f"--kind-cluster is for k8s mode only: docker mode runs no kind:\n{describe(calls)}"
    import os

    folder = fake_tools.folders[build]
    assert has(calls[build][1], pipeline.context) or (
            os.path.samefile(folder, pipeline.context) and any(arg in (".", "./") for arg in calls[build][1])), (
        f"docker build should build the --context folder {pipeline.context} (ran in {folder}):\n{describe(calls)}")
    for step in (test, deploy):
        assert {"team=ml", "tier=gold", "owner=ML platform"} <= set(option_values(calls[step][1], "--label", "-l")), (
            f"every --label should go on every container the pipeline starts, each as one word (spaces kept):\n"
            f"{describe(calls)}")
        assert options_before_image(calls[step][1], f"{IMAGE}:v2"), (
            f"docker run takes its options (--label, --name, --publish...) before the image; words after the image are "
            f"the container's command (here arguments to sh -c or the server), so that container gets no label:\n"
            f"  docker {' '.join(calls[step][1])}")
    assert detached(calls[deploy][1]), f"the deployed container should run detached (--detach):\n{describe(calls)}"
    assert option_values(calls[deploy][1], "--publish", "-p") == [f"127.0.0.1:{pipeline.port}:8000"], (
        f"the container should publish 8000 on 127.0.0.1:{pipeline.port} only, not on every interface:\n{describe(calls)}")
    assert ("GET", "/health") in model_server.requests, "the pipeline should check /health on the service port"
    assert previous_back(calls, deploy) is None, f"a healthy deploy must not bring back v1:\n{describe(calls)}"


@pytest.mark.task(taskno=3)
def test_failing_tests_in_the_image_stop_the_pipeline_before_deploying(pipeline, fake_tools, docker_previous):
    fake_tools.answer("docker", "run", "--rm", code=1)
    done = pipeline("--mode", "docker")
    calls = fake_tools.calls
    assert done.returncode == 1, f"failing tests should fail the pipeline (exit 1)\n{done.output}"
    assert index(calls, "docker", "run", "--name") is None and index(calls, "docker", "rm") is None, (
        f"nothing may be deployed or removed when the tests fail:\n{describe(calls)}")


@pytest.mark.task(taskno=3)
def test_k8s_mode_sets_the_image_waits_for_the_rollout_then_checks_health(pipeline, fake_tools):
    done = pipeline("--mode", "k8s", "--namespace", "prod", "--kind-cluster", "dev")
    calls = fake_tools.calls
    assert done.returncode == 0, f"a healthy rollout should exit 0\n{done.output}\ncalls:\n{describe(calls)}"
    order = [index(calls, "docker", "build"), index(calls, "docker", "run", "--rm"),
             index(calls, "kind", "load", f"{IMAGE}:v2"), index(calls, "kubectl", "set", "image", f"deployment/{NAME}"),
             index(calls, "kubectl", "rollout", "status", f"deployment/{NAME}"), index(calls, "kubectl", "get", "--raw")]
    assert None not in order and order == sorted(order), (
        f"expected build, test, kind load, set image, rollout status, health (get --raw) in that order:\n{describe(calls)}")
    assert any(has(argv, "prod") for tool, argv in calls if tool == "kubectl"), f"kubectl should use the namespace:\n{describe(calls)}"
    assert option_values(calls[order[2]][1], "--name", "-n") == ["dev"], (
        f"kind load should load into the --kind-cluster named dev:\n{describe(calls)}")
    assert has(calls[order[3]][1], f"{NAME}={IMAGE}:v2"), (
        f"without --container, set image should update the container named like the Deployment:\n{describe(calls)}")
    waited = [seconds(value) for value in option_values(calls[order[4]][1], "--timeout")]
    assert waited == [5], f"rollout status should wait at most --rollout-timeout 5 s (--timeout=5s):\n{describe(calls)}"
    assert index(calls, "kubectl", "rollout", "undo") is None, f"a healthy rollout must not be undone:\n{describe(calls)}"


# --- Task 4: undo on failure, every step bounded ----------------------------------------------


@pytest.mark.task(taskno=4)
def test_docker_mode_brings_the_previous_image_back_when_health_fails(pipeline, fake_tools, docker_previous, model_server):
    model_server.set("failing")
    # --timeout 60 bounds one request (a 500 comes back at once); the pause between checks is --interval 1.5.
    done = pipeline("--mode", "docker", "--label", "team=ml", "--label", "tier=gold", "--label", "owner=ML platform",
                    interval=1.5, retries=2,
                    timeout_s=60, hint="health checks should pause --interval (1.5 s here), not --timeout (60 s)")
    calls = fake_tools.calls
    assert done.returncode == 1, f"an unhealthy deploy should exit 1\n{done.output}"
    times = health_times(model_server)
    assert len(times) == 2, f"--retries 2 means 2 health checks before the undo, made {len(times)}"
    gaps = [later - earlier for earlier, later in zip(times, times[1:])]
    assert all(gap >= 1.3 for gap in gaps), f"health checks should be --interval 1.5 s apart, the gaps were {gaps}"
    deploy = index(calls, "docker", "run", "--name", NAME, f"{IMAGE}:v2")
    back = previous_back(calls, deploy) if deploy is not None else None
    assert deploy is not None and back is not None, (
        f"after the failed health check the pipeline should run {IMAGE}:v1 (by name or image ID) as {NAME} again:\n"
        f"{describe(calls)}")
    read = next((i for i, (tool, argv) in enumerate(calls) if tool == "docker" and has(argv, "inspect")
                 and (has(argv, "{{.Config.Image}}") or has(argv, "{{.Image}}"))), None)
    first_rm = index(calls, "docker", "rm", NAME)
    assert read is not None and (first_rm is None or read < first_rm), (
        f"the image container {NAME} runs should be read before that container is removed:\n{describe(calls)}")
    removed = index(calls[deploy:], "docker", "rm", NAME)
    assert removed is not None and deploy + removed < back, f"the broken container should be removed first:\n{describe(calls)}"
    assert forced(calls[deploy + removed][1]), (
        f"the undo should remove the broken container with `docker rm --force`: it is still running, and a plain "
        f"`docker rm` is refused by the engine, so {IMAGE}:v1 could not take the name {NAME} back:\n"
        f"  docker {' '.join(calls[deploy + removed][1])}")
    assert option_values(calls[back][1], "--publish", "-p") == [f"127.0.0.1:{pipeline.port}:8000"], (
        f"v1 should come back on the same port, on 127.0.0.1:\n{describe(calls)}")
    assert {"team=ml", "tier=gold", "owner=ML platform"} <= set(option_values(calls[back][1], "--label", "-l")), (
        f"the container the undo starts should carry every --label too, each as one word:\n{describe(calls)}")
    previous = f"{IMAGE}:v1" if f"{IMAGE}:v1" in calls[back][1] else PREVIOUS_ID
    assert options_before_image(calls[back][1], previous) and detached(calls[back][1]), (
        f"the undo should run the previous image detached (--detach), its options before the image, like the deploy; "
        f"an attached `docker run` blocks until the step timeout kills it:\n  docker {' '.join(calls[back][1])}")


@pytest.fixture
def docker_never_running(fake_tools):
    """No container NAME exists yet; the new one exits at once (docker reports it exited, not running)."""
    no_previous(fake_tools)
    new_container_is(fake_tools, "exited")


# Variables a caller may have exported under the names a script is tempted to keep its own state in.
STATE_VARIABLES = {name: "from-env:v0" for name in ("PREVIOUS", "PREVIOUS_IMAGE", "PREVIOUS_ID", "PREV_IMAGE", "OLD_IMAGE",
                                                    "CURRENT_IMAGE", "previous", "previous_image", "previous_id", "prev")}
STATE_VARIABLES.update({"LABELS": "from-env", "BUILD_ARGS": "from-env", "LABEL_ARGS": "from-env", "labels": "from-env",
                        "build_args": "from-env"})


# Names left out when exporting the script's own variables: the tool variables (which the script reads on purpose),
# and those of the shell and the system that a caller does not set by accident.
NOT_STATE = {"DOCKER", "KUBECTL", "KIND", "PATH", "IFS", "HOME", "PWD", "OLDPWD", "TMPDIR", "LANG", "TZ", "SHELL",
             "SECONDS", "RANDOM", "LINENO", "OPTIND", "OPTARG", "OPTERR", "REPLY", "PS4", "SHELLOPTS", "BASHOPTS",
             "FAKE_TOOLS_DIR"}


def script_variables(script):
    """Every variable `script` assigns (`NAME=`, `NAME+=`, `local NAME=`, `declare -a NAME=`..., at the start of a line
    or after `;`, `&&`, `||`, `{`, `then`, `do`...), but NOT_STATE."""
    text = script.read_text()
    names = set(re.findall(r"(?:^[ \t]*|[;&|({][ \t]*|\b(?:then|do|else)[ \t]+)"
                           r"(?:(?:local|declare|typeset|readonly|export)(?:[ \t]+-\w+)*[ \t]+)?([A-Za-z_]\w*)\+?=",
                           text, re.M))
    return {name for name in names - NOT_STATE if not name.startswith(("BASH", "LC_", "EPOCH", "PYTHON"))}


@pytest.mark.task(taskno=4)
@pytest.mark.parametrize("exported", ["clean-environment", "state-variables-exported", "script-variables-exported"])
def test_docker_mode_a_failed_first_deploy_leaves_no_container(pipeline, learner_file, fake_tools, docker_never_running,
                                                               model_server, exported):
    model_server.set("failing")
    env = {"clean-environment": {}, "state-variables-exported": STATE_VARIABLES}.get(exported)
    if env is None:  # every variable the script assigns, whatever its name: its own state must not come from them
        env = {**STATE_VARIABLES, **{name: "from-env:v0" for name in script_variables(learner_file("pipeline.sh"))}}
    done = pipeline("--mode", "docker", version="v1", rollout_timeout=1, env=env)
    calls = fake_tools.calls
    assert done.returncode == 1, f"a first deploy whose container exits at once should fail (exit 1), not wait forever\n{done.output}"
    deploy = index(calls, "docker", "run", "--name", NAME, f"{IMAGE}:v1")
    assert deploy is not None, f"the pipeline should have run {IMAGE}:v1 as {NAME}:\n{describe(calls)}"
    assert index(calls[deploy + 1:], "docker", "rm", NAME) is not None, (
        f"with no previous version the broken container should still be removed:\n{describe(calls)}")
    assert index(calls[deploy + 1:], "docker", "run", "--name", NAME) is None, (
        f"with no previous version nothing should be started again (docker inspect failed with '{NO_SUCH_OBJECT}' on "
        f"stderr: that message is not an image to bring back; nor is a PREVIOUS_IMAGE exported by the caller):\n"
        f"{describe(calls)}")
    assert not any("from-env" in arg for _, argv in calls for arg in argv), (
        f"the script's own state (the previous image, the label and build-arg lists) starts empty: a variable the "
        f"caller exported under the same name must not reach a command:\n{describe(calls)}")


@pytest.fixture(params=["exited", "dead"])
def docker_previous_then_exited(fake_tools, request):
    """The container NAME runs ml:v1; the new container exits at once (docker reports it exited, or dead)."""
    previous_runs_v1(fake_tools)
    new_container_is(fake_tools, request.param)


@pytest.mark.task(taskno=4)
def test_docker_mode_a_container_that_exits_is_a_failed_deploy_even_if_health_answers(
        pipeline, fake_tools, docker_previous_then_exited, model_server):
    # model_server stays healthy: something answers on the port, but it is not the new container.
    done = pipeline("--mode", "docker", rollout_timeout=1)
    calls = fake_tools.calls
    assert done.returncode == 1, (
        f"a new container that exits at once is a failed deploy (exit 1), whatever answers /health on the port; "
        f"the pipeline should wait until docker says it is running\n{done.output}\ncalls:\n{describe(calls)}")
    deploy = index(calls, "docker", "run", "--name", NAME, f"{IMAGE}:v2")
    assert deploy is not None and previous_back(calls, deploy) is not None, (
        f"the failed deploy should be undone: {IMAGE}:v1 runs as {NAME} again:\n{describe(calls)}")


@pytest.mark.task(taskno=4)
def test_docker_mode_a_container_that_exits_fails_without_waiting_out_the_rollout_timeout(
        pipeline, fake_tools, docker_previous_then_exited):
    done = pipeline("--mode", "docker", rollout_timeout=10, timeout=20,
                    hint="a container that exited should fail the deploy at once, not after --rollout-timeout (10 s)")
    assert done.returncode == 1, f"a new container that exits at once is a failed deploy (exit 1)\n{done.output}"
    waited = seconds_to_undo(fake_tools)
    # The old container is gone already: every second spent waiting on one that exited is an outage.
    assert waited < 4.5, (
        f"docker says the new container exited (or is dead): that is a failed deploy at once, without waiting out --rollout-timeout "
        f"10 s while nothing serves; the undo started {waited:.1f} s after the deploy:\n{describe(fake_tools.calls)}")


@pytest.mark.task(taskno=4)
def test_docker_mode_each_health_request_is_bounded_by_the_timeout(pipeline, fake_tools, docker_previous, model_server):
    model_server.set("slow", delay_s=60)
    done = pipeline("--mode", "docker", retries=2, timeout_s=0.3)
    assert done.returncode == 1, f"a server that never answers should fail the pipeline (exit 1)\n{done.output}"
    times = health_times(model_server)
    assert len(times) == 2 and times[1] - times[0] < 3, (
        f"with --timeout 0.3 each health request should give up after 0.3 s, not the 5 s default; requests at {times}")
    deploy = index(fake_tools.calls, "docker", "run", "--name", NAME, f"{IMAGE}:v2")
    assert deploy is not None and previous_back(fake_tools.calls, deploy) is not None, (
        f"the hanging version should be undone:\n{describe(fake_tools.calls)}")


@pytest.mark.task(taskno=4)
def test_docker_mode_without_timeout_a_health_request_gives_up_after_5_s(learner_file, run_bash, fake_tools, docker_previous,
                                                                       model_server, pipeline):
    model_server.set("slow", delay_s=60)
    args = ["--mode", "docker", "--image", IMAGE, "--name", NAME, "--port", str(pipeline.port), "--context", pipeline.context,
            "--retries", "1", "--rollout-timeout", "5", "v2"]
    # A TIMEOUT=1 exported by the caller must not replace the documented default.
    done = run_bash(learner_file("pipeline.sh"), args, env={"TIMEOUT": "1", **fake_tools.env}, timeout=30)
    calls = fake_tools.calls
    assert done.returncode == 1, f"a server that never answers should fail the pipeline (exit 1)\n{done.output}"
    deploy, removed = deploy_and_undo(calls)
    asked = health_times(model_server)
    assert removed is not None and len(asked) == 1, (
        f"one health check (--retries 1) that never answers, then the undo:\n{describe(calls)}")
    gave_up = fake_tools.times[removed] - asked[0]
    assert 4.5 <= gave_up < 5.8, (
        f"without --timeout one health request gives up after the documented 5 s (an exported TIMEOUT=1 changes "
        f"nothing), then the undo starts at once; the undo started {gave_up:.1f} s after the request")


@pytest.mark.task(taskno=3)
def test_docker_mode_a_health_answer_within_the_timeout_is_healthy(pipeline, fake_tools, docker_previous, model_server):
    model_server.set("slow", delay_s=0.5)
    done = pipeline("--mode", "docker", retries=1, interval=0.1, timeout_s=5)
    calls = fake_tools.calls
    assert done.returncode == 0, (
        f"a /health answer that takes 0.5 s is within --timeout 5 (the limit of one request; --interval 0.1 is only "
        f"the pause between checks): the deploy is healthy (exit 0)\n{done.output}\ncalls:\n{describe(calls)}")
    deploy = index(calls, "docker", "run", "--name", NAME, f"{IMAGE}:v2")
    assert deploy is not None and previous_back(calls, deploy) is None, (
        f"the healthy deploy must not be undone:\n{describe(calls)}")


@pytest.mark.task(taskno=3)
def test_docker_mode_a_health_check_that_passes_after_failures_is_healthy(pipeline, fake_tools, docker_previous,
                                                                          model_server):
    model_server.follow(["failing", "failing", "healthy"])  # a server still warming up: two 500s, then 200
    done = pipeline("--mode", "docker", retries=3, interval=0.1)
    calls = fake_tools.calls
    checks = len(health_times(model_server))
    assert done.returncode == 0 and checks == 3, (
        f"with --retries 3 the third check answers 200: the first check that passes makes the deploy healthy "
        f"(exit 0), whatever the checks before it said; made {checks} checks\n{done.output}\ncalls:\n{describe(calls)}")
    deploy = index(calls, "docker", "run", "--name", NAME, f"{IMAGE}:v2")
    assert deploy is not None and previous_back(calls, deploy) is None, (
        f"a deploy that became healthy within --retries must not be undone:\n{describe(calls)}")


@pytest.mark.task(taskno=4)
@pytest.mark.timeout(45)
def test_docker_mode_the_undo_starts_right_after_the_last_failed_check(pipeline, fake_tools, docker_previous,
                                                                       model_server):
    model_server.set("failing")
    done = pipeline("--mode", "docker", retries=2, interval=6, timeout=35,
                    hint="--retries 2 --interval 6 needs one 6 s pause, between the two checks")
    calls = fake_tools.calls
    assert done.returncode == 1, f"an unhealthy deploy should be undone (exit 1)\n{done.output}"
    last_check = health_times(model_server)[-1]
    deploy, removed = deploy_and_undo(calls)
    assert removed is not None, f"the unhealthy deploy should be undone (docker rm {NAME}):\n{describe(calls)}"
    late = fake_tools.times[removed] - last_check
    # The pauses are between checks: after the last failed one the broken version should not serve another 6 s.
    assert late < 4, (
        f"--interval is the pause between two health checks; after the last failed check the undo should start at "
        f"once, not after one more --interval 6 s pause; it started {late:.1f} s later:\n{describe(calls)}")


@pytest.mark.task(taskno=4)
@pytest.mark.timeout(45)
def test_k8s_mode_the_undo_starts_right_after_the_last_failed_check(pipeline, fake_tools):
    fake_tools.answer("kubectl", "get", "--raw", code=1, out="Error from server (ServiceUnavailable)")
    done = pipeline("--mode", "k8s", retries=2, interval=6, timeout=35,
                    hint="--retries 2 --interval 6 needs one 6 s pause, between the two checks")
    calls, times = fake_tools.calls, fake_tools.times
    assert done.returncode == 1, f"an unhealthy rollout should be undone (exit 1)\n{done.output}"
    checks = [at for (tool, argv), at in zip(calls, times) if tool == "kubectl" and any(a.startswith("--raw") for a in argv)]
    undone = index(calls, "kubectl", "rollout", "undo", f"deployment/{NAME}")
    assert checks and undone is not None, (
        f"the unhealthy rollout should be checked and then undone (kubectl rollout undo):\n{describe(calls)}")
    late = times[undone] - checks[-1]
    # In k8s mode too the pauses are between checks: after the last failed one the undo should not wait another 6 s.
    assert late < 4, (
        f"in k8s mode too, --interval is the pause between two health checks; after the last failed check the "
        f"`kubectl rollout undo` should start at once, not after one more --interval 6 s pause; it started "
        f"{late:.1f} s later:\n{describe(calls)}")


@pytest.mark.task(taskno=4)
def test_k8s_mode_undoes_a_rollout_that_does_not_finish(pipeline, fake_tools):
    fake_tools.answer("kubectl", "rollout", "status", code=1, out="error: deployment exceeded its progress deadline")
    done = pipeline("--mode", "k8s", "--container", "server")
    calls = fake_tools.calls
    assert done.returncode == 1, f"a failed rollout should exit 1\n{done.output}"
    assert index(calls, "kubectl", "set", "image", f"deployment/{NAME}", f"server={IMAGE}:v2") is not None, (
        f"--container server should name the container set image updates:\n{describe(calls)}")
    assert index(calls, "kubectl", "rollout", "undo", f"deployment/{NAME}") is not None, (
        f"a rollout that does not finish should be undone with kubectl rollout undo:\n{describe(calls)}")
    assert index(calls, "kubectl", "get", "--raw") is None, f"no health check on a failed rollout:\n{describe(calls)}"
    waits = [argv for tool, argv in calls if tool == "kubectl" and has(argv, "rollout") and has(argv, "status")]
    assert len(waits) >= 2 and all(has(argv, f"deployment/{NAME}") for argv in waits), (
        f"both rollout waits (of the deploy and of the undo) should follow deployment/{NAME}, the Deployment named by "
        f"--name; --container server only names the pod template's container that set image updates:\n{describe(calls)}")
    for tool, argv in calls:
        if tool == "kubectl":
            assert has(argv, "default"), (
                f"without --namespace every kubectl command should run in the namespace 'default' (not the kubeconfig's):"
                f"\n  kubectl {' '.join(argv)}")


@pytest.mark.task(taskno=4)
def test_k8s_mode_undoes_an_unhealthy_rollout_and_waits_for_the_undo(pipeline, fake_tools):
    fake_tools.answer("kubectl", "get", "--raw", code=1, out="Error from server (ServiceUnavailable)")
    done = pipeline("--mode", "k8s")
    calls = fake_tools.calls
    assert done.returncode == 1, f"an unhealthy rollout should exit 1\n{done.output}"
    undo = index(calls, "kubectl", "rollout", "undo", f"deployment/{NAME}")
    assert undo is not None, f"an unhealthy rollout should be undone:\n{describe(calls)}"
    assert index(calls[undo:], "kubectl", "rollout", "status") is not None, (
        f"after the undo the pipeline should wait for that rollout too:\n{describe(calls)}")
    checks = [argv for tool, argv in calls[:undo] if tool == "kubectl" and any(a.startswith("--raw") for a in argv)]
    assert len(checks) == 3, f"--retries 3 means 3 health checks before the undo, made {len(checks)}:\n{describe(calls)}"
    for tool, argv in calls:
        if tool == "kubectl" and has(argv, "rollout") and has(argv, "status"):
            assert [seconds(value) for value in option_values(argv, "--timeout")] == [5], (
                f"every rollout status, the one after the undo too, should wait at most --rollout-timeout 5 s "
                f"(--timeout=5s):\n  kubectl {' '.join(argv)}")


@pytest.mark.task(taskno=4)
def test_k8s_mode_a_failed_kind_load_exits_1_and_leaves_the_deployment_alone(pipeline, fake_tools):
    fake_tools.answer("kind", "load", code=1, err=f'ERROR: image: "{IMAGE}:v2" not present locally')
    done = pipeline("--mode", "k8s", "--kind-cluster", "dev")
    calls = fake_tools.calls
    assert done.returncode == 1, f"a failed kind load should fail the pipeline (exit 1)\n{done.output}"
    assert index(calls, "kubectl", "set", "image") is None, (
        f"after a failed kind load the cluster cannot run the new image: no set image:\n{describe(calls)}")
    assert index(calls, "kubectl", "rollout", "undo") is None, (
        "a failed kind load changed nothing in the cluster, so there is nothing to undo: a rollout undo now "
        f"would roll back the version serving now to the one before it:\n{describe(calls)}")


@pytest.mark.task(taskno=4)
@pytest.mark.parametrize("how", ["fails", "times-out"])
def test_k8s_mode_a_failed_set_image_is_undone(pipeline, fake_tools, how):
    if how == "fails":
        fake_tools.answer("kubectl", "set", "image", code=1, err="error: the server was unable to return a response")
    else:
        fake_tools.answer("kubectl", "set", "image", hang=True)
    done = pipeline("--mode", "k8s", "--step-timeout", "1", timeout=15)
    calls, what = fake_tools.calls, f"a `kubectl set image` that {how.replace('-', ' ')}"
    assert done.returncode == 1, f"{what} is a failed deploy (exit 1)\n{done.output}"
    undo = index(calls, "kubectl", "rollout", "undo", f"deployment/{NAME}")
    assert undo is not None and index(calls[undo:], "kubectl", "rollout", "status") is not None, (
        f"{what} is a failed deploy, unlike a failed kind load: the API server may have "
        f"applied it before the error or the cut-off, so it should be undone (kubectl rollout undo "
        f"deployment/{NAME}, then a wait for that rollout):\n{describe(calls)}")


@pytest.mark.task(taskno=4)
def test_a_hanging_step_is_cut_off_by_the_step_timeout(pipeline, fake_tools):
    fake_tools.answer("docker", "build", hang=True)
    done = pipeline("--mode", "docker", "--step-timeout", "1", timeout=15)
    assert done.returncode == 1, f"a build that hangs past --step-timeout should fail the pipeline (exit 1)\n{done.output}"
    assert index(fake_tools.calls, "docker", "run") is None, f"nothing should run after the failed build:\n{describe(fake_tools.calls)}"


@pytest.mark.task(taskno=3)
def test_the_limits_themselves_are_valid_arguments(learner_file, run_bash, fake_tools):
    args = ["--mode", "k8s", "--image", IMAGE, "--name", NAME, "--port", "65535", "--retries", "1", "--interval", "0.1",
            "--timeout", "2", "--rollout-timeout", "1", "--step-timeout", "5", "_" + "v" * 127]
    done = run_bash(learner_file("pipeline.sh"), args, env=fake_tools.env, timeout=20)
    assert done.returncode == 0, (
        f"port 65535, retries 1, rollout-timeout 1 and a 128-character tag are all valid and this rollout is healthy "
        f"(exit 0)\n{done.output}\ncalls:\n{describe(fake_tools.calls)}")
    assert index(fake_tools.calls, "docker", "build", f"{IMAGE}:_{'v' * 127}") is not None, (
        f"the 128-character tag should be built:\n{describe(fake_tools.calls)}")


@pytest.mark.task(taskno=3)
def test_eighteen_digit_retries_and_rollout_timeout_are_valid_arguments(learner_file, run_bash, fake_tools):
    fake_tools.answer("docker", "build", code=1)  # the run stops at the build: this test is only about the arguments
    big = "9" * 18  # the most digits allowed: 999999999999999999 still fits in bash's 64-bit arithmetic
    args = ["--mode", "docker", "--image", IMAGE, "--name", NAME, "--retries", big, "--rollout-timeout", big, "v1"]
    done = run_bash(learner_file("pipeline.sh"), args, env=fake_tools.env, timeout=10)
    assert done.returncode == 1 and index(fake_tools.calls, "docker", "build", f"{IMAGE}:v1") is not None, (
        f"--retries and --rollout-timeout {big} (exactly 18 digits: only more than 18 is a usage error) are valid: the "
        f"pipeline should get to the build of {IMAGE}:v1 (which fails here: exit 1), not stop with a usage error "
        f"(exit 2); it exited {done.returncode}\n{done.output}\ncalls:\n{describe(fake_tools.calls)}")


@pytest.mark.task(taskno=3)
@pytest.mark.parametrize("answers", [["healthy"], ["failing", "healthy"]], ids=["first-check", "second-check"])
def test_eighteen_digit_retries_work_through_a_whole_run(pipeline, fake_tools, docker_previous, model_server, answers):
    model_server.follow(answers)
    big = "9" * 18
    # A loop that first lists every retry (`seq 1 $RETRIES`) never gets to a check: it is killed at the timeout
    done = pipeline("--mode", "docker", retries=big, interval=0.1,
                    hint=f"--retries {big} should work as given: is every retry listed before the first check?")
    checks = len(health_times(model_server))
    assert done.returncode == 0 and checks == len(answers), (
        f"with --retries {big} (18 digits work as given) the health check number {len(answers)} answers 200: the "
        f"deploy should be healthy after exactly {len(answers)} /health request(s) (exit 0); it exited "
        f"{done.returncode} after {checks} request(s)\n{done.output}\ncalls:\n{describe(fake_tools.calls)}")


@pytest.mark.task(taskno=3)
def test_the_lower_limits_and_fractions_are_valid_arguments(learner_file, run_bash, fake_tools):
    fake_tools.answer("docker", "build", code=1)  # the run stops at the build: this test is only about the arguments
    args = ["--mode", "docker", "--image", IMAGE, "--name", NAME, "--port", "1", "--retries", "0" * 20 + "1",
            "--interval", "0.5", "--timeout", "0.5", "--rollout-timeout", "1", "--step-timeout", "2.5", "7"]
    done = run_bash(learner_file("pipeline.sh"), args, env=fake_tools.env, timeout=10)
    assert done.returncode == 1 and index(fake_tools.calls, "docker", "build", f"{IMAGE}:7") is not None, (
        f"port 1, retries 1 written with 20 leading zeros (21 characters, one significant digit: leading zeros do not "
        f"count among the 18 digits), rollout-timeout 1, a one-character tag (7) and fractional "
        f"--interval/--timeout/--step-timeout are valid: the "
        f"pipeline should get to the build of {IMAGE}:7 (which fails here: exit 1), not stop with a usage error\n"
        f"{done.output}\ncalls:\n{describe(fake_tools.calls)}")


@pytest.mark.task(taskno=3)
@pytest.mark.parametrize("version", ["v1.2.3", "1.0.0-rc.1", "2024-06-01", "v1_2", "model.v2-final"])
def test_a_tag_with_dots_and_dashes_is_a_valid_version(learner_file, run_bash, fake_tools, version):
    fake_tools.answer("docker", "build", code=1)  # the run stops at the build: this test is only about the VERSION
    done = run_bash(learner_file("pipeline.sh"), ["--mode", "docker", "--image", IMAGE, version], env=fake_tools.env,
                    timeout=10)
    assert done.returncode == 1 and index(fake_tools.calls, "docker", "build", f"{IMAGE}:{version}") is not None, (
        f"{version} is a valid image tag ([A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}: dots and dashes after the first "
        f"character): the pipeline should get to the build of {IMAGE}:{version} (which fails here: exit 1), not "
        f"stop with a usage error\n{done.output}\ncalls:\n{describe(fake_tools.calls)}")


@pytest.mark.task(taskno=3)
@pytest.mark.parametrize("mode", ["docker", "k8s"])
@pytest.mark.parametrize("options, checks, waited", [({"retries": "010"}, 10, 5), ({"retries": "08"}, 8, 5),
                                                     ({"rollout_timeout": "09"}, 3, 9), ({"retries": "0000000000000000010"}, 10, 5)],
                         ids=["retries-010", "retries-08", "rollout-timeout-09", "retries-19-digits-010"])
def test_whole_numbers_with_a_leading_zero_are_decimal_not_octal(pipeline, fake_tools, docker_previous, model_server, mode,
                                                                 options, checks, waited):
    model_server.set("failing")  # the docker health check fails
    fake_tools.answer("kubectl", "get", "--raw", code=1, out="Error from server (ServiceUnavailable)")  # so does k8s's
    given = " ".join(f"--{key.replace('_', '-')} {value}" for key, value in options.items())
    done = pipeline("--mode", mode, interval=0.01, **options)
    calls = fake_tools.calls
    if mode == "k8s":
        undo = index(calls, "kubectl", "rollout", "undo", f"deployment/{NAME}")
        made = len([argv for tool, argv in calls[:undo] if tool == "kubectl" and any(a.startswith("--raw") for a in argv)])
    else:
        deploy = index(calls, "docker", "run", "--name", NAME, f"{IMAGE}:v2")
        undo = previous_back(calls, deploy) if deploy is not None else None
        made = len(health_times(model_server))
    assert done.returncode == 1 and undo is not None, (
        f"{given} is a valid whole number (a leading zero does not make it octal): this unhealthy {mode} deploy should "
        f"be checked and undone (exit 1)\n{done.output}\ncalls:\n{describe(calls)}")
    assert made == checks, (
        f"with {given} the pipeline should make {checks} health checks before the undo (a leading zero does not make "
        f"a number octal), it made {made}:\n{describe(calls)}")
    if mode == "docker":
        assert any(tool == "docker" and has(argv, "inspect") and any(".State." in arg for arg in argv)
                   for tool, argv in calls[deploy + 1:undo]), (
            f"with {given} the pipeline should still wait until the new container runs (docker inspect its state) "
            f"before checking its health:\n{describe(calls)}")
    waits = [argv for tool, argv in calls if tool == "kubectl" and has(argv, "rollout") and has(argv, "status")]
    assert mode == "docker" or len(waits) >= 2, f"the rollout and the undo should both be waited for:\n{describe(calls)}"
    for argv in waits:
        assert [seconds(value) for value in option_values(argv, "--timeout")] == [waited], (
            f"with {given} every rollout status should wait at most {waited} s (--timeout={waited}s):\n"
            f"  kubectl {' '.join(argv)}")


@pytest.mark.task(taskno=3)
def test_docker_mode_a_port_with_a_leading_zero_is_decimal(pipeline, fake_tools, docker_previous):
    # Only the containers' ports are checked: whether something answers on 8080 (then an undo brings v1 back) does not matter.
    done = pipeline("--mode", "docker", "--port", "08080", retries=1, interval=0.01)
    calls = fake_tools.calls
    runs = [argv for tool, argv in calls if tool == "docker" and has(argv, "run") and has(argv, "--name")]
    assert runs, (f"--port 08080 is a valid port (8080: a leading zero does not make it octal): the pipeline should "
                  f"deploy\n{done.output}\ncalls:\n{describe(calls)}")
    for argv in runs:
        published = option_values(argv, "--publish", "-p")
        found = re.fullmatch(r"127\.0\.0\.1:(\d+):8000", published[0]) if len(published) == 1 else None
        assert found and int(found.group(1)) == 8080, (
            f"--port 08080 is port 8080: every container should publish 8000 on 127.0.0.1:8080, got {published}:\n"
            f"  docker {' '.join(argv)}")


@pytest.mark.task(taskno=3)
def test_k8s_mode_works_in_the_namespace_and_checks_the_service_health_path(pipeline, fake_tools):
    fake_tools.answer("kubectl", "get", "--raw", code=1, out="Error from server (ServiceUnavailable)")
    done = pipeline("--mode", "k8s", "--namespace", "prod", "--container", "server", retries=1)
    calls = fake_tools.calls
    assert done.returncode == 1, f"an unhealthy rollout should exit 1\n{done.output}"
    raw = [argv for tool, argv in calls if tool == "kubectl" and "--raw" in " ".join(argv)]
    path = f"/api/v1/namespaces/prod/services/{NAME}:{pipeline.port}/proxy/health"
    assert raw and all(has(argv, path) for argv in raw), (
        f"health should be read from {path} (namespace, the Service named --name and the service port of this run; "
        f"--container only names the pod template's container):\n{describe(calls)}")
    for tool, argv in calls:
        if tool == "kubectl" and argv not in raw:
            assert has(argv, "prod"), f"every kubectl command should run in --namespace prod, this one does not:\n  kubectl {' '.join(argv)}"
    assert index(calls, "kind") is None, f"without --kind-cluster nothing should be loaded with kind:\n{describe(calls)}"


# Variables a CI runner or a shell may have exported under the names a script is tempted to use for its settings.
SAME_NAMED_VARIABLES = {"IMAGE": "from-env", "CONTEXT": "/from-env", "TEST_CMD": "false", "NAME": "from-env", "PORT": "9999",
                        "NAMESPACE": "from-env", "CONTAINER": "from-env", "KIND_CLUSTER": "from-env",
                        "ROLLOUT_TIMEOUT": "7", "MODE": "k8s", "RETRIES": "2", "INTERVAL": "0.01", "TIMEOUT": "3",
                        "STEP_TIMEOUT": "7"}


@pytest.mark.task(taskno=3)
@pytest.mark.parametrize("exported", [{}, SAME_NAMED_VARIABLES], ids=["clean-environment", "same-named-variables-exported"])
def test_k8s_mode_uses_the_documented_defaults(learner_file, run_bash, fake_tools, tmp_path, exported):
    import os

    done = run_bash(learner_file("pipeline.sh"), ["--mode", "k8s", "v1"], env={**exported, **fake_tools.env}, cwd=tmp_path,
                    timeout=20)
    calls = fake_tools.calls
    assert done.returncode == 0, f"a healthy rollout with every default should exit 0\n{done.output}\ncalls:\n{describe(calls)}"
    if exported:
        assert index(calls, "kind") is None and not any(has(argv, "from-env") or has(argv, "/from-env") for _, argv in calls), (
            f"only DOCKER, KUBECTL and KIND come from the environment: variables such as NAMESPACE=from-env, "
            f"NAME=from-env or KIND_CLUSTER=from-env exported by the caller must not replace the documented "
            f"defaults:\n{describe(calls)}")
    build = index(calls, "docker", "build", "ml-model:v1")
    assert build is not None, f"without --image the image is ml-model, so the build tags ml-model:v1:\n{describe(calls)}"
    assert has(calls[build][1], str(tmp_path)) or (
            os.path.samefile(fake_tools.folders[build], tmp_path) and any(arg in (".", "./") for arg in calls[build][1])), (
        f"without --context the build context is the current folder ({tmp_path}):\n{describe(calls)}")
    test = index(calls, "docker", "run", "--rm", "ml-model:v1")
    assert test is not None and "python -m pytest -q" in calls[test][1], (
        f"without --test-cmd the tests run as \"python -m pytest -q\" in the new image:\n{describe(calls)}")
    assert index(calls, "kubectl", "set", "image", "deployment/ml-model", "ml-model=ml-model:v1") is not None, (
        f"without --name and --container, set image updates the container ml-model of deployment/ml-model:\n"
        f"{describe(calls)}")
    waits = [argv for tool, argv in calls if tool == "kubectl" and has(argv, "rollout") and has(argv, "status")]
    assert waits and all([seconds(value) for value in option_values(argv, "--timeout")] == [120] for argv in waits), (
        f"without --rollout-timeout, rollout status waits at most the default 120 s (--timeout=120s):\n{describe(calls)}")
    path = "/api/v1/namespaces/default/services/ml-model:8000/proxy/health"
    raw = [argv for tool, argv in calls if tool == "kubectl" and "--raw" in " ".join(argv)]
    assert raw and all(has(argv, path) for argv in raw), (
        f"without --namespace, --name and --port the health is read from {path}:\n{describe(calls)}")


DECOY = "#!/bin/sh\necho \"$0 $*\" >> \"$(dirname \"$0\")/called\"\nexit 97\n"


@pytest.fixture
def decoys(tmp_path):
    """docker, kubectl and kind that must not be used: they log and exit 97."""
    import stat

    home = tmp_path / "decoys"
    home.mkdir()
    for tool in ("docker", "kubectl", "kind"):
        path = home / tool
        path.write_text(DECOY)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    from types import SimpleNamespace

    return SimpleNamespace(dir=home, calls=lambda: (home / "called").read_text() if (home / "called").exists() else "")


@pytest.mark.task(taskno=3)
def test_the_tool_binaries_come_from_docker_kubectl_kind_variables(pipeline, fake_tools, decoys):
    import os

    done = pipeline("--mode", "k8s", "--kind-cluster", "dev", env={"PATH": f"{decoys.dir}{os.pathsep}{os.environ['PATH']}"})
    assert done.returncode == 0, f"DOCKER, KUBECTL and KIND name the binaries, not the first on PATH\n{done.output}"
    assert decoys.calls() == "", f"the binaries first on PATH were run although DOCKER/KUBECTL/KIND were set:\n{decoys.calls()}"


@pytest.mark.task(taskno=3)
def test_the_tool_options_win_over_the_variables(pipeline, fake_tools, decoys):
    import os

    tools = fake_tools.env
    env = {"PATH": f"{decoys.dir}{os.pathsep}{os.environ['PATH']}",
           **{tool.upper(): str(decoys.dir / tool) for tool in ("docker", "kubectl", "kind")}}
    done = pipeline("--mode", "k8s", "--kind-cluster", "dev", "--docker", tools["DOCKER"], "--kubectl", tools["KUBECTL"],
                    "--kind", tools["KIND"], env=env)
    assert done.returncode == 0, f"--docker/--kubectl/--kind should win over DOCKER/KUBECTL/KIND\n{done.output}"
    assert decoys.calls() == "", f"the binaries named by the variables were run despite the options:\n{decoys.calls()}"


@pytest.mark.task(taskno=4)
@pytest.mark.parametrize("source", ["variables", "options"])
@pytest.mark.parametrize("mode", ["docker", "k8s"])
def test_the_undo_runs_the_chosen_binaries_too(pipeline, fake_tools, docker_previous, model_server, decoys, mode, source):
    import os

    model_server.set("failing")  # the docker health check fails: the undo runs
    fake_tools.answer("kubectl", "get", "--raw", code=1)  # so does the k8s one
    env = {"PATH": f"{decoys.dir}{os.pathsep}{os.environ['PATH']}"}
    extra = []
    if source == "options":
        env.update({tool.upper(): str(decoys.dir / tool) for tool in ("docker", "kubectl", "kind")})
        extra = [word for tool in ("docker", "kubectl", "kind") for word in (f"--{tool}", fake_tools.env[tool.upper()])]
    cluster = ["--kind-cluster", "dev"] if mode == "k8s" else []
    done = pipeline("--mode", mode, *cluster, *extra, env=env, retries=1)
    calls = fake_tools.calls
    assert done.returncode == 1, f"an unhealthy deploy should be undone (exit 1)\n{done.output}\ncalls:\n{describe(calls)}"
    deploy = index(calls, "docker", "run", "--name", NAME, f"{IMAGE}:v2")
    if mode == "k8s":
        undone = index(calls, "kubectl", "rollout", "undo")
    else:
        undone = previous_back(calls, deploy) if deploy is not None else None
    assert undone is not None, f"the undo should have run through the chosen binaries:\n{describe(calls)}"
    assert decoys.calls() == "", (
        f"every step, the undo and the wait for the container included, should run the binaries chosen by the "
        f"{source} (not another docker/kubectl/kind); these ran instead:\n{decoys.calls()}")


@pytest.mark.task(taskno=3)
@pytest.mark.parametrize("mode", ["docker", "k8s"])
def test_fractional_limits_work_through_a_whole_run(pipeline, fake_tools, docker_previous, mode):
    done = pipeline("--mode", mode, "--step-timeout", "2.5", interval=0.5, timeout_s=0.5)
    calls = fake_tools.calls
    assert done.returncode == 0, (
        f"--step-timeout 2.5, --interval 0.5 and --timeout 0.5 are valid numbers: a healthy {mode} deploy should go "
        f"through every step with them (exit 0), rollout wait and health checks included\n{done.output}\n"
        f"calls:\n{describe(calls)}")
    if mode == "k8s":
        assert index(calls, "kubectl", "rollout", "status") is not None, f"the rollout should be waited for:\n{describe(calls)}"


@pytest.mark.task(taskno=4)
def test_docker_mode_the_undo_still_runs_the_previous_image_when_removing_fails(pipeline, fake_tools, docker_previous,
                                                                               model_server):
    model_server.set("failing")
    fake_tools.answer("docker", "rm", code=1, out="Error response from daemon: removal already in progress")
    done = pipeline("--mode", "docker", retries=1)
    calls = fake_tools.calls
    assert done.returncode == 1, f"an unhealthy deploy should fail the pipeline (exit 1)\n{done.output}"
    tested = index(calls, "docker", "run", "--rm", f"{IMAGE}:v2")
    assert tested is not None and previous_back(calls, tested) is not None, (
        f"the undo should still try to bring {IMAGE}:v1 back after a failing `docker rm` (which may have removed the "
        f"container anyway), not give up half-way and leave nothing serving:\n{describe(calls)}")


@pytest.mark.task(taskno=4)
@pytest.mark.parametrize("hung", [("kind", "load"), ("kubectl", "set", "image"), ("kubectl", "get", "--raw"),
                                  ("docker", "run", "--rm"), ("docker", "inspect")],
                         ids=lambda words: " ".join(words))
def test_every_tool_command_is_cut_off_by_the_step_timeout(pipeline, fake_tools, model_server, hung):
    fake_tools.answer(*hung, hang=True)
    model_server.set("failing")  # so a run that gets past a hung `docker inspect` still ends in an undo
    mode = ["--mode", "docker"] if hung[0] == "docker" else ["--mode", "k8s", "--kind-cluster", "dev"]
    done = pipeline(*mode, "--step-timeout", "1", timeout=15, retries=1, rollout_timeout=1)
    assert done.returncode == 1, f"a `{' '.join(hung)}` that hangs past --step-timeout should fail the pipeline (exit 1)\n{done.output}"


def timeout_limit(parents):
    """The limit of the nearest `timeout` a tool call ran under (below the pipeline script itself), else None."""
    import os

    for argv in parents:
        if any(word.endswith("pipeline.sh") for word in argv):
            return None  # reached the script: no `timeout` in between
        if argv and os.path.basename(argv[0]) in ("timeout", "gtimeout"):  # coreutils, or its name on macOS
            words, skip = iter(argv[1:]), {"-k", "-s", "--kill-after", "--signal"}
            for word in words:
                if word in skip:
                    next(words, None)
                elif not word.startswith("-"):
                    found = re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+)([smhd]?)", word)
                    return float(found.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[found.group(2)] \
                        if found else float("nan")
            return float("nan")
    return None


@pytest.mark.task(taskno=4)
def test_every_tool_command_runs_under_timeout(pipeline, fake_tools, docker_previous, model_server):
    model_server.set("failing")  # so both runs go through the undo as well
    docker = pipeline("--mode", "docker", "--step-timeout", "7", retries=1)
    fake_tools.answer("kubectl", "get", "--raw", code=1)  # the k8s health fails too: the undo runs
    k8s = pipeline("--mode", "k8s", "--kind-cluster", "dev", "--step-timeout", "7", retries=1, rollout_timeout=9)
    assert docker.returncode == 1 and k8s.returncode == 1, (
        f"both runs should fail their health check and undo (exit 1)\n{docker.output}\n{k8s.output}")
    calls, parents = fake_tools.calls, fake_tools.parents
    if any(chain is None for chain in parents):
        pytest.skip("the parent processes of a command cannot be read on this system (no /proc, no ps)")
    for (tool, argv), chain in zip(calls, parents):
        limit = timeout_limit(chain)
        command = f"{tool} {' '.join(argv)}"
        assert limit is not None, (
            f"every docker, kubectl and kind command should run under `timeout` so a hung engine or API server "
            f"cannot hang the pipeline; this one did not:\n  {command}")
        if has(argv, "rollout") and has(argv, "status"):
            assert limit > 9, (f"rollout status should run under a `timeout` longer than its own --timeout "
                               f"(--rollout-timeout 9 plus a margin, not --step-timeout 7, which would kill a rollout "
                               f"still within its time), got timeout {limit:g}:\n  {command}")
        elif has(argv, "--raw"):
            assert limit in (7, 2), (f"the k8s health request should run under timeout --step-timeout (7) or "
                                     f"--timeout (2), got timeout {limit:g}:\n  {command}")
        else:
            assert limit == 7, f"this command should run under timeout --step-timeout (7), got {limit:g}:\n  {command}"
    for words in (("docker", "rm"), ("kubectl", "rollout", "undo"), ("kind", "load")):
        assert index(calls, *words) is not None, f"expected a `{' '.join(words)}` call in these runs:\n{describe(calls)}"


@pytest.mark.task(taskno=4)
@pytest.mark.parametrize("exported", [{}, SAME_NAMED_VARIABLES], ids=["clean-environment", "same-named-variables-exported"])
def test_without_step_timeout_every_command_is_bounded_by_600_s(learner_file, run_bash, fake_tools, tmp_path, exported):
    done = run_bash(learner_file("pipeline.sh"), ["--mode", "k8s", "--kind-cluster", "dev", "v1"],
                    env={**exported, **fake_tools.env}, cwd=tmp_path, timeout=20)
    calls, parents = fake_tools.calls, fake_tools.parents
    assert done.returncode == 0, f"a healthy rollout with the default limits should exit 0\n{done.output}\ncalls:\n{describe(calls)}"
    if any(chain is None for chain in parents):
        pytest.skip("the parent processes of a command cannot be read on this system (no /proc, no ps)")
    for (tool, argv), chain in zip(calls, parents):
        limit = timeout_limit(chain)
        command = f"{tool} {' '.join(argv)}"
        if has(argv, "rollout") and has(argv, "status"):
            assert limit is not None and limit > 120, (
                f"without --rollout-timeout, rollout status waits up to the default 120 s, under a `timeout` longer "
                f"than that, got timeout {limit}:\n  {command}")
        elif has(argv, "--raw"):
            assert limit in (600, 5), (
                f"the k8s health request should run under the default --step-timeout (600) or --timeout (5), not a "
                f"STEP_TIMEOUT or TIMEOUT exported by the caller, got timeout {limit}:\n  {command}")
        else:
            assert limit == 600, (
                f"without --step-timeout every command runs under the documented default `timeout 600` (an exported "
                f"STEP_TIMEOUT changes nothing), got timeout {limit}:\n  {command}")


@pytest.mark.task(taskno=3)
def test_k8s_mode_pauses_the_interval_between_health_checks(pipeline, fake_tools):
    fake_tools.answer("kubectl", "get", "--raw", code=1, out="Error from server (ServiceUnavailable)")
    done = pipeline("--mode", "k8s", retries=2, interval=1.5, timeout_s=60,
                    hint="health checks should pause --interval (1.5 s here), not --timeout (60 s)")
    calls, times = fake_tools.calls, fake_tools.times
    assert done.returncode == 1, f"an unhealthy rollout should exit 1\n{done.output}"
    checks = [at for (tool, argv), at in zip(calls, times) if tool == "kubectl" and any(a.startswith("--raw") for a in argv)]
    assert len(checks) == 2 and checks[1] - checks[0] >= 1.3, (
        f"in k8s mode too, --retries 2 health checks should be --interval 1.5 s apart; they started at "
        f"{[round(at - checks[0], 2) for at in checks]} s:\n{describe(calls)}")


@pytest.mark.task(taskno=3)
def test_k8s_mode_a_health_check_that_passes_after_a_failure_is_healthy(pipeline, fake_tools):
    fake_tools.answer("kubectl", "get", "--raw", out="ok", from_call=2)  # the 2nd check and those after it pass
    fake_tools.answer("kubectl", "get", "--raw", code=1, out="Error from server (ServiceUnavailable)")
    fake_tools.answer("kubectl", "get", "--raw", code=1, out="Error from server (ServiceUnavailable)", from_call=3,
                      first=True)  # ...until the 3rd: a check after the passing one would fail
    done = pipeline("--mode", "k8s", retries=3, interval=0.1)
    calls = fake_tools.calls
    checks = [argv for tool, argv in calls if tool == "kubectl" and any(a.startswith("--raw") for a in argv)]
    assert done.returncode == 0 and len(checks) == 2, (
        f"with --retries 3 in k8s mode the 2nd health check passes: the first check that passes makes the rollout "
        f"healthy (exit 0, no more checks), whatever the check before it said; made {len(checks)} checks\n"
        f"{done.output}\ncalls:\n{describe(calls)}")
    assert index(calls, "kubectl", "rollout", "undo") is None, (
        f"a rollout that became healthy within --retries must not be undone:\n{describe(calls)}")


@pytest.mark.task(taskno=4)
def test_docker_mode_the_rollout_timeout_counts_from_the_new_container(pipeline, fake_tools, docker_previous_then_stuck,
                                                                       model_server):
    fake_tools.answer("docker", "build", delay=5)  # a 5 s build: longer than the whole --rollout-timeout 4
    fake_tools.answer("docker", "rm", delay=5, first=True)  # and a 5 s removal of the old container before the new one
    new_container_is(fake_tools, "running", from_call=2, first=True)  # runs from the 2nd check on
    done = pipeline("--mode", "docker", rollout_timeout=4, timeout=30)
    calls = fake_tools.calls
    deploy = index(calls, "docker", "run", "--name", NAME, f"{IMAGE}:v2")
    assert done.returncode == 0 and deploy is not None and previous_back(calls, deploy) is None, (
        f"--rollout-timeout 4 counts from the start of the new container (the 5 s build, the tests and the 5 s "
        f"`docker rm` of the old container before it do not use it up): the container runs at the second check, "
        f"well within 4 s, so the deploy is healthy (exit 0, not undone)\n{done.output}\ncalls:\n{describe(calls)}")


@pytest.fixture
def docker_previous_then_stuck(fake_tools):
    """The container NAME runs ml:v1; the new container stays `created`: neither running nor exited."""
    previous_runs_v1(fake_tools)
    new_container_is(fake_tools, "created")


@pytest.mark.task(taskno=4)
def test_docker_mode_waits_for_running_only_the_rollout_timeout(pipeline, fake_tools, docker_previous_then_stuck):
    done = pipeline("--mode", "docker", rollout_timeout=1, timeout=12,
                    hint="a container that never runs should fail the deploy after --rollout-timeout (1 s here)")
    assert done.returncode == 1, f"a container still not running after --rollout-timeout 1 s is a failed deploy\n{done.output}"
    waited = seconds_to_undo(fake_tools)
    # Ten checks half a second apart take 5 s at least; a correct wait is about 1 s, with room for a busy machine.
    assert waited < 4.5, (
        f"with --rollout-timeout 1 the pipeline should give up on the container about 1 s after starting it (not "
        f"after a fixed number of checks), and undo; it waited {waited} s:\n{describe(fake_tools.calls)}")


@pytest.mark.task(taskno=4)
# A whole-second clock ($SECONDS, date +%s) gives up anywhere from 0 to 1 s after the docker run, so before 0.75 s in
# three runs of four: five runs catch it but once in a thousand. The margin is for a busy machine, where the fake
# docker's own start delays the moment it records, so a pipeline that starts its clock just before the docker run
# seems to wait a little less than it did.
@pytest.mark.parametrize("attempt", range(5))
def test_docker_mode_gives_a_stuck_container_the_whole_rollout_timeout(pipeline, fake_tools, docker_previous_then_stuck,
                                                                       attempt):
    done = pipeline("--mode", "docker", rollout_timeout=1, timeout=12,
                    hint="a container that never runs should fail the deploy after --rollout-timeout (1 s here)")
    assert done.returncode == 1, f"a container still not running after --rollout-timeout 1 s is a failed deploy\n{done.output}"
    waited = seconds_to_undo(fake_tools)
    assert waited >= 0.75, (
        f"with --rollout-timeout 1 the pipeline should give the new container the whole second after its docker run "
        f"before undoing (a whole-second clock such as $SECONDS cuts it short); the undo started {waited:.2f} s after "
        f"the docker run:\n{describe(fake_tools.calls)}")


@pytest.fixture
def docker_previous_then_slow_start(fake_tools, docker_previous_then_stuck):
    """The container NAME runs ml:v1; the new container stays `created` for 3 s, then runs."""
    import threading

    timer = threading.Timer(3.0, new_container_is, (fake_tools, "running"), {"first": True})
    timer.start()
    yield
    timer.cancel()


@pytest.mark.task(taskno=4)
def test_docker_mode_waits_up_to_the_rollout_timeout_for_a_slow_start(pipeline, fake_tools, docker_previous_then_slow_start,
                                                                      model_server):
    done = pipeline("--mode", "docker", rollout_timeout=20, timeout=30)
    calls = fake_tools.calls
    assert done.returncode == 0, (
        f"a container that needs 3 s to start is running well within --rollout-timeout 20 s: the pipeline should "
        f"keep waiting for it (not give up after a fixed number of checks) and succeed\n{done.output}\n"
        f"calls:\n{describe(calls)}")
    deploy = index(calls, "docker", "run", "--name", NAME, f"{IMAGE}:v2")
    assert deploy is not None and previous_back(calls, deploy) is None, (
        f"the slow but healthy deploy must not be undone:\n{describe(calls)}")


@pytest.mark.task(taskno=3)
@pytest.mark.parametrize("rollout_timeout", ["10000000000", "9" * 18], ids=["11-digits", "18-digits"])
def test_docker_mode_a_rollout_timeout_of_many_digits_is_waited_on(pipeline, fake_tools, docker_previous_then_slow_start,
                                                                   model_server, rollout_timeout):
    done = pipeline("--mode", "docker", rollout_timeout=rollout_timeout, timeout=30)
    calls = fake_tools.calls
    deploy = index(calls, "docker", "run", "--name", NAME, f"{IMAGE}:v2")
    assert done.returncode == 0 and deploy is not None and previous_back(calls, deploy) is None, (
        f"--rollout-timeout {rollout_timeout} ({len(rollout_timeout)} digits, valid) gives the new container that many "
        f"seconds: one that runs after 3 s is a healthy deploy (exit 0, not undone), not a failed one at the first "
        f"check (a deadline worked out in nanoseconds or microseconds wraps round at 64 bits)\n{done.output}\n"
        f"calls:\n{describe(calls)}")


@pytest.mark.task(taskno=3)
@pytest.mark.parametrize("rollout_timeout", ["10000000000", "9" * 18], ids=["11-digits", "18-digits"])
def test_k8s_mode_a_rollout_timeout_of_many_digits_is_waited_on(pipeline, fake_tools, rollout_timeout):
    fake_tools.answer("kubectl", "rollout", "status", delay=1, out='deployment "model" successfully rolled out')
    done = pipeline("--mode", "k8s", rollout_timeout=rollout_timeout, timeout=30)
    calls = fake_tools.calls
    status = index(calls, "kubectl", "rollout", "status", f"deployment/{NAME}")
    assert done.returncode == 0 and status is not None and index(calls, "kubectl", "rollout", "undo") is None, (
        f"--rollout-timeout {rollout_timeout} ({len(rollout_timeout)} digits, valid) is the rollout's limit: a rollout "
        f"that finishes after 1 s is healthy (exit 0, not undone; any outer limit on `rollout status` must not wrap "
        f"round at 64 bits)\n{done.output}\ncalls:\n{describe(calls)}")
    limits = option_values(calls[status][1], "--timeout")
    assert limits == [f"{rollout_timeout}s"], (
        f"rollout status should wait --timeout={rollout_timeout}s, got {calls[status][1]}")


@pytest.fixture
def docker_previous_then_late_start(fake_tools, docker_previous_then_stuck):
    """The container NAME runs ml:v1; the new container stays `created` until 3 s after its `docker run`, then runs."""
    import threading
    import time

    stop = threading.Event()

    def start_3_s_after_the_deploy():
        deadline = time.monotonic() + 60
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                calls, times = fake_tools.calls, fake_tools.times
            except ValueError:  # a fake is writing its line right now
                calls, times = [], []
            deploy = index(calls, "docker", "run", "--name", NAME, f"{IMAGE}:v2")
            if deploy is not None and deploy < len(times):
                if not stop.wait(max(0.0, times[deploy] + 3.0 - time.time())):
                    new_container_is(fake_tools, "running", first=True)
                return
            stop.wait(0.05)

    watcher = threading.Thread(target=start_3_s_after_the_deploy, daemon=True)
    watcher.start()
    yield
    stop.set()
    watcher.join(5)


@pytest.mark.task(taskno=4)
# With --interval 5 a pipeline that pauses --interval checks again about 5 s after the docker run, long after the
# deadline: it must see that the time is up before asking the engine, not accept the `running` it now answers.
@pytest.mark.parametrize("interval", ["0.1", "5"])
def test_docker_mode_a_container_running_only_after_the_rollout_timeout_is_undone(
        pipeline, fake_tools, docker_previous_then_late_start, model_server, interval):
    done = pipeline("--mode", "docker", rollout_timeout=1, interval=interval, timeout=25,
                    hint="a container not running within --rollout-timeout (1 s here) is a failed deploy")
    calls = fake_tools.calls
    deploy = index(calls, "docker", "run", "--name", NAME, f"{IMAGE}:v2")
    assert done.returncode == 1 and deploy is not None and previous_back(calls, deploy) is not None, (
        f"with --rollout-timeout 1 (--interval {interval}) a container that first runs 3 s after its docker run is too "
        f"late: the deploy has failed and is undone ({IMAGE}:v1 runs as {NAME} again, exit 1), even when the check "
        f"after a pause comes after the deadline and finds it running; got exit {done.returncode}\n{done.output}\n"
        f"calls:\n{describe(calls)}")


@pytest.mark.task(taskno=4)
@pytest.mark.parametrize("how", ["fails", "hangs"])
def test_docker_mode_one_failed_state_check_is_not_a_failed_deploy(pipeline, fake_tools, docker_previous, model_server,
                                                                   how):
    # The first state check of the new container fails (the engine answers with an error) or hangs until
    # --step-timeout cuts it off; from the second check on, docker says the container is running.
    for state in ("{{.State.Status}}", "{{.State.Running}}"):
        if how == "fails":
            fake_tools.answer("docker", "inspect", state, code=1, first=True,
                              err="Error response from daemon: context deadline exceeded")
        else:
            fake_tools.answer("docker", "inspect", state, hang=True, first=True)
    new_container_is(fake_tools, "running", from_call=2, first=True)
    done = pipeline("--mode", "docker", "--step-timeout", "1", rollout_timeout=10, timeout=30)
    calls = fake_tools.calls
    deploy = index(calls, "docker", "run", "--name", NAME, f"{IMAGE}:v2")
    assert done.returncode == 0 and deploy is not None and previous_back(calls, deploy) is None, (
        f"a state check that {'fails' if how == 'fails' else 'hangs until --step-timeout cuts it off'} says nothing "
        f"about the container: the pipeline should check again (only `exited` or `dead` end the wait early), see it "
        f"running at the next check, well within --rollout-timeout 10 s, and deploy (exit 0, not undone); got exit "
        f"{done.returncode}\n{done.output}\ncalls:\n{describe(calls)}")


@pytest.mark.task(taskno=4)
def test_docker_mode_a_new_container_that_fails_to_start_is_undone(pipeline, fake_tools, docker_previous):
    # The engine refuses the new container (a port taken, a bad option...): `docker run` fails.
    fake_tools.answer("docker", "run", "--name", f"{IMAGE}:v2", code=125, out="Error: port is already allocated")
    done = pipeline("--mode", "docker")
    calls = fake_tools.calls
    assert done.returncode == 1, f"a new container that fails to start is a failed deploy (exit 1)\n{done.output}"
    deploy = index(calls, "docker", "run", "--name", NAME, f"{IMAGE}:v2")
    assert deploy is not None and previous_back(calls, deploy) is not None, (
        f"a deploy whose new container did not start is undone like any failed deploy: the old container was "
        f"replaced, so {IMAGE}:v1 should run as {NAME} again:\n{describe(calls)}")
    back = previous_back(calls, deploy)
    assert index(calls[deploy + 1:back], "docker", "rm", NAME) is not None, (
        f"the undo removes {NAME} (docker rm --force) before it runs {IMAGE}:v1 again, also when the new container "
        f"failed to start: a failed `docker run` can leave it created, holding the name, and the previous image "
        f"could not take the name back:\n{describe(calls)}")


@pytest.mark.task(taskno=4)
def test_docker_mode_the_deployed_container_is_not_removed_when_it_exits(pipeline, fake_tools, docker_previous, model_server):
    model_server.set("failing")  # so the undo starts a container too
    done = pipeline("--mode", "docker", retries=1)
    calls = fake_tools.calls
    assert done.returncode == 1, f"an unhealthy deploy should be undone (exit 1)\n{done.output}\ncalls:\n{describe(calls)}"
    served = [argv for tool, argv in calls if tool == "docker" and has(argv, "run") and has(argv, "--name")]
    assert len(served) == 2, f"expected the deploy of v2 and the undo's run of v1:\n{describe(calls)}"
    for argv in served:
        assert not has(argv, "--rm"), (
            f"the container that serves must not be started with --rm: one that exits would vanish at once, so "
            f"`docker inspect` can no longer say it exited (the pipeline waits out --rollout-timeout) and its logs "
            f"are gone:\n  docker {' '.join(argv)}")


@pytest.mark.task(taskno=3)
@pytest.mark.parametrize("mode", ["docker", "k8s"])
def test_without_retries_and_interval_the_documented_defaults_apply(pipeline, fake_tools, docker_previous, model_server,
                                                                   learner_file, run_bash, mode):
    model_server.set("failing")  # the docker health check fails
    fake_tools.answer("kubectl", "get", "--raw", code=1, out="Error from server (ServiceUnavailable)")  # so does k8s's

    def checks(*extra):
        args = ["--mode", mode, "--image", IMAGE, "--name", NAME, "--port", str(pipeline.port), "--context",
                pipeline.context, "--rollout-timeout", "5", "--timeout", "2", *extra, "v2"]
        before = len(fake_tools.calls)
        # RETRIES=2 and INTERVAL=0.01 exported by the caller must not replace the documented defaults.
        done = run_bash(learner_file("pipeline.sh"), args, env={**SAME_NAMED_VARIABLES, **fake_tools.env}, timeout=20)
        if mode == "k8s":
            # (start, end) of each fake `kubectl get --raw` call: on a busy machine the fake's own run takes a while
            ran = [(start, end) for tool, argv, start, end in fake_tools.spans[before:]
                   if tool == "kubectl" and any(a.startswith("--raw") for a in argv)]
        else:
            ran = [(t, t) for t in health_times(model_server)]  # when the request reached the server
        return done, ran

    done, ran = checks("--interval", "0.01")
    assert done.returncode == 1 and len(ran) == 10, (
        f"without --retries the pipeline should check the health the documented 10 times before the undo (an "
        f"exported RETRIES=2 changes nothing), it checked {len(ran)} times\n{done.output}")
    model_server.received.clear()
    done, ran = checks("--retries", "2")
    # Checks 1 s apart, counted from one check's start (a fixed rate) or from its end (a pause after it): the
    # second starts at least 0.8 s after the first started and less than 1.8 s after it ended.
    apart = len(ran) == 2 and ran[1][0] - ran[0][0] >= 0.8 and ran[1][0] - (ran[0][1] or ran[0][0]) < 1.8
    assert done.returncode == 1 and apart, (
        f"without --interval the health checks should be the documented 1 s apart (an exported INTERVAL=0.01 changes "
        f"nothing); checks (start, end) at "
        f"{[(round(start - ran[0][0], 2), end and round(end - ran[0][0], 2)) for start, end in ran]} s\n{done.output}")


@pytest.mark.task(taskno=3)
def test_without_mode_the_pipeline_deploys_with_docker(pipeline, fake_tools, docker_previous):
    done = pipeline(env={"MODE": "k8s"})  # no --mode option; a MODE exported by the caller changes nothing
    calls = fake_tools.calls
    assert done.returncode == 0 and index(calls, "docker", "run", "--name", NAME, f"{IMAGE}:v2") is not None, (
        f"without --mode the pipeline deploys in the documented default mode, docker (an exported MODE=k8s changes "
        f"nothing): a healthy deploy runs {IMAGE}:v2 as {NAME} and exits 0\n{done.output}\ncalls:\n{describe(calls)}")
    assert index(calls, "kubectl") is None, f"docker mode runs no kubectl:\n{describe(calls)}"


FAILURE = re.compile(r"fail|could ?n[o']t|did ?n[o']t|cannot|can't|unable|error|unsuccessful|not (succeed|work|complete|finish)",
                     re.IGNORECASE)
# A line saying the undo (or bringing the previous version back) failed, in any wording: the failure after the undo
# ("undo failed", "the undo did not finish", "the undone rollout did not finish", "could not start ml:v1 again") or
# before it ("failed to roll back", "unable to restore", "ERROR: undo of ml:v2").
UNDO_FAILED = re.compile(r"(undo|undone|roll\w*[ -]?back|restor|previous|bring|again)\W.*(" + FAILURE.pattern + r")|"
                         r"(fail\w*|could ?n[o']t|did ?n[o']t|cannot|can't|unable|error:?)( to)? (undo|roll|restor|bring|start|"
                         r"restart|run)", re.IGNORECASE)
UNDO_WORKED = re.compile(r"serv\w* again|rolled back|restored|undo (is )?(done|complete|succeeded|ok|finished)",
                         re.IGNORECASE)


def undo_log(output):
    """(lines admitting the undo failed, lines claiming it worked) of a pipeline's log."""
    lines = output.splitlines()
    return ([line for line in lines if UNDO_FAILED.search(line)],
            [line for line in lines if UNDO_WORKED.search(line) and not FAILURE.search(line)])


@pytest.mark.task(taskno=4)
@pytest.mark.parametrize("mode", ["docker", "k8s"])
def test_a_failing_undo_still_exits_1(pipeline, fake_tools, docker_previous, model_server, mode):
    model_server.set("failing")  # the docker health check fails: the undo runs
    fake_tools.answer("kubectl", "get", "--raw", code=1, out="Error from server (ServiceUnavailable)")  # so does k8s's
    for previous in (f"{IMAGE}:v1", PREVIOUS_ID):  # bringing the previous image back fails too
        fake_tools.answer("docker", "run", "--name", previous, code=125,
                          err="docker: Error response from daemon: driver failed programming external connectivity")
    fake_tools.answer("kubectl", "rollout", "undo", hang=True)  # a hung API server: cut off by the step timeout
    done = pipeline("--mode", mode, "--step-timeout", "1", retries=1)
    calls = fake_tools.calls
    if mode == "k8s":
        undone = index(calls, "kubectl", "rollout", "undo", f"deployment/{NAME}")
    else:
        deploy = index(calls, "docker", "run", "--name", NAME, f"{IMAGE}:v2")
        undone = previous_back(calls, deploy) if deploy is not None else None
    assert undone is not None, f"the unhealthy {mode} deploy should be undone:\n{describe(calls)}"
    assert done.returncode == 1, (
        f"a failed deploy exits 1 even when its undo fails too (the log says so); not the failing tool's own code "
        f"(125 from docker run, 124 from timeout), which CI would read as something else, got "
        f"{done.returncode}\n{done.output}\ncalls:\n{describe(calls)}")
    admits, claims = undo_log(done.output)
    assert admits and not claims, (
        f"when the undo itself fails the log should say so (the undo failed: a person has to look), and must not say "
        f"the previous version serves again; lines admitting it: {admits}, lines claiming it worked: {claims}\n"
        f"{done.output}")


@pytest.mark.task(taskno=4)
def test_k8s_mode_an_undo_whose_rollout_fails_is_a_failed_undo(pipeline, fake_tools):
    fake_tools.answer("kubectl", "get", "--raw", code=1, out="Error from server (ServiceUnavailable)")  # unhealthy
    # The deploy's rollout status passes; the second one, which waits for the undo's rollout, fails.
    fake_tools.answer("kubectl", "rollout", "status", code=1, from_call=2,
                      err="error: timed out waiting for the condition")
    done = pipeline("--mode", "k8s", retries=1)
    calls = fake_tools.calls
    undo = index(calls, "kubectl", "rollout", "undo", f"deployment/{NAME}")
    assert undo is not None and index(calls[undo:], "kubectl", "rollout", "status") is not None, (
        f"the unhealthy rollout should be undone and the undo's rollout waited for:\n{describe(calls)}")
    assert done.returncode == 1, f"a failed deploy exits 1, got {done.returncode}\n{done.output}"
    admits, claims = undo_log(done.output)
    assert admits and not claims, (
        f"the undo includes waiting for its rollout: when that `rollout status` fails, the undo failed, and the log "
        f"should say so (a person has to look), never that the old version serves again; lines admitting it: "
        f"{admits}, lines claiming it worked: {claims}\n{done.output}")


@pytest.mark.task(taskno=3)
@pytest.mark.parametrize("how", ["fails", "hangs"])
def test_docker_mode_the_old_container_is_removed_even_when_its_inspect_fails(pipeline, fake_tools, model_server, how):
    # Container NAME runs, but the inspect of its image fails (a busy engine) or hangs until --step-timeout 3 cuts it
    # off. Only the hang needs the short step timeout: a tighter one cut off the fake `docker build` on a busy machine.
    fake_tools.container_exists(NAME)
    for form in ("{{.Config.Image}}", "{{.Image}}"):
        if how == "fails":
            fake_tools.answer("docker", "inspect", form, code=1,
                              err="Error response from daemon: context deadline exceeded")
        else:
            fake_tools.answer("docker", "inspect", form, hang=True)
    new_container_is(fake_tools, "running")
    step_timeout = ("--step-timeout", "3") if how == "hangs" else ()
    done = pipeline("--mode", "docker", *step_timeout, timeout=25)
    calls = fake_tools.calls
    deploy = index(calls, "docker", "run", "--name", NAME, f"{IMAGE}:v2")
    removed = index(calls[:deploy], "docker", "rm", NAME) if deploy is not None else None
    assert removed is not None and forced(calls[removed][1]), (
        f"when the inspect of the previous image {how}, a container may still hold the name {NAME}: the pipeline "
        f"should remove it with `docker rm --force {NAME}` before `docker run --name {NAME} {IMAGE}:v2` all the same "
        f"(a forced rm of a missing container fails harmlessly)\n{done.output}\ncalls:\n{describe(calls)}")
    assert done.returncode == 0, (
        f"the old container removed, {IMAGE}:v2 takes the name {NAME} and is healthy: exit 0 expected, got "
        f"{done.returncode}\n{done.output}\ncalls:\n{describe(calls)}")


@pytest.mark.task(taskno=4)
@pytest.mark.timeout(45)
def test_docker_mode_a_slow_engine_does_not_stretch_the_rollout_timeout(pipeline, fake_tools,
                                                                       docker_previous_then_stuck):
    # Every state check hangs until --step-timeout 2 cuts it off: each takes 2 s.
    fake_tools.answer("docker", "inspect", "{{.State.Status}}", hang=True, first=True)
    fake_tools.answer("docker", "inspect", "{{.State.Running}}", hang=True, first=True)
    done = pipeline("--mode", "docker", "--step-timeout", "2", rollout_timeout=2, timeout=35,
                    hint="the wait for running should end --rollout-timeout (2 s) after the deploy, on the clock")
    assert done.returncode == 1, f"a container not running after --rollout-timeout is a failed deploy\n{done.output}"
    waited = seconds_to_undo(fake_tools)
    # On the clock: about 2 s, one check more at most (4 s), plus room for a busy machine. A number of checks
    # worked out from --rollout-timeout (say 10 checks 0.2 s apart) takes 10 x 2.2 s here.
    assert waited < 8, (
        f"--rollout-timeout 2 is seconds on the clock, however long each `docker inspect` takes (here 2 s, a slow "
        f"engine): the pipeline should give up on the container about 2 s after starting it, not after a number of "
        f"checks; the undo started {waited:.1f} s after the deploy:\n{describe(fake_tools.calls)}")


@pytest.mark.task(taskno=3)
def test_without_variables_or_options_the_tools_come_from_path(learner_file, run_bash, fake_tools, monkeypatch, tmp_path):
    for tool in ("DOCKER", "KUBECTL", "KIND"):
        monkeypatch.delenv(tool, raising=False)
    env = {key: value for key, value in fake_tools.env.items() if key not in ("DOCKER", "KUBECTL", "KIND")}
    done = run_bash(learner_file("pipeline.sh"), ["--mode", "k8s", "--kind-cluster", "dev", "--retries", "1", "v1"],
                    env=env, cwd=tmp_path, timeout=20)
    calls = fake_tools.calls
    assert done.returncode == 0 and {tool for tool, _ in calls} == {"docker", "kubectl", "kind"}, (
        f"without --docker/--kubectl/--kind and DOCKER/KUBECTL/KIND the pipeline runs docker, kubectl and kind found "
        f"on PATH (here the test's stand-ins), and a healthy k8s deploy exits 0\n{done.output}\ncalls:\n{describe(calls)}")


@pytest.mark.task(taskno=4)
def test_docker_mode_the_wait_for_running_pauses_between_checks(pipeline, fake_tools, docker_previous_then_stuck):
    done = pipeline("--mode", "docker", rollout_timeout=2, timeout=20)
    calls, times = fake_tools.calls, fake_tools.times
    assert done.returncode == 1, f"a container still not running after --rollout-timeout is a failed deploy\n{done.output}"
    deploy, removed = deploy_and_undo(calls)
    assert removed is not None, f"the deploy should be undone:\n{describe(calls)}"
    checks = [at for (tool, argv), at in zip(calls[deploy + 1:removed], times[deploy + 1:removed])
              if tool == "docker" and has(argv, "inspect")]
    paused = sum(1 for before, after in zip(checks, checks[1:]) if after - before >= 0.1)
    # A round of checks (one `docker inspect` or two) ends with a pause of 0.1 s or more; a busy loop has none.
    assert paused * 3 >= len(checks) - 3, (
        f"the wait for running should pause between rounds of checks (--interval or at least 0.1 s), not ask the "
        f"engine in a busy loop: {len(checks)} `docker inspect` calls, only {paused} of them after a pause:\n"
        f"{describe(calls)}")
