"""The cost probe's counting (infra/cost.py) and the bench's cost section (bench/cost.py)."""

import dataclasses
from types import SimpleNamespace

import bson
import pytest

from bench.compare import compare_table
from bench.config import RunConfig
from bench.cost import (
    CostReadings,
    calls_delta,
    commandstats_calls,
    cost_headline,
    oplog_counts,
    render_cost,
    role_group,
    summarize,
    window_counts,
)
from bench.report import build_result, render_markdown
from infra.cost import Counts, MongoCounter, collection_of, payload_bytes, written
from tests.unit.bench.test_report import _data


def test_documents_written_come_from_each_write_commands_reply() -> None:
    assert written("insert", {"n": 3, "ok": 1}) == 3
    assert written("update", {"n": 4, "nModified": 2, "upserted": [{"index": 0}]}) == 3
    assert written("update", {"n": 1, "nModified": 0}) == 0  # matched, nothing changed
    assert written("delete", {"n": 2}) == 2
    assert written("findAndModify", {"lastErrorObject": {"n": 1}, "value": {}}) == 1
    assert written("find", {"cursor": {}, "n": 9}) == 0


def test_payload_bytes_are_the_bson_of_what_is_stored() -> None:
    docs = [{"_id": "a", "amount": 100}, {"_id": "b"}]
    expected = sum(len(bson.encode(d)) for d in docs)
    assert payload_bytes("insert", {"insert": "payments", "documents": docs}) == expected
    update = {"$set": {"status": "succeeded"}}
    size = payload_bytes("update", {"update": "payments", "updates": [{"q": {}, "u": update}]})
    assert size == len(bson.encode(update))
    assert payload_bytes("delete", {"delete": "inflight", "deletes": [{"q": {}}]}) == 0


def test_collection_of_a_command() -> None:
    assert collection_of("insert", {"insert": "journal"}) == "journal"
    assert collection_of("getMore", {"getMore": 123, "collection": "payments"}) == "payments"
    assert collection_of("commitTransaction", {"commitTransaction": 1}) == ""


def _started(rid: int, name: str, command: dict[str, object]) -> SimpleNamespace:
    return SimpleNamespace(request_id=rid, command_name=name, command=command)


def test_the_listener_counts_each_command_once_by_collection() -> None:
    counts = Counts()
    listener = MongoCounter(counts)
    docs = [{"_id": 1}, {"_id": 2}]
    listener.started(_started(1, "insert", {"insert": "payments", "documents": docs}))
    listener.started(_started(2, "delete", {"delete": "inflight", "deletes": [{"q": {}}]}))
    listener.started(_started(3, "insert", {"insert": "payments", "documents": docs}))
    listener.succeeded(SimpleNamespace(request_id=1, command_name="insert", reply={"n": 2}))
    listener.failed(SimpleNamespace(request_id=2, command_name="delete"))
    listener.succeeded(SimpleNamespace(request_id=3, command_name="insert", reply={"n": 2}))
    listener.succeeded(SimpleNamespace(request_id=99, command_name="insert", reply={"n": 5}))
    snap = counts.snapshot()
    size = 2 * sum(len(bson.encode(d)) for d in docs)
    assert snap["mongo"] == {"insert payments": [2, 4, size], "delete inflight": [1, 0, 0]}
    counts.add_ray("create_payments", 1, 100, 20)
    counts.add_ray("create_payments", 1, 50, 20)
    assert counts.snapshot()["ray"] == {"create_payments": [2, 150, 40]}


def _dump(role: str, mongo: dict[str, list[int]], ray: dict[str, list[int]]) -> dict[str, object]:
    return {"role": role, "pid": 1, "mongo": mongo, "ray": ray}


def test_window_counts_are_differences_and_new_processes_count_from_zero() -> None:
    before = {"shard-0-1.json": _dump("shard-0", {"insert payments": [2, 5, 500]}, {})}
    after = {
        "shard-0-1.json": _dump("shard-0", {"insert payments": [5, 11, 1100]}, {}),
        "api-2.json": _dump("api", {}, {"create_payments": [3, 300, 30]}),
    }
    procs = window_counts(before, after)
    assert procs == [
        {"role": "api", "pid": 1, "mongo": {}, "ray": {"create_payments": [3, 300, 30]}},
        {"role": "shard-0", "pid": 1, "mongo": {"insert payments": [3, 6, 600]}, "ray": {}},
    ]


def test_summary_per_payment_by_collection_command_and_process() -> None:
    procs = [
        {
            "role": "shard-0",
            "mongo": {"insert payments": [1, 10, 5000]},
            "ray": {"submit": [2, 20, 0]},
        },
        {"role": "shard-1", "mongo": {"update payments": [1, 10, 1000]}, "ray": {}},
        {"role": "api", "mongo": {"find merchants": [2, 0, 0]}, "ray": {"submit": [8, 80, 40]}},
    ]
    cost = summarize(procs, 10, {"publish": 20}, {"i switch.payments": 10})
    m = cost["mongo"]
    assert (m["commands"], m["docs_written"], m["bytes_written"]) == (4, 20, 6000)
    assert m["docs_written_per_payment"] == 2.0
    assert m["by_collection"]["payments"]["docs_written_per_payment"] == 2.0
    assert m["by_collection"]["merchants"]["commands_per_payment"] == 0.2
    assert m["by_process"]["shards"]["commands"] == 2  # the shards together
    assert cost["ray"]["calls_per_payment"] == 1.0
    assert cost["ray"]["by_caller"]["api"]["arg_bytes_per_payment"] == 8.0
    assert cost["redis"]["commands_per_payment"] == 2.0
    assert cost["oplog"]["entries_per_payment"] == 1.0
    assert summarize([], 0)["mongo"]["commands_per_payment"] is None  # no payments: no ratio


def test_redis_commandstats_and_oplog_counting() -> None:
    info = {"cmdstat_get": {"calls": 5, "usec": 9}, "cmdstat_set": {"calls": 2}, "other": 1}
    assert commandstats_calls(info) == {"get": 5, "set": 2}
    assert calls_delta({"get": 5, "set": 2}, {"get": 9, "set": 2, "publish": 7}) == {
        "publish": 7,
        "get": 4,
    }
    rows = [{"op": "i", "ns": "switch.payments"}, {"op": "d", "ns": "switch.inflight"}] * 2
    assert oplog_counts([*rows, {"op": "i", "ns": "switch.payments"}]) == {
        "i switch.payments": 3,
        "d switch.inflight": 2,
    }
    assert role_group("shard-12") == "shards" and role_group("mpesa-174379") == "mpesa-174379"


def test_the_report_has_a_cost_section_only_with_cost_readings() -> None:
    plain = build_result(_data())
    assert plain["cost"] is None and "## Cost per payment" not in render_markdown(plain)
    readings = CostReadings(
        [{"role": "shard-0", "mongo": {"insert journal": [1, 4, 400]}, "ray": {}}],
        {"publish": 2},
        {"i switch.journal": 4},
    )
    data = dataclasses.replace(_data(), cost=readings)
    result = build_result(data)
    assert result["cost"]["payments"] == 2  # the CPU section's payments
    assert result["cost"]["mongo"]["docs_written_per_payment"] == 2.0
    text = "\n".join(render_cost(result["cost"]))
    assert "| documents written | 4 | 2.00 |" in text
    assert "| insert journal | 0.50 | 2.00 | 200 |" in text
    assert "## Cost per payment" in render_markdown(result)
    assert cost_headline(result["cost"]).startswith("cost per payment: 0.50 MongoDB commands")
    table = compare_table([("with", result), ("without", plain)])
    assert "| with | 0.50 | 2.00 | 200 | 2.00 | 0.00 | 0.00 | 1.00 |" in table
    assert "without |" not in table.split("Cost per payment")[1]
    assert "Cost per payment" not in compare_table([("without", plain)])


def test_cost_is_for_switch_scenarios() -> None:
    assert RunConfig(scenario="stk", cost=True).cost
    with pytest.raises(ValueError, match="switch scenario"):
        RunConfig(scenario="ceiling", cost=True)
    with pytest.raises(ValueError, match="payment switch scenario"):
        RunConfig(scenario="hub", cost=True)  # the hub has no payments to count
