import pytest

from bench.stats import percentile, rate, summary_ms, timeline


def test_percentile_interpolates_between_ranks() -> None:
    values = [1.0, 2.0, 3.0, 4.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 4.0
    assert percentile(values, 50) == pytest.approx(2.5)
    assert percentile(values, 99) == pytest.approx(3.97)


def test_percentile_of_nothing_and_of_one() -> None:
    assert percentile([], 50) is None
    assert percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError, match=r"0\.\.100"):
        percentile([1.0], 101)


def test_summary_is_in_milliseconds() -> None:
    s = summary_ms([0.010, 0.020, 0.030])
    assert s["count"] == 3
    assert s["p50"] == pytest.approx(20.0)
    assert s["max"] == pytest.approx(30.0)
    assert summary_ms([])["p99"] is None


def test_timeline_buckets_by_second_and_keeps_gaps() -> None:
    t0 = 100.0
    buckets = timeline(
        t0,
        sent=[100.1, 100.2, 102.5, 99.0],  # 99.0 is before the start: dropped
        answers=[(100.3, 0.2, True, False), (102.6, 0.1, False, True)],
        completions=[(101.5, 1.4)],
    )
    assert [b.second for b in buckets] == [0, 1, 2]
    assert [b.sent for b in buckets] == [2, 0, 1]
    assert [b.accepted for b in buckets] == [1, 0, 0]
    assert [b.errors for b in buckets] == [0, 0, 1]
    assert [b.completed for b in buckets] == [0, 1, 0]
    assert buckets[0].p50_ms == pytest.approx(200.0)
    assert buckets[1].p50_ms is None
    assert buckets[1].completion_p99_ms == pytest.approx(1400.0)


def test_rate_needs_a_span() -> None:
    assert rate(10, 0.0, 2.0) == 5.0
    assert rate(10, None, 2.0) is None
    assert rate(10, 2.0, 2.0) is None
