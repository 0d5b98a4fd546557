"""The sandbox: what exists only to try the switch without real providers.

Layer decision (issue 11, item 3): the demo (``python -m switch demo``) and its rail tour live here;
the provider simulators stay in ``connectors/<name>/simulator/`` beside the connector whose wire
format they mirror. Only this package and the composition root (``app/``) may import a
simulator; no production module may (import-linter contract in pyproject.toml). The sandbox
drives a running switch through its public HTTP API and never imports the composition root: the
demo is handed a started stack.
"""
