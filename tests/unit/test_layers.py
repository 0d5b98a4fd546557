"""The layers (issue 11, item 3): the import-linter contracts in pyproject.toml hold, and the two
rules that matter most are also checked here directly on the import graph, so a contract that
was weakened by mistake still fails a test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grimp
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("switch", "infra", "sandbox", "app", "api", "actors", "connectors", "routing", "bench")
IO_LIBRARIES = ("pymongo", "redis", "aiohttp", "ray", "subprocess", "secantus")
# The entry point `python -m switch` hands over to the composition root (app.cli).
ENTRY = "switch.__main__"


@contextmanager
def _in_root() -> Iterator[None]:
    before = Path.cwd()
    os.chdir(ROOT)
    try:
        yield
    finally:
        os.chdir(before)


def _graph() -> grimp.ImportGraph:
    with _in_root():
        return grimp.build_graph(*PACKAGES, include_external_packages=True, cache_dir=None)


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_the_layer_contracts_hold() -> None:
    with _in_root():
        assert lint_imports(config_filename="pyproject.toml", no_cache=True, no_logo=True) == 0


def test_no_domain_module_reaches_a_database_redis_http_ray_or_a_child_process() -> None:
    graph = _graph()
    graph.remove_import(importer=ENTRY, imported="app.cli")
    chains = [
        " -> ".join(chain)
        for module in sorted(graph.find_descendants("switch") | {"switch"})
        for library in IO_LIBRARIES
        if library in graph.modules
        and (chain := graph.find_shortest_chain(importer=module, imported=library))
    ]
    assert chains == []


def test_only_the_sandbox_and_the_composition_root_import_a_simulator() -> None:
    graph = _graph()
    allowed = ("sandbox", "app")
    known: set[tuple[str, str]] = set()  # none: sandbox mode hands the simulators' keys in
    found = {
        (importer, imported)
        for imported in graph.modules
        if ".simulator" in imported and imported.startswith("connectors.")
        for importer in graph.find_modules_that_directly_import(imported)
        if ".simulator" not in importer and not any(_within(importer, p) for p in allowed)
    }
    assert found == known
