"""Bills and benefit runs in the mixed scenario (bench/bills.py, bench/billcheck.py,
bench/benefitrun.py): their bodies pass the API's own models, every account reference is fresh,
the customer's C2B order pays the merchant's own paybill, the check calls a bill paid once only
when the switch and M-Pesa's record agree, and a benefit run good only when it completed with
every beneficiary paid and its report tied to the journal."""

from typing import Any

import pytest

from api.benefits_models import BeneficiaryCreate, ProgrammeCreate
from api.gov import GovPaybill, GovReferenceCreate
from api.invoices import InvoiceCreate, InvoiceOptIn
from api.lookups import LookupRequest
from bench.benefitrun import (
    BENEFIT_RUN,
    beneficiary_body,
    lookup_body,
    national_id,
    programme_body,
    run_verdict,
    runs_line,
    runs_report,
)
from bench.billcheck import bill_lines, bill_report, completed_c2b, verdict
from bench.bills import (
    C2B_PAY,
    GOV_REFERENCE,
    INVOICE,
    INVOICE_PREFIX,
    c2b_order,
    gov_shortcode,
    invoice_shortcode,
    payer_phone,
)
from bench.checks import Accepted, collect_accepted
from bench.ops import (
    OPS,
    READ_PATHS,
    Destinations,
    build,
    checked_apart,
    is_bill,
    kind_of,
    rail_of,
)
from bench.records import PAYMENT_OPS, Record
from connectors.mpesa.simulator.c2b_wire import parse_simulate

N = 2000


def test_bills_are_in_the_mix_read_back_and_never_payments() -> None:
    assert {INVOICE, GOV_REFERENCE} <= set(OPS)
    assert (OPS[INVOICE].path, READ_PATHS[INVOICE]) == ("/v1/invoices", "/v1/invoices/")
    assert READ_PATHS[GOV_REFERENCE] == "/v1/gov/references/"
    assert is_bill(INVOICE) and is_bill(GOV_REFERENCE)
    assert not any(is_bill(op) for op in ("mpesa_stk", "transfer", "get", "create", C2B_PAY))
    assert rail_of(INVOICE) == INVOICE and kind_of(GOV_REFERENCE) == GOV_REFERENCE
    # a bill's creation is followed (accepted); the customer's C2B payment record is not
    assert INVOICE in PAYMENT_OPS and C2B_PAY not in PAYMENT_OPS


def test_bodies_pass_the_api_models_with_fresh_references() -> None:
    dest = Destinations()
    accounts = set()
    for n in range(N):
        body, account = build(INVOICE, dest, f"B{n}")
        invoice = InvoiceCreate.model_validate(body)
        assert invoice.account_reference == account and account.startswith(INVOICE_PREFIX)
        accounts.add(account)
        body, prn = build(GOV_REFERENCE, dest, f"B{n}")
        assert GovReferenceCreate.model_validate(body).prn == prn
        accounts.add(prn)
    assert len(accounts) == 2 * N


def test_set_up_bodies_pass_the_api_models_and_paybills_differ_per_merchant() -> None:
    codes = {invoice_shortcode(i) for i in range(50)} | {gov_shortcode(i) for i in range(50)}
    assert len(codes) == 100
    for code in list(codes)[:5]:
        InvoiceOptIn.model_validate({"shortcode": code, "email": "bills@example.co.ke",
                                     "official_contact": "0710000000"})  # fmt: skip
        GovPaybill.model_validate({"shortcode": code, "agency_name": "Bench county 1"})


@pytest.mark.parametrize(("kind", "shortcode"), [(INVOICE, "710003"), (GOV_REFERENCE, "810003")])
def test_the_customer_pays_the_bill_in_full_on_the_merchants_paybill(
    kind: str, shortcode: str
) -> None:
    body, account = build(kind, Destinations(), "B7")
    phone = payer_phone(body)
    order = c2b_order(kind, 3, account, str(body["amount"]), phone)
    assert order["shortcode"] == shortcode and str(order["amount"]) == body["amount"]
    parsed = parse_simulate({"ShortCode": order["shortcode"], "CommandID": order["command_id"],
                             "Amount": order["amount"], "Msisdn": order["msisdn"],
                             "BillRefNumber": order["bill_ref"]})  # fmt: skip
    assert (parsed.bill_ref, parsed.msisdn[-9:]) == (account, phone[-9:])


def _invoice(status: str = "paid", paid: str = "250", receipts: tuple[str, ...] = ("R1",)) -> Any:
    return {"status": status, "amount": "250", "paid": paid,
            "payments": [{"receipt": r, "amount": "250"} for r in receipts]}  # fmt: skip


def test_verdicts() -> None:
    assert verdict(INVOICE, _invoice(), ["R1"]) == "paid_once"
    gov = {"status": "paid", "amount_due": "300", "paid": "300",
           "payments": [{"mpesa_receipt": "R2", "amount": "300"}]}  # fmt: skip
    assert verdict(GOV_REFERENCE, gov, ["R2"]) == "paid_once"
    assert verdict(INVOICE, None, ["R1"]).startswith("not_paid: missing")
    assert verdict(INVOICE, _invoice("open", "0", ()), []).startswith("not_paid: no completed")
    assert verdict(INVOICE, _invoice("open", "0", ()), ["R1"]).startswith("not_paid: open")
    assert verdict(INVOICE, _invoice(receipts=("R9",)), ["R1"]).startswith("not_paid: credited")
    assert verdict(INVOICE, _invoice(), ["R1", "R3"]).startswith("paid_twice")
    assert verdict(INVOICE, _invoice(receipts=("R1", "R3")), ["R1"]).startswith("paid_twice")


def test_the_report_matches_bills_to_the_simulators_record_by_reference() -> None:
    records = [
        Record(1.0, 0.1, INVOICE, 201, "inv_1", "k1", "BINV0007001", "", 0),
        Record(1.0, 0.1, INVOICE, 201, "inv_2", "k2", "BINV0007002", "", 1),
        Record(1.0, 0.1, GOV_REFERENCE, 201, "gov_1", "k3", "PRN0007003", "", 0),
        Record(1.1, 0.1, C2B_PAY, 200, "", "inv_1", "BINV0007001", "", 0),
    ]
    accepted, _ = collect_accepted(records)
    assert set(accepted) == {"inv_1", "inv_2", "gov_1"}
    sim = [
        {"state": "completed", "bill_ref": "binv0007001", "trans_id": "R1"},  # any case
        {"state": "rejected", "bill_ref": "BINV0007002", "trans_id": "R2"},
        {"state": "completed", "bill_ref": "PRN0007003", "trans_id": "R3"},
        {"state": "completed", "bill_ref": "PRN0007003", "trans_id": "R4"},
    ]
    c2b = completed_c2b(sim)
    views = {
        "inv_1": _invoice(),
        "inv_2": _invoice("open", "0", ()),
        "gov_1": {
            "status": "paid",
            "amount_due": "300",
            "paid": "300",
            "payments": [{"mpesa_receipt": "R3"}],
        },
    }
    report = bill_report(accepted, views, c2b)
    assert (report["not_paid"], report["paid_twice"], report["ok"]) == (1, 1, False)
    assert report["kinds"][INVOICE]["paid_once"] == 1
    assert report["kinds"][GOV_REFERENCE]["paid_twice"] == 1
    gov, invoice = bill_lines(report)
    assert invoice.startswith("invoice: issued 2, paid once 1, not paid 1, paid twice 0 (inv_2")
    assert gov.startswith("gov_reference: issued 1, paid once 0, not paid 0, paid twice 1")
    clean = bill_report(
        {"inv_1": Accepted("inv_1", "k1", "BINV0007001", 1.0, 0, INVOICE)}, views, c2b
    )
    assert clean["ok"] and clean["kinds"][INVOICE]["sample"] == []


# --- benefit runs (bench/benefitrun.py) ----------------------------------------------------------


def test_benefit_bodies_pass_the_api_models_and_runs_are_checked_apart() -> None:
    dest = Destinations()
    account = dest.account()
    LookupRequest.model_validate(lookup_body(account))
    assert ProgrammeCreate.model_validate(programme_body("B123456789012345678901")).rail == (
        "bank_transfer"
    )
    body = beneficiary_body(national_id(12), dest.phone("071"), "ANN KIPROP OMONDI", account)
    BeneficiaryCreate.model_validate(body)
    assert len({national_id(n) for n in range(5000)}) == 5000
    assert READ_PATHS[BENEFIT_RUN] == "/v1/benefits/runs/"
    assert checked_apart(BENEFIT_RUN) and checked_apart(INVOICE)
    assert not checked_apart("mpesa_stk") and not checked_apart(C2B_PAY)


def test_a_run_passes_only_completed_with_every_beneficiary_paid_and_tied() -> None:
    done = {"state": "completed", "paid": 3, "failed": 0}
    tied = {"totals": {"journal": {"ties": True}}}
    assert run_verdict(done, tied) == "paid"
    assert run_verdict(None, None) == "missing"
    assert run_verdict({**done, "state": "awaiting_approval"}, tied).startswith("not completed")
    assert run_verdict({**done, "paid": 2, "failed": 1}, tied) == "paid 2, failed 1 of 3"
    assert run_verdict(done, {"totals": {"journal": {"ties": False}}}).startswith("report")
    report = runs_report({"r1": done, "r2": {**done, "paid": 2}}, {"r1": tied, "r2": tied})
    assert (report["runs"], report["paid"], report["not_paid"], report["ok"]) == (2, 1, 1, False)
    assert runs_line(report).startswith("benefit_run: runs 2, each paid its 3 once 1, not 1 (r2")
    assert runs_report({"r1": done}, {"r1": tied})["ok"]
