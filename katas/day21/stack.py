"""The world `capstone.py` runs in, started together and taken down together (provided).

One object, `CapstoneStack`, owns everything the capstone talks to: the images (the
MLflow server of `docker/day21/mlflow`, the day-03 reference server), your compose file's
`mlflow` service under a project name this run owns, a real SMTP sink, Alertmanager with
your `alertmanager.yml` (its `smtp_smarthost` pointed at the sink), and Prometheus scraping
the model service's port every second with day 18's burn-rate rules. Leaving the `with`
block removes all of it, also after an error or Ctrl-C; a killed run's leftovers are
removed by the next run. The end-to-end tests and a by-hand run share this one recipe.

By hand, from this folder (tiers docker, mlflow and prometheus: `katas doctor`):

    python stack.py                                  # a first deploy, then the broken v2 rolled back
    python stack.py linear                           # one run: the candidates to run, in order
    python stack.py --keep                           # then stay up until Enter (look at Prometheus)
    python stack.py linear -- --rps 5 --requests 50  # flags after -- go to capstone.py

Each run prints your capstone's report; at the end come the mails Alertmanager sent.
`--impl DIR` runs the files of another folder (e.g. ../../solutions/day21).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Callable

DAY = Path(__file__).resolve().parent
ROOT = DAY.parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the harness's infra modules, also when run as `python stack.py`
if str(DAY) not in sys.path:
    sys.path.append(str(DAY))

MLFLOW_WAIT_S = 120.0
RUN_TIMEOUT_S = 300.0
MAIL_WAIT_S = 60.0


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def http_json(url: str, timeout: float = 5.0):
    with urllib.request.urlopen(url, timeout=timeout) as answer:
        return json.load(answer)


def prometheus_query(url: str, promql: str) -> list[dict]:
    """What the Prometheus at `url` answers to the instant query `promql`: one dict per series."""
    return http_json(f"{url}/api/v1/query?query={urllib.parse.quote(promql)}")["data"]["result"]


class CapstoneStack:
    """`with CapstoneStack(compose_file, alertmanager_file, workdir, build=...) as stack:`.

    `build(context_dir, name)` returns the tag of the built image (the tests pass their
    cached, labelled build; `python stack.py` the same builder with progress on the terminal).
    """

    def __init__(self, compose_file: Path, alertmanager_file: Path, workdir: Path, *,
                 build: Callable[[Path, str], str], client=None) -> None:
        from mlops_katas.infra import docker_engine

        self.compose_file, self.alertmanager_file = Path(compose_file), Path(alertmanager_file)
        self.workdir, self.build = Path(workdir), build
        self.client = client or docker_engine.get_client()
        self.image_repo = f"katas/day21-model-{docker_engine.SESSION_ID}"
        self._exit = contextlib.ExitStack()

    def __enter__(self) -> "CapstoneStack":
        try:
            self._start()
        except BaseException:
            self._exit.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self._exit.close()

    def _start(self) -> None:
        import yaml

        from earlier_days import MLFLOW_CONTEXT, SLO_RULES, server_context
        from mlops_katas.infra import compose
        from mlops_katas.infra.http_server import free_port
        from mlops_katas.infra.prometheus import AlertmanagerServer, PrometheusServer
        from mlops_katas.infra.smtp import SmtpSink

        mlflow_image = self.build(MLFLOW_CONTEXT, "day21-mlflow")
        self.server_image = self.build(server_context(self.workdir / "server"), "day21-server")
        self.project = compose.project_name("day21")
        self.mlflow_port, self.model_port = free_port(), free_port()
        command = compose.with_env_file(compose.COMPOSE_COMMAND, self.workdir / "stack.env", {
            "MLFLOW_IMAGE": mlflow_image, "MLFLOW_PORT": str(self.mlflow_port), "MODEL_PORT": str(self.model_port)})
        self._exit.callback(self.remove_model_images)
        services = self._exit.enter_context(compose.stack(
            command, [str(self.compose_file)], self.project,
            ["up -d mlflow"], ["down -v --remove-orphans"], client=self.client))
        self.tracking_uri = f"http://127.0.0.1:{self.mlflow_port}"

        self.smtp = self._exit.enter_context(SmtpSink())
        config = yaml.safe_load(self.alertmanager_file.read_text(encoding="utf-8"))
        config.setdefault("global", {})["smtp_smarthost"] = f"{self.smtp.host}:{self.smtp.port}"
        self.alertmanager = self._exit.enter_context(AlertmanagerServer(yaml.safe_dump(config)))
        prometheus_config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": ["slo_rules.yml"],
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [self.alertmanager.url.split("//", 1)[1]]}]}]},
            "scrape_configs": [{"job_name": "model",
                                "static_configs": [{"targets": [f"127.0.0.1:{self.model_port}"]}]}],
        }
        self.prometheus = self._exit.enter_context(PrometheusServer(
            yaml.safe_dump(prometheus_config), rule_files={"slo_rules.yml": SLO_RULES.read_text(encoding="utf-8")}))
        services.wait_until_responsive(lambda: answers(self.tracking_uri + "/health"), timeout=MLFLOW_WAIT_S,
                                       pause=0.5)

    def remove_model_images(self) -> None:
        """The `v<version>` images the capstone built during this stack's life."""
        import docker

        for image in self.client.images.list(name=self.image_repo):
            with contextlib.suppress(docker.errors.APIError):
                self.client.images.remove(image.id, force=True)

    def capstone_argv(self, capstone_py: Path, candidate: str, report_json: Path, extra=()) -> list[str]:
        """`python capstone.py ...` with every flag that points it at this stack."""
        return [sys.executable, str(capstone_py), "--tracking-uri", self.tracking_uri,
                "--server-image", self.server_image, "--candidate", candidate,
                "--image-repo", self.image_repo, "--compose-file", str(self.compose_file),
                "--project", self.project, "--model-port", str(self.model_port),
                "--prometheus-url", self.prometheus.url, "--requests", "60", "--rps", "30",
                "--load-seconds", "20", "--wait-seconds", "60", "--store", str(self.workdir / "metrics.db"),
                "--report-json", str(report_json), *extra]

    @staticmethod
    def capstone_env() -> dict[str, str]:
        """`import earlier_days` and the harness, whichever folder capstone.py comes from."""
        return {**os.environ, "PYTHONPATH": os.pathsep.join([str(DAY), str(ROOT), os.environ.get("PYTHONPATH", "")])}


# --- by hand ----------------------------------------------------------------------------------------


def terminal_builder(client) -> Callable[[Path, str], str]:
    from mlops_katas.infra import images

    base = images.choose_base_image(client)
    if base.image is None:
        raise SystemExit(f"stack.py: no base image for the builds: {base.message}")

    def build(context_dir: Path, name: str) -> str:
        print(f"building {name} (cached after the first time)...", flush=True)
        try:
            return images.build_image(context_dir, buildargs={"BASE_IMAGE": base.image}, name=name,
                                      progress=lambda line: print(f"  docker build: {line}", flush=True),
                                      client=client).tag
        except images.ImageBuildFailed as exc:
            raise SystemExit(f"stack.py: the {name} image did not build:\n{exc}") from None

    return build


def missing_tools() -> list[str]:
    from mlops_katas.infra import compose, docker_engine, prometheus

    reasons = [docker_engine.probe(), compose.probe(), prometheus.probe()]
    if prometheus.alertmanager_binary() is None:
        reasons.append(f"Alertmanager is not installed: {prometheus.ALERTMANAGER_HINT}")
    return [reason for reason in reasons if reason]


def parse_args(argv: list[str] | None):
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description="Bring up the capstone's world, run capstone.py in it, "
                                                 "take it all down.")
    parser.add_argument("candidates", nargs="*", default=["linear", "interactions-by-name"],
                        help="the --candidate of each run, in order (default: linear interactions-by-name)")
    parser.add_argument("--impl", type=Path, default=DAY, help="the folder with capstone.py, docker-compose.yml "
                                                                 "and alertmanager.yml (default: this one)")
    parser.add_argument("--keep", action="store_true", help="after the runs, stay up until Enter or Ctrl-C")
    args = parser.parse_args(argv)
    args.extra = extra
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    problems = missing_tools()
    if problems:
        print("stack.py needs:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 2
    from mlops_katas.infra import compose, docker_engine, local_server

    client = docker_engine.get_client()
    compose.reap(client)  # stacks a killed run left behind
    local_server.reap()
    impl = args.impl.resolve()
    code = 0
    with tempfile.TemporaryDirectory(prefix="capstone-") as tmp, \
            CapstoneStack(impl / "docker-compose.yml", impl / "alertmanager.yml", Path(tmp),
                          build=terminal_builder(client), client=client) as world:
        print(f"up: MLflow {world.tracking_uri}, Prometheus {world.prometheus.url}, "
              f"Alertmanager {world.alertmanager.url}, model service http://127.0.0.1:{world.model_port}", flush=True)
        for number, candidate in enumerate(args.candidates, 1):
            print(f"\n=== run {number}: python capstone.py --candidate {candidate}", flush=True)
            argv = world.capstone_argv(impl / "capstone.py", candidate, Path(tmp) / f"report-{number}.json",
                                       args.extra)
            try:
                code = subprocess.run(argv, env=world.capstone_env(), cwd=tmp, timeout=RUN_TIMEOUT_S).returncode
            except subprocess.TimeoutExpired:
                print(f"capstone.py did not finish within {RUN_TIMEOUT_S:g} s; stopped", flush=True)
                code = 1
            print(f"=== run {number} exited {code}", flush=True)
        if code == 3:
            print(f"\nwaiting up to {MAIL_WAIT_S:g} s for Alertmanager's mail...", flush=True)
            world.smtp.wait_for(1, timeout_s=MAIL_WAIT_S)
        mails = world.smtp.messages
        print(f"\ninbox: {len(mails)} mail(s)" + "".join(f"\n  to {', '.join(m.rcpt_tos)}: {m.subject}"
                                                        for m in mails))
        if args.keep:
            with contextlib.suppress(KeyboardInterrupt, EOFError):
                input("\nthe stack stays up; press Enter to take it down ")
    print("taken down", flush=True)
    return code


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted; everything this run started was taken down", file=sys.stderr)
        sys.exit(130)
