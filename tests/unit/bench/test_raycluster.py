"""``--ray-nodes``: the cluster's command lines, where the actors ran, and the options
(bench/raycluster.py, bench/config.py, bench/cpu.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bench.config import RunConfig
from bench.cpu import CpuMeter, classify
from bench.procs import REPO_ROOT
from bench.raycluster import (
    SHARD_RESOURCE,
    RayCluster,
    head_argv,
    node_env,
    placement_by_node,
    ray_headline,
    render_placement,
    worker_argv,
)


def _value(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def test_the_head_blocks_in_the_runs_folder_with_no_fixed_port(tmp_path: Path) -> None:
    ports = {"client": 41001, "dashboard": 41002, "agent": 41003}
    argv = head_argv(41000, tmp_path / "rc", ports)
    assert argv[1:4] == ["start", "--head", "--block"]
    assert _value(argv, "--port") == "41000"
    assert _value(argv, "--temp-dir") == str(tmp_path / "rc")
    # Ports Ray would otherwise take at fixed numbers (10001, 8265, 52365), shared by every
    # Ray on the machine:
    assert _value(argv, "--ray-client-server-port") == "41001"
    assert _value(argv, "--dashboard-port") == "41002"
    assert _value(argv, "--dashboard-agent-listen-port") == "41003"
    assert _value(argv, "--include-dashboard") == "false"


def test_a_worker_node_joins_the_head_and_offers_the_shard_resource() -> None:
    argv = worker_argv("192.0.2.2:41000", 41010)
    assert "--head" not in argv and "--block" in argv
    assert _value(argv, "--address") == "192.0.2.2:41000"
    assert json.loads(_value(argv, "--resources")) == {SHARD_RESOURCE: 256}
    assert _value(argv, "--dashboard-agent-listen-port") == "41010"


def test_the_nodes_find_the_repository_and_get_the_cost_folder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    env = node_env({"SWITCH_COST_DIR": "/runs/x/cost"})
    assert env["PYTHONPATH"].split(os.pathsep) == [str(REPO_ROOT), "/elsewhere"]
    assert env["SWITCH_COST_DIR"] == "/runs/x/cost"
    assert env["RAY_AUTH_MODE"] == "token"  # a joining node must ask for the head's mode


def test_the_head_node_id_is_the_one_the_gcs_wrote_its_port_under(tmp_path: Path) -> None:
    cluster = RayCluster("127.0.0.1:1", tmp_path)
    assert cluster.head_node_id() is None
    session = tmp_path / "session_latest"
    session.mkdir()
    (session / "gcs_server_port_aaa111").write_text("1")
    (session / "metrics_agent_port_bbb222").write_text("2")
    assert cluster.head_node_id() == "aaa111"


def test_placement_lists_each_nodes_actors_the_head_first() -> None:
    placement = {"shard-0": "w1", "shard-1": "w1", "mpesa": "h0", "batches": "w1", "hub": "h0"}
    summary = placement_by_node(placement, head_id="h0")
    assert summary == {
        "nodes": [
            {"node": "head", "node_id": "h0", "actors": ["hub", "mpesa"]},
            {"node": "worker", "node_id": "w1", "actors": ["batches", "shard-0", "shard-1"]},
        ],
        "distinct_nodes": 2,
    }
    ray = {"node_count": 2, "placement": summary, "cpu_s_by_node": {"head": 1.5, "node 1": 9.25}}
    text = "\n".join(render_placement(ray))
    assert "| worker | `w1` | batches, shard-0, shard-1 |" in text
    assert "head 1.50, node 1 9.25" in text
    assert ray_headline(ray) == (
        "ray: 2 nodes, actors on 2: head hub, mpesa; worker batches, shard-0, shard-1"
    )


def test_one_node_is_all_the_placement_shows_when_everything_ran_on_it() -> None:
    assert placement_by_node({"shard-0": "n"}, head_id=None)["distinct_nodes"] == 1


def test_ray_nodes_is_for_the_switch_and_bounded() -> None:
    assert RunConfig(ray_nodes=2).ray_nodes == 2
    with pytest.raises(ValueError, match="switch scenario"):
        RunConfig(scenario="ceiling", ray_nodes=2)
    with pytest.raises(ValueError, match=r"1\.\.8"):
        RunConfig(ray_nodes=0)


def test_the_nodes_processes_have_roles() -> None:
    assert classify("ray", ["/v/bin/python3", "/v/bin/ray", "start", "--head"]) == "ray:start"
    line = ["python3", "-m", "ray.util.client.server", "--address=x"]
    assert classify("python3", line) == "ray:client_server"


def test_cpu_by_root_sums_each_trees_processes() -> None:
    meter = CpuMeter()
    root = os.getpid()  # the runner's own tree: just this process
    meter.add_root(root, "runner+sink")
    meter.start()
    sum(i * i for i in range(200_000))  # some CPU in the window
    meter.stop()
    totals = meter.by_root([root, 999_999_999])
    assert totals[999_999_999] == 0.0  # no such process: nothing
    assert totals[root] == pytest.approx(sum(p.cpu_s for p in meter.results()), abs=0.002)
