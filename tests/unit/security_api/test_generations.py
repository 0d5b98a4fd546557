"""Token generations in memory, and the lock-out rule."""

from __future__ import annotations

from switch.clients import Generations
from switch.users import FAILURE_WINDOW, LOCK_FOR, MAX_FAILURES, after_failure, normalise_email


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
    failures: list[float] = []
    for i in range(MAX_FAILURES - 1):
        failures, locked = after_failure(failures, now + i)
        assert locked is None
    failures, locked = after_failure(failures, now + MAX_FAILURES)
    assert locked == now + MAX_FAILURES + LOCK_FOR


def test_old_failures_fall_out_of_the_window() -> None:
    now = 10_000.0
    old = [now - FAILURE_WINDOW - 1] * 4
    failures, locked = after_failure(old, now)
    assert (failures, locked) == ([now], None)


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
