"""Token generations in memory, and the lock-out rule."""

from __future__ import annotations

from switch.clients import Generations
from switch.users import (
    FAILURE_WINDOW,
    LOCK_FOR,
    MAX_FAILURES,
    lock_after_failure,
    normalise_email,
    reserve_filter,
    wait_of_refusal,
)


def test_generations_only_go_up() -> None:
    gens = Generations()
    assert gens.accepts("cli_1", 0)
    gens.raise_to("cli_1", 3)
    assert not gens.accepts("cli_1", 2)
    assert gens.accepts("cli_1", 3)
    assert gens.accepts("cli_1", 4)  # minted after a raise this process has not heard of yet
    gens.raise_to("cli_1", 1)  # a late, older message
    gens.merge({"cli_1": 2, "usr_1": 1})  # a stale reload
    assert not gens.accepts("cli_1", 2)
    assert not gens.accepts("usr_1", 0)
    assert len(gens) == 2


def test_lock_after_the_fifth_failure_within_the_window() -> None:
    now = 10_000.0
    attempts: list[dict[str, float]] = []
    for i in range(MAX_FAILURES - 1):
        attempts.append({"at": now + i})
        assert lock_after_failure(attempts, now + i) is None
    attempts.append({"at": now + MAX_FAILURES})
    assert lock_after_failure(attempts, now + MAX_FAILURES) == now + MAX_FAILURES + LOCK_FOR


def test_old_failures_fall_out_of_the_window() -> None:
    now = 10_000.0
    old = [{"at": now - FAILURE_WINDOW - 1}] * 4
    assert lock_after_failure([*old, {"at": now}], now) is None


def test_an_attempt_is_reserved_only_below_the_limit_and_unlocked() -> None:
    """Issue 10, finding 8: the reservation is one atomic conditional update, so concurrent
    guesses cannot all pass a check made before any of them failed."""
    query = reserve_filter("k", 100.0)
    assert query["_id"] == "k"
    assert query["locked_until"] == {"$not": {"$gt": 100.0}}
    assert query[f"attempts.{MAX_FAILURES - 1}"] == {"$exists": False}


def test_a_refused_reservation_waits_for_the_lock_or_the_window() -> None:
    now = 10_000.0
    assert wait_of_refusal({"locked_until": now + 60}, now) == 60
    full = {"attempts": [{"at": now - 100 + i} for i in range(MAX_FAILURES)]}
    assert wait_of_refusal(full, now) == FAILURE_WINDOW - 100
    assert wait_of_refusal(None, now) == 1.0


def test_email_normalisation() -> None:
    assert normalise_email("  Jane.Doe@Duka.CO.KE ") == "jane.doe@duka.co.ke"
    for bad in (
        "",
        "jane",
        "jane@",
        "@duka.co.ke",
        "jane@duka",
        "a b@duka.co.ke",
        "x" * 250 + "@a.co",
    ):
        assert normalise_email(bad) is None, bad
