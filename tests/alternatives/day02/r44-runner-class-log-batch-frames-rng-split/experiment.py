"""Day 02 — correct answer, style: numpy Generator data + hand-made stratified split, a runner class,
MlflowClient.log_batch for params/metrics/tags, pandas DataFrame inputs (column signature)."""

from __future__ import annotations

import hashlib
import numbers
import time

import numpy as np

N_ROWS, N_FEATURES, TEST_SHARE = 500, 5, 0.3


def _seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"a seed is a whole number, not {seed!r}")
    seed = int(seed)
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed {seed} is outside 0..2**32-1")
    return seed


def make_dataset(seed: int = 0):
    rng = np.random.default_rng(_seed(seed))
    y = np.repeat(np.array([0, 1], dtype=np.int64), N_ROWS // 2)
    centers = np.where(y[:, None] == 1, 0.8, -0.8) * np.linspace(1.0, 0.2, N_FEATURES)
    X = centers + rng.normal(size=(N_ROWS, N_FEATURES))
    test_idx, train_idx = [], []
    for label in (0, 1):
        rows = rng.permutation(np.flatnonzero(y == label))
        cut = int(round(len(rows) * TEST_SHARE))
        test_idx.extend(rows[:cut])
        train_idx.extend(rows[cut:])
    train_idx, test_idx = rng.permutation(train_idx), rng.permutation(test_idx)
    return X[train_idx], X[test_idx], y[train_idx], y[test_idx]


def fingerprint(*arrays) -> str:
    parts = []
    for array in arrays:
        array = np.asarray(array)
        header = repr((array.dtype.str, tuple(array.shape))).encode()
        body = hashlib.sha256(np.asarray(array, order="C").tobytes()).hexdigest().encode()
        parts.append(header + b":" + body)
    return hashlib.sha256(b"|".join(parts)).hexdigest()


class _Runner:
    TRUSTED = ["sklearn.tree._tree.Tree",
               "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
               "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
               "sklearn._loss.link.Interval", "sklearn._loss.link.LogitLink",
               "sklearn._loss.loss.HalfBinomialLoss", "sklearn._loss._loss.CyHalfBinomialLoss",
               "numpy.random.mtrand.RandomState", "numpy.random._mt19937.MT19937",
               "numpy.random._pickle.__randomstate_ctor", "numpy.random._pickle.__bit_generator_ctor"]

    def __init__(self, tracking_uri: str, experiment_name: str, seed: int, artifact_location):
        import mlflow

        self.mlflow = mlflow
        self.uri = tracking_uri
        self.name = experiment_name
        self.seed = _seed(seed)
        self.artifact_location = artifact_location
        self.client = mlflow.MlflowClient(tracking_uri)

    def experiment_id(self) -> str:
        found = self.client.get_experiment_by_name(self.name)
        if found is not None:
            return found.experiment_id
        return self.client.create_experiment(self.name, artifact_location=self.artifact_location)

    def estimators(self):
        from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
        from sklearn.naive_bayes import GaussianNB
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import LinearSVC

        return {
            "random-forest": RandomForestClassifier(n_estimators=40, max_depth=6, random_state=self.seed),
            "hist-gb": HistGradientBoostingClassifier(max_iter=40, random_state=self.seed),
            "naive-bayes": GaussianNB(),
            "linear-svc": Pipeline([("scale", StandardScaler()),
                                    ("svc", LinearSVC(random_state=self.seed))]),
        }

    def one_run(self, experiment_id, run_name, model, data, tag) -> str:
        import pandas as pd
        import sklearn
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.models import infer_signature
        from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

        X_train, X_test, y_train, y_test = data
        with self.mlflow.start_run(experiment_id=experiment_id, run_name=run_name,
                                   nested=self.mlflow.active_run() is not None) as run:
            run_id = run.info.run_id
            model.fit(X_train, y_train)
            labels = model.predict(X_test)
            score = (model.predict_proba(X_test)[:, 1] if hasattr(model, "predict_proba")
                     else model.decision_function(X_test))
            now = int(time.time() * 1000)
            values = {"accuracy": accuracy_score(y_test, labels), "f1": f1_score(y_test, labels),
                      "roc_auc": roc_auc_score(y_test, score)}
            params = [Param(k, str(v)) for k, v in model.get_params().items()
                      if v is None or isinstance(v, (str, bool, int, float))]
            self.client.log_batch(run_id,
                                  metrics=[Metric(k, float(v), now, 0) for k, v in values.items()],
                                  params=params,
                                  tags=[RunTag("dataset_fingerprint", tag)])
            assert isinstance(X_train, pd.DataFrame)
            self.mlflow.sklearn.log_model(
                model, name="model",
                signature=infer_signature(X_train, model.predict(X_train)),
                input_example=X_train.head(5),
                pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
                skops_trusted_types=self.TRUSTED)
        return run_id

    def __call__(self) -> list[str]:
        import pandas as pd

        self.mlflow.set_tracking_uri(self.uri)
        experiment_id = self.experiment_id()
        arrays = make_dataset(self.seed)
        tag = fingerprint(*arrays)
        X_train, X_test, y_train, y_test = arrays
        columns = [f"feature_{i}" for i in range(X_train.shape[1])]
        data = (pd.DataFrame(X_train, columns=columns), pd.DataFrame(X_test, columns=columns),
                y_train, y_test)
        from mlflow.utils.autologging_utils import disable_autologging

        with disable_autologging():   # the caller's autologging stays as it is, but logs nothing here
            return [self.one_run(experiment_id, name, model, data, tag)
                    for name, model in self.estimators().items()]


def run_experiment(tracking_uri: str, experiment_name: str, seed: int = 0,
                   artifact_location: str | None = None) -> list[str]:
    return _Runner(tracking_uri, experiment_name, seed, artifact_location)()


def best_run(tracking_uri: str, experiment_name: str, metric: str = "roc_auc") -> str:
    from mlflow import MlflowClient
    from mlflow.entities import ViewType

    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        raise LookupError(experiment_name)
    key = "metrics.`" + metric + "`"
    page = client.search_runs(experiment_ids=[experiment.experiment_id],
                              filter_string=f"{key} > -1e308", run_view_type=ViewType.ACTIVE_ONLY,
                              order_by=[f"{key} DESC"], max_results=1)
    if len(page) == 0:
        raise LookupError(f"{metric!r} in {experiment_name!r}")
    return page[0].info.run_id
