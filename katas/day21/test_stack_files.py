"""Tasks 4 and 5: the stack's compose file and Alertmanager's configuration, checked by the
real tools (`docker-compose config`, `amtool check-config`, a running Alertmanager mailing a
real SMTP sink) before the end-to-end run uses them."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import urllib.request

import pytest

ENV = {"MLFLOW_IMAGE": "reg.example:5000/mlflow:3", "MLFLOW_PORT": "15000", "MODEL_IMAGE": "katas/m:v7",
       "MODEL_PORT": "18000"}


def compose_config(path, env: dict) -> dict:
    import yaml

    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose is not installed")
    clean = {k: v for k, v in os.environ.items() if k not in ENV}
    done = subprocess.run(["docker-compose", "--file", str(path), "--project-name", "check", "config"],
                          capture_output=True, text=True, timeout=60, env={**clean, **env})
    assert done.returncode == 0, f"docker-compose config rejects the file: {done.stderr[-800:]}"
    return yaml.safe_load(done.stdout)


def published(service: dict) -> list[tuple[str, str, str]]:
    """(host ip, host port, container port) of every published port, whichever syntax the file used."""
    found = []
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            found.append((str(port.get("host_ip", "")), str(port.get("published", "")), str(port.get("target"))))
        else:
            parts = str(port).split("/")[0].split(":")
            if len(parts) == 3:
                found.append((parts[0], parts[1], parts[2]))
            elif len(parts) == 2:
                found.append(("", parts[0], parts[1]))
            else:
                found.append(("", "", parts[0]))
    return found


@pytest.mark.task(taskno=4)
@pytest.mark.docker
def test_the_stack_has_the_two_services_on_loopback(learner_file):
    config = compose_config(learner_file("docker-compose.yml"), ENV)
    services = config.get("services") or {}
    assert {"mlflow", "model"} <= set(services), f"the stack has services 'mlflow' and 'model', got {sorted(services)}"
    assert services["mlflow"].get("image") == ENV["MLFLOW_IMAGE"], "the mlflow service runs $MLFLOW_IMAGE"
    assert services["model"].get("image") == ENV["MODEL_IMAGE"], "the model service runs $MODEL_IMAGE"
    assert published(services["mlflow"]) == [("127.0.0.1", "15000", "5000")], (
        f"mlflow publishes container port 5000 on 127.0.0.1:$MLFLOW_PORT only, got {published(services['mlflow'])}")
    assert published(services["model"]) == [("127.0.0.1", "18000", "8000")], (
        f"model publishes container port 8000 on 127.0.0.1:$MODEL_PORT only, got {published(services['model'])}")
    on_host = [name for name in ("mlflow", "model") if services[name].get("network_mode") == "host"]
    assert not on_host, (
        f"{on_host} run with network_mode: host, which ignores the published ports and listens on every interface "
        f"of the machine: each service keeps its own network and publishes its port on 127.0.0.1 only")


@pytest.mark.task(taskno=4)
@pytest.mark.docker
def test_the_defaults_let_the_file_parse_without_a_model_image(learner_file):
    config = compose_config(learner_file("docker-compose.yml"), {})
    services = config.get("services") or {}
    assert published(services["mlflow"]) == [("127.0.0.1", "5000", "5000")], "MLFLOW_PORT defaults to 5000"
    assert published(services["model"]) == [("127.0.0.1", "8000", "8000")], "MODEL_PORT defaults to 8000"
    assert services["mlflow"].get("image") == "katas/day21-mlflow", "MLFLOW_IMAGE defaults to katas/day21-mlflow"
    assert services["model"].get("image"), "MODEL_IMAGE has a default, so `up mlflow` works before any deploy"


@pytest.mark.task(taskno=4)
@pytest.mark.docker
def test_the_registry_outlives_the_container(learner_file):
    config = compose_config(learner_file("docker-compose.yml"), ENV)
    volumes = config["services"]["mlflow"].get("volumes") or []
    targets = [v.get("target") if isinstance(v, dict) else str(v).split(":")[1] for v in volumes]
    sources = [v.get("source") if isinstance(v, dict) else str(v).split(":")[0] for v in volumes]
    assert "/mlflow" in targets, f"a volume is mounted at /mlflow (the registry and artifacts), got {volumes}"
    named = sources[targets.index("/mlflow")]
    assert named in (config.get("volumes") or {}), f"/mlflow is a named volume of the file, not {named!r}"
    declared = (config.get("volumes") or {}).get(named) or {}
    assert not declared.get("external"), (
        f"the named volume {named!r} is declared external: compose never creates an external volume, so `up mlflow` "
        f"fails on a machine where nobody made it by hand; declare it in the file for compose to create")
    mount = volumes[targets.index("/mlflow")]
    if isinstance(mount, dict):
        read_only = bool(mount.get("read_only"))
    else:
        options = str(mount).split(":")[2:]  # source:target[:mode]
        read_only = bool(options) and "ro" in options[0].split(",")
    assert not read_only, (
        f"MLflow keeps its store in /mlflow: the named volume is mounted read-write there, not read-only ({mount!r})")


@pytest.mark.task(taskno=4)
@pytest.mark.docker
def test_the_model_service_keeps_the_images_non_root_user(learner_file):
    config = compose_config(learner_file("docker-compose.yml"), ENV)
    user = str(config["services"]["model"].get("user") or "").strip()
    assert user.split(":")[0] not in ("root", "0"), (
        f"the model service should keep its image's non-root user (no `user:` that is root: root, 0, 0:<group>, "
        f"root:<group>); its compose entry sets user: {user!r}")


def alertmanager_config(learner_file, smtp) -> str:
    import yaml

    config = yaml.safe_load(learner_file("alertmanager.yml").read_text(encoding="utf-8"))
    assert isinstance(config, dict), "alertmanager.yml is a YAML mapping"
    config.setdefault("global", {})["smtp_smarthost"] = f"{smtp.host}:{smtp.port}"
    return yaml.safe_dump(config)


@pytest.mark.task(taskno=5)
@pytest.mark.prometheus
def test_amtool_accepts_the_configuration(learner_file):
    amtool = shutil.which("amtool")
    if amtool is None:
        pytest.skip("amtool is not installed (Debian: prometheus-alertmanager)")
    done = subprocess.run([amtool, "check-config", str(learner_file("alertmanager.yml"))], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, f"amtool check-config rejects alertmanager.yml: {done.stdout[-600:]}{done.stderr[-600:]}"


@pytest.mark.task(taskno=5)
def test_no_password_in_the_alertmanager_file(learner_file):
    import yaml

    config = yaml.safe_load(learner_file("alertmanager.yml").read_text(encoding="utf-8"))
    found = []

    def walk(node, where: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                secret = any(word in str(key).lower()
                             for word in ("password", "secret", "key", "token", "credentials", "api_url"))
                if secret and not str(key).lower().endswith("_file") and value not in (None, ""):
                    found.append(f"{where}{key}")
                walk(value, f"{where}{key}.")
        elif isinstance(node, list):
            for index, item in enumerate(node):
                walk(item, f"{where}{index}.")
        elif isinstance(node, str) and re.search(r"://[^/?#@\s:]*:[^/?#@\s]*@", node):
            found.append(f"{where.rstrip('.')} (a password inside the URL)")

    walk(config, "")
    assert not found, (
        f"alertmanager.yml should hold no password, key, token or other credential (a real relay's password goes in "
        f"smtp_auth_password_file, a key or token in its *_file setting), nor a user:password@ inside a URL such as "
        f"proxy_url; found {found}")


@pytest.mark.task(taskno=5)
def test_the_mails_sender_is_set_once_in_global_smtp_from(learner_file):
    import yaml

    config = yaml.safe_load(learner_file("alertmanager.yml").read_text(encoding="utf-8"))
    settings = config.get("global") if isinstance(config, dict) else None
    sender = settings.get("smtp_from") if isinstance(settings, dict) else None
    assert isinstance(sender, str) and sender.strip(), (
        f"alertmanager.yml should set the mails' sender in global.smtp_from (a non-empty address, which every email "
        f"receiver inherits), got global: {settings!r}")


@pytest.mark.task(taskno=5)
def test_every_receiver_is_an_email_receiver(learner_file):
    import yaml

    config = yaml.safe_load(learner_file("alertmanager.yml").read_text(encoding="utf-8"))
    receivers = config.get("receivers") if isinstance(config, dict) else None
    assert isinstance(receivers, list) and receivers, f"alertmanager.yml should list its receivers, got {receivers!r}"
    other = {str(receiver.get("name")): sorted(set(receiver) - {"name", "email_configs"})
             for receiver in receivers if isinstance(receiver, dict) and set(receiver) - {"name", "email_configs"}}
    assert not other, (
        f"alerts go to one email receiver: every receiver should have only email_configs, these have more "
        f"(receiver: settings): {other}")


def post_alert(url: str, labels: dict) -> None:
    body = json.dumps([{"labels": labels, "annotations": {"summary": "test"}}]).encode()
    request = urllib.request.Request(url + "/api/v2/alerts", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert answer.status == 200, f"Alertmanager should accept the test alert with 200, it answered {answer.status}"


@pytest.mark.task(taskno=5)
@pytest.mark.prometheus
@pytest.mark.timeout(60)
def test_a_page_is_mailed_within_seconds(learner_file, start_alertmanager):
    from mlops_katas.infra.smtp import SmtpSink

    with SmtpSink() as smtp:
        alertmanager = start_alertmanager(alertmanager_config(learner_file, smtp))
        post_alert(alertmanager.url, {"alertname": "ErrorBudgetFastBurn", "severity": "page"})
        deadline = time.monotonic() + 15
        while not smtp.messages and time.monotonic() < deadline:
            time.sleep(0.2)
        messages = smtp.messages
        assert messages, "a page should reach the mailbox within 15 s (group_wait of at most a few seconds)"
        assert "ErrorBudgetFastBurn" in messages[0].subject + messages[0].body, (
            f"the mail names the alert; subject {messages[0].subject!r}")
        assert messages[0].rcpt_tos, "the mail has a recipient"
