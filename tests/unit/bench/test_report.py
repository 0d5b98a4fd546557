from datetime import UTC, datetime

from bench.checks import check, collect_accepted
from bench.compare import compare_table
from bench.config import RunConfig
from bench.cpu import ProcCpu
from bench.records import Record
from bench.report import RunData, build_result, headline, render_markdown, result_name
from bench.sink import Arrival


def _data() -> RunData:
    records = [
        Record(100.0, 0.010, "create", 202, "pay_1", "k1", "0710000002"),
        Record(100.5, 0.030, "create", 202, "pay_2", "k2", "0710000003"),
        Record(101.0, 0.050, "create", 503, "", "k3", "0710000004", "http_503"),
    ]
    accepted, per_key = collect_accepted(records)
    arrivals = [
        Arrival("pay_1", "payment.succeeded", 101.0),
        Arrival("pay_2", "payment.failed", 102.0),
    ]
    first = {a.payment_id: a.at for a in arrivals}
    return RunData(
        config=RunConfig(scenario="stk", users=2, duration=2),
        started_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        records=records,
        accepted=accepted,
        arrivals=arrivals,
        first_final=first,
        check=check(accepted, per_key, arrivals, None, None),
        cpu=[ProcCpu(1, "api", 0.5), ProcCpu(2, "secantusdb", 1.5)],
        cpu_window_s=3.0,
        machine_busy_s=2.5,
        drained=True,
        drain_s=1.0,
        simulator={"callbacks": {"statuses": {"200": 1, "none": 1}}},
        machine={"cpus": 2},
    )


def test_build_result_headline_numbers() -> None:
    result = build_result(_data())
    assert result["accepted"] == 2
    assert result["completed"] == 2
    assert result["lost"] == 0 and result["duplicated"] == 0
    assert result["errors"] == {"http_503": 1, "sim_callback_no_answer": 1}
    assert result["api_latency_ms"]["p50"] == 20.0  # the failed request is not in it
    assert result["completion_latency_ms"]["max"] == 1500.0
    assert result["cpu"]["total_per_payment_s"] == 1.0
    assert result["cpu"]["by_role_s"] == {"secantusdb": 1.5, "api": 0.5}
    assert result["cpu"]["outside_bench_s"] == 0.5
    assert [b["sent"] for b in result["timeline"]] == [2, 1, 0]
    assert [b["completed"] for b in result["timeline"]] == [0, 1, 1]
    assert result_name(RunConfig(scenario="mixed"), _data().started_at) == "2026-01-02-mixed"


def test_markdown_and_headline_render() -> None:
    result = build_result(_data())
    text = render_markdown(result, comparison="| x |")
    assert "| **lost** | **0** |" in text
    assert "http_503: 1" in text
    assert "## Compared" in text
    assert headline(result)[0].startswith("accepted 2")


def test_compare_table_ratios_against_the_first() -> None:
    a = {"scenario": "stk", "accepted_per_s": 100.0, "cpu": {"total_per_payment_s": 0.004}}
    b = {"scenario": "ceiling", "accepted_per_s": 400.0, "cpu": {"total_per_payment_s": 0.001}}
    table = compare_table([("a.json", a), ("b.json", b)])
    rows = table.splitlines()
    assert len(rows) == 4
    assert rows[3].startswith("| b.json | ceiling | 400.0 |")
    assert "| 0.25x | 4.00x |" in rows[3]


def test_a_mixed_run_reports_per_rail_and_counts_double_payments_as_duplicates() -> None:
    base = _data()
    records = [
        Record(100.0, 0.010, "mpesa_b2c", 202, "pay_1", "k1", "0710007001", merchant=0),
        Record(100.5, 0.030, "sacco_api", 202, "pay_2", "k2", "1001101", merchant=0),
        Record(101.0, 0.050, "sacco_api", 422, "", "k3", "1001102", "http_422:x", 0),
    ]
    accepted, per_key = collect_accepted(records)
    arrivals = [
        Arrival("pay_1", "payout.succeeded", 101.0, "e1", 0),
        Arrival("pay_2", "payout.succeeded", 102.0, "e2", 0),
    ]
    money = {
        "rails": {
            "sacco": {"accepted": 1, "final": 1, "completed": 1, "lost": 0, "in_flight": 0,
                      "paid_twice": 1, "statuses": {"succeeded": 1}, "methods": {"sacco": 1},
                      "in_flight_sample": []},
        },
        "simulator_records": {"sacco": {"bookings": 2, "extra_per_id": 1,
                                        "extra_per_destination": 1, "sample": ["pay_2"]}},
        "callbacks_answered": {"mpesa_b2c": {"statuses": {"none": 1}, "errors": {"T": 1}}},
        "transfers": None,
        "ledger": {"balanced": False, "entries": 3, "accounts": 2, "payments": 2,
                   "problems": 1, "problems_sample": ["entry x does not balance (1)"]},
        "paid_twice": 2,
        "in_flight": 0,
        "transfers_not_settled": 0,
        "unread_records": [],
        "ok": False,
    }  # fmt: skip
    data = RunData(
        **{
            **base.__dict__,
            "config": RunConfig(scenario="mixed", users=2, duration=2),
            "records": records,
            "accepted": accepted,
            "arrivals": arrivals,
            "first_final": {a.payment_id: a.at for a in arrivals},
            "check": check(accepted, per_key, arrivals, None, None),
            "money": money,
            "funding": ["pay_f0", "pay_f1"],
        }
    )
    result = build_result(data)
    assert result["duplicated"] == 2  # nothing in bench.checks, paid twice in a SACCO's book
    assert set(result["per_rail"]) == {"mpesa_b2c", "sacco"}
    assert result["per_op"]["sacco_api"]["errors"] == {"http_422:x": 1}
    assert result["funding"] == {"payments": 2, "shillings_each": 200_000}
    assert any("ledger check found 1 problems" in w for w in result["warnings"])
    text = render_markdown(result)
    for wanted in (
        "## Per operation",
        "## Per rail",
        "## Money checks per rail",
        "entry x does not balance",
        "callbacks of mpesa_b2c",
        "KES 200,000",
    ):
        assert wanted in text, wanted  # fmt: skip
    assert any("ledger NOT balanced" in line for line in headline(result))
