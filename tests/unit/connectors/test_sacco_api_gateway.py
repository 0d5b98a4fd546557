"""The SACCO gateway's API path on MockTransport with recorded Fineract answers
(recordings/fineract_stima.json): the triggers, the retry policy on the common gateway loop
(resend only what provably never left; reads resent freely), externalId idempotency, the
circuit breaker, status by externalId and member lookups."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from connectors.http import HttpRequest, HttpResponse, NotSent, OutcomeUnknown
from connectors.sacco.gateway import SaccoGatewayCore
from connectors.sacco.registry import sandbox_registry
from connectors.transport import MockTransport
from switch.messages import CallbackIn, ProviderOutcome, StatusCheck
from switch.states import Event
from tests.unit.connectors.sacco_helpers import one, order

BASE = "https://core.stima.test/fineract-provider/api/v1"
RECORDED: dict[str, Any] = json.loads(
    (Path(__file__).parent / "recordings" / "fineract_stima.json").read_text()
)
DORMANT = "error.msg.savingsaccount.transaction.account.is.dormant"
Reply = str | HttpResponse | Exception


def recorded(name: str) -> HttpResponse:
    entry = RECORDED[name]
    return HttpResponse(entry["status"], orjson.dumps(entry["body"]))


class FakeFineract:
    """Plays the SACCO's API: reads answer from the recordings by member, money calls and
    reports from scripts (the last entry repeats); records what was sent."""

    def __init__(
        self,
        money: list[Reply] | None = None,
        report: list[Reply] | None = None,
        reads: list[Reply] | None = None,
    ) -> None:
        self.money_script = list(money or ["deposit"])
        self.report_script = list(report or ["report_none"])
        self.read_script = list(reads or [])  # before the recorded reads, e.g. faults
        self.money: list[HttpRequest] = []
        self.reads: list[HttpRequest] = []
        self.reports: list[HttpRequest] = []
        self.clients = {
            str(body["pageItems"][0]["id"]): name.removeprefix("member_")
            for name, body in ((n, e["body"]) for n, e in RECORDED.items())
            if name.startswith("member_1")
        }

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.url.removeprefix(BASE)
        if path.startswith("/runreports/"):
            self.reports.append(request)
            return self._play(self.report_script)
        if request.method == "POST":
            self.money.append(request)
            return self._play(self.money_script)
        self.reads.append(request)
        if self.read_script:
            return self._play([self.read_script.pop(0), "unused"])
        if path.startswith("/clients?"):
            number = path.split("externalId=")[1].split("&")[0]
            return recorded(f"member_{number}" if f"member_{number}" in RECORDED else "member_none")
        client = path.removeprefix("/clients/").removesuffix("/accounts")
        return recorded(f"accounts_{self.clients[client]}")

    @staticmethod
    def _play(script: list[Reply]) -> HttpResponse:
        step = script.pop(0) if len(script) > 1 else script[0]
        if isinstance(step, Exception):
            raise step
        return recorded(step) if isinstance(step, str) else step

    def money_bodies(self) -> list[dict[str, Any]]:
        return [orjson.loads(r.body or b"") for r in self.money]


async def no_deliver(items: list[CallbackIn]) -> list[str]:
    raise AssertionError("an API SACCO delivers nothing by itself")


def gateway(fake: FakeFineract, tmp_path: Path, **kw: float) -> SaccoGatewayCore:
    options: dict[str, Any] = {"retry_base": 0.001, **kw}
    return SaccoGatewayCore(
        sandbox_registry(BASE), MockTransport(fake), tmp_path, no_deliver, **options
    )


async def status(gw: SaccoGatewayCore, pid: str, ref: str | None = "STIMA") -> Any:
    (result,) = await gw.check([StatusCheck(pid, "sacco", ref)])
    return result


def code_of(outcome: ProviderOutcome) -> str | None:
    return outcome.failure.provider_code if outcome.failure else None


# --- the triggers -------------------------------------------------------------------------------


async def test_deposit_is_one_call_with_our_id_as_external_id(tmp_path: Path) -> None:
    fake = FakeFineract()
    outcome = await one(gateway(fake, tmp_path), order(1))
    assert outcome.event == Event.SUCCEED
    assert outcome.amount_minor == 150_000
    assert outcome.refs is not None
    assert (outcome.refs.receipt, outcome.refs.receiver_name) == ("16", "Mwangi Cherono")
    assert outcome.refs.result_desc is None
    (sent,) = fake.money
    assert sent.url == f"{BASE}/savingsaccounts/3/transactions?command=deposit"
    body = fake.money_bodies()[0]
    assert body["externalId"] == body["receiptNumber"] == "pay_s0_1"
    assert body["transactionAmount"] == "1500.00"
    # HTTP Basic on every request, no token flow: member, accounts, then the money call.
    assert [r.url.removeprefix(BASE)[:9] for r in fake.reads] == ["/clients?", "/clients/"]
    assert all(r.headers["Authorization"].startswith("Basic ") for r in [*fake.reads, sent])


@pytest.mark.parametrize(
    ("member", "purpose", "answer", "event", "code"),
    [
        ("10404", "deposit", None, Event.REJECTED, "member_not_found"),
        ("10403", "withdrawal", "withdrawal_dormant", Event.DECLINE, DORMANT),
        ("10402", "withdrawal", "withdrawal_insufficient", Event.DECLINE,
         "error.msg.savingsaccount.transaction.insufficient.account.balance"),
        ("10405", "loan_disbursement", None, Event.DECLINE, "no_loan"),
        ("10404", "loan_repayment", None, Event.REJECTED, "member_not_found"),
        ("10405", "loan_repayment", None, Event.DECLINE, "no_active_loan"),
        ("10001", "loan_repayment", "repayment_overpayment_refused", Event.DECLINE,
         "error.msg.loan.repayment.overpayment.not.allowed"),
    ],
)  # fmt: skip
async def test_refusals_are_final_and_never_resent(
    tmp_path: Path, member: str, purpose: str, answer: str | None, event: Event, code: str
) -> None:
    fake = FakeFineract(money=[answer or "deposit"])
    outcome = await one(gateway(fake, tmp_path), order(2, member, purpose=purpose))
    assert (outcome.event, code_of(outcome)) == (event, code)
    assert len(fake.money) == (1 if answer else 0)  # refused on the reads: nothing on the wire


@pytest.mark.parametrize(
    ("n", "purpose", "answer", "path", "receipt"),
    [
        (3, "withdrawal", "withdrawal", "/savingsaccounts/3/transactions?command=withdrawal",
         "17"),
        (4, "loan_disbursement", "disbursement", "/loans/4?command=disburse", "18"),
        (100, "loan_repayment", "repayment", "/loans/4/transactions?command=repayment", "19"),
    ],
)  # fmt: skip
async def test_each_purpose_goes_to_its_account(
    tmp_path: Path, n: int, purpose: str, answer: str, path: str, receipt: str
) -> None:
    fake = FakeFineract(money=[answer])
    outcome = await one(gateway(fake, tmp_path), order(n, purpose=purpose))
    assert outcome.event == Event.SUCCEED
    assert outcome.refs is not None and outcome.refs.receipt == receipt
    assert [r.url for r in fake.money] == [BASE + path]


async def test_overpayment_is_booked_and_said(tmp_path: Path) -> None:
    fake = FakeFineract(money=["repayment_overpaid"])
    outcome = await one(gateway(fake, tmp_path), order(102, "10407", 150_000, "loan_repayment"))
    assert outcome.event == Event.SUCCEED
    assert outcome.refs is not None
    assert outcome.refs.result_desc == "loan overpaid by KES 500.00"  # KES 1,000 was owed


# --- the retry policy ---------------------------------------------------------------------------


async def test_a_timeout_is_lost_never_resent_then_found_by_check(tmp_path: Path) -> None:
    fake = FakeFineract(money=[OutcomeUnknown("timed out")], report=["report_deposit"])
    gw = gateway(fake, tmp_path)
    outcome = await one(gw, order(1))
    assert outcome.event == Event.ANSWER_LOST
    assert outcome.failure is not None and outcome.failure.code == "outcome_unknown"
    assert len(fake.money) == 1
    found = await status(gw, "pay_s0_1", ref=None)  # remembered: no SACCO code needed
    assert found.outcome.event == Event.SUCCEED
    assert found.outcome.amount_minor == 150_050
    assert len(fake.money) == 1


@pytest.mark.parametrize("refusal", ["burst_503", "burst_429", NotSent("refused")])
async def test_what_provably_never_took_effect_is_resent(tmp_path: Path, refusal: Reply) -> None:
    fake = FakeFineract(money=[refusal, "deposit"])
    outcome = await one(gateway(fake, tmp_path), order(1))
    assert outcome.event == Event.SUCCEED
    assert len(fake.money) == 2
    assert fake.money_bodies()[0] == fake.money_bodies()[1]  # the same externalId each time


async def test_a_500_may_hide_work_so_it_is_lost_not_resent(tmp_path: Path) -> None:
    fake = FakeFineract(money=["burst_500"])
    gw = gateway(fake, tmp_path)
    outcome = await one(gw, order(9))
    assert outcome.event == Event.ANSWER_LOST
    assert len(fake.money) == 1
    checked = await status(gw, "pay_s0_9")
    assert checked.outcome.event is None and checked.not_found


async def test_retries_spent_mean_nothing_moved(tmp_path: Path) -> None:
    fake = FakeFineract(money=["burst_503"])
    outcome = await one(gateway(fake, tmp_path, retries=2), order(11))
    assert outcome.event == Event.REJECTED
    assert outcome.failure is not None and outcome.failure.code == "provider_unavailable"
    assert len(fake.money) == 3


async def test_reads_are_resent_on_any_fault(tmp_path: Path) -> None:
    fake = FakeFineract(reads=[OutcomeUnknown("reset"), "burst_500", NotSent("refused")])
    outcome = await one(gateway(fake, tmp_path), order(1))
    assert outcome.event == Event.SUCCEED
    assert len(fake.reads) == 5 and len(fake.money) == 1


async def test_reads_that_keep_failing_send_no_money(tmp_path: Path) -> None:
    fake = FakeFineract(reads=[OutcomeUnknown("reset")] * 4)
    outcome = await one(gateway(fake, tmp_path), order(10))
    assert outcome.event == Event.REJECTED
    assert outcome.failure is not None and outcome.failure.code == "provider_unavailable"
    assert fake.money == []


# --- idempotency by externalId ------------------------------------------------------------------


async def test_a_duplicate_external_id_is_answered_by_the_sacco_record(tmp_path: Path) -> None:
    fake = FakeFineract(money=["deposit_duplicate"], report=["report_deposit"])
    outcome = await one(gateway(fake, tmp_path), order(1, amount=999_900))
    assert outcome.event == Event.SUCCEED
    assert outcome.amount_minor == 150_050  # the SACCO's record, not what we asked
    assert outcome.refs is not None and outcome.refs.receipt == "16"
    assert len(fake.money) == 1 and len(fake.reports) == 1


async def test_a_duplicate_without_a_record_is_lost_not_resent(tmp_path: Path) -> None:
    fake = FakeFineract(money=["deposit_duplicate"], report=["report_none"])
    outcome = await one(gateway(fake, tmp_path), order(1))
    assert outcome.event == Event.ANSWER_LOST
    assert len(fake.money) == 1


async def test_a_reversed_transaction_reads_as_declined(tmp_path: Path) -> None:
    row = {**RECORDED["report_deposit"]["body"][0], "reversed": True}
    fake = FakeFineract(report=[HttpResponse(200, orjson.dumps([row]))])
    checked = await status(gateway(fake, tmp_path), "pay_s0_1")
    assert checked.outcome.event == Event.DECLINE
    assert code_of(checked.outcome) == "reversed"


# --- credentials, circuit, bad orders -----------------------------------------------------------


async def test_refused_credentials_send_nothing_and_are_not_retried(tmp_path: Path) -> None:
    fake = FakeFineract(reads=["unauthenticated"])
    outcome = await one(gateway(fake, tmp_path), order(14))
    assert outcome.event == Event.REJECTED
    assert outcome.failure is not None and outcome.failure.code == "provider_unavailable"
    assert "Unauthenticated" in outcome.failure.message
    assert len(fake.reads) == 1 and fake.money == []
    fake = FakeFineract(money=["unauthenticated"])
    outcome = await one(gateway(fake, tmp_path), order(15))
    assert outcome.failure is not None and "credentials refused" in outcome.failure.message
    assert len(fake.money) == 1


async def test_an_unreachable_sacco_opens_its_circuit(tmp_path: Path) -> None:
    fake = FakeFineract(reads=[NotSent("refused")] * 10)
    gw = gateway(fake, tmp_path, retries=1, breaker_threshold=2, breaker_cool_down=60)
    first = await one(gw, order(12))
    assert first.failure is not None and first.failure.code == "provider_unavailable"
    sent = len(fake.reads)
    refused = await one(gw, order(13))
    assert refused.retry_after is not None and refused.retry_after > 0
    assert len(fake.reads) == sent  # the open circuit sends nothing
    # While the circuit is open, status reads are not sent either (the common loop's rule, as
    # for the other providers): the question failed, ask again later.
    assert (await status(gw, "pay_s0_12")).outcome is None
    assert fake.reports == []


async def test_bad_orders_are_rejected_before_anything(tmp_path: Path) -> None:
    fake = FakeFineract()
    results = await gateway(fake, tmp_path).submit(
        [order(16, sacco="NOPE"), order(17, member="12"), order(18, amount=0)]
    )
    assert [code_of(r.outcome) for r in results] == [
        "unknown_sacco", "invalid_member_number", "invalid_amount",
    ]  # fmt: skip
    assert fake.reads == [] and fake.money == []


async def test_member_lookup(tmp_path: Path) -> None:
    fake = FakeFineract()
    gw = gateway(fake, tmp_path)
    assert await gw.lookup("STIMA", "10001") == {
        "sacco_code": "STIMA", "member_number": "10001", "name": "Mwangi Cherono",
    }  # fmt: skip
    none = await gw.lookup("STIMA", "10404")
    assert none["error_code"] == "account_not_found"
    assert (await gw.lookup("WAUMINI", "10001"))["error_code"] == "lookup_unsupported"
    assert (await gw.lookup("STIMA", "x"))["error_code"] == "invalid_member_number"
    assert (await gw.lookup("NOPE", "10001"))["error_code"] == "unknown_sacco"
    down = FakeFineract(reads=["burst_503"] * 10)
    answer = await gateway(down, tmp_path, retries=1).lookup("STIMA", "10001")
    assert answer["error_code"] == "provider_unavailable"


def test_recordings_are_fineract_shaped() -> None:
    """The recordings the tests play are what the connector reads, not hand-made shortcuts."""
    assert {"pageItems", "totalFilteredRecords"} <= set(RECORDED["member_10001"]["body"])
    assert RECORDED["deposit_duplicate"]["status"] == 403
    (error,) = RECORDED["deposit_duplicate"]["body"]["errors"]
    assert "duplicate" in error["userMessageGlobalisationCode"]


async def test_an_answer_naming_another_external_id_is_lost_not_trusted(tmp_path: Path) -> None:
    fake = FakeFineract(money=["deposit"])  # the recording echoes pay_s0_1
    outcome = await one(gateway(fake, tmp_path), order(5))
    assert outcome.event == Event.ANSWER_LOST
    assert len(fake.money) == 1
