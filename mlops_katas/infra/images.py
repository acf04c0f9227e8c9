"""Building images once: a tag derived from everything the build reads, and the base image.

An image is rebuilt only when its inputs change, so a warm run of a docker day costs a
hash of a few files instead of a build. The tag `katas/<name>:<hash>` covers exactly
what Docker uses: the files the build context sends (the `.dockerignore` rules applied
by the same code the Docker SDK uses to make the context), their executable bits, the
Dockerfile, the build args, and the image ID of every base image the Dockerfile's
`FROM` lines name (so a rebuilt base image makes new tags, not stale ones).

Kata Dockerfiles start with `ARG BASE_IMAGE=python:3.11-slim`. Where Docker Hub cannot
be reached, `scripts/build-base-image.sh` makes a Debian bookworm image with the same
Python, and `choose_base_image()` passes that one instead.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from ..scratch import system_tmp
from . import docker_engine

PUBLIC_BASE = "python:3.11-slim"
LOCAL_BASE = os.environ.get("KATAS_LOCAL_BASE_IMAGE", "katas-base/python:3.11-bookworm")
BUILD_SCRIPT = "scripts/build-base-image.sh"
HASH_SALT = b"mlops-katas-build-v1\0"
BUILD_TIMEOUT_S = 600
PULL_TIMEOUT_S = 20
LOG_TAIL_CHARS = 6000


class ImageBuildFailed(Exception):
    """`docker build` failed; the message ends with the tail of the build log."""


# --- what a build reads --------------------------------------------------------------

LOCAL_CACHES = ("__pycache__", ".pytest_cache", ".hypothesis")


def assemble_context(folder: Path, dest: Path, *, provided: Path, names: tuple[str, ...]) -> Path:
    """`folder` copied to `dest`, plus the files `names` from `provided` that it lacks.

    A learner's folder may hold only the files they edit; the kata's provided files
    (training script, pinned requirements) complete the build context. Local caches stay
    out, so they never change the content hash.
    """
    shutil.copytree(folder, dest, ignore=shutil.ignore_patterns(*LOCAL_CACHES))
    for name in names:
        if not (dest / name).exists():
            shutil.copy2(Path(provided) / name, dest / name)
    return dest



def dockerignore_patterns(context_dir: Path) -> list[str]:
    """The `.dockerignore` patterns, read the way the Docker SDK reads them."""
    path = Path(context_dir) / ".dockerignore"
    if not path.is_file():
        return []
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def context_files(context_dir: Path, dockerfile: str = "Dockerfile") -> list[str]:
    """Relative paths of the files `docker build` would send from this folder, sorted."""
    from docker.utils.build import exclude_paths

    root = Path(context_dir)
    sent = exclude_paths(str(root), dockerignore_patterns(root), dockerfile=dockerfile)
    return sorted(p for p in sent if (root / p).is_symlink() or (root / p).is_file())


_ARG = re.compile(r"^\s*ARG\s+([A-Za-z_][A-Za-z0-9_]*)(?:=(\S*))?", re.IGNORECASE)
_FROM = re.compile(r"^\s*FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", re.IGNORECASE)
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def instructions(dockerfile_text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with comments dropped and continuation lines joined."""
    joined, current = [], ""
    for raw in dockerfile_text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        joined.append(current + line)
        current = ""
    if current:
        joined.append(current)
    result = []
    for line in joined:
        keyword, _, rest = line.partition(" ")
        result.append((keyword.upper(), rest.strip()))
    return result


def base_images(dockerfile_text: str, buildargs: dict[str, str] | None = None) -> list[str]:
    """The images the `FROM` lines pull in, with ARG defaults and build args substituted."""
    values: dict[str, str] = {}
    stages: set[str] = set()
    bases: list[str] = []
    seen_from = False
    for line in dockerfile_text.splitlines():
        arg = _ARG.match(line)
        if arg and not seen_from:
            values[arg.group(1)] = (buildargs or {}).get(arg.group(1), (arg.group(2) or "").strip("\"'"))
            continue
        match = _FROM.match(line)
        if not match:
            continue
        seen_from = True
        image = _VAR.sub(lambda m: values.get(m.group(1) or m.group(3)) or m.group(2) or "", match.group(1))
        if image.lower() not in stages and image != "scratch" and image not in bases:
            bases.append(image)
        if match.group(2):
            stages.add(match.group(2).lower())
    return bases


def _image_id(client, name: str) -> str:
    import docker

    try:
        return client.images.get(name).id
    except docker.errors.ImageNotFound:
        return "absent"


def context_hash(context_dir: Path, dockerfile: str = "Dockerfile", buildargs: dict[str, str] | None = None,
                 base_ids: dict[str, str] | None = None) -> str:
    """sha256 over the files sent, their exec bits, the build args and the base image IDs."""
    root = Path(context_dir)
    digest = hashlib.sha256(HASH_SALT)
    digest.update(f"dockerfile={dockerfile}\0".encode())
    for rel in context_files(root, dockerfile):
        path = root / rel
        digest.update(rel.encode() + b"\0")
        if path.is_symlink():
            digest.update(b"link\0" + os.readlink(path).encode())
        else:
            digest.update(b"x\0" if os.access(path, os.X_OK) else b"-\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    digest.update(json.dumps(buildargs or {}, sort_keys=True).encode())
    digest.update(json.dumps(base_ids or {}, sort_keys=True).encode())
    return digest.hexdigest()


# --- building ------------------------------------------------------------------------


@dataclass(frozen=True)
class BuiltImage:
    tag: str
    id: str
    cached: bool  # True when an image with this content hash already existed


def build_image(context_dir: Path, *, dockerfile: str = "Dockerfile", buildargs: dict[str, str] | None = None,
                name: str = "kata", progress: Callable[[str], None] | None = None,
                client=None) -> BuiltImage:
    """Build `context_dir` unless an image of the same content hash exists; returns its tag.

    `progress` receives the build's `Step N/M` lines as they happen. A failed build
    raises ImageBuildFailed with the tail of the log.
    """
    import docker

    client = client or docker_engine.get_client()
    root = Path(context_dir)
    dockerfile_path = root / dockerfile
    if not dockerfile_path.is_file():
        raise ImageBuildFailed(f"there is no {dockerfile} in {root}")
    bases = base_images(dockerfile_path.read_text(encoding="utf-8"), buildargs)
    digest = context_hash(root, dockerfile, buildargs, {b: _image_id(client, b) for b in bases})
    tag = f"katas/{name}:{digest[:16]}"
    try:
        return BuiltImage(tag, client.images.get(tag).id, cached=True)
    except docker.errors.ImageNotFound:
        pass
    with _build_lock(tag, progress):
        try:  # another process may have built it while this one waited
            return BuiltImage(tag, client.images.get(tag).id, cached=True)
        except docker.errors.ImageNotFound:
            pass
        labels = {docker_engine.MANAGED: "true", f"{docker_engine.LABEL}.context-hash": digest,
                  docker_engine.CHECKOUT: docker_engine.CHECKOUT_ID}
        log: list[str] = []
        deadline = time.monotonic() + BUILD_TIMEOUT_S
        _stream_build(client, root, dockerfile, tag, buildargs, labels, log, progress, deadline)
        try:
            return BuiltImage(tag, client.images.get(tag).id, cached=False)
        except docker.errors.ImageNotFound:
            raise ImageBuildFailed(_failure(tag, log + ["\n(the build ended without producing the image)"])) from None


@contextlib.contextmanager
def _build_lock(tag: str, progress: Callable[[str], None] | None = None) -> Iterator[None]:
    """One build of a tag at a time on this machine: two test processes (xdist workers, a
    second terminal) needing the same image would otherwise both build it, on a cold
    cache minutes of CPU each. The second waits, up to the build timeout, then reuses it."""
    import fcntl

    folder = system_tmp() / "mlops-katas-build-locks"
    folder.mkdir(exist_ok=True)
    deadline = time.monotonic() + BUILD_TIMEOUT_S
    with open(folder / (re.sub(r"[^A-Za-z0-9_.-]", "_", tag) + ".lock"), "w") as handle:
        told = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ImageBuildFailed(f"another process has been building {tag} for over {BUILD_TIMEOUT_S} s; "
                                           "is a build stuck? ('docker ps', 'ps aux | grep pytest')") from None
                if progress and not told:
                    progress(f"another process is building {tag}; waiting for it")
                    told = True
                time.sleep(0.5)
        try:
            yield
        finally:
            # Removed while still held: a waiter that opened it gets the lock on the old file
            # and finds the image built; a newcomer makes a new file. None is left behind.
            with contextlib.suppress(OSError):
                os.unlink(handle.name)
            fcntl.flock(handle, fcntl.LOCK_UN)


def _stream_build(client, root, dockerfile, tag, buildargs, labels, log, progress, deadline) -> None:
    import docker

    try:
        # The read timeout bounds a silent step; the deadline bounds the whole build.
        stream = client.api.build(path=str(root), dockerfile=dockerfile, tag=tag, buildargs=buildargs or {},
                                  labels=labels, rm=True, forcerm=True, pull=False, decode=True,
                                  timeout=BUILD_TIMEOUT_S)
        for chunk in stream:
            text = chunk.get("stream") or chunk.get("status") or ""
            if text:
                log.append(text)
                if progress and text.startswith("Step "):
                    progress(text.strip())
            if "error" in chunk:
                log.append(chunk["error"])
                raise ImageBuildFailed(_failure(tag, log))
            if time.monotonic() > deadline:
                raise ImageBuildFailed(_failure(tag, log + [f"\n(stopped: the build ran past {BUILD_TIMEOUT_S} s)"]))
    except docker.errors.APIError as exc:
        raise ImageBuildFailed(_failure(tag, log + [f"\n{exc.explanation or exc}"])) from None


def _failure(tag: str, log: list[str]) -> str:
    text = "".join(log)
    tail = text[-LOG_TAIL_CHARS:]
    return f"docker build of {tag} failed; last lines of the build log:\n{tail}"


KEEP_PER_NAME = 3  # cached builds kept per `katas/<name>`: the current one and a few recent
# Younger images are never pruned: another session running at the same time (the self-check's
# two workers, a learner's second terminal) may have just built one and be about to use it.
PRUNE_MIN_AGE_S = 3600
KATA_BUILD_LABEL = f"{docker_engine.LABEL}.kata-build"  # set by Dockerfiles the tests' own code builds


def prune_cached_images(client, keep: int = KEEP_PER_NAME, min_age_s: float = PRUNE_MIN_AGE_S,
                        checkout: str = docker_engine.CHECKOUT_ID) -> list[str]:
    """Remove all but the newest `keep` cached builds of each kata image built by `checkout` (this one).

    Every edit of a Dockerfile or build context makes a new content-hash tag; without
    pruning, a learner's disk would fill with images nobody will run again. An image a
    container still uses, or one built less than `min_age_s` ago, is left alone.
    """
    import docker

    cutoff = time.time() - min_age_s

    by_name: dict[str, list] = {}
    # The low-level listing reads no image one by one, so one removed meanwhile is no error.
    mine = f"{docker_engine.CHECKOUT}={checkout}"
    for image in client.api.images(filters={"label": [f"{docker_engine.LABEL}.context-hash", mine]}):
        for tag in image.get("RepoTags") or []:
            if tag != "<none>:<none>":
                by_name.setdefault(tag.rsplit(":", 1)[0], []).append((image.get("Created", 0), tag))
    removed = []
    for tags in by_name.values():
        for created, tag in sorted(tags, reverse=True)[keep:]:
            if created > cutoff:
                continue
            with contextlib.suppress(docker.errors.APIError):
                client.images.remove(tag, noprune=False)
                removed.append(tag)
    # Code under test builds kata images under fixed tags (`app:v1`); a build with other
    # content takes the tag and leaves the old image nameless. Nothing can run those again.
    for image in client.api.images(filters={"dangling": True, "label": [KATA_BUILD_LABEL, mine]}):
        if image.get("Created", 0) > cutoff:
            continue
        with contextlib.suppress(docker.errors.APIError):
            client.images.remove(image["Id"], noprune=False)
            removed.append(f"untagged {image['Id'].removeprefix('sha256:')[:12]}")
    return removed


# --- the base image --------------------------------------------------------------------


@dataclass(frozen=True)
class BaseImageStatus:
    image: str | None  # what BASE_IMAGE is set to; None when there is none
    message: str       # which one is used and why, or how to get one

    def __str__(self) -> str:
        return self.message


def _present(client, name: str) -> bool:
    return _image_id(client, name) != "absent"


def _pull(client, name: str) -> bool:
    """Pull with a deadline: the SDK's pull has no timeout, so it runs in a daemon thread."""
    import docker

    repository, _, tag = name.partition(":")
    done = threading.Event()

    def pull() -> None:
        with contextlib.suppress(docker.errors.DockerException, OSError):
            client.api.pull(repository, tag=tag or "latest")
            done.set()

    threading.Thread(target=pull, name="katas-base-image-pull", daemon=True).start()
    return done.wait(PULL_TIMEOUT_S)


def choose_base_image(client=None, *, pull: bool = True) -> BaseImageStatus:
    """The public base image when present (or pullable), else the local Debian build.

    `KATAS_BASE_IMAGE` forces a choice. A present image wins over a pull, so a warm run
    never waits on a registry.
    """
    forced = os.environ.get("KATAS_BASE_IMAGE")
    if client is None:
        reason = docker_engine.probe()
        if reason is not None:
            return BaseImageStatus(None, reason)
        client = docker_engine.get_client()
    if forced:
        if _present(client, forced):
            return BaseImageStatus(forced, f"base image {forced} (set by KATAS_BASE_IMAGE)")
        return BaseImageStatus(None, f"KATAS_BASE_IMAGE={forced} is not present locally; pull or build it")
    if _present(client, PUBLIC_BASE):
        return BaseImageStatus(PUBLIC_BASE, f"base image {PUBLIC_BASE} (present locally)")
    if _present(client, LOCAL_BASE):
        return BaseImageStatus(LOCAL_BASE, f"base image {LOCAL_BASE} (the local Debian build; "
                                           f"{PUBLIC_BASE} is not present)")
    if pull and _pull(client, PUBLIC_BASE):
        return BaseImageStatus(PUBLIC_BASE, f"base image {PUBLIC_BASE} (pulled)")
    return BaseImageStatus(None, f"no base image: {PUBLIC_BASE} is not present"
                                 f"{' and could not be pulled' if pull else ''}; build the local one "
                                 f"with `sudo {BUILD_SCRIPT}` (about a minute, Debian packages only)")


def base_image_status() -> BaseImageStatus:
    """For `katas doctor`: which base image the docker days use, or how to get one (never pulls)."""
    return choose_base_image(pull=False)
