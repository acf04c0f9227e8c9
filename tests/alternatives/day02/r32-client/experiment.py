"""Day 02, answer in the client style: numpy Generator data, MlflowClient runs, DataFrame signature."""

from __future__ import annotations

import hashlib

import numpy as np

N_ROWS, N_FEATURES, TEST_SHARE = 500, 6, 0.3


def make_dataset(seed: int = 0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.array([0, 1], dtype=np.int32), N_ROWS // 2)
    centres = rng.normal(0.0, 1.0, size=(2, N_FEATURES))
    X = centres[y] + rng.normal(0.0, 1.5, size=(N_ROWS, N_FEATURES))
    # stratified split: shuffle each class and hold out the same share of both
    test_mask = np.zeros(N_ROWS, dtype=bool)
    for label in (0, 1):
        rows = rng.permutation(np.flatnonzero(y == label))
        test_mask[rows[: int(round(len(rows) * TEST_SHARE))]] = True
    order = rng.permutation(N_ROWS)
    train, test = order[~test_mask[order]], order[test_mask[order]]
    return X[train], X[test], y[train], y[test]


def fingerprint(*arrays):
    parts = hashlib.sha256()
    for index, array in enumerate(arrays):
        array = np.asarray(array)
        header = f"[{index}|{array.dtype.str}|{','.join(map(str, array.shape))}]"
        parts.update(header.encode("utf-8"))
        parts.update(memoryview(np.require(array, requirements="C")).cast("B"))
    return parts.hexdigest()


COLUMNS = [f"f{i}" for i in range(N_FEATURES)]


def _candidates(seed):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.naive_bayes import GaussianNB
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    return {
        "scaled-linear-svc": make_pipeline(StandardScaler(), LinearSVC(random_state=seed)),
        "forest": RandomForestClassifier(n_estimators=50, max_depth=6, random_state=seed),
        "naive-bayes": GaussianNB(),
    }


def _scores(model, X):
    if hasattr(model, "predict_proba"):
        return model.predict_proba(X)[:, 1]
    return model.decision_function(X)


def _plain(value):
    return value is None or isinstance(value, (bool, int, float, str))


def run_experiment(tracking_uri, experiment_name, seed=0, artifact_location=None):
    from mlflow.utils.autologging_utils import disable_autologging

    with disable_autologging():   # a caller's autologging stays on, and logs nothing into these runs
        import mlflow
        import pandas as pd
        import sklearn
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.models import infer_signature
        from mlflow.utils.time import get_current_time_millis
        from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

        client = mlflow.MlflowClient(tracking_uri)
        mlflow.set_tracking_uri(tracking_uri)
        found = client.get_experiment_by_name(experiment_name)
        experiment_id = found.experiment_id if found else client.create_experiment(
            experiment_name, artifact_location=artifact_location)
        X_train, X_test, y_train, y_test = make_dataset(seed)
        tag = fingerprint(X_train, X_test, y_train, y_test)
        frame_train = pd.DataFrame(X_train, columns=COLUMNS)
        made = []
        for name, model in _candidates(seed).items():
            # the with block ends the run FAILED on any exception, KeyboardInterrupt included
            with mlflow.start_run(experiment_id=experiment_id, run_name=name) as run:
                run_id = run.info.run_id
                made.append(run_id)
                model.fit(frame_train, y_train)
                frame_test = pd.DataFrame(X_test, columns=COLUMNS)
                predicted = model.predict(frame_test)
                now = get_current_time_millis()
                client.log_batch(
                    run_id,
                    metrics=[Metric("accuracy", float(accuracy_score(y_test, predicted)), now, 0),
                             Metric("f1", float(f1_score(y_test, predicted)), now, 0),
                             Metric("roc_auc", float(roc_auc_score(y_test, _scores(model, frame_test))), now, 0)],
                    params=[Param(key, str(value)) for key, value in model.get_params().items() if _plain(value)],
                    tags=[RunTag("dataset_fingerprint", tag)])
                mlflow.sklearn.log_model(model, name="model",
                                         signature=infer_signature(frame_train, model.predict(frame_train)),
                                         input_example=frame_train.head(5),
                                         pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
                                         skops_trusted_types=["sklearn.tree._tree.Tree"])
        return made


def best_run(tracking_uri, experiment_name, metric="roc_auc"):
    import mlflow
    from mlflow.entities import ViewType

    client = mlflow.MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        raise LookupError(experiment_name)
    quoted = f"metrics.`{metric}`"
    page = client.search_runs([experiment.experiment_id], filter_string=f"{quoted} >= -1e308",
                              run_view_type=ViewType.ACTIVE_ONLY, order_by=[f"{quoted} DESC", "attributes.start_time ASC"],
                              max_results=1)
    for run in page:
        return run.info.run_id
    raise LookupError(f"{metric} in {experiment_name}")
