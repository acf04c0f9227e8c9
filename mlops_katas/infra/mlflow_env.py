"""Embedded MLflow stores for tests: one SQLite file each, and nothing leaking out of them.

MLflow keeps a lot of process-wide state: the tracking and registry URIs (both also
copied into environment variables), the active experiment, a stack of active runs,
and relative defaults (`./mlflow.db`, `./mlruns`) resolved against the current
folder. A learner's code sets some of it; a test must not inherit what the previous
test set, and nothing may land in the learner's working folder. `isolated()` runs a
block with all of that pointed into the store's own temporary folder and puts it
back afterwards.

Creating a SQLite store runs MLflow's schema migrations (seconds); a store here is a
copy of one migrated, empty database (milliseconds), made once per MLflow version and
kept in the system's temporary folder.
mlflow is imported inside the functions that need it, so days without MLflow never
pay for the import.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from ..scratch import system_tmp

# Environment variables MLflow reads (and writes) as its process-wide defaults.
MLFLOW_ENV = (
    "MLFLOW_TRACKING_URI",
    "MLFLOW_REGISTRY_URI",
    "MLFLOW_EXPERIMENT_ID",
    "MLFLOW_EXPERIMENT_NAME",
    "MLFLOW_RUN_ID",
)
T = TypeVar("T")


def sqlite_uri(path: Path) -> str:
    return f"sqlite:///{path.resolve()}"


@dataclass(frozen=True)
class MlflowStore:
    """A tracking + registry store in `root`: `mlflow.db`, `artifacts/`, and an empty `work/`.

    `default_uri` is where code that ignores the URI it was given ends up: tests point
    MLflow's process default there, never at the store itself, so such code is caught.
    """

    root: Path

    @property
    def db_path(self) -> Path:
        return self.root / "mlflow.db"

    @property
    def tracking_uri(self) -> str:
        return sqlite_uri(self.db_path)

    @property
    def artifact_root(self) -> Path:
        return self.root / "artifacts"

    @property
    def artifact_location(self) -> str:
        """The `artifact_location` to create experiments of this store with (an absolute path)."""
        return str(self.artifact_root.resolve())

    @property
    def workdir(self) -> Path:
        return self.root / "work"

    @property
    def default_db(self) -> Path:
        return self.root / "default-store.db"

    @property
    def default_uri(self) -> str:
        return sqlite_uri(self.default_db)

    def stray_writes(self) -> list[str]:
        """What was written where it should not be: the working folder or the default store."""
        counts: dict[str, int] = {}
        for path in self.workdir.rglob("*"):
            if path.is_file():
                top = path.relative_to(self.workdir).parts[0]
                counts[top] = counts.get(top, 0) + 1
        found = [f"./{top} ({n} file{'s' if n > 1 else ''} in the working folder)" for top, n in sorted(counts.items())]
        if self.default_db.exists():
            found.append("MLflow's default tracking store (MLFLOW_TRACKING_URI), not the tracking_uri passed in")
        return found


def _cache_root() -> Path:
    """Where stores made once per machine are kept between runs."""
    return system_tmp() / "mlops-katas-mlflow-cache"


def template_path() -> Path:
    """Where the migrated empty store for the installed MLflow version is kept between runs."""
    version = importlib.metadata.version("mlflow")
    return _cache_root() / f"empty-store-mlflow-{version}.db"


def cached_template() -> Path:
    """A migrated, empty SQLite store to copy; made once per MLflow version, not once per run."""
    path = template_path()
    if path.is_file():
        return path
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as scratch:
        fresh = Path(scratch) / path.name
        store = SqlAlchemyStore(sqlite_uri(fresh), (Path(scratch) / "artifacts").as_uri())
        store.engine.dispose()  # close its connections so the file is complete on disk
        os.replace(fresh, path)  # atomic: a parallel run sees the old state or the whole file
    return path


def copy_template(template: Path, db_path: Path, default_artifacts: str) -> None:
    """Copy the empty store, pointing its built-in "Default" experiment's artifacts at `default_artifacts`.

    The template's Default experiment was created with a scratch folder that no longer
    exists; code that logs without choosing an experiment must not write there.
    """
    shutil.copyfile(template, db_path)
    with contextlib.closing(sqlite3.connect(db_path)) as db, db:
        db.execute("UPDATE experiments SET artifact_location = ? WHERE experiment_id = 0", (default_artifacts,))


def new_store(root: Path, template: Path) -> MlflowStore:
    store = MlflowStore(root)
    root.mkdir(parents=True, exist_ok=True)
    store.artifact_root.mkdir(exist_ok=True)
    store.workdir.mkdir(exist_ok=True)
    copy_template(template, store.db_path, str((store.artifact_root / "0").resolve()))
    return store


def filled_store(store: MlflowStore, source: bytes, fill: Callable[[MlflowStore], T],
                 packages: tuple[str, ...] = ("mlflow", "scikit-learn", "numpy")) -> T:
    """Make `store` a copy of a store `fill` logged into once on this machine, and return what `fill` returned.

    Training and logging models for a day's fixtures takes seconds, and the self-check runs a
    day's tests hundreds of times. The first run keeps its filled store in the system's
    temporary folder, keyed by `source` (the fixture's own code) and the `packages`' versions;
    later runs copy its database and leave its artifacts where they are: tests and learners
    only read the artifacts of runs they did not make. `fill`'s result must be JSON.
    """
    import fcntl

    key = hashlib.sha256(source)
    for package in packages:
        key.update(importlib.metadata.version(package).encode())
    cache = _cache_root() / f"filled-{key.hexdigest()[:16]}"
    cache.parent.mkdir(parents=True, exist_ok=True)
    with open(cache.parent / f"{cache.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one builder at a time; the others wait and reuse
        done = cache / "filled.json"
        if not done.is_file():
            shutil.rmtree(cache, ignore_errors=True)
            built = new_store(cache, cached_template())
            done.write_text(json.dumps(fill(built)), encoding="utf-8")
        result = json.loads(done.read_text(encoding="utf-8"))
        copy_template(MlflowStore(cache).db_path, store.db_path, str((store.artifact_root / "0").resolve()))
    return result


@contextlib.contextmanager
def isolated(store: MlflowStore) -> Iterator[MlflowStore]:
    """Run a block with MLflow's defaults and the working folder inside `store`, then restore.

    Inside: the current folder is `store.workdir`; the default tracking URI is
    `store.default_uri` (the registry follows it); no experiment or run is active.
    Afterwards runs left open are ended and every global, environment variable and the
    current folder are as they were.
    """
    import mlflow
    from mlflow.tracking import _model_registry, _tracking_service, fluent

    from .mlflow_requirements import install

    install()
    saved_env = {name: os.environ.get(name) for name in MLFLOW_ENV}
    saved_globals = (_tracking_service.utils._tracking_uri, _model_registry.utils._registry_uri,
                     fluent._active_experiment_id)
    saved_cwd = os.getcwd()
    try:
        _set_globals(None, None, None)
        for name in MLFLOW_ENV:
            os.environ.pop(name, None)
        os.environ["MLFLOW_TRACKING_URI"] = store.default_uri
        os.chdir(store.workdir)
        yield store
    finally:
        with contextlib.suppress(Exception):  # a learner's half-open run must not break teardown
            while mlflow.active_run() is not None:
                mlflow.end_run(status="KILLED")
        os.chdir(saved_cwd)
        _set_globals(*saved_globals)
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _set_globals(tracking_uri, registry_uri, experiment_id) -> None:
    from mlflow.tracking import _model_registry, _tracking_service, fluent

    _tracking_service.utils._tracking_uri = tracking_uri
    _model_registry.utils._registry_uri = registry_uri
    fluent._active_experiment_id = experiment_id
