"""Task 5: package a registered version as a Docker build context for the day-03 server.

The fixture registers two different models as versions 1 and 2 of `week1-package`; the
tests package version 1 and read what your `package` wrote (no Docker needed here; the
end-to-end test builds and runs it).
"""

from __future__ import annotations

import pytest

from mlops_katas.infra.images import instructions
from mlops_katas.infra.mlflow_env import isolated
from week1 import Champion, package

pytestmark = [pytest.mark.task(taskno=5), pytest.mark.mlflow, pytest.mark.timeout(120)]

BASE_IMAGE = "katas/day03:0123456789abcdef"


@pytest.fixture(scope="module")
def packaged(registered, tmp_path_factory):
    champion = Champion(run_id=registered.versions["1"], model_uri=f"models:/{registered.name}/1", version="1",
                        score=0.9)
    out_dir = tmp_path_factory.mktemp("day07-package") / "context"
    with isolated(registered.store):
        context = package(champion, "v1", tracking_uri=registered.store.tracking_uri, base_image=BASE_IMAGE,
                          out_dir=out_dir)
        stray = registered.store.stray_writes()
    return champion, context, stray


def test_package_returns_the_context_folder_with_a_model_and_a_dockerfile(packaged):
    _, context, _ = packaged
    assert context is not None and (context / "Dockerfile").is_file(), (
        f"package should return the folder it wrote, holding a Dockerfile; it returned {context!r}")
    assert (context / "model.skops").is_file(), "the context should hold the model as model.skops"


def test_the_model_file_is_the_champion_version_and_loads_without_trusting_anything(packaged, registered, data):
    import skops.io

    _, context, _ = packaged
    try:
        model = skops.io.load(context / "model.skops")
    except Exception as exc:  # noqa: BLE001 - what matters is that it does not load safely
        pytest.fail(f"model.skops should load with skops.io.load and no trusted types (save it with skops.io.dump, "
                    f"not pickle or joblib): {type(exc).__name__}: {str(exc)[:200]}", pytrace=False)
    wanted = registered.models["1"].predict(data.X_test).tolist()
    other = registered.models["2"].predict(data.X_test).tolist()
    assert wanted != other, "the fixture's two versions should predict differently (a broken fixture, not your code)"
    assert model.predict(data.X_test).tolist() == wanted, (
        "model.skops should be version 1 of the registry, the champion's model_uri, not the latest version")


def test_the_dockerfile_builds_on_the_base_image(packaged):
    _, context, _ = packaged
    froms = [args for word, args in instructions((context / "Dockerfile").read_text(encoding="utf-8")) if word == "FROM"]
    assert froms == [BASE_IMAGE], f"the Dockerfile should have one stage, FROM {BASE_IMAGE}; its FROM lines are {froms}"


def test_packaging_writes_nothing_outside_its_folder(packaged):
    _, _, stray = packaged
    assert stray == [], "package wrote outside out_dir or read another store: " + "; ".join(stray)
