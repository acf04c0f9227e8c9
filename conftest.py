"""Loads the kata harness for every pytest run in this checkout.

The plugin (mlops_katas/plugin.py) picks the folder each day's code is imported
from, keeps days apart, turns unfinished stubs into one friendly line and writes a
results file per day; the infra plugins start real Docker containers, kind clusters,
MLflow, Redis and Prometheus servers for the tests that ask for them. Learners never edit this file.
"""

pytest_plugins = [
    "mlops_katas.plugin",
    "mlops_katas.infra.docker_fixtures",
    "mlops_katas.infra.mlflow_fixtures",
    "mlops_katas.infra.kind_fixtures",
    "mlops_katas.infra.server_fixtures",
    "mlops_katas.infra.compose_fixtures",
]
