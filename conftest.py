"""Loads the kata harness for every pytest run in this checkout.

The plugin (mlops_katas/plugin.py) picks the folder each day's code is imported
from, keeps days apart, turns unfinished stubs into one friendly line and writes a
results file per day. Learners never need to edit this file.
"""

pytest_plugins = ["mlops_katas.plugin"]
