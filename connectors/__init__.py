"""Provider connectors: pure request builders and response parsers, one package per provider.

Every package has the same shape: ``connector.py`` (URLs, headers, which flows it supports),
``transformers.py`` (the provider's wire types and the mappings to and from ours) and
``simulator/`` (a faithful stand-in for the provider, used by tests, demo, bench and sandbox).
Connectors never do I/O: ``transport.py`` is the one place that sends a request.
"""
