"""The image cache key: what changes a build's content hash and what does not (no engine needed)."""

import contextlib
import os
import shutil

import pytest

from mlops_katas.infra.images import assemble_context, base_images, context_files, context_hash


@pytest.fixture
def context(tmp_path):
    root = tmp_path / "ctx"
    root.mkdir()
    (root / "Dockerfile").write_text("ARG BASE_IMAGE=python:3.11-slim\nFROM ${BASE_IMAGE}\nCOPY app.py .\n")
    (root / "app.py").write_text("print('hi')\n")
    (root / ".dockerignore").write_text("# local junk\n.git\n*.log\n")
    return root


def test_the_same_content_in_another_folder_hashes_the_same(context, tmp_path):
    copy = tmp_path / "elsewhere"
    shutil.copytree(context, copy)
    assert context_hash(copy) == context_hash(context), "the hash must not depend on where the folder lives"


def test_changing_a_sent_file_changes_the_hash(context):
    before = context_hash(context)
    (context / "app.py").write_text("print('bye')\n")
    assert context_hash(context) != before, "a changed source file must give a new tag"


def test_adding_a_sent_file_changes_the_hash(context):
    before = context_hash(context)
    (context / "extra.py").write_text("")
    assert context_hash(context) != before, "a new file in the context must give a new tag"


def test_files_the_dockerignore_excludes_do_not_change_the_hash(context):
    before = context_hash(context)
    (context / ".git").mkdir()
    (context / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (context / "build.log").write_text("noise\n")
    assert context_hash(context) == before, "files docker never sends must not force a rebuild"
    assert context_files(context) == [".dockerignore", "Dockerfile", "app.py"], "context_files lists what is sent"


def test_changing_the_dockerignore_changes_the_hash(context):
    before = context_hash(context)
    (context / ".dockerignore").write_text(".git\n")
    assert context_hash(context) != before, "the .dockerignore is sent, so changing it changes the tag"


def test_the_executable_bit_changes_the_hash(context):
    before = context_hash(context)
    os.chmod(context / "app.py", 0o755)
    assert context_hash(context) != before, "a file becoming executable changes the image"


def test_build_args_and_base_image_ids_change_the_hash(context):
    plain = context_hash(context)
    assert context_hash(context, buildargs={"BASE_IMAGE": "a"}) != plain, "build args are part of the key"
    assert context_hash(context, buildargs={"BASE_IMAGE": "a"}) != context_hash(context, buildargs={"BASE_IMAGE": "b"})
    assert context_hash(context, base_ids={"x": "sha256:1"}) != context_hash(context, base_ids={"x": "sha256:2"}), (
        "a rebuilt base image must give a new tag")


def test_the_dockerfile_name_is_part_of_the_hash(context):
    (context / "Other.Dockerfile").write_text((context / "Dockerfile").read_text())
    assert context_hash(context, "Other.Dockerfile") != context_hash(context), "another Dockerfile, another tag"


def test_base_images_resolves_arg_defaults_build_args_and_skips_stage_names():
    text = ("ARG BASE_IMAGE=python:3.11-slim\nARG TOOLS\n"
            "FROM ${BASE_IMAGE} AS build\nRUN true\n"
            "FROM --platform=linux/amd64 $BASE_IMAGE\nCOPY --from=build /a /a\n"
            "FROM build AS again\nFROM scratch\nFROM ${TOOLS:-busybox:1}\n")
    assert base_images(text) == ["python:3.11-slim", "busybox:1"]
    assert base_images(text, {"BASE_IMAGE": "katas-base/python:3.11-bookworm", "TOOLS": "alpine:3"}) == [
        "katas-base/python:3.11-bookworm", "alpine:3"]


def test_assemble_context_adds_missing_provided_files_and_leaves_caches_out(context, tmp_path):
    provided = tmp_path / "provided"
    provided.mkdir()
    (provided / "app.py").write_text("print('provided')\n")
    (provided / "requirements.txt").write_text("flask\n")
    (context / "__pycache__").mkdir()
    (context / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"\0")
    built = assemble_context(context, tmp_path / "out", provided=provided, names=("app.py", "requirements.txt"))
    assert (built / "app.py").read_text() == "print('hi')\n", "the folder's own file wins over the provided one"
    assert (built / "requirements.txt").read_text() == "flask\n", "a provided file the folder lacks is added"
    assert not (built / "__pycache__").exists(), "local caches stay out of the context"
    assert context_hash(built) != context_hash(context), "the added file is part of what the build reads"


@pytest.mark.docker
@pytest.mark.timeout(300)
def test_two_builds_of_the_same_content_at_once_build_it_once(docker_client, docker_base_image, tmp_path):
    import threading
    import uuid

    import docker

    from mlops_katas.infra.images import build_image

    root = tmp_path / "slow"
    root.mkdir()
    # The label makes this run's content unique; the sleep keeps the first build going while the second asks.
    (root / "Dockerfile").write_text(f"ARG BASE_IMAGE\nFROM ${{BASE_IMAGE}}\nRUN sleep 3\nLABEL test.run={uuid.uuid4().hex}\n")
    results, errors = [], []

    def build():
        try:
            client = docker.from_env(timeout=120)  # a client per thread, as two processes would have
            results.append(build_image(root, buildargs={"BASE_IMAGE": docker_base_image}, name="harness-lock",
                                       client=client))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(2)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=240)
        assert not errors, f"both builds should succeed: {errors}"
        assert sorted(r.cached for r in results) == [False, True], (
            f"one process should build and the other reuse its image: {results}")
        assert len({r.tag for r in results}) == 1, f"both should get the same tag: {results}"
    finally:
        for tag in {r.tag for r in results}:
            with contextlib.suppress(docker.errors.APIError):
                docker_client.images.remove(tag, force=True)


@pytest.mark.docker
@pytest.mark.timeout(300)
def test_a_kata_build_left_nameless_by_a_rebuild_is_pruned(docker_client, docker_base_image, tmp_path):
    import uuid

    import docker

    from mlops_katas.infra.docker_engine import CHECKOUT
    from mlops_katas.infra.images import KATA_BUILD_LABEL, prune_cached_images

    built = []
    # A checkout of the test's own: pruning this checkout's images would take those of a self-check
    # running beside the harness.
    mine = f"checkout-under-test-{uuid.uuid4().hex[:8]}"

    def build_twice(checkout: str) -> str:
        """Two builds under one tag: the first is left nameless. Returns its prune line."""
        tag = f"katas-test/nameless-{uuid.uuid4().hex[:8]}:v1"
        root = tmp_path / tag.split("/")[1].split(":")[0]
        root.mkdir()
        ids = []
        for content in ("first", "second"):  # the second build takes the tag from the first
            (root / "Dockerfile").write_text(f"FROM {docker_base_image}\n"
                                             f"LABEL {KATA_BUILD_LABEL}=test {CHECKOUT}={checkout} test.content={content}\n")
            image, _ = docker_client.images.build(path=str(root), tag=tag, rm=True)
            ids.append(image.id)
        built.extend(ids)
        return f"untagged {ids[0].removeprefix('sha256:')[:12]}"

    try:
        nameless = build_twice(mine)
        elsewhere = build_twice("another-checkout")
        removed = prune_cached_images(docker_client, checkout=mine)
        assert nameless not in removed, "a build younger than an hour may belong to a session running now: kept"
        removed = prune_cached_images(docker_client, min_age_s=0, checkout=mine)
        assert nameless in removed, f"the nameless first build should go: {removed}"
        assert elsewhere not in removed, "another checkout's images are never pruned from this one"
        assert docker_client.images.get(built[1]).id == built[1], "the tagged build must stay"
    finally:
        for image_id in built:
            with contextlib.suppress(docker.errors.APIError):
                docker_client.images.remove(image_id, force=True)
