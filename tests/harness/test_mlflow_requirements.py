"""Requirement inference kept per kind of model: the same requirements, found once."""

from __future__ import annotations

import collections
import fractions
import pickle

import pytest

from mlops_katas.infra import mlflow_requirements
from mlops_katas.infra.mlflow_env import isolated

pytestmark = pytest.mark.timeout(300)


def _saved(tmp_path, name, estimator, **kwargs):
    import mlflow.sklearn
    import numpy as np

    X = np.arange(40, dtype=float).reshape(20, 2)
    estimator.fit(X, np.arange(20) % 2)
    path = tmp_path / name
    mlflow.sklearn.save_model(estimator, str(path), pip_requirements=["scikit-learn"], **kwargs)
    return path


def test_models_are_told_apart_by_their_classes_not_their_fitted_values(tmp_path):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def key(path):
        return mlflow_requirements.model_key(str(path), "sklearn", False, None)

    first = _saved(tmp_path, "a", LogisticRegression(C=1.0))
    same_kind = _saved(tmp_path, "b", LogisticRegression(C=0.01))
    other_kind = _saved(tmp_path, "c", make_pipeline(StandardScaler(), LogisticRegression()))
    pickled = _saved(tmp_path, "d", LogisticRegression(), serialization_format="cloudpickle")
    assert key(first) == key(same_kind), "two fits of one class load the same modules"
    assert len({key(first), key(other_kind), key(pickled)}) == 3, "another class or format is another key"
    assert key(tmp_path / "no-such-model") is None, "a model that is not on this machine is not cached"


def test_pickle_modules_are_read_from_opcodes_without_loading():
    data = pickle.dumps([collections.OrderedDict(a=1), fractions.Fraction(1, 3), collections.OrderedDict()], protocol=4)
    assert mlflow_requirements._pickle_modules(data) == {"collections", "fractions"}
    assert mlflow_requirements._pickle_modules(pickle.dumps(fractions.Fraction(1, 3), protocol=0)) == {"fractions"}
    # Memoised non-strings ({} and []) come first: a module name fetched back from the memo is still read right.
    data = pickle.dumps([{}, [], collections.OrderedDict(), fractions.Fraction(1, 3), collections.Counter()], protocol=4)
    assert mlflow_requirements._pickle_modules(data) == {"collections", "fractions"}
    assert mlflow_requirements._pickle_modules(b"not a pickle at all") is None


@pytest.mark.mlflow
def test_a_cached_inference_gives_the_requirements_a_fresh_one_does(mlflow_store_factory, tmp_path, monkeypatch):
    import mlflow.sklearn
    import numpy as np
    from mlflow.utils import requirements_utils
    from sklearn.neighbors import KNeighborsClassifier

    monkeypatch.setattr(mlflow_requirements, "_cache_root", lambda: tmp_path / "cache")
    calls = []
    installed = requirements_utils._capture_imported_modules
    real = getattr(installed, "__wrapped__", installed)  # an earlier test may have installed the cache

    def counted(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(requirements_utils, "_capture_imported_modules", counted)
    X, y = np.arange(40, dtype=float).reshape(20, 2), np.arange(20) % 2
    fresh = tmp_path / "fresh"
    mlflow.sklearn.save_model(KNeighborsClassifier(n_neighbors=3, algorithm="brute").fit(X, y), str(fresh))
    with isolated(mlflow_store_factory("requirements")):  # installs the cache
        cached = []
        for n in (3, 5):
            path = tmp_path / f"cached-{n}"
            mlflow.sklearn.save_model(KNeighborsClassifier(n_neighbors=n, algorithm="brute").fit(X, y), str(path))
            cached.append((path / "requirements.txt").read_text())
    assert len(calls) == 2, f"one inference for the fresh save, one for the first cached save; got {len(calls)}"
    expected = (fresh / "requirements.txt").read_text()
    assert cached == [expected, expected], f"the cache must record what inference finds:\n{expected}\n{cached}"
