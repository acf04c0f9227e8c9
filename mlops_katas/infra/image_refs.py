"""When an image reference in a manifest is pinned: the rule days 04 and 10 share.

A pod runs what its image reference names when the node pulls it. A tag that moves
(`latest`, `stable`, `main-amd64`, `slim`, `1.0.0-SNAPSHOT`) names a different build after
every release, so two pods may run different builds and a rollback cannot go back.
`unpinned()` says in plain words what is wrong with a reference, or None when it is pinned.
"""

from __future__ import annotations

import re

MOVING_TAGS = {"latest", "stable", "main", "master", "dev", "develop", "edge", "nightly", "head", "current",
               "prod", "production", "staging", "stage", "canary", "snapshot", "unstable", "beta", "alpha",
               "test", "testing", "trunk", "next", "release"}
# A variant a tag may name beside a channel (main-amd64, nightly-py311, stable-py3.11, stable-cuda12.1): a platform,
# not a build.
VARIANT = re.compile(r"(?:amd|arm|aarch|armv|x86|i|ppc|s)[0-9]+[a-z0-9]*|py(?:thon)?[0-9]+(?:\.[0-9]+)*"
                     r"|cu(?:da|dnn)?[0-9]+(?:\.[0-9]+)*")
# A base OS or distribution a tag may name beside a channel (stable-alpine3.19, main-bookworm): a variant too.
OS_VARIANT = re.compile(r"(?:alpine|debian|ubuntu|bookworm|bullseye|buster|jammy|noble|focal|ubi|slim)[0-9.]*")
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")  # the image reference grammar's tag
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
# The image reference grammar (distribution/reference): an optional registry host, then lowercase path components.
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
# A first component is a registry host only if it has a '.' or a port, or is localhost (as docker reads it: `acme/x`
# is the repository acme/x on Docker Hub, so `Acme/x` is a path that is not lowercase).
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_HOST = rf"(?:{_LABEL}(?:\.{_LABEL})+(?::[0-9]+)?|{_LABEL}:[0-9]+|localhost)"
REPOSITORY = re.compile(rf"(?:{_HOST}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*")


def tag_of(image) -> str | None:
    """The tag of an image reference ('1.0.0' of 'ghcr.io/acme/model-server:1.0.0'), None if it has none."""
    last = str(image or "").split("@", 1)[0].rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[1] if ":" in last else None


def _is_variant(word: str) -> bool:
    return bool(word.isalpha() or VARIANT.fullmatch(word) or OS_VARIANT.fullmatch(word))


def unpinned(image, where: str) -> str | None:
    """Why `image` is not a valid reference with a fixed tag or a sha256 digest (`where` names it in the
    message), or None: never untagged, :latest or another moving tag."""
    image = str(image if image is not None else "")
    repository = image.split("@", 1)[0]
    last = repository.rsplit("/", 1)[-1]
    if ":" in last:
        repository = repository[: -(len(last) - last.index(":"))]
    if not REPOSITORY.fullmatch(repository):
        return (f"{where}'s repository {repository!r} is not a valid reference (path components are lowercase "
                "letters, digits and separators, after an optional registry host): the pod never starts "
                "(InvalidImageName)")
    if "@" in image:
        digest = image.rsplit("@", 1)[1]
        if not DIGEST.fullmatch(digest):
            return (f"{where}'s digest {digest!r} is not sha256: and 64 hex digits (a short image id is not a "
                    "digest): the reference is invalid and the pod never starts (InvalidImageName)")
        return None
    if ":" not in last:
        return (f"{where} {image!r} has no tag, which means :latest: a moving tag cannot be rolled back and is "
                "pulled on every start; pin a version (1.0.0) or a digest")
    tag = last.rsplit(":", 1)[-1]
    if not TAG.fullmatch(tag):
        return (f"{where}'s tag {tag!r} is empty or not a valid tag: {image!r} is an invalid reference "
                "and the pod never starts (InvalidImageName)")
    if tag.lower() in MOVING_TAGS:
        return (f"{where}'s tag {tag!r} moves with every build, as :latest does: two pods may run different "
                "builds and a rollback cannot return to the old one; pin a version (1.0.0) or a digest")
    parts = re.split(r"[-_.]", tag.lower().replace("x86_64", "amd64"))
    words = re.split(r"[-_]", tag.lower().replace("x86_64", "amd64"))  # py3.11 and cuda12.1 stay whole
    moving = [split for split in (words, parts) if split[0] in MOVING_TAGS and all(map(_is_variant, split))]
    if "latest" in tag.lower():
        return (f"{where}'s tag {tag!r} has latest in it: like :latest it points at a new build after every "
                "release, so a rollback cannot return to the old one; pin a version (1.0.0) or a digest")
    if moving:
        return (f"{where}'s tag {tag!r} is a moving tag with a variant added ({moving[0][0]!r} plus "
                f"{moving[0][1:]}): like :latest it points at a new build after every release, so a rollback "
                "cannot return to the old one; pin a version (1.0.0-cpu) or a digest")
    if not any(ch.isdigit() for ch in tag):
        return (f"{where}'s tag {tag!r} has no digit: it names a variant or a channel (such as cpu, slim or lts), "
                "not a build, and moves to each new release as :latest does, so a rollback cannot return to the "
                "old one; pin a version (1.0.0-cpu) or a digest")
    if all(map(_is_variant, words)):
        return (f"{where}'s tag {tag!r} names only a platform or variant ({words}), not a build: like :cpu it "
                "moves to each new release, so a rollback cannot return to the old one; pin a version "
                "(1.0.0-arm64) or a digest")
    core = list(words)  # a snapshot with variants after it (1.0.0-SNAPSHOT-amd64) is a snapshot still
    while len(core) > 1 and (VARIANT.fullmatch(core[-1]) or OS_VARIANT.fullmatch(core[-1])
                             or (core[-1].isalpha() and core[-1] != "snapshot")):
        core.pop()
    if parts[-1] == "snapshot" or core[-1] == "snapshot":
        return (f"{where}'s tag {tag!r} is a snapshot, which every new build of that version overwrites (as "
                ":latest moves): two pods may run different builds and a rollback cannot return to the old one; "
                "pin a release (1.0.0) or a digest")
    return None
