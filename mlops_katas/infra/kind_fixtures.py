"""Fixtures of the kind tier: the run's cluster, a namespace per test, the model image loaded.

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

import os
from pathlib import Path

import pytest

from . import kind

MODEL_IMAGE_NAME = "day03-model-server"


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    group = parser.getgroup("katas kind tier")
    group.addoption("--kind-fresh", action="store_true", default=False,
                    help="create a new kind cluster for this run and delete it at the end "
                         "(default: reuse a healthy one and keep what this run creates; CI deletes it)")
    group.addoption("--kubectl-bin", default=None, help="the kubectl to use (default: kubectl on PATH)")
    if not pluginmanager.has_plugin("pytest-kind"):
        group.addoption("--kind-bin", default=None, help="the kind binary to use (default: kind on PATH)")
        group.addoption("--kind-image", default=None, help=f"the kind node image (default {kind.NODE_IMAGE})")


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
def kind_model_image(request: pytest.FixtureRequest, k8s_cluster: kind.KindCluster) -> str:
    """The day-03 reference model server, built once (content-hash tag) and loaded into the cluster.

    Days 04 and 10 test manifests, not the server, so they run the reference server
    whatever state the learner's own day 03 is in.
    """
    from . import images

    base = images.choose_base_image()
    if base.image is None:
        pytest.fail(f"kind tier: cannot build the model server image: {base}", pytrace=False)
    context = Path(request.config.rootpath) / "solutions" / "day03"
    try:
        built = images.build_image(context, buildargs={"BASE_IMAGE": base.image}, name=MODEL_IMAGE_NAME)
        k8s_cluster.load_image(built.tag)
    except (images.ImageBuildFailed, kind.KindError) as exc:
        pytest.fail(f"kind tier: {exc}", pytrace=False)
    return built.tag
