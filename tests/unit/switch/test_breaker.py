from switch.breaker import Breaker, Circuit


def test_opens_after_threshold_failures_in_a_row() -> None:
    b = Breaker(threshold=3, cool_down=10)
    for t in range(2):
        b.failure(t)
    assert b.state == Circuit.CLOSED and b.allow(2)
    b.failure(2)
    assert b.state == Circuit.OPEN
    assert not b.allow(3)
    assert b.retry_after(3) == 9


def test_a_success_resets_the_count() -> None:
    b = Breaker(threshold=2)
    b.failure(0)
    b.success()
    b.failure(1)
    assert b.state == Circuit.CLOSED


def test_half_open_lets_one_probe_through() -> None:
    b = Breaker(threshold=1, cool_down=5)
    b.failure(0)
    assert not b.allow(4.9)
    assert b.allow(5.0)  # the probe
    assert b.state == Circuit.HALF_OPEN
    assert not b.allow(5.1)  # only one at a time
    b.success()
    assert b.state == Circuit.CLOSED and b.allow(5.2)


def test_a_failed_probe_opens_again() -> None:
    b = Breaker(threshold=3, cool_down=5)
    for t in range(3):
        b.failure(t)
    assert b.allow(8)
    b.failure(8)
    assert b.state == Circuit.OPEN
    assert not b.allow(12)
    assert b.retry_after(12) == 1


def test_a_probe_that_never_reports_back_is_written_off_after_a_cool_down() -> None:
    b = Breaker(threshold=1, cool_down=10.0)
    b.failure(0.0)
    assert b.allow(10.0)  # the probe
    assert not b.allow(11.0)  # one probe at a time
    assert b.allow(20.5)  # its caller vanished: another probe may go
