from pathlib import Path

from bench.cpu import ProcCpu, by_role, classify
from bench.loadgen import locust_totals
from bench.logscan import scan_log
from bench.records import Record, RecordTail, records_path


def test_record_round_trip() -> None:
    r = Record(1.5, 0.02, "create", 202, "pay_1", "k", "0710000002", "")
    assert Record.from_line(r.to_line()) == r
    assert r.accepted
    assert not Record(1.5, 0.02, "get", 200, "pay_1").accepted


def test_tail_reads_only_complete_new_lines(tmp_path: Path) -> None:
    path = records_path(tmp_path, 42)
    first = Record(1.0, 0.1, "create", 202, "pay_1").to_line()
    second = Record(2.0, 0.1, "create", 202, "pay_2").to_line()
    path.write_text(first + second[:10])
    tail = RecordTail(tmp_path)
    assert [r.id for r in tail.read_new()] == ["pay_1"]
    with path.open("a") as fh:
        fh.write(second[10:])
    assert [r.id for r in tail.read_new()] == ["pay_2"]
    assert tail.read_new() == []


def test_classify_processes() -> None:
    assert classify("ray::ShardActor", ["ray::ShardActor"]) == "ray:ShardActor"
    assert classify("raylet", ["/x/raylet", "--flag"]) == "ray:raylet"
    assert classify("python3", ["/v/python3", "/v/bin/secantusd-py", "--port", "1"]) == "secantusdb"
    assert classify("python", [".venv/bin/python", "-m", "switch", "serve", "--sandbox"]) == "api"
    assert classify("locust", ["/v/locust", "--headless"]) == "locust"
    assert classify("odd", []) == "odd"


def test_by_role_sums_and_sorts() -> None:
    procs = [ProcCpu(1, "a", 1.0), ProcCpu(2, "b", 3.0), ProcCpu(3, "a", 1.5)]
    assert list(by_role(procs).items()) == [("b", 3.0), ("a", 2.5)]


def test_locust_totals_from_its_summary() -> None:
    log = (
        "Type     Name      # reqs      # fails |    Avg\n"
        "POST     create     1212     0(0.00%) |     19\n"
        "         Aggregated                 1212     3(0.25%) |     19       8\n"
    )
    assert locust_totals(log) == {"requests": 1212, "failures": 3}
    assert locust_totals("nothing here") == {}


def test_scan_log_counts_levels_in_json_and_plain_lines() -> None:
    text = "\n".join(
        [
            '{"ts":1,"level":"INFO","logger":"x","msg":"fine"}',
            '\x1b[36m(ShardActor pid=12)\x1b[0m {"ts":1,"level":"ERROR","logger":"a","msg":"bad"}',
            '(ShardActor pid=13) {"ts":2,"level":"ERROR","logger":"a","msg":"bad"}',
            "2026-01-01 10:00:00,1\tWARNING setup.py:85 -- careful",
            "Traceback (most recent call last):",
        ]
    )
    found = scan_log(text)
    assert (found["errors"], found["warnings"]) == (3, 1)
    assert found["top"][0] == {
        "level": "ERROR",
        "count": 2,
        "message": "ShardActor pid=*: a: bad",
    }
