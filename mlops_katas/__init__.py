"""The harness around the katas: pytest plugin, infrastructure fixtures, the `katas` command."""

__version__ = "0.1.0"
