"""The composition root: where the layers are wired together and started.

Layer decision (issue 11, item 3): ``stack`` (MongoDB, Redis, Ray actors, the api and, in sandbox
mode, the simulators), ``cli`` (``python -m switch ...``; ``switch/__main__.py`` is a thin entry
that calls it) and ``workers`` (extra api processes). Nothing imports this package except that
entry point; it may import every other layer.
"""
