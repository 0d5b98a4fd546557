"""The PesaLink simulator's pure parts: triggers, directory, config, books and inbound wire."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.pesalink import REASONS, TRANSFER_STATUSES
from connectors.pesalink.simulator import TRIGGERS, SimConfig, holder_name, links_of, plan_transfer
from connectors.pesalink.simulator.__main__ import config_from, parse_args
from connectors.pesalink.simulator.config import KNOBS, ErrorBurst, take_actions
from connectors.pesalink.simulator.directory import ACCOUNTS, PHONES
from connectors.pesalink.simulator.state import SimState, TransferRecord
from connectors.pesalink.simulator.triggers import PAID, lookup_reason, trigger_for
from connectors.pesalink.simulator.wire import (
    InvalidField,
    parse_account_lookup,
    parse_phone_lookup,
    parse_transfer,
    transfer_answer,
    transfer_data,
)
from tests.unit.connectors.samples import PESALINK_TRANSFER as DOC_BODY

# --- triggers -----------------------------------------------------------------------------------


def test_every_trigger_ends_in_a_status_and_reason_the_connector_knows() -> None:
    for suffix, trigger in TRIGGERS.items():
        assert len(suffix) == 4 and suffix.isdigit()
        assert TRANSFER_STATUSES[trigger.final_status][0] in ("succeeded", "failed")
        for reason in (trigger.reason_code, trigger.lookup_reason):
            assert reason is None or reason in REASONS


def test_triggers_go_by_the_last_four_digits() -> None:
    assert trigger_for("99901004") is TRIGGERS["1004"]
    assert trigger_for("10040000") is PAID
    assert lookup_reason("0123451001") == "AC01"
    assert lookup_reason("0123453004") is None  # insufficient funds is the sender's problem


@pytest.mark.parametrize(
    ("account", "name", "amount", "expected"),
    [
        ("0123450000", "X", 100, ("SUCCESS", None, False)),
        ("0123452001", "Tom Doe", 100, ("FAILED", "BE01", False)),
        ("0123452001", "JOHN DOE", 100, ("SUCCESS", None, False)),
        ("0123455001", "X", 100, ("SUCCESS", None, True)),
        ("0123455001", "X", 1_001, ("FAILED", "AM04", False)),  # more than the balance
        ("0123451004", "X", 1_001, ("FAILED", "AC04", False)),  # the account fails first
        ("0123455002", "X", 100, ("FAILED", "AB05", True)),
    ],
)
def test_plan_transfer(account: str, name: str, amount: int, expected: tuple[Any, ...]) -> None:
    plan = plan_transfer(account, name, "JOHN DOE", amount, balance_cents=1_000)
    assert (plan.final_status, plan.reason_code, plan.pending) == expected


def test_an_upstream_timeout_stays_one_when_the_balance_fails() -> None:
    plan = plan_transfer("0123454004", "X", "Y", 2_000, balance_cents=1_000)
    assert (plan.final_status, plan.reason_code, plan.upstream_timeout) == ("FAILED", "AM04", True)


# --- directory ----------------------------------------------------------------------------------


def test_listed_accounts_keep_their_names_and_others_get_stable_ones() -> None:
    assert holder_name("12", "0170197176640") == "John Doe"
    generated = holder_name("01", "5550001234")
    assert generated == holder_name("01", "5550001234") and len(generated.split()) == 3
    assert len({holder_name("01", f"555000{n:04d}") for n in range(20)}) > 10


def test_listed_accounts_avoid_the_trigger_suffixes() -> None:
    for _, account in ACCOUNTS:
        assert account[-4:] not in TRIGGERS
    for links in PHONES.values():
        assert sum(link.is_default for link in links) == 1
        assert all((link.bank_code, link.account_number) in ACCOUNTS for link in links)


def test_unlisted_phones_link_to_an_account_with_their_suffix() -> None:
    [link] = links_of("254799001004")
    assert link.account_number.endswith("1004") and link.is_default
    assert links_of("254799001004") == (link,)
    assert links_of("254712340404") == ()
    assert links_of("254712345678") == PHONES["254712345678"]


# --- config -------------------------------------------------------------------------------------


def test_apply_checks_the_whole_patch_before_changing_anything() -> None:
    config = SimConfig()
    with pytest.raises(ValueError, match="drop_sync_answer"):
        config.apply({"latency": 1, "drop_sync_answer": -1})
    assert config.latency == 0.0
    config.apply({"latency": 1, "error_burst": {"status": 429, "api": "lookup"}})
    assert (config.latency, config.error_burst) == (1.0, ErrorBurst(429, 1, "lookup"))


@pytest.mark.parametrize(
    "patch",
    [
        [],
        {"token_ttl": 0},
        {"minimum_cents": 0},
        {"check_signatures": 1},
        {"error_burst": {"status": 418}},
        {"error_burst": {"api": "token"}},
        {"error_burst": {"status": 503, "extra": 1}},
        {"latency": True},
    ],
)
def test_bad_patches_are_refused(patch: Any) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 (each case names a different knob)
        SimConfig().apply(patch)


def test_knobs_leave_credentials_out_and_copies_are_deep() -> None:
    config = SimConfig()
    knobs = config.knobs()
    assert set(knobs) == set(KNOBS)
    assert not {"api_key", "consumer_secret", "public_key_pem"} & set(knobs)
    copy = config.copy()
    copy.error_burst.count = 5
    assert config.error_burst.count == 0
    config.latency = 3
    config.restore(copy)
    assert (config.latency, config.error_burst.count) == (0.0, 5)


def test_burst_hits_its_api_only() -> None:
    burst = ErrorBurst(503, 1, "lookup")
    assert burst.hits("lookup") and not burst.hits("transfer")
    assert ErrorBurst(503, 1).hits("status") and not ErrorBurst(503, 0).hits("status")


def test_actions_are_split_out() -> None:
    assert take_actions({"latency": 1, "expire_tokens": True}) == (
        {"latency": 1},
        frozenset({"expire_tokens"}),
    )
    with pytest.raises(ValueError, match="action"):
        take_actions({"expire_tokens": 1})


def test_command_line_flags_become_knobs() -> None:
    config = config_from(
        parse_args(["--pending-for", "2", "--no-signature-check", "--daily-limit-cents", "9"])
    )
    assert (config.pending_for, config.check_signatures, config.daily_limit_cents) == (
        2.0,
        False,
        9,
    )
    with pytest.raises(ValueError, match="latency"):
        config_from(parse_args(["--latency", "-1"]))


# --- books --------------------------------------------------------------------------------------


def record(**change: Any) -> TransferRecord:
    fields: dict[str, Any] = {
        "reference": "r1",
        "transaction_id": "000000000001",
        "mode": "account",
        "amount_cents": 50_000,
        "source_account": "0020100014605",
        "bank_code": "57",
        "account_number": "99901288715910",
        "phone": None,
        "given_name": "Tom Doe",
        "holder_name": "Tom Doe",
        "description": "",
        "callback_url": None,
        "status": "SUCCESS",
        "reason_code": None,
        "final_status": "SUCCESS",
        "final_reason": None,
        "debited": True,
        "balance_after_cents": 0,
        "created_at": 1_700_000_000.0,
        **change,
    }
    return TransferRecord(**fields)


def test_the_ledger_forgets_the_oldest_beyond_its_size() -> None:
    state = SimState()
    for i in range(3):
        state.add(record(reference=f"r{i}"), max_records=2)
    assert list(state.transfers) == ["r1", "r2"]


def test_daily_totals_are_per_account_and_eat_day() -> None:
    state = SimState()
    evening_utc = 1_700_000_000.0  # 2023-11-14 22:13 UTC = 01:13 on the 15th in Nairobi
    state.count_sent("A", evening_utc, 100)
    state.count_sent("A", evening_utc + 3600, 50)
    state.count_sent("B", evening_utc, 7)
    assert state.sent_today("A", evening_utc) == 150
    assert state.sent_today("A", evening_utc - 2 * 3600) == 0  # 23:13 on the 14th in Nairobi
    state.count_sent("A", evening_utc, -100)
    assert state.sent_today("A", evening_utc) == 50


def test_tokens_expire_and_transaction_ids_are_12_digits() -> None:
    state = SimState()
    token = state.issue_token(now=10.0, ttl=5.0)
    assert state.token_valid(token, 14.9) and not state.token_valid(token, 15.0)
    first, second = state.transaction_id(), state.transaction_id()
    assert len(first) == 12 and first.isdigit() and first != second


def test_record_json_and_wire() -> None:
    pending = record(status="PENDING", phone="254712345678", mode="phone")
    out = pending.to_json()
    assert (out["state"], out["paid"], out["completed_at"]) == ("pending", False, None)
    data = transfer_data(pending)
    assert data["destination"] == {
        "type": "mobile",
        "bankCode": "57",
        "mobileNumber": "0712345678",
        "accountNumber": "**********5910",
        "name": "Tom Doe",
    }
    assert (data["stateCode"], "reasonCode" in data) == (-1, False)
    assert transfer_answer(pending)["code"] == -1
    failed = transfer_data(
        record(status="FAILED", reason_code="AC04", completed_at=1_700_000_001.0)
    )
    assert (failed["reasonCode"], failed["reasonDescription"]) == ("AC04", "ClosedAccountNumber")
    assert failed["completedAt"].endswith("+03:00")


# --- inbound wire -------------------------------------------------------------------------------


def test_the_doc_sample_parses() -> None:
    order = parse_transfer(DOC_BODY, "account")
    assert (order.bank_code, order.account_number, order.amount_cents) == (
        "57",
        "99901288715910",
        50_000,
    )
    assert order.signed == "500.00KES112194688993Tom Doe0020100014605"
    assert order.callback_url is None


def _with(path: str, value: Any) -> dict[str, Any]:
    section, key = path.split(".")
    return {**DOC_BODY, section: {**DOC_BODY[section], key: value}}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("destination.name", ""),
        ("destination.bankCode", "057"),
        ("destination.accountNumber", "12"),
        ("destination.type", "mobile"),
        ("transfer.amount", "-1"),
        ("transfer.amount", "0.001"),
        ("transfer.reference", "x" * 36),
        ("transfer.date", "2023-02-30"),
        ("transfer.callbackUrl", "ftp://x"),
        ("transfer.description", 5),
        ("source.accountNumber", None),
    ],
)
def test_bad_fields_are_named(path: str, value: Any) -> None:
    with pytest.raises(InvalidField) as caught:
        parse_transfer(_with(path, value), "account")
    assert caught.value.name == path


def test_a_phone_transfer_takes_any_phone_form_and_an_optional_bank() -> None:
    dest = {"type": "mobile", "countryCode": "KE", "name": "Jane", "mobileNumber": "+254712345678"}
    order = parse_transfer({**DOC_BODY, "destination": dest}, "phone")
    assert (order.phone, order.bank_code, order.account_number) == ("254712345678", None, None)
    order = parse_transfer({**DOC_BODY, "destination": {**dest, "bankCode": "0068"}}, "phone")
    assert order.bank_code == "68"
    with pytest.raises(InvalidField, match="mobileNumber"):
        parse_transfer({**DOC_BODY, "destination": {**dest, "mobileNumber": "0612"}}, "phone")


def test_lookups_parse_and_keep_what_was_signed() -> None:
    lookup = parse_account_lookup(
        {"countryCode": "KE", "bankCode": "0012", "accountNumber": "0170197176640"}
    )
    assert (lookup.bank_code, lookup.signed) == ("12", "KE00120170197176640")
    phone = parse_phone_lookup({"mobileNumber": "0722000000"})
    assert (phone.phone, phone.signed) == ("254722000000", "0722000000")
    with pytest.raises(InvalidField, match="mobileNumber"):
        parse_phone_lookup({"mobileNumber": 722000000})
