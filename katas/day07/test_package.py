"""Task 5: package a registered version as a Docker build context for the day-03 server.

The fixture registers two different models as versions 1 and 2 of `week1-package`; the
tests package version 1 under the image version `VERSION` and read what your `package`
wrote (no Docker needed here; the end-to-end test builds and runs it).
"""

from __future__ import annotations

import json
import posixpath
import re
import shutil
from fnmatch import fnmatchcase
from pathlib import Path

import pytest

from mlops_katas.infra.images import base_images, instructions
from mlops_katas.infra.mlflow_env import isolated
from week1 import Champion, package

pytestmark = [pytest.mark.task(taskno=5), pytest.mark.mlflow, pytest.mark.timeout(120)]

BASE_IMAGE = "katas/day03:0123456789abcdef"
# Not "v" + champion.version on purpose: MODEL_VERSION must be the `version` passed in.
VERSION = "v1-rc1"


@pytest.fixture(scope="module")
def packaged(registered, tmp_path_factory):
    champion = Champion(run_id=registered.versions["1"], model_uri=f"models:/{registered.name}/1", version="1",
                        score=0.9)
    out_dir = tmp_path_factory.mktemp("day07-package") / "contexts" / "v1"  # neither folder exists yet
    with isolated(registered.store):
        # out_dir as a str (the contract takes str or Path); package returns a Path either way.
        context = package(champion, VERSION, tracking_uri=registered.store.tracking_uri, base_image=BASE_IMAGE,
                          out_dir=str(out_dir))
        stray = registered.store.stray_writes()
    return champion, context, stray


def test_package_returns_the_context_folder_with_a_model_and_a_dockerfile(packaged):
    _, context, _ = packaged
    assert isinstance(context, Path) and (context / "Dockerfile").is_file(), (
        f"package should return the folder it wrote as a Path, holding a Dockerfile; it returned {context!r}")
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


def test_packaging_another_version_afterwards_ships_that_version(packaged, registered, data, tmp_path):
    import skops.io

    champion = Champion(run_id=registered.versions["2"], model_uri=f"models:/{registered.name}/2", version="2",
                        score=0.9)
    out_dir = tmp_path / "context-v2"
    # A folder that already holds an earlier context (version 1's): package writes this champion's files into it.
    shutil.copytree(packaged[1], out_dir)
    with isolated(registered.store):
        try:
            context = package(champion, "v2", tracking_uri=registered.store.tracking_uri, base_image=BASE_IMAGE,
                              out_dir=out_dir)
        except FileExistsError as exc:
            pytest.fail(f"package should write into an out_dir that already exists, not refuse it: {exc}",
                        pytrace=False)
    wanted = registered.models["2"].predict(data.X_test).tolist()
    assert skops.io.load(context / "model.skops").predict(data.X_test).tolist() == wanted, (
        "packaging version 2 after version 1 should ship version 2: load the model at the champion's "
        "model_uri every time, not one remembered from an earlier call, and replace a model.skops already in "
        "out_dir")
    labels = _settings((context / "Dockerfile").read_text(encoding="utf-8"), "LABEL")
    assert labels.get("mlflow.model_uri") == champion.model_uri, (
        f"the Dockerfile in out_dir should be version 2's, labelled mlflow.model_uri={champion.model_uri}; "
        f"its labels are {labels}")


def test_a_model_registered_again_under_the_same_name_is_the_one_shipped(mlflow_store_factory, registering, data,
                                                                         tmp_path):
    import mlflow
    import skops.io

    store, name = mlflow_store_factory("day07-registered-again"), "week1-again"
    first = registering(store, name, data, ("neighbours_15",))
    champion = Champion(first.versions["1"], f"models:/{name}/1", "1", 0.9)
    with isolated(store):
        package(champion, "v1", tracking_uri=store.tracking_uri, base_image=BASE_IMAGE, out_dir=tmp_path / "first")
        # The registered model is deleted and registered again from another model logged in the same run:
        # models:/week1-again/1 is now another model, in the same store, under the same tracking_uri, and the
        # champion naming it (run id, model URI, version) is the same as before.
        mlflow.MlflowClient(tracking_uri=store.tracking_uri, registry_uri=store.tracking_uri).delete_registered_model(name)
    again = registering(store, name, data, ("logistic_regression",), artifact="other", run_id=first.versions["1"])
    wanted = again.models["1"].predict(data.X_test).tolist()
    assert again.versions == {"1": first.versions["1"]} and wanted != first.models["1"].predict(data.X_test).tolist(), (
        "the model registered again should be a new version 1 of the same run that predicts differently (a broken "
        "fixture)")
    with isolated(store):
        context = package(champion, "v1", tracking_uri=store.tracking_uri, base_image=BASE_IMAGE,
                          out_dir=tmp_path / "again")
    assert skops.io.load(context / "model.skops").predict(data.X_test).tolist() == wanted, (
        f"models:/{name}/1 was deleted and registered again as another model of the same run: package should ship "
        "the model the registry holds now, loading it anew on every call (a loaded model cached between calls, "
        "even one keyed by tracking_uri and model_uri or by the whole champion, ships the model that was deleted)")


def test_the_same_model_uri_is_loaded_from_the_tracking_uri_given(packaged, registered, registered_elsewhere, data,
                                                                   tmp_path):
    import skops.io

    # Both stores have a version 1 of week1-package: 15 neighbours in one, the logistic regression in the other.
    champion = Champion(run_id=registered_elsewhere.versions["1"], model_uri=f"models:/{registered.name}/1",
                        version="1", score=0.9)
    wanted = registered_elsewhere.models["1"].predict(data.X_test).tolist()
    assert wanted != registered.models["1"].predict(data.X_test).tolist(), (
        "the two stores' versions 1 should predict differently (a broken fixture, not your code)")
    with isolated(registered_elsewhere.store):
        context = package(champion, "v1", tracking_uri=registered_elsewhere.store.tracking_uri, base_image=BASE_IMAGE,
                          out_dir=tmp_path / "elsewhere")
    assert skops.io.load(context / "model.skops").predict(data.X_test).tolist() == wanted, (
        "packaging models:/week1-package/1 from another tracking_uri should ship that registry's version 1: the "
        "same model_uri names another model in another store, so load it from the tracking_uri given every time "
        "(a cache keyed by the model_uri alone ships the model of the store packaged first)")


def test_the_model_is_loaded_from_tracking_uri_whatever_registry_an_earlier_step_set(registered, registered_elsewhere,
                                                                                      data, tmp_path):
    import mlflow
    import skops.io

    champion = Champion(run_id=registered.versions["1"], model_uri=f"models:/{registered.name}/1", version="1",
                        score=0.9)
    with isolated(registered.store):
        # An earlier step of the same process (training, say) left MLflow pointing at another store, whose
        # models:/week1-package/1 is another model.
        mlflow.set_tracking_uri(registered_elsewhere.store.tracking_uri)
        mlflow.set_registry_uri(registered_elsewhere.store.tracking_uri)
        context = package(champion, "v1", tracking_uri=registered.store.tracking_uri, base_image=BASE_IMAGE,
                          out_dir=tmp_path / "stale-registry")
    wanted = registered.models["1"].predict(data.X_test).tolist()
    assert skops.io.load(context / "model.skops").predict(data.X_test).tolist() == wanted, (
        f"model.skops should be {champion.model_uri} of the registry at the tracking_uri given, even after an earlier "
        "step set another registry URI: mlflow's registry follows the tracking URI only until a registry URI is "
        "set, so set both (mlflow.set_registry_uri(tracking_uri)) or use a client made for tracking_uri")


def test_the_model_is_loaded_from_the_champions_model_uri_not_its_run(registered_as_classifier, data, tmp_path):
    import skops.io

    registered = registered_as_classifier
    # Version 1 here was logged under the name "classifier": its run holds no model called "model".
    champion = Champion(run_id=registered.versions["1"], model_uri=f"models:/{registered.name}/1", version="1",
                        score=0.9)
    with isolated(registered.store):
        try:
            context = package(champion, "v1", tracking_uri=registered.store.tracking_uri, base_image=BASE_IMAGE,
                              out_dir=tmp_path / "classifier")
        except NotImplementedError:
            raise
        except Exception as exc:  # noqa: BLE001 - reported below
            pytest.fail(f"package should load the model at champion.model_uri ({champion.model_uri}), the registered "
                        "version, not a path guessed from the run such as runs:/<run_id>/model (this version was "
                        f"logged under another name); it raised {type(exc).__name__}: {str(exc)[:200]}", pytrace=False)
    wanted = registered.models["1"].predict(data.X_test).tolist()
    assert skops.io.load(context / "model.skops").predict(data.X_test).tolist() == wanted, (
        f"model.skops should be the registered version at {champion.model_uri}")


def test_the_dockerfile_builds_on_the_base_image(packaged):
    _, context, _ = packaged
    bases = base_images((context / "Dockerfile").read_text(encoding="utf-8"))
    assert bases == [BASE_IMAGE], f"the Dockerfile should build FROM {BASE_IMAGE} and no other image; it uses {bases}"


# The day-03 image sets these with ENV; docker lets an ENV win over an ARG of the same name, so
# `ARG MODEL_VERSION=v2` then `ENV MODEL_VERSION=${MODEL_VERSION}` keeps the base image's value.
BASE_ENV = ("MODEL_PATH", "MODEL_VERSION")


# After a `$`: digits (a positional parameter), one of the shell's special parameters (`$$`, `$?`...), both empty in
# a Dockerfile, or a name, a run of letters, digits and `_`.
_NAME = re.compile(r"\d+|[@*#?$!-]|\w+")


def _reference(text: str, at: int, known: dict[str, str]) -> tuple[str, int]:
    """The value of the `$name` or `${name...}` at `text[at]` as docker reads it, and where the text goes on."""
    if text.startswith("${", at):
        close = text.find("}", at)
        if close < 0:
            raise ValueError(f"a ${{ without its }} in {text!r}: docker refuses the line")
        name, operator, word = re.fullmatch(r"(\w*)(:[-+]|)(.*)", text[at + 2:close], re.S).groups()
        if word and not operator:
            raise ValueError(f"missing ':' in substitution {text[at:close + 1]!r}: docker refuses the line")
        value = known.get(name) or ""
        if operator == ":-":
            value = value or word
        elif operator == ":+":
            value = word if value else ""
        return value, close + 1
    name = _NAME.match(text, at + 1)
    if name is None:
        return "$", at + 1   # a `$` before no name is itself
    return known.get(name.group(), ""), name.end()


def _docker_words(text: str, known: dict[str, str]) -> list[str]:
    """The words of an ENV, ARG or LABEL line as docker reads them (checked against a real `docker build`):
    `$X` and `${X}` replaced by the ARG/ENV value, empty when unset, also inside double quotes; nothing inside
    single quotes replaced or unescaped; `\\` escaping any character outside quotes and `"`, `$`, `\\` inside
    double quotes (`"\\$HOME"` is the text `$HOME`). shlex, a POSIX shell's reader, does none of the `$` part."""
    words, word, started, at = [], [], False, 0
    while at < len(text):
        char = text[at]
        if char.isspace():
            if started:
                words.append("".join(word))
                word, started = [], False
            at += 1
            continue
        started = True
        if char == "\\":
            word.append(text[at + 1:at + 2])
            at += 2
        elif char == "'":
            close = text.find("'", at + 1)
            if close < 0:
                raise ValueError(f"an unclosed ' in {text!r}: docker refuses the line")
            word.append(text[at + 1:close])
            at = close + 1
        elif char == '"':
            at += 1
            while at < len(text) and text[at] != '"':
                if text[at] == "$":
                    value, at = _reference(text, at, known)
                    word.append(value)
                elif text[at] == "\\" and text[at + 1:at + 2] in ('"', "$", "\\"):
                    word.append(text[at + 1])
                    at += 2
                else:
                    word.append(text[at])
                    at += 1
            if at >= len(text):
                raise ValueError(f'an unclosed " in {text!r}: docker refuses the line')
            at += 1
        elif char == "$":
            value, at = _reference(text, at, known)
            word.append(value)
        else:
            word.append(char)
            at += 1
    if started:
        words.append("".join(word))
    return words


def _settings(dockerfile: str, keyword: str) -> dict[str, str]:
    """The values a Dockerfile's ENV or LABEL lines set (both `K=V ...` and `K V` forms), read as docker reads
    them: an ENV, the base image's included, wins over an ARG of the same name."""
    values: dict[str, str] = {}
    known: dict[str, str] = {}
    env_names = set(BASE_ENV)
    for word, args in instructions(dockerfile):
        if word not in ("ARG", "ENV", "LABEL"):
            continue
        for key, value in _read_settings(word, args, known, env_names):
            if word == keyword:
                values[key] = value
    return values


def _read_settings(word: str, args: str, known: dict[str, str], env_names: set[str]) -> list[list[str]]:
    """The (key, value) pairs of one ARG, ENV or LABEL line, recording in `known` the values later lines see."""
    tokens = _docker_words(args, known)
    if tokens and all("=" in token for token in tokens):
        pairs = [token.split("=", 1) for token in tokens]
    elif word == "ARG" or not tokens:
        pairs = [[tokens[0], ""]] if tokens else []
    else:
        pairs = [[tokens[0], " ".join(tokens[1:])]]
    for key, value in pairs:
        if word == "ENV":
            known[key] = value
            env_names.add(key)
        elif word == "ARG" and key not in env_names:
            known[key] = value
    return pairs


def test_the_image_says_its_version_and_where_it_came_from(packaged):
    champion, context, _ = packaged
    dockerfile = (context / "Dockerfile").read_text(encoding="utf-8")
    env = _settings(dockerfile, "ENV")
    assert env.get("MODEL_VERSION") == VERSION, (
        f"package(champion, {VERSION!r}) should set MODEL_VERSION={VERSION} (the version argument); "
        f"the Dockerfile sets {env.get('MODEL_VERSION')!r}")
    labels = _settings(dockerfile, "LABEL")
    assert labels.get("mlflow.run_id") == champion.run_id, (
        f"the image should be labelled mlflow.run_id={champion.run_id}; the Dockerfile's labels are {labels}")
    assert labels.get("mlflow.model_uri") == champion.model_uri, (
        f"the image should be labelled mlflow.model_uri={champion.model_uri}; the Dockerfile's labels are {labels}")


# The argument, whatever it is: quote it and escape its $ (and, inside double quotes, its " and \\) like the labels.
@pytest.mark.parametrize("version", ["v1 $MODEL_PATH", 'v1 "rc"', "v1 \\ back", "v1 'rc'", 'v1 "$MODEL_PATH" \\'],
                         ids=["dollar", "double-quote", "backslash", "apostrophe", "all"])
def test_model_version_is_carried_exactly_even_with_a_space_or_a_dollar(registered, tmp_path, version):
    champion = Champion(run_id=registered.versions["1"], model_uri=f"models:/{registered.name}/1", version="1",
                        score=0.9)
    with isolated(registered.store):
        context = package(champion, version, tracking_uri=registered.store.tracking_uri, base_image=BASE_IMAGE,
                          out_dir=tmp_path / "odd-version")
    dockerfile = (context / "Dockerfile").read_text(encoding="utf-8")
    try:
        env = _settings(dockerfile, "ENV")
    except ValueError as exc:
        pytest.fail(f"docker would refuse the Dockerfile written for version {version!r}: {exc}", pytrace=False)
    assert env.get("MODEL_VERSION") == version, (
        f"package(champion, {version!r}) should set MODEL_VERSION to exactly {version!r}: quote the value (an "
        "unquoted ENV value stops at the space), escape the $ as \\$ (docker replaces $MODEL_PATH with that "
        "variable, also inside double quotes), and inside double quotes escape a \" as \\\" and a \\ as \\\\ (single "
        "quotes end at an apostrophe); read as "
        f"docker reads it, MODEL_VERSION is {env.get('MODEL_VERSION')!r}")


@pytest.mark.parametrize("store", ["registered_with_a_space", "registered_with_an_accent", "registered_with_a_dollar",
                                   "registered_with_a_quote", "registered_with_an_apostrophe"],
                         ids=["space", "non-ascii", "dollar", "quote-and-backslash", "apostrophe"])
def test_labels_carry_a_model_uri_with_a_space_an_accent_or_a_dollar_exactly(store, request, data, tmp_path):
    import skops.io

    # `week1 package`, `week1 modèle`, `week1 $MODEL_PATH`, `week1 "q" \\ b`, `week1's retrained`
    registered = request.getfixturevalue(store)
    champion = Champion(run_id=registered.versions["1"], model_uri=f"models:/{registered.name}/1", version="1",
                        score=0.9)
    with isolated(registered.store):
        context = package(champion, "v1", tracking_uri=registered.store.tracking_uri, base_image=BASE_IMAGE,
                          out_dir=tmp_path / "quoted")
    wanted = registered.models["1"].predict(data.X_test).tolist()
    assert skops.io.load(context / "model.skops").predict(data.X_test).tolist() == wanted, (
        f"model.skops should be the registered version at {champion.model_uri!r} (a model name may hold a space or a "
        "letter outside ASCII)")
    try:
        labels = _settings((context / "Dockerfile").read_text(encoding="utf-8"), "LABEL")
    except ValueError as exc:
        pytest.fail(f"docker would refuse the Dockerfile written for {champion.model_uri!r}: {exc}", pytrace=False)
    assert labels.get("mlflow.model_uri") == champion.model_uri and labels.get("mlflow.run_id") == champion.run_id, (
        f"the image should be labelled mlflow.model_uri={champion.model_uri!r} and mlflow.run_id={champion.run_id!r}, "
        "each value exactly: quote it (LABEL key=\"value\"), since a registered model's name may hold a space and an "
        "unquoted key=value stops at it (docker then refuses the LABEL line), write a letter outside ASCII as "
        "it is (docker keeps it; json.dumps writes \\u00e8 for è unless given ensure_ascii=False), and escape a $ "
        "as \\$ (docker replaces $NAME in a LABEL value with that variable, also inside double quotes), and inside "
        "double quotes escape a \" as \\\" and a \\ as \\\\ (single quotes end at an apostrophe); the "
        f"Dockerfile's labels, read as docker reads them, are {labels}")


def test_the_image_sets_model_path_itself(packaged):
    _, context, _ = packaged
    env = _settings((context / "Dockerfile").read_text(encoding="utf-8"), "ENV")
    model_path = env.get("MODEL_PATH", "")
    assert model_path, (
        "the Dockerfile should set MODEL_PATH to where it copies model.skops (ENV MODEL_PATH=/models/model.skops): "
        "the base image's own MODEL_PATH names its demo model, and copying over that file ties the image to the "
        f"base image's layout; the Dockerfile sets MODEL_PATH to {env.get('MODEL_PATH')!r}")


# The day-03 image's WORKDIR: where a relative COPY destination (or a relative MODEL_PATH) points.
BASE_WORKDIR = "/app"


def _model_destinations(dockerfile: str) -> tuple[set[str], str]:
    """Every path a COPY or ADD of the context's model.skops may have put it at, read as docker reads the line
    (variables replaced, a relative destination under the WORKDIR), and the last WORKDIR, where a relative
    MODEL_PATH points. A destination without a trailing `/` may be a folder the base image already has, so both
    readings count."""
    known: dict[str, str] = {}
    env_names = set(BASE_ENV)
    workdir, found = BASE_WORKDIR, set()
    for word, args in instructions(dockerfile):
        if word in ("ARG", "ENV"):
            _read_settings(word, args, known, env_names)
        elif word == "WORKDIR":
            workdir = posixpath.join(workdir, " ".join(_docker_words(args, known)))
        elif word in ("COPY", "ADD"):
            try:
                words = json.loads(args) if args.lstrip().startswith("[") else _docker_words(args, known)
            except ValueError:
                words = _docker_words(args, known)
            if any(w.startswith("--from") for w in words):
                continue  # from another stage or image, not from the context
            words = [w for w in words if not w.startswith("--")]
            if len(words) < 2:
                continue
            *sources, dest = words
            folder = posixpath.join(workdir, dest)
            for source in sources:
                named = fnmatchcase("model.skops", posixpath.basename(source))
                if named or source.rstrip("/") in (".", ""):  # the file itself, or the whole context
                    found.add(posixpath.normpath(posixpath.join(folder, "model.skops")))
                if named and not dest.endswith("/") and len(sources) == 1:
                    found.add(posixpath.normpath(folder))
    return found, workdir


def test_model_path_names_where_the_model_was_copied(packaged):
    _, context, _ = packaged
    dockerfile = (context / "Dockerfile").read_text(encoding="utf-8")
    model_path = _settings(dockerfile, "ENV").get("MODEL_PATH", "")
    copied, workdir = _model_destinations(dockerfile)
    where = posixpath.normpath(posixpath.join(workdir, model_path)) if model_path else ""
    assert copied, f"the Dockerfile should COPY model.skops into the image; it has no such COPY:\n{dockerfile}"
    assert where in copied, (
        f"MODEL_PATH should name the file the Dockerfile copies model.skops to ({' or '.join(sorted(copied))}), "
        f"so the server loads the champion; it is {model_path!r}, where no COPY put the model (the server would load "
        "whatever the base image has there, or fail to start)")


# The day-03 image's own user: its Dockerfile creates `app` with uid 10001 (`useradd ... --uid 10001 --user-group
# app`, so group 10001 is `app` too) and ends with `USER 10001:10001`. The only other user it has is root.
DAY03_DOCKERFILE = Path(__file__).resolve().parents[2] / "solutions" / "day03" / "Dockerfile"
BASE_USER = "10001:10001"
BASE_USER_NAMES = ("10001", "app")


def _created_users(dockerfile: str) -> set[str]:
    """The words of the Dockerfile's own `RUN useradd` / `adduser` lines: the names and ids of users it creates."""
    words: set[str] = set()
    for word, args in instructions(dockerfile):
        if word == "RUN" and re.search(r"\b(useradd|adduser)\b", args):
            words.update(re.split(r"[\s=;&|]+", args))
    return words


def test_the_image_keeps_the_base_images_user(packaged):
    _, context, _ = packaged
    base = [args.strip() for word, args in instructions(DAY03_DOCKERFILE.read_text(encoding="utf-8")) if word == "USER"]
    assert base[-1:] == [BASE_USER], f"the day-03 image should end as USER {BASE_USER}, not {base} (a broken test)"
    dockerfile = (context / "Dockerfile").read_text(encoding="utf-8")
    users = [args.split()[0] if args.split() else "" for word, args in instructions(dockerfile) if word == "USER"]
    last = users[-1] if users else None
    assert last is None or last.split(":")[0] not in ("root", "0"), (
        f"the image should serve as the day-03 image's own non-root user; the Dockerfile ends as USER {last}: "
        "COPY needs no root, so set no USER (or switch back)")
    if last is None:
        return  # the base image's user it is
    user, _, group = last.partition(":")
    known = set(BASE_USER_NAMES) | _created_users(dockerfile)
    assert user in known and (not group or group in known), (
        f"the image should serve as the day-03 image's own user, app (USER {BASE_USER}), or one this Dockerfile "
        f"creates; it ends as USER {last}, a user the image does not have (a guessed uid): set no USER, or switch "
        f"back to exactly USER {BASE_USER}")


def test_packaging_writes_nothing_outside_its_folder(packaged):
    _, _, stray = packaged
    assert stray == [], "package wrote outside out_dir or read another store: " + "; ".join(stray)
