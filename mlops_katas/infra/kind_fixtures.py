"""Fixtures for Kubernetes days: the kind cluster, a namespace per test, the model image, manifest checks.

Tests marked `kind` never reach these fixtures where the tier is missing: the plugin
skips them first (or fails them under `--require kind`) with the probe's reason.
Nothing heavy is imported here at import time, so days without kind tests stay fast.

Options: `--kind-fresh` (a new cluster, deleted at the end), `--kubectl-bin`, and
`--kind-bin`/`--kind-image`, which pytest-kind (installed) already defines with the
same meaning; they are added here only when pytest-kind is not loaded. pytest-kind's
`--kind-kubectl-bin` is honoured too. Why pytest-kind's own cluster fixture is not
used is explained in mlops_katas/infra/kind.py.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest

from . import kind

MODEL_IMAGE_NAME = "day03-model-server"
# Day 03's files that are provided rather than written by the learner (not in solutions/day03).
DAY03_PROVIDED = ("train_model.py", "requirements.txt")


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    group = parser.getgroup("katas kind tier")
    group.addoption("--kind-fresh", action="store_true", default=False,
                    help="create a new kind cluster for this run and delete it at the end "
                         "(default: reuse a healthy one and keep what this run creates; CI deletes it)")
    group.addoption("--kubectl-bin", default=None, help="the kubectl to use (default: kubectl on PATH)")
    if not _pytest_kind_adds_options(pluginmanager):
        group.addoption("--kind-bin", default=None, help="the kind binary to use (default: kind on PATH)")
        group.addoption("--kind-image", default=None, help=f"the kind node image (default {kind.NODE_IMAGE})")


def _pytest_kind_adds_options(pluginmanager: pytest.PytestPluginManager) -> bool:
    """Will pytest-kind register --kind-bin/--kind-image in this run (now or later)?

    Loaded from conftest.py we come after the installed plugins; loaded with `-p` we
    come before them, so an installed, unblocked pytest-kind is still to be counted.
    Adding the same option twice would stop pytest from starting.
    """
    if pluginmanager.has_plugin("pytest-kind"):
        return True
    if pluginmanager.is_blocked("pytest-kind") or os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        return False
    return importlib.util.find_spec("pytest_kind") is not None


TOOLS_BEFORE = pytest.StashKey[kind.Tools | None]()


def pytest_configure(config: pytest.Config) -> None:
    tools = kind.Tools.find(
        kind_bin=config.getoption("kind_bin", None),
        kubectl_bin=config.getoption("kubectl_bin", None) or config.getoption("kind_kubectl_bin", None),
        node_image=config.getoption("kind_image", None),
    )
    config.stash[TOOLS_BEFORE] = kind.configure(tools)


def pytest_unconfigure(config: pytest.Config) -> None:
    if TOOLS_BEFORE in config.stash:
        kind.configure(config.stash[TOOLS_BEFORE])


@pytest.fixture(scope="session")
def k8s_cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """The run's kind cluster (reused when healthy; deleted only if created here and not kept)."""
    fresh = request.config.getoption("kind_fresh")
    cluster = kind.KindCluster(kind.current_tools(), kind.KIND_CONFIG, tmp_path_factory.mktemp("kind"))
    try:
        with cluster.session(fresh=fresh, keep=kind.keep_cluster(fresh, os.environ)) as ready:
            yield ready
    except kind.KindError as exc:
        pytest.fail(f"kind cluster {cluster.name}: {exc}", pytrace=False)


@pytest.fixture
def k8s_namespace(request: pytest.FixtureRequest, k8s_cluster: kind.KindCluster):
    """A fresh labelled namespace for one test; deleted (with its port-forwards) at teardown."""
    from ..plugin import add_failure_context

    with k8s_cluster.namespace() as ns:
        add_failure_context(request.node, f"pods and events in namespace {ns.name}", ns.describe)
        yield ns


@pytest.fixture(scope="session")
def kind_model_image(request: pytest.FixtureRequest, k8s_cluster: kind.KindCluster, docker_build,
                     tmp_path_factory: pytest.TempPathFactory) -> str:
    """The day-03 reference model server, built once (content-hash tag) and loaded into the cluster.

    Days 04 and 10 test manifests, not the server, so they run the reference server
    whatever state the learner's own day 03 is in.
    """
    root = Path(request.config.rootpath)
    context = tmp_path_factory.mktemp("day03-image")
    shutil.copytree(root / "solutions" / "day03", context, dirs_exist_ok=True)
    for name in DAY03_PROVIDED:
        if not (context / name).exists():
            shutil.copy2(root / "katas" / "day03" / name, context / name)
    built = docker_build(context, name=MODEL_IMAGE_NAME)
    try:
        k8s_cluster.load_image(built.tag)
    except kind.KindError as exc:
        pytest.fail(f"kind tier: loading {built.tag} into the cluster failed: {exc}", pytrace=False)
    return built.tag


@pytest.fixture
def manifest_report(learner_file, impl_dir: Path):
    """`manifest_report("k8s/deployment.yaml", ..., scrape=False)`: the learner's manifests, checked together.

    Returns a `manifests.Report`; an untouched stub fails with its task line.
    """
    from .manifests import report

    def check(*names: str, scrape: bool = False):
        return report([learner_file(name) for name in names], root=impl_dir, scrape=scrape)

    return check
