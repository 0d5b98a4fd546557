"""Three-way matching (pure): a provider's bank settlement against the matched records of its
Nairobi business day."""

from __future__ import annotations

from datetime import UTC, date, datetime

from switch.recon.matching import Finding
from switch.recon.records import ProviderRecord
from switch.recon.settlement import judge, net_of, parse_ref, settlement_ref

DAY = date(2026, 12, 5)
# 22:30 UTC on the 4th is 01:30 on the 5th in Nairobi: the 5th's business day.
EARLY = datetime(2026, 12, 4, 22, 30, tzinfo=UTC)
LATE = datetime(2026, 12, 5, 21, 30, tzinfo=UTC)  # 00:30 on the 6th in Nairobi


def _matched(
    amount: int, at: datetime, direction: str = "in", shortcode: str = "600984"
) -> Finding:
    record = ProviderRecord("mpesa_statement", "R", amount, "in", at, shortcode=shortcode)
    return Finding(
        "matched", "mpesa", f"k{amount}", "", "pay", "m", "mpesa_c2b", amount, amount,
        direction, (record,), at,
    )  # fmt: skip


def _credit(reference: str, cents: int) -> ProviderRecord:
    return ProviderRecord("bank_settlement", "FT1", cents, "in", LATE, reference=reference)


def test_references_name_provider_day_and_shortcode() -> None:
    assert settlement_ref("mpesa", DAY, "600984") == "SETTLE-MPESA-20261205-600984"
    assert parse_ref("SETTLE-MPESA-20261205-600984") == ("mpesa", DAY, "600984")
    assert parse_ref("SETTLE-AIRTEL-20261205") == ("airtel", DAY, "")
    assert parse_ref("SETTLE-AIRTEL-20261399") is None  # no such day
    assert parse_ref("pay_123") is None


def test_the_day_nets_money_in_less_money_out_at_the_nairobi_cut_off() -> None:
    found = [_matched(50_000, EARLY), _matched(20_000, EARLY, "out"), _matched(9_900, LATE)]
    net = net_of(found)
    assert net[("mpesa", DAY, "")] == 30_000 and net[("mpesa", DAY, "600984")] == 30_000
    assert net[("mpesa", date(2026, 12, 6), "")] == 9_900


def test_a_settlement_that_differs_from_its_day_is_a_break_and_one_that_agrees_is_not() -> None:
    found = [_matched(50_000, EARLY), _matched(7_000, EARLY, shortcode="600985")]
    airtel, short, ok = judge(  # in reference order; the rent line is no settlement
        [
            _credit("SETTLE-MPESA-20261205-600984", 50_000),
            _credit("SETTLE-MPESA-20261205", 56_000),
            ProviderRecord("bank_settlement", "FT2", 100, "in", LATE, reference="rent"),
            _credit("SETTLE-AIRTEL-20261205", 0),
        ],
        found,
    )
    assert (ok.kind, ok.provider) == ("matched", "mpesa")
    assert (short.kind, short.switch_amount, short.provider_amount) == (
        "settlement_mismatch",
        57_000,
        56_000,
    )
    assert short.key == "SETTLE-MPESA-20261205" and short.is_break
    assert (airtel.kind, airtel.provider) == ("matched", "airtel")  # 0 = nothing matched
