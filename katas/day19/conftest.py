"""Day 19 fixtures: trained candidates logged in MLflow, and the checker for your workflow file.

Models (tasks 3 and 4). Training is not today's lesson, so the runs are made here, once
per machine (later test runs copy the store), and each test registers its own champion under
a model name of its own.
Every model takes the same held-out frame (`f0`, `f1`, `f2` floats and `region`, one of
north/south/east/west) except `incompatible`, which was trained on another schema:

- `champion`: a linear model with interactions; good in the west, mediocre elsewhere.
- `better`: gradient boosting; clearly better overall, within a few points in every region.
- `worse`: a linear model that sees one feature only.
- `slice_regressor`: gradient boosting trained on data whose west labels were scrambled
  (an upstream bug): better overall, far worse in the west.
- `incompatible`: `region` as integer codes and one extra column `f3`.
- `unsigned`: the `better` recipe, logged without a signature.

Workflow (task 5). `workflow_report("workflow.yml")` checks your file offline, the way
day 04 checks manifests: first GitHub's workflow schema (check-jsonschema's vendored
`github-workflows` schema), then the rules of the README's task 5, each problem naming
the file, the job and the step. The rules *simulate* events: for a pull request, a push
to main, a push to another branch or a tag, they decide which jobs would run from the
`on:` filters, each job's `if:` and its `needs`, the way GitHub does.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pytest

from mlops_katas.infra.mlflow_env import MlflowStore, filled_store, isolated

SEED = 19
REGIONS = ("north", "south", "east", "west")
TRUSTED = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]


# --- data and models ----------------------------------------------------------------------


def make_rows(n: int, rng):
    import numpy as np
    import pandas as pd

    region = rng.choice(REGIONS, size=n, p=[0.3, 0.3, 0.3, 0.1])
    f = rng.normal(size=(n, 3))
    west = region == "west"
    z = np.where(west, -1.5 * f[:, 0] + f[:, 2], f[:, 0] + 0.8 * f[:, 1] ** 2 - 0.8 + 0.5 * f[:, 0] * f[:, 1])
    y = (z + rng.normal(scale=0.7, size=n) > 0).astype(int)
    return pd.DataFrame({"f0": f[:, 0], "f1": f[:, 1], "f2": f[:, 2], "region": region}), y


def _models(X, y):
    import numpy as np
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, PolynomialFeatures, StandardScaler

    def encode():
        return ColumnTransformer([("region", OneHotEncoder(handle_unknown="ignore"), ["region"])],
                                 remainder="passthrough")

    def boosted():
        return make_pipeline(encode(), HistGradientBoostingClassifier(max_iter=60, random_state=SEED))

    scrambled = y.copy()
    west = (X["region"] == "west").to_numpy()
    scrambled[west] = np.random.default_rng(5).permutation(scrambled[west])
    coded = X.assign(region=X["region"].map({r: i for i, r in enumerate(REGIONS)}).astype("int64"), f3=X["f0"] * 0)
    return {
        "champion": (make_pipeline(encode(), PolynomialFeatures(2, interaction_only=True, include_bias=False),
                                   StandardScaler(), LogisticRegression(max_iter=2000)), X, y),
        "better": (boosted(), X, y),
        "worse": (make_pipeline(ColumnTransformer([("f2", "passthrough", ["f2"])]), LogisticRegression()), X, y),
        "slice_regressor": (boosted(), X, scrambled),
        "incompatible": (boosted(), coded, y),
        "unsigned": (boosted(), X, y),
    }


@dataclass
class Trained:
    tracking_uri: str
    store: MlflowStore
    model_uris: dict[str, str]  # "champion", "better", ... -> models:/m-... of the logged model
    X: object  # held-out rows no model was trained on
    y: object

    def _client(self):
        import mlflow

        return mlflow.MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    @contextlib.contextmanager
    def pointed_at(self) -> Iterator[object]:
        """MLflow (yielded) with its process URIs on this store for the test's own calls, put back
        on the decoy default afterwards: code under test must use its tracking_uri, not what the
        test left behind."""
        import mlflow

        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
        try:
            yield mlflow
        finally:
            mlflow.set_tracking_uri(self.store.default_uri)
            mlflow.set_registry_uri(self.store.default_uri)

    def register(self, name: str, which: str) -> str:
        """Register a logged model as a new version of `name`, moving no alias (the test's own calls)."""
        with self.pointed_at() as mlflow:
            return str(mlflow.register_model(self.model_uris[which], name).version)

    def register_champion(self, name: str, which: str = "champion") -> str:
        """Register a logged model as a new version of `name` and point `champion` at it."""
        version = self.register(name, which)
        self.set_alias(name, "champion", version)
        return version

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self._client().set_registered_model_alias(name, alias, version)

    def delete_alias(self, name: str, alias: str) -> None:
        """Remove one alias of the registered model (its versions stay)."""
        self._client().delete_registered_model_alias(name, alias)

    def aliases(self, name: str) -> dict[str, str]:
        """alias -> version, for every alias of the registered model."""
        return {alias: str(v) for alias, v in self._client().get_registered_model(name).aliases.items()}

    def versions(self, name: str) -> list[str]:
        return sorted((str(v.version) for v in self._client().search_model_versions(f"name = '{name}'")), key=int)

    def auc_of(self, model_uri: str) -> float:
        """The held-out ROC AUC of what `model_uri` resolves to now, loaded by the test."""
        from sklearn.metrics import roc_auc_score

        with self.pointed_at() as mlflow:
            model = mlflow.sklearn.load_model(model_uri)
        return roc_auc_score(self.y, model.predict_proba(self.X)[:, 1])


def log_models(tracking_uri: str, store: MlflowStore, artifact_location: str | None, names=None) -> Trained:
    with one_thread():
        return _log_models(tracking_uri, store, artifact_location, names)


def one_thread():
    """OpenMP and BLAS on one thread: on a busy two-core machine their thread pools only fight."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1)


@pytest.fixture(autouse=True)
def _one_thread():
    with one_thread():
        yield


def _log_models(tracking_uri: str, store: MlflowStore, artifact_location: str | None, names=None) -> Trained:
    import uuid

    import mlflow
    import numpy as np
    import sklearn
    from mlflow.models import infer_signature

    rng = np.random.default_rng(SEED)
    X_train, y_train = make_rows(3000, rng)
    X_test, y_test = make_rows(1200, rng)
    uris = {}
    with isolated(store):
        mlflow.set_tracking_uri(tracking_uri)
        client = mlflow.MlflowClient(tracking_uri)
        experiment_id = client.create_experiment(f"day19-training-{uuid.uuid4().hex[:8]}",
                                                 artifact_location=artifact_location)
        for name, (model, X, y) in _models(X_train, y_train).items():
            if names is not None and name not in names:
                continue
            with mlflow.start_run(experiment_id=experiment_id, run_name=name):
                model.fit(X, y)
                signature = None if name == "unsigned" else infer_signature(X, model.predict(X))
                info = mlflow.sklearn.log_model(
                    model, name="model", signature=signature,
                    pip_requirements=[f"scikit-learn=={sklearn.__version__}"], skops_trusted_types=TRUSTED)
                uris[name] = info.model_uri
    return Trained(tracking_uri, store, uris, X_test, y_test)


def _fill(built: MlflowStore) -> dict:
    logged = log_models(built.tracking_uri, built, built.artifact_location)
    return {"uris": logged.model_uris, "expected": asdict(_measure(logged))}


@pytest.fixture(scope="session")
def _logged(mlflow_store_factory) -> tuple[MlflowStore, dict]:
    """The five models in an embedded SQLite store, and what each scores (see `expected`).

    Trained, logged and measured on the first run on this machine; later runs copy that store
    and read the scores back.
    """
    store = mlflow_store_factory("day19-embedded")
    return store, filled_store(store, Path(__file__).read_bytes(), _fill)


@pytest.fixture(scope="session")
def trained(_logged) -> Trained:
    """The five models; the registry lives in the same database."""
    import numpy as np

    store, filled = _logged
    rng = np.random.default_rng(SEED)
    make_rows(3000, rng)  # the training rows come first from the same generator
    X_test, y_test = make_rows(1200, rng)
    return Trained(store.tracking_uri, store, filled["uris"], X_test, y_test)


@pytest.fixture(scope="session")
def served(mlflow_store_factory, mlflow_server) -> Trained:
    """The champion and the better model, logged through the tracking server."""
    return log_models(mlflow_server.url, mlflow_store_factory("day19-served"), None, names=("champion", "better"))


@pytest.fixture
def registry(trained: Trained):
    """Isolates MLflow's process defaults while a test runs your gate.

    Inside, MLflow's default tracking URI points at a store that is not the test's, so code
    that ignores the `tracking_uri` it was given fails.
    """
    with isolated(trained.store):
        yield trained


# Every way an MLflow client reads the registry: an outage must fail each of them.
REGISTRY_READS = ("get_model_version_by_alias", "get_registered_model", "search_model_versions",
                  "search_registered_models", "get_latest_versions", "get_model_version")


# What MLflow's REST client raises for an HTTP error from the registry (or a proxy in front of it): the
# error code comes from the status, the message holds the response body, which may well say "Not Found".
REGISTRY_REFUSALS = {
    "TEMPORARILY_UNAVAILABLE": (503, "<html><body><h1>503 Service Unavailable</h1>No server is available to "
                                     "handle this request.</body></html>"),
    "PERMISSION_DENIED": (403, '{"error_code": "PERMISSION_DENIED", "message": "User does not have READ '
                               'permission on registered models."}'),
    "ENDPOINT_NOT_FOUND": (404, "<html><head><title>404 Not Found</title></head><body><h1>404 Not Found</h1>"
                                "<hr>nginx</body></html>"),
}


@pytest.fixture
def registry_unreachable(monkeypatch):
    """`registry_unreachable(error)`: from now on every registry read raises `error`, as when the
    registry cannot be reached (by default the MlflowException MLflow's REST client raises then).
    `error` may be an error code of REGISTRY_REFUSALS: the MlflowException, with MLflow's own message
    for that HTTP status and a realistic response body, that the REST client raises for it."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos import databricks_pb2
    from mlflow.tracking._model_registry.client import ModelRegistryClient

    def cut_off(error: Exception | str | None = None) -> None:
        if isinstance(error, str):
            status, body = REGISTRY_REFUSALS[error]
            error = MlflowException(f"API request to endpoint /api/2.0/mlflow/registered-models/alias failed with "
                                    f"error code {status} != 200. Response body: '{body}'",
                                    error_code=getattr(databricks_pb2, error))
        error = error or MlflowException("API request to http://registry.internal:5000/api/2.0/mlflow/"
                                         "registered-models/alias failed with exception "
                                         "ConnectionError('Connection refused')")

        def unreachable(self, *args, **kwargs):
            raise error

        for method in REGISTRY_READS:
            monkeypatch.setattr(ModelRegistryClient, method, unreachable)

    return cut_off


@dataclass
class Expected:
    """What the tests expect of each logged model, recomputed here from the models themselves."""

    roc_auc: dict[str, float]
    accuracy: dict[str, float]
    region_auc: dict[str, dict[str, float]]  # model -> region -> ROC AUC
    region_accuracy: dict[str, dict[str, float]]
    size: dict[str, int]  # bytes of every file of the model's artifacts
    proba: dict[str, list[float]]  # model -> predict_proba(X)[:, 1]


def artifact_bytes(model_uri: str) -> int:
    import tempfile

    import mlflow

    with tempfile.TemporaryDirectory() as scratch:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=scratch))
        return sum(p.stat().st_size for p in local.rglob("*") if p.is_file())


@pytest.fixture(scope="session")
def expected(_logged) -> Expected:
    out = Expected(**_logged[1]["expected"])
    auc, west = out.roc_auc, out.region_auc
    # The tests rely on these relations, with clear gaps.
    assert auc["worse"] + 0.1 < auc["champion"] < auc["slice_regressor"] - 0.03 < auc["better"] - 0.05, auc
    assert west["champion"]["west"] - west["slice_regressor"]["west"] > 0.3, west
    worst = max(west["champion"][r] - west["better"][r] for r in REGIONS)
    assert 0.005 < worst < 0.045, worst
    gain = out.accuracy["slice_regressor"] - out.accuracy["champion"]
    assert 0.01 < gain < auc["slice_regressor"] - auc["champion"] - 0.01, (gain, auc)
    return out


def _measure(trained: Trained) -> Expected:
    """Each model's scores and size, recomputed from the logged model itself (JSON-ready)."""
    import mlflow
    from sklearn.metrics import accuracy_score, roc_auc_score

    out = Expected({}, {}, {}, {}, {}, {})
    X, y = trained.X, trained.y
    with isolated(trained.store), one_thread():
        mlflow.set_tracking_uri(trained.tracking_uri)
        for name, uri in trained.model_uris.items():
            out.size[name] = artifact_bytes(uri)
            if name == "incompatible":
                continue
            model = mlflow.sklearn.load_model(uri)
            proba, predicted = model.predict_proba(X)[:, 1], model.predict(X)
            out.proba[name] = proba.tolist()
            out.roc_auc[name] = roc_auc_score(y, proba)
            out.accuracy[name] = accuracy_score(y, predicted)
            rows = {r: (X["region"] == r).to_numpy() for r in REGIONS}
            out.region_auc[name] = {r: roc_auc_score(y[m], proba[m]) for r, m in rows.items()}
            out.region_accuracy[name] = {r: accuracy_score(y[m], predicted[m]) for r, m in rows.items()}
    return out


# --- the workflow checker -------------------------------------------------------------------

JOBS = ("test", "gate", "promote")
SHA = re.compile(r"[0-9a-f]{40}")
VERSION_TAG = re.compile(r"v\d+(\.\d+){0,2}")
STATUS_FUNCTIONS = ("success", "always", "failure", "cancelled")
# `pytest || true` and the like: a failure that is turned into a success.
SWALLOWED = re.compile(r"\|\|\s*(true|:|exit\s+0|echo)\b|\|\|\s*:\s*$")


@dataclass(frozen=True)
class Problem:
    file: str
    job: str  # "-" when the problem is about the whole file
    step: str  # "-" when it is about the job
    message: str
    rule: str  # yaml, schema, jobs, pull-request, main-only, needs, permissions, pinning, concurrency, secrets

    def __str__(self) -> str:
        where = "" if self.job == "-" else f" job '{self.job}'" + ("" if self.step == "-" else f", {self.step}")
        return f"{self.file}:{where} {self.message}"


def explain(problems) -> str:
    return "\n".join(f"  - {p}" for p in problems)


@dataclass
class WorkflowReport:
    file: str
    doc: dict | None
    problems: list[Problem] = field(default_factory=list)

    def problems_of(self, *rules: str) -> list[Problem]:
        return [p for p in self.problems if p.rule in rules]


class Unsupported(Exception):
    """An expression outside the subset the README lists."""


# Contexts of the simulated events. Two pushes to main differ only in what is unique per run.
def _github(event: str, ref: str, *, base_ref: str = "", run: int = 1, fork: bool = False,
            draft: bool = False, head_ref: str = "feature/better-model", actor: str = "",
            title: str = "Improve the fraud model", association: str = "MEMBER") -> dict:
    ref_name = ref.split("/", 2)[2] if ref.startswith(("refs/heads/", "refs/tags/")) else ref.split("/", 2)[-1]
    sha = hashlib.sha1(str(run).encode()).hexdigest()
    login = actor or f"dev{run}"
    # Fields every event's payload carries: who triggered it (another person in another run) and the repository.
    common = {"sender": {"login": login, "type": "Bot" if login.endswith("[bot]") else "User"},
              "repository": {"full_name": "acme/fraud-model", "name": "fraud-model", "default_branch": "main"}}
    payload: dict = {}
    if event == "push":  # the fields of GitHub's push payload a workflow might read
        person = {"name": login, "email": f"{login}@example.com", "username": login}
        payload = {"ref": ref, "after": sha, "before": hashlib.sha1(f"before {run}".encode()).hexdigest(),
                   "created": False, "deleted": False, "forced": False, "pusher": person, **common,
                   "head_commit": {"id": sha, "message": f"change {run}", "timestamp": f"2025-03-0{run}T10:00:00Z",
                                   "author": person, "committer": person}}
    elif event == "pull_request":
        number = int(ref.split("/")[2]) if ref.startswith("refs/pull/") else run
        payload = {"action": "synchronize", "number": number, **common,
                   "pull_request": {"number": number, "draft": draft, "title": title,
                                    # who opened it: the same account as github.actor for a new pull request
                                    "user": {"login": actor or f"dev{run}"}, "author_association": association,
                                    "head": {"ref": head_ref, "sha": sha,
                                             "repo": {"full_name": "ana/fraud-model" if fork else "acme/fraud-model",
                                                      "fork": fork}},
                                    "base": {"ref": base_ref, "repo": {"full_name": "acme/fraud-model",
                                                                      "fork": False}}}}
    return {"event_name": event, "ref": ref, "ref_name": ref_name, "base_ref": base_ref,
            "head_ref": head_ref if event == "pull_request" else "",
            "ref_type": "tag" if ref.startswith("refs/tags/") else "branch",
            "workflow": "ml", "repository": "acme/fraud-model", "repository_owner": "acme",
            "run_id": str(9000 + run), "run_number": str(40 + run), "run_attempt": "1",
            "sha": sha, "actor": actor or f"dev{run}", "event": payload}


PULL_REQUESTS = {"a pull request into main": _github("pull_request", "refs/pull/7/merge", base_ref="main"),
                 "a pull request into develop": _github("pull_request", "refs/pull/8/merge", base_ref="develop"),
                 "a pull request into release/2.0": _github("pull_request", "refs/pull/9/merge",
                                                            base_ref="release/2.0"),
                 "a pull request into users/ana/spike": _github("pull_request", "refs/pull/10/merge",
                                                                base_ref="users/ana/spike"),
                 "a first-time contributor's pull request from a fork into main": _github(
                     "pull_request", "refs/pull/11/merge", base_ref="main", fork=True,
                     association="FIRST_TIME_CONTRIBUTOR"),
                 "a draft pull request titled 'WIP: ...' into main": _github(
                     "pull_request", "refs/pull/12/merge", base_ref="main", draft=True,
                     title="WIP: try a deeper model"),
                 # Forks often open pull requests from their own `main`: github.head_ref is `main` then.
                 "a pull request from a fork's main branch into main": _github(
                     "pull_request", "refs/pull/13/merge", base_ref="main", fork=True, head_ref="main"),
                 "a pull request by Dependabot into main": _github(
                     "pull_request", "refs/pull/14/merge", base_ref="main",
                     head_ref="dependabot/pip/scikit-learn-1.6.1", actor="dependabot[bot]",
                     title="Bump scikit-learn from 1.5.2 to 1.6.1", association="NONE")}
PUSH_MAIN = _github("push", "refs/heads/main")
PUSH_MAIN_AGAIN = _github("push", "refs/heads/main", run=2)
ELSEWHERE = {"a push to branch feature/x": _github("push", "refs/heads/feature/x"),
             "a push of tag v1.0": _github("push", "refs/tags/v1.0"),
             "a push to branch main-backup": _github("push", "refs/heads/main-backup"),
             "a push to branch users/ana/main": _github("push", "refs/heads/users/ana/main"),
             "a push of tag main": _github("push", "refs/tags/main")}


def _filled(pattern) -> str:
    """A branch or tag name a filter pattern names: its `!` dropped, every `*` or `**` filled in."""
    return re.sub(r"\*\*?", "x", str(pattern).lstrip("!"))


def _patterns(filters: dict, *keys: str) -> list:
    found = []
    for key in keys:
        value = filters.get(key)
        found += value if isinstance(value, list) else [value] if value else []
    return found


def _elsewhere(doc: dict) -> dict[str, dict]:
    """ELSEWHERE, plus a push to every other branch or tag the workflow's own push filters name:
    `branches: [main, develop]` with gate on `github.event_name == 'push'` runs it on a push to develop."""
    runs = dict(ELSEWHERE)
    push = _on(doc).get("push")
    filters = push if isinstance(push, dict) else {}
    for pattern in _patterns(filters, "branches", "branches-ignore"):
        if (name := _filled(pattern)) != "main":
            runs.setdefault(f"a push to branch {name}", _github("push", f"refs/heads/{name}"))
    for pattern in _patterns(filters, "tags", "tags-ignore"):
        name = _filled(pattern)
        runs.setdefault(f"a push of tag {name}", _github("push", f"refs/tags/{name}"))
    return runs


def _pull_requests(doc: dict, conditions=()) -> dict[str, dict]:
    """PULL_REQUESTS, plus a pull request into every branch the workflow's pull_request filters name
    (`branches-ignore: [gh-pages]`), and one whose branch, title and author are each quoted string of
    `conditions` (the test job's and its pytest steps' `if:`: `!startsWith(github.head_ref, 'docs/')`)."""
    runs = dict(PULL_REQUESTS)
    pr = _on(doc).get("pull_request")
    filters = pr if isinstance(pr, dict) else {}
    for number, pattern in enumerate(_patterns(filters, "branches", "branches-ignore"), start=100):
        name = _filled(pattern)
        runs.setdefault(f"a pull request into {name}",
                        _github("pull_request", f"refs/pull/{number}/merge", base_ref=name))
    quoted = [text.replace("''", "'") for condition in conditions if isinstance(condition, str)
              for text in re.findall(r"'((?:[^']|'')*)'", condition)]
    for number, text in enumerate(dict.fromkeys(t for t in quoted if t.strip()), start=200):
        runs.setdefault(f"a pull request into main from branch {text!r}, titled {text!r}, by {text!r}",
                        _github("pull_request", f"refs/pull/{number}/merge", base_ref="main", head_ref=text,
                                title=text, actor=text))
    return runs


class Expression:
    """A small evaluator for GitHub expressions: the subset the README lists."""

    TOKEN = re.compile(r"\s*(?:(?P<op>==|!=|&&|\|\||!|\(|\)|,)|'(?P<str>(?:[^']|'')*)'|(?P<num>\d+(?:\.\d+)?)"
                       r"|(?P<name>[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)*))")

    def __init__(self, text: str, github: dict, needs_ok: bool = True, failed_before: bool = False) -> None:
        self.tokens, position = [], 0
        text = text.strip()
        while position < len(text):
            match = self.TOKEN.match(text, position)
            if not match or match.end() == position:
                raise Unsupported(f"cannot read {text[position:]!r}")
            kind = match.lastgroup
            value = match.group(kind)
            self.tokens.append((kind, value.replace("''", "'") if kind == "str" else value))
            position = match.end()
            while position < len(text) and text[position].isspace():
                position += 1
        self.github, self.needs_ok, self.failed_before, self.index = github, needs_ok, failed_before, 0
        self.status_function = False

    def evaluate(self):
        value = self._or()
        if self.index != len(self.tokens):
            raise Unsupported(f"unexpected {self.tokens[self.index][1]!r}")
        return value

    def _peek(self):
        return self.tokens[self.index] if self.index < len(self.tokens) else (None, None)

    def _take(self, op=None):
        kind, value = self._peek()
        if kind is None or (op is not None and value != op):
            raise Unsupported(f"expected {op or 'a value'}")
        self.index += 1
        return kind, value

    def _or(self):
        value = self._and()
        while self._peek() == ("op", "||"):
            self._take()
            right = self._and()
            value = value if truthy(value) else right
        return value

    def _and(self):
        value = self._not()
        while self._peek() == ("op", "&&"):
            self._take()
            right = self._not()
            value = right if truthy(value) else value
        return value

    def _not(self):
        if self._peek() == ("op", "!"):
            self._take()
            return not truthy(self._not())
        return self._compare()

    def _compare(self):
        left = self._primary()
        if self._peek() in (("op", "=="), ("op", "!=")):
            _, op = self._take()
            right = self._primary()
            same = _loose(left) == _loose(right)
            return same if op == "==" else not same
        return left

    def _primary(self):
        kind, value = self._take()
        if kind == "op" and value == "(":
            inner = self._or()
            self._take(")")
            return inner
        if kind == "str":
            return value
        if kind == "num":
            return float(value)
        if kind != "name":
            raise Unsupported(f"unexpected {value!r}")
        if value in ("true", "false"):
            return value == "true"
        if value == "null":
            return None
        if self._peek() == ("op", "("):
            return self._call(value)
        parts = value.split(".")
        if parts[0] != "github" or len(parts) < 2 or parts[1] not in self.github:
            raise Unsupported(f"{value} is not one of the github.* values the checker knows")
        found = self.github
        for part in parts[1:]:
            found = found.get(part) if isinstance(found, dict) else None
        return found

    def _call(self, name: str):
        self._take("(")
        args = []
        while self._peek() != ("op", ")"):
            args.append(self._or())
            if self._peek() == ("op", ","):
                self._take()
        self._take(")")
        lowered = name.lower()
        if lowered in STATUS_FUNCTIONS:
            self.status_function = True
            return {"success": self.needs_ok, "always": True, "failure": self.failed_before,
                    "cancelled": False}[lowered]
        text = [str(a if a is not None else "") for a in args]
        if lowered == "startswith" and len(args) == 2:
            return text[0].lower().startswith(text[1].lower())
        if lowered == "endswith" and len(args) == 2:
            return text[0].lower().endswith(text[1].lower())
        if lowered == "contains" and len(args) == 2:
            return text[1].lower() in text[0].lower()
        if lowered == "format" and args:
            return re.sub(r"\{(\d+)\}", lambda m: _text(args[int(m.group(1)) + 1]), text[0])
        raise Unsupported(f"the function {name}() is not one the checker knows")


def truthy(value) -> bool:
    return value not in (None, False, "", 0, 0.0)


def _loose(value):
    return value.lower() if isinstance(value, str) else value


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else (str(int(value)) if isinstance(value, float) and value.is_integer() else str(value))


def _unwrap(text: str) -> str | None:
    """The expression inside a whole-string `${{ ... }}`, or None if the string is not one."""
    match = re.fullmatch(r"\s*\$\{\{(.*)\}\}\s*", text, re.S)
    return match.group(1) if match and "${{" not in match.group(1) else None


def template(value, github: dict):
    """A value that may hold `${{ }}` parts, evaluated: a whole expression keeps its type."""
    if not isinstance(value, str):
        return value
    inner = _unwrap(value)
    if inner is not None:
        return Expression(inner, github).evaluate()
    return re.sub(r"\$\{\{(.*?)\}\}", lambda m: _text(Expression(m.group(1), github).evaluate()), value)


def _job_if(job: dict, github: dict, needs_ok: bool, failed_before: bool = False) -> bool:
    condition = job.get("if")
    if condition is None:
        return needs_ok
    if isinstance(condition, bool):
        return needs_ok and condition
    text = str(condition)
    expression = Expression(_unwrap(text) if _unwrap(text) is not None else text, github, needs_ok, failed_before)
    value = truthy(expression.evaluate())
    return value if expression.status_function else (needs_ok and value)


def _pattern_match(patterns, name: str) -> bool:
    """GitHub's filter patterns: `*` any characters but `/`, `**` anything, `!` negates a pattern."""
    matched = False
    for pattern in patterns if isinstance(patterns, list) else [patterns]:
        pattern = str(pattern)
        negate = pattern.startswith("!")
        body = pattern[1:] if negate else pattern
        regex = "".join(".*" if part == "**" else ("[^/]*" if part == "*" else re.escape(part))
                        for part in re.split(r"(\*\*|\*)", body))
        if re.fullmatch(regex, name):
            matched = not negate
    return matched


def _on(doc: dict) -> dict:
    on = doc.get("on", doc.get(True))  # YAML 1.1 reads a bare `on` key as the boolean True
    if isinstance(on, str):
        return {on: {}}
    if isinstance(on, list):
        return {str(event): {} for event in on}
    return {str(k): (v or {}) for k, v in on.items()} if isinstance(on, dict) else {}


def _triggered(on: dict, github: dict) -> bool:
    event = github["event_name"]
    if event not in on:
        return False
    filters = on[event] if isinstance(on[event], dict) else {}
    if event == "pull_request":
        branch = github["base_ref"]
        if "branches" in filters:
            return _pattern_match(filters["branches"], branch)
        if "branches-ignore" in filters:
            return not _pattern_match(filters["branches-ignore"], branch)
        return True
    if event == "push":
        is_tag = github["ref_type"] == "tag"
        own, other = ("tags", "branches") if is_tag else ("branches", "tags")
        if own in filters:
            return _pattern_match(filters[own], github["ref_name"])
        if f"{own}-ignore" in filters:
            return not _pattern_match(filters[f"{own}-ignore"], github["ref_name"])
        # Only the other kind filtered: this kind does not trigger at all.
        return not (other in filters or f"{other}-ignore" in filters)
    return True


def _needs(job: dict) -> list[str]:
    needs = job.get("needs", [])
    return [needs] if isinstance(needs, str) else [str(n) for n in needs] if isinstance(needs, list) else []


def jobs_that_run(doc: dict, github: dict, failing=()) -> set[str]:
    """The jobs GitHub would run for this event, every job succeeding except those named in `failing`
    (which run and fail); Unsupported if an `if` cannot be read."""
    jobs = doc.get("jobs") or {}
    on = _on(doc)
    if not _triggered(on, github):
        return set()
    status: dict[str, str] = {}  # success, failure or skipped
    upstream_failed: dict[str, bool] = {}

    def state(name: str, seen=()) -> str:
        if name not in status:
            job = jobs.get(name)
            if not isinstance(job, dict) or name in seen:
                return "skipped"
            needed = _needs(job)
            needs_ok = all([state(n, (*seen, name)) == "success" for n in needed])  # every need, no short cut
            failed_before = any(status.get(n) == "failure" or upstream_failed.get(n, False) for n in needed)
            upstream_failed[name] = failed_before
            if not _job_if(job, github, needs_ok, failed_before):
                status[name] = "skipped"
            else:
                status[name] = "failure" if name in failing else "success"
        return status[name]

    return {name for name in jobs if state(name) != "skipped"}


def _step_label(index: int, step) -> str:
    if not isinstance(step, dict):
        return f"step {index + 1}"
    what = step.get("name") or step.get("uses") or str(step.get("run", "")).strip().splitlines()[:1]
    return f"step {index + 1} ({what[0] if isinstance(what, list) and what else what})"


def _schema_problems(path: Path, shown: str) -> list[Problem]:
    exe = Path(sys.executable).parent / "check-jsonschema"
    command = [str(exe)] if exe.exists() else [shutil.which("check-jsonschema") or "check-jsonschema"]
    try:
        done = subprocess.run([*command, "--builtin-schema", "vendor.github-workflows", "-o", "json", str(path)],
                              capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.fail(f"check-jsonschema could not run ({exc}); is it installed in this environment?", pytrace=False)
    try:
        result = json.loads(done.stdout)
    except ValueError:
        pytest.fail(f"check-jsonschema gave no JSON report: {done.stdout[-500:]} {done.stderr[-500:]}", pytrace=False)
    problems = []
    for error in result.get("errors", []):
        best = error.get("best_deep_match") or error.get("best_match") or error
        where = best.get("path", error.get("path", "$"))
        match = re.match(r"\$\.jobs\.([^.\[]+)(?:\.steps\[(\d+)\])?", where)
        job = match.group(1) if match else "-"
        step = f"step {int(match.group(2)) + 1}" if match and match.group(2) else "-"
        problems.append(Problem(shown, job, step, f"schema: at {where}: {best.get('message', error.get('message'))}",
                                "schema"))
    for error in result.get("parse_errors", []):
        problems.append(Problem(shown, "-", "-", f"is not valid YAML: {error.get('message', error)}", "yaml"))
    return problems


def check_workflow(path: Path, shown: str | None = None) -> WorkflowReport:
    """Every problem of the workflow file at `path`: YAML, the schema, then the README's rules."""
    import yaml

    shown = shown or path.name
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        return WorkflowReport(shown, None, [Problem(shown, "-", "-", f"is not valid YAML: {exc}", "yaml")])
    if not isinstance(doc, dict) or "jobs" not in doc or ("on" not in doc and True not in doc):
        return WorkflowReport(shown, None, [Problem(
            shown, "-", "-", "is not a GitHub Actions workflow: it needs top-level 'on' and 'jobs' keys", "yaml")])
    report = WorkflowReport(shown, doc, _schema_problems(path, shown))
    jobs = doc["jobs"] if isinstance(doc["jobs"], dict) else {}
    problem = lambda job, step, message, rule: report.problems.append(Problem(shown, job, step, message, rule))  # noqa: E731

    # The schema allows a job with neither steps nor a reusable workflow; GitHub refuses the file.
    for name, job in jobs.items():
        if isinstance(job, dict) and "steps" not in job and "uses" not in job:
            problem(name, "-", "has no steps and calls no reusable workflow (uses:): GitHub refuses the whole file "
                    "('No steps defined in `steps` and no workflow called in `uses`')", "schema")
    for name in JOBS:
        if not isinstance(jobs.get(name), dict):
            problem(name, "-", f"the workflow has no job named '{name}' (jobs: {sorted(jobs)})", "jobs")
    _check_events(doc, jobs, problem)
    _check_needs(doc, jobs, problem)
    _check_permissions(doc, jobs, problem)
    _check_pinning(jobs, problem)
    _check_concurrency(doc, jobs, problem)
    _check_pr_secrets(doc, jobs, problem)
    return report


# `${{ secrets.MLFLOW_TOKEN }}`, `${{ secrets['X'] }}`, `${{ toJSON(secrets) }}`: any secret but GITHUB_TOKEN.
SECRET_USE = re.compile(r"\bsecrets\b(?!\s*\.\s*github_token\b)", re.IGNORECASE)


def _secrets_in(value) -> list[str]:
    """The `${{ ... }}` expressions in a value (any nesting of mappings and lists) that read a secret."""
    if isinstance(value, dict):
        return [found for item in value.values() for found in _secrets_in(item)]
    if isinstance(value, list):
        return [found for item in value for found in _secrets_in(item)]
    return [f"${{{{{inner}}}}}" for inner in re.findall(r"\$\{\{(.*?)\}\}", str(value), re.DOTALL)
            if SECRET_USE.search(inner)]


def _check_pr_secrets(doc, jobs, problem) -> None:
    """No job that runs for a pull request gets a secret (GITHUB_TOKEN aside): not through the workflow's
    env, nor its own keys (env, with, container, services, secrets: for a reusable workflow), nor a step
    that runs for the pull request."""
    seen = set()
    for what, github in _pull_requests(doc).items():
        try:
            ran = jobs_that_run(doc, github)
        except Unsupported:
            return  # reported by the pull-request rules
        for name in sorted(ran):
            job = jobs.get(name)
            if not isinstance(job, dict):
                continue
            found = [("-", f"{use} (from the workflow's env)") for use in _secrets_in(doc.get("env"))]
            if job.get("secrets") == "inherit":
                found.append(("-", "'secrets: inherit' passes every secret to the reusable workflow"))
            found += [("-", f"{use}") for key, value in job.items() if key not in ("steps", "if")
                      for use in _secrets_in(value)]
            for index, step in enumerate(job.get("steps") or []):
                if isinstance(step, dict) and _step_runs(step, github):
                    found += [(_step_label(index, step), use) for key, value in step.items() if key != "if"
                              for use in _secrets_in(value)]
            for step, use in found:
                if (name, step, use) not in seen:
                    seen.add((name, step, use))
                    problem(name, step, f"runs for {what} and reads {use}: a pull request's code is not "
                            "reviewed yet, so it gets no secret but GITHUB_TOKEN (credentials belong to gate "
                            "and promote)", "secrets")


def _simulate(doc, github, problem) -> set[str] | None:
    try:
        return jobs_that_run(doc, github)
    except Unsupported as exc:
        problem("-", "-", f"an if: expression the checker cannot evaluate ({exc}); use only the subset the "
                "README lists", "main-only")
        return None


def _script(step: dict) -> str:
    """A run step's script with every line continued by a trailing backslash joined to the next:
    `pytest \\` then `  || echo failed` is one command, `pytest || echo failed`."""
    return re.sub(r"\\[ \t]*\r?\n[ \t]*", " ", str(step.get("run", "")))


def _check_events(doc, jobs, problem) -> None:
    on = _on(doc)
    if "pull_request_target" in on:
        problem("-", "-", "pull_request_target runs a fork's code with a write token and the repository's "
                "secrets; use pull_request", "pull-request")
    pr_filters = on.get("pull_request") if isinstance(on.get("pull_request"), dict) else {}
    for key in ("paths", "paths-ignore"):
        if key in pr_filters:
            problem("-", "-", f"on.pull_request.{key} skips the tests for some pull requests; "
                    "every pull request must be tested", "pull-request")
    types = pr_filters.get("types")
    if types is not None:
        missing = {"opened", "synchronize", "reopened"} - set(types if isinstance(types, list) else [types])
        if missing:
            problem("-", "-", f"on.pull_request.types leaves out {sorted(missing)}: a pull request would "
                    "not be tested then", "pull-request")
    test_steps = jobs.get("test", {}).get("steps") if isinstance(jobs.get("test"), dict) else None
    pytest_steps = [(i, s) for i, s in enumerate(test_steps or [])
                    if isinstance(s, dict) and re.search(r"\bpytest\b", str(s.get("run", "")))]
    if isinstance(jobs.get("test"), dict) and not pytest_steps:
        problem("test", "-", "no step of the job runs pytest", "pull-request")
    for index, step in pytest_steps:
        if any(_continues_on_error(step, github) for github in (PUSH_MAIN, *PULL_REQUESTS.values())):
            problem("test", _step_label(index, step), "continue-on-error lets the job succeed when pytest fails "
                    "(for a push to main or a pull request): failing tests must fail the job", "pull-request")
        script = _script(step)
        for line in script.splitlines():
            if re.search(r"\bpytest\b", line) and _swallows(line, script):
                problem("test", _step_label(index, step), f"'{line.strip()}' swallows pytest's exit code, so the "
                        "step succeeds when tests fail: failing tests must fail the job", "pull-request")
            elif _pipe_hides_pytest(line, script, _shell(doc, jobs["test"], step)):
                problem("test", _step_label(index, step), f"'{line.strip()}' pipes pytest into another command: "
                        "without pipefail the step's status is the last command's, so it succeeds when tests "
                        "fail (give the step `shell: bash`, which GitHub runs with -o pipefail, or "
                        "`set -o pipefail`)", "pull-request")
            elif _and_list_hides(line, script, _runs_pytest):
                problem("test", _step_label(index, step), f"'{line.strip()}' runs pytest in front of `&&` and the "
                        "script goes on after it: bash -e does not stop at a failure in front of `&&`, so a later "
                        "command's status ends the step and it succeeds when tests fail (put pytest on a line of "
                        "its own)", "pull-request")
            elif _runs_pytest(line) and _condition_hides_pytest(line, script):
                problem("test", _step_label(index, step), f"'{line.strip()}' runs pytest as a condition: a failure "
                        "there does not stop the script, and nothing after it exits with a failure, so the step "
                        "succeeds when tests fail: `exit 1` where the failure is handled", "pull-request")
            elif _runs_pytest(line) and _errexit_off(line, script):
                problem("test", _step_label(index, step), f"'set +e' before '{line.strip()}' lets the script go on "
                        "after pytest fails and end with another command's status, so the step succeeds when "
                        "tests fail: keep -e, or end the script with `exit` and pytest's status", "pull-request")
            elif (_runs_pytest(line) and not _errexit_in(shell := _shell(doc, jobs["test"], step))
                  and _errexit_off(line, "set +e\n" + script)):
                problem("test", _step_label(index, step), f"the step's shell '{shell}' runs without -e, so after "
                        f"'{line.strip()}' fails the script goes on and ends with another command's status: the "
                        "step succeeds when tests fail (add -e to the shell, or use `shell: bash`)", "pull-request")
    running = [(index, step) for index, step in pytest_steps if _runs_pytest(_script(step))]
    test_job = jobs.get("test") if isinstance(jobs.get("test"), dict) else {}
    pull_requests = _pull_requests(doc, [test_job.get("if"), *(step.get("if") for _, step in running)])
    for what, github in pull_requests.items():
        if running and not any(_step_runs(step, github) for _, step in running):
            labels = ", ".join(_step_label(index, step) for index, step in running)
            problem("test", labels, f"the step's if: skips pytest for {what}: the job runs but tests nothing; "
                    "every pull request must be tested", "pull-request")
    for what, github in pull_requests.items():
        ran = _simulate(doc, github, problem)
        if ran is None:
            return
        if "test" not in ran:
            problem("test", "-", f"does not run for {what}: every pull request must be tested", "pull-request")
        for name in ("gate", "promote"):
            if name in ran:
                problem(name, "-", f"runs for {what}: train, gate and promote run on a push to main only "
                        "(a pull request's code is not reviewed yet)", "main-only")
    ran = _simulate(doc, PUSH_MAIN, problem)
    if ran is None:
        return
    for name in JOBS:
        if name in jobs and name not in ran:
            problem(name, "-", "does not run on a push to main", "main-only")
    for what, github in _elsewhere(doc).items():
        ran = _simulate(doc, github, problem)
        if ran is None:
            return
        for name in ("gate", "promote"):
            if name in ran:
                problem(name, "-", f"runs for {what}: it must run on a push to main only", "main-only")
    for event in on:
        if event in ("push", "pull_request"):
            continue
        github = _github(event, "refs/heads/main")
        ran = _simulate(doc, github, problem)
        for name in ("gate", "promote"):
            if ran is not None and name in ran:
                problem(name, "-", f"runs on a {event} event on main: it must run on a push to main only", "main-only")


def _after(line: str, script: str) -> str:
    """What a step's script runs after this line of it (nothing when the line is not found)."""
    return script.split(line, 1)[1] if line in script else ""


def _swallows(line: str, script: str) -> bool:
    """Whether `pytest ... || X` on this line turns pytest's failure into a success: X neither fails
    (`exit 1`, `exit $?`, `false`) nor keeps the status for an `exit $status` later in the script."""
    if SWALLOWED.search(line):
        return True
    if "||" not in line:
        return False
    after = line.split("||", 1)[1]
    if re.search(r"\bexit\s+(?!0\b)\S|\bfalse\b|\breturn\s+(?!0\b)\S", after):
        return False
    if _runs_pytest(after) and not re.search(r"--co\b|--collect-only\b", after):
        return False  # `pytest || pytest --lf`: the rerun fails again when the tests still fail
    kept = re.search(r"\b([A-Za-z_][A-Za-z0-9_]*)=\$\?", after)
    rest = _after(line, script)
    return not (kept and re.search(rf"\bexit\s+\"?\$\{{?{kept.group(1)}\b", rest))


# A later command that fails the script: `exit 1`, `exit $status`, `false` (not the words inside an echo).
FAILS_LATER = re.compile(r"(?:^|[;&|{(]|\bthen\b|\belse\b|\bdo\b)\s*(?:exit\s+(?!0\b)\S|false\b)", re.M)


# The gate's own command on a line of a gate step: `python gate.py`, `python -m gate_cli`, `python -m pipeline gate`
# (not a word that merely ends in it, such as aggregate, nor a file test such as `[ -f gate.log ]`), and, whatever
# its script is called, any Python command of the gate job (`python validate_candidate.py`, `uv run evaluate.py`;
# not `python -m pip`): its failure is the gate's verdict as much.
GATE_COMMAND = re.compile(r"(?<![A-Za-z])gate|(?<![\w.-])python(?:3(?:\.\d+)?)?(?![\w.-])(?!\s+-m\s+pip\b)"
                          r"|\b(?:uv|poetry|pipenv)\s+run\b")
# The gate's command as the condition of `if`, `elif`, `while` or `until`, or negated with `!`.
GATE_CONDITION = re.compile(r"(?:\b(?:if|elif|while|until)\s+|(?:^|[;&|(])\s*!\s*)(?!\s*(?:!\s*)?(?:\[|test\b))"
                            r"[^;]*?(?:(?<![A-Za-z])gate|(?<![\w.-])python(?:3(?:\.\d+)?)?(?![\w.-])"
                            r"|\b(?:uv|poetry|pipenv)\s+run\b)")


def _gate_status_swallowed(line: str, script: str) -> bool:
    """Whether the gate's command on this line ends in `|| X` that neither fails again nor keeps the
    status for a later `exit $status` (`python gate.py > gate.log || cat gate.log`), or is the condition
    of an `if` (`if ! python gate.py; then echo ...; fi`) with nothing failing after it."""
    if line.strip().startswith("#"):
        return False
    before = line.split("||", 1)[0]
    if "||" in line and _runs_gate(before):
        after = line.split("||", 1)[1]
        if not re.search(r"\bexit\s+(?!0\b)\S|\bfalse\b|\breturn\s+(?!0\b)\S", after):
            kept = re.search(r"\b([A-Za-z_][A-Za-z0-9_]*)=\$\?", after)
            rest = _after(line, script)
            if not (kept and re.search(rf"\bexit\s+\"?\$\{{?{kept.group(1)}\b", rest)):
                return True
    match = GATE_CONDITION.search(line)
    if not match:
        return False
    later = line[match.end():] + "\n" + _after(line, script)
    return not FAILS_LATER.search(later)


def _and_list_hides(line: str, script: str, runs) -> bool:
    """Whether `X && Y` on this line, X a command that `runs(X)` picks (pytest, the gate), lets the script go
    on when X fails: bash -e does not stop at a failure in front of `&&`, so when more commands follow (on
    later lines, or after a `;`) the last of them decides the step's status, unless one fails again (`exit 1`,
    `exit $status`, `false`)."""
    if line.strip().startswith("#") or "&&" not in line:
        return False
    parts = line.split("&&")
    first = next((i for i, part in enumerate(parts[:-1]) if runs(part)), None)
    if first is None:
        return False
    rest = _after(line, script)
    goes_on = ";" in parts[-1] or any(text.strip() and not text.strip().startswith("#") for text in rest.splitlines())
    return goes_on and not FAILS_LATER.search("&&".join(parts[first + 1:]) + "\n" + rest)


def _runs_gate(text: str) -> bool:
    """Whether a piece of a command line runs the gate (not a file test such as `[ -f gate.log ]`)."""
    return bool(GATE_COMMAND.search(text)) and not re.match(r"\s*(?:\[|test\b)", text)


# pytest as the condition of `if`, `elif`, `while` or `until`, or negated with `!`: bash -e does not stop there.
PYTEST_CONDITION = re.compile(r"(?:\b(?:if|elif|while|until)\s+|(?:^|[;&|(])\s*!\s*)[^;]*?\bpytest\b")


def _condition_hides_pytest(line: str, script: str) -> bool:
    """Whether this line tests pytest's status (`if ! pytest; then echo failed; fi`) and nothing after
    pytest in the script fails (`exit 1`, `exit $status`, `false`), so the step ends successfully."""
    match = PYTEST_CONDITION.search(line)
    if not match:
        return False
    after = line[match.end():] + "\n" + _after(line, script)
    return not FAILS_LATER.search(after)


def _runs_pytest(text: str) -> bool:
    """Whether a line (or script) runs pytest, not merely installs it."""
    return any(re.search(r"\bpytest\b", line) and not re.search(r"\binstall\b", line) for line in text.splitlines())


def _errexit_off(line: str, script: str) -> bool:
    """Whether a `set +e` before this pytest line (and no `set -e` after it) lets the script carry on
    after pytest fails and end with another command's status: not when pytest's line is the script's
    last command, nor when a later line exits with a status that is not 0."""
    before, _, after = script.partition(line)
    off = max(before.rfind(marker) for marker in ("set +e", "set +o errexit"))
    if off < 0 or re.search(r"\bset\s+-\w*e|\bset\s+-o\s+errexit", before[off:]):
        return False
    rest = [text for text in after.splitlines() if text.strip() and not text.strip().startswith("#")]
    return bool(rest) and not FAILS_LATER.search(after)


def _step_runs(step: dict, github: dict) -> bool:
    """Whether a step's own `if:` lets it run for this event (the steps before it succeeding); an `if:`
    on what the checker cannot know (steps.*, env.*, matrix.*) counts as running."""
    if step.get("if") is None:
        return True
    try:
        return _job_if(step, github, needs_ok=True)
    except Unsupported:
        return True


PIPED_PYTEST = re.compile(r"\bpytest\b[^|]*\|(?!\|)")


def _shell(doc: dict, job: dict, step: dict) -> str | None:
    """The step's shell: its own, else the job's or the workflow's `defaults.run.shell`."""
    for where in (step, (job.get("defaults") or {}).get("run") or {}, (doc.get("defaults") or {}).get("run") or {}):
        if isinstance(where, dict) and where.get("shell"):
            return str(where["shell"])
    return None


def _errexit_in(shell: str | None) -> bool:
    """Whether the step's shell stops at the first failing command: GitHub's own shells (the default,
    `bash`, `sh`) run with -e; a custom template such as `bash -l {0}` only with -e or -o errexit."""
    if shell is None or "{0}" not in shell or re.match(r"\s*python", shell):
        return True  # a python script stops at its first exception
    return bool(re.search(r"(?:^|\s)-[A-Za-z]*e|\berrexit\b", shell))


def _pipefail_in(shell: str | None) -> bool:
    """Whether a pipe in the step ends with the status of its first failing command: `shell: bash`
    (GitHub runs it with -o pipefail) or a custom template that sets pipefail."""
    return shell == "bash" or (shell is not None and "{0}" in shell and "pipefail" in shell)


# A pipe (not `||`) on a line of a gate step: `python gate.py | tee gate.log`.
PIPED = re.compile(r"(?<!\|)\|(?!\|)")


def _pipefail_before(line: str, script: str) -> bool:
    """Whether the script says `set -o pipefail` (or `set -eo pipefail`, ...) before this line."""
    before = script.split(line, 1)[0] if line in script else ""
    return bool(re.search(r"\bset\b[^\n]*(-o\s*pipefail|-\w*o\s+pipefail)", before))


def _pipe_hides_status(line: str, script: str, shell: str | None) -> bool:
    """Whether `X | Y` on this line of a gate step ends with Y's status, hiding X's failure."""
    if line.strip().startswith("#") or not PIPED.search(re.sub(r"\$\{\{.*?\}\}", "", line)):
        return False
    return not (_pipefail_in(shell) or _pipefail_before(line, script))


def _status_lost(script: str, shell: str | None) -> str | None:
    """The first command of a gate step whose failure does not stop the script (after `set +e`, or under
    a custom shell without -e) while nothing later exits with a failure; None if there is none."""
    if not _errexit_in(shell):
        script = "set +e\n" + script
    for line in script.splitlines():
        text = line.strip()
        if text and not text.startswith("#") and not re.match(r"set\s", text) and _errexit_off(line, script):
            return text
    return None


def _pipe_hides_pytest(line: str, script: str, shell: str | None) -> bool:
    """Whether `pytest ... | X` on this line ends with X's status: GitHub's default shell is
    `bash -e {0}`, without pipefail; an explicit `shell: bash` is `bash ... -eo pipefail {0}`."""
    if not PIPED_PYTEST.search(line):
        return False
    return not (_pipefail_in(shell) or _pipefail_before(line, script))


def _continues_on_error(where: dict, github: dict = PUSH_MAIN) -> bool:
    """Whether a job's or step's continue-on-error is on for this run, a push to main unless told
    (an unreadable one counts)."""
    value = where.get("continue-on-error", False)
    try:
        return truthy(template(value, github))
    except Unsupported:
        return True


def _check_needs(doc, jobs, problem) -> None:
    for job, needed in (("gate", "test"), ("promote", "gate")):
        if isinstance(jobs.get(job), dict) and needed not in _needs(jobs[job]):
            problem(job, "-", f"needs: does not list '{needed}', so '{job}' would start without waiting "
                    f"for '{needed}' to pass (needs: {_needs(jobs[job])})", "needs")
    # A job with continue-on-error counts as a success when it fails, so what needs it starts anyway.
    for job in ("test", "gate"):
        if isinstance(jobs.get(job), dict) and _continues_on_error(jobs[job]):
            problem(job, "-", f"continue-on-error makes a failed '{job}' count as a success, so the jobs that "
                    f"need it start anyway: a failed {job} must stop everything after it", "needs")
    # A run step of gate with continue-on-error hides the gate's verdict (its exit status): promote starts anyway.
    gate = jobs.get("gate")
    for index, step in enumerate((gate.get("steps") if isinstance(gate, dict) else None) or []):
        if isinstance(step, dict) and "run" in step and _continues_on_error(step):
            problem("gate", _step_label(index, step), "continue-on-error makes the step succeed when it fails, so "
                    "a gate that says no still lets promote start: a failed gate must stop everything after it",
                    "needs")
        if isinstance(step, dict) and "run" in step:
            script, shell = _script(step), _shell(doc, gate, step)
            for line in script.splitlines():
                if SWALLOWED.search(line):
                    problem("gate", _step_label(index, step), f"'{line.strip()}' turns a failure into a success, so "
                            "a gate that says no still lets promote start: a failed gate must stop everything after "
                            "it", "needs")
                elif _gate_status_swallowed(line, script):
                    problem("gate", _step_label(index, step), f"'{line.strip()}' handles the gate's failure without "
                            "failing the step (an `||` that neither fails again nor keeps the status, or an `if` "
                            "with no `exit 1` where the failure is handled), so a gate that says no still lets "
                            "promote start: a failed gate must stop everything after it", "needs")
                elif _and_list_hides(line, script, _runs_gate):
                    problem("gate", _step_label(index, step), f"'{line.strip()}' runs the gate in front of `&&` and "
                            "the script goes on after it: bash -e does not stop at a failure in front of `&&`, so a "
                            "later command's status ends the step and a gate that says no still lets promote start "
                            "(put the gate's command on a line of its own)", "needs")
                elif _pipe_hides_status(line, script, shell):
                    problem("gate", _step_label(index, step), f"'{line.strip()}' pipes a command into another: "
                            "without pipefail the step's status is the last command's, so a gate that says no "
                            "still lets promote start (give the step `shell: bash`, which GitHub runs with -o "
                            "pipefail, or `set -o pipefail`)", "needs")
            if lost := _status_lost(script, shell):
                how = "'set +e'" if _errexit_in(shell) else f"the step's shell '{shell}' (no -e)"
                problem("gate", _step_label(index, step), f"{how} lets the script go on after '{lost}' fails and "
                        "end with another command's status, so a gate that says no still lets promote start: keep "
                        "-e, or end the script with `exit` and the failing status", "needs")
    # Listing a job in needs is not enough: a status function in if: (always(), !cancelled(),
    # failure()) runs the job after the one it needs failed.
    for failed, later in (("test", ("gate", "promote")), ("gate", ("promote",))):
        try:
            ran = jobs_that_run(doc, PUSH_MAIN, failing={failed})
        except Unsupported:
            return  # reported by the main-only rule
        for name in later:
            if name in ran:
                condition = jobs[name].get("if") if isinstance(jobs.get(name), dict) else None
                problem(name, "-", f"runs on a push to main even when '{failed}' failed (if: {condition!r}): "
                        f"a failed {failed} must stop everything after it", "needs")


def _check_permissions(doc, jobs, problem) -> None:
    top = doc.get("permissions")
    if not isinstance(top, dict):
        problem("-", "-", f"top-level permissions is {top!r}: set a mapping with 'contents: read' so every job "
                "starts from read-only (without it the token gets the repository's default, often write)",
                "permissions")
    else:
        if top.get("contents") != "read":
            problem("-", "-", f"top-level permissions should hold 'contents: read', not contents: "
                    f"{top.get('contents')!r}", "permissions")
        for scope, level in top.items():
            if level == "write":
                problem("-", "-", f"top-level permissions grant {scope}: write to every job; grant it only "
                        "to the job that needs it", "permissions")
    for name, job in jobs.items():
        granted = job.get("permissions") if isinstance(job, dict) else None
        if granted is None:
            continue
        if granted == "write-all":
            problem(name, "-", "permissions: write-all gives the job every scope at write", "permissions")
        elif isinstance(granted, dict):
            for scope, level in granted.items():
                if level == "write" and scope != "id-token":
                    problem(name, "-", f"permissions grant {scope}: write; a model pipeline needs write for "
                            "id-token (OIDC to the cloud) at most", "permissions")


def _pinned(uses: str) -> str | None:
    """Why `uses` is not pinned, or None."""
    if uses.startswith("./"):
        return None
    if uses.startswith("docker://"):
        if re.search(r"@sha256:[0-9a-f]{64}$", uses):
            return None
        if "@sha256:" in uses:
            return (f"'{uses}' has a short or malformed digest; pin the image with its full @sha256: digest "
                    "(64 hex characters, not the 12-character image ID `docker images` shows)")
        return f"'{uses}' is a moving image tag; pin it with @sha256:<digest>"
    if "@" not in uses:
        return f"'{uses}' has no version: it runs whatever the default branch holds today"
    ref = uses.rsplit("@", 1)[1]
    if SHA.fullmatch(ref) or VERSION_TAG.fullmatch(ref):
        return None
    if re.fullmatch(r"[0-9a-f]{7,39}", ref):
        return f"'{uses}' uses a short commit SHA; GitHub needs the full 40 characters"
    return f"'{uses}' points at '{ref}', a branch or other moving ref; pin a full commit SHA or a version tag (v4)"


def _check_pinning(jobs, problem) -> None:
    for name, job in jobs.items():
        if not isinstance(job, dict):
            continue
        if isinstance(job.get("uses"), str) and (why := _pinned(job["uses"])):
            problem(name, "-", why, "pinning")
        for index, step in enumerate(job.get("steps") or []):
            if isinstance(step, dict) and isinstance(step.get("uses"), str) and (why := _pinned(step["uses"])):
                problem(name, _step_label(index, step), why, "pinning")


def _concurrency_problem(concurrency, where: str) -> str | None:
    if concurrency is None:
        return f"{where} has no concurrency"
    if isinstance(concurrency, str):
        concurrency = {"group": concurrency}
    if not isinstance(concurrency, dict) or "group" not in concurrency:
        return f"{where}'s concurrency has no group"
    try:
        first = template(concurrency["group"], PUSH_MAIN)
        second = template(concurrency["group"], PUSH_MAIN_AGAIN)
        cancel = template(concurrency.get("cancel-in-progress", False), PUSH_MAIN)
    except Unsupported as exc:
        return f"{where}'s concurrency uses an expression the checker cannot evaluate ({exc})"
    if _text(first) != _text(second):
        return (f"{where}'s concurrency group is {_text(first)!r} in one run and {_text(second)!r} in the "
                "next: a group unique per run never makes two promotions wait for each other")
    if truthy(cancel):
        return (f"{where}'s concurrency cancels a promotion in progress on a push to main: a promotion "
                "stopped half-way can leave the registry half-changed; queue it instead")
    return None


def _cancels_runs_on_main(concurrency) -> bool:
    """Whether a workflow-level concurrency makes a push to main cancel the run on main in progress."""
    if isinstance(concurrency, str):
        return False  # a bare group queues
    if not isinstance(concurrency, dict) or "group" not in concurrency:
        return False
    try:
        same = _text(template(concurrency["group"], PUSH_MAIN)) == _text(template(concurrency["group"], PUSH_MAIN_AGAIN))
        cancel = truthy(template(concurrency.get("cancel-in-progress", False), PUSH_MAIN))
    except Unsupported:
        return False  # reported below
    return same and cancel


def _other_runs(doc: dict) -> dict[str, dict]:
    """The simulated runs other than a push to main that this workflow's `on:` starts."""
    on = _on(doc)
    runs = {**_pull_requests(doc), **_elsewhere(doc)}
    runs.update({f"a {event} event on main": _github(event, "refs/heads/main") for event in on
                 if event not in ("push", "pull_request")})
    return {what: github for what, github in runs.items() if _triggered(on, github)}


def _cancels_run_on_main(concurrency, github: dict) -> bool:
    """Whether a run of event `github` joins the group of the runs on main and cancels the one in progress."""
    if not isinstance(concurrency, dict) or "group" not in concurrency:
        return False  # a bare group (or none) queues
    try:
        group = _text(template(concurrency["group"], github)).lower()  # GitHub's groups ignore case
        same = group == _text(template(concurrency["group"], PUSH_MAIN)).lower()
        cancel = truthy(template(concurrency.get("cancel-in-progress", False), github))
    except Unsupported:
        return False  # reported by the push-to-main rule
    return same and cancel


def _check_concurrency(doc, jobs, problem) -> None:
    promote = jobs.get("promote")
    if not isinstance(promote, dict):
        return
    if _cancels_runs_on_main(doc.get("concurrency")):
        problem("promote", "-", "the workflow's concurrency cancels the run in progress on main when the next push "
                "to main starts, and its promote job with it, whatever promote's own group says: a promotion "
                "stopped half-way can leave the registry half-changed; set cancel-in-progress false on a push "
                "to main", "concurrency")
    for what, github in _other_runs(doc).items():
        if _cancels_run_on_main(doc.get("concurrency"), github):
            problem("promote", "-", f"the workflow's concurrency puts {what} in the same group as the runs on "
                    "main with cancel-in-progress true: it would cancel the run on main in progress, its promote "
                    "job included; give other runs another group, or never cancel", "concurrency")
    _check_shared_group(doc, jobs, problem)
    job_level = _concurrency_problem(promote.get("concurrency"), "the job")
    workflow_level = _concurrency_problem(doc.get("concurrency"), "the workflow")
    if job_level and workflow_level:
        problem("promote", "-", f"two promotions could run at once: {job_level}; {workflow_level}", "concurrency")


def _group_and_cancel(concurrency, github: dict):
    """(group, cancel-in-progress) of a concurrency value for one run, or None."""
    if isinstance(concurrency, str):
        concurrency = {"group": concurrency}
    if not isinstance(concurrency, dict) or "group" not in concurrency:
        return None
    group = _text(template(concurrency["group"], github)).lower()  # GitHub's groups ignore case
    return group, truthy(template(concurrency.get("cancel-in-progress", False), github))


def _check_shared_group(doc, jobs, problem) -> None:
    """A concurrency group is shared by every job and run that names it: another job that joins
    promote's group with cancel-in-progress true cancels the promotion in progress."""
    promote = jobs["promote"]
    own = promote.get("concurrency") if promote.get("concurrency") is not None else doc.get("concurrency")
    try:
        promoting = _group_and_cancel(own, PUSH_MAIN)
        if promoting is None:
            return
        runs = {"the next push to main": PUSH_MAIN_AGAIN, **_other_runs(doc)}
        for what, github in runs.items():
            ran = jobs_that_run(doc, github)
            for name, job in jobs.items():
                if name == "promote" or name not in ran or not isinstance(job, dict):
                    continue
                joined = _group_and_cancel(job.get("concurrency"), github)
                if joined and joined[0] == promoting[0] and joined[1]:
                    problem(name, "-", f"its concurrency joins promote's group {promoting[0]!r} with "
                            f"cancel-in-progress true, so for {what} it would cancel the promotion in progress: "
                            "give it another group, or never cancel", "concurrency")
    except Unsupported:
        return  # reported by the other rules


_cache: dict[tuple[str, str], WorkflowReport] = {}


@pytest.fixture
def workflow_checker():
    """The checker itself, for any file: `workflow_checker(path)` -> WorkflowReport."""
    return check_workflow


@pytest.fixture
def workflow_report(learner_file, impl_dir: Path):
    """`workflow_report("workflow.yml")`: your workflow, checked; an untouched stub fails with its task line."""

    def check(name: str = "workflow.yml") -> WorkflowReport:
        path = learner_file(name)
        key = (str(path), hashlib.sha256(path.read_bytes()).hexdigest())
        if key not in _cache:
            _cache[key] = check_workflow(path, name)
        return _cache[key]

    return check
