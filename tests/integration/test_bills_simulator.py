"""The Daraja simulator's Bill Manager and Ratiba against a callback receiver on real ports:
opt-in, invoices, payments (as C2B, then the push), cancellation rules, reminders and due-date
payments on the simulator's clock, standing-order consent and runs, failed runs, duplicates."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import orjson
import pytest

from connectors.mpesa import billmanager as bm
from connectors.mpesa import ratiba
from connectors.mpesa.simulator import SIMULATOR, SimConfig, Simulator, create_app
from tests.simharness import Receiver, SimClient, by_path, staged

pytestmark = pytest.mark.integration
SHORTCODE = "174379"
VALIDATION_OK = orjson.dumps({"ResultCode": "0", "ResultDesc": "Accepted"})


@dataclass
class Rig(SimClient):
    sim: Simulator
    base_url: str
    hooks: str
    receiver: Receiver
    transport: Any
    token: str = ""
    app_key: str = ""

    async def call(self, path: str, body: Any, **headers: str) -> tuple[int, Any]:
        auth = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        resp = await self.http("POST", path, body, {**auth, **headers})
        return resp.status, resp.json()

    async def bills(self, path: str, body: Any) -> bm.Answer:
        auth = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        resp = await self.http("POST", path, body, {**auth, bm.APP_KEY_HEADER: self.app_key})
        return bm.parse_answer(resp.status, resp.body)

    def today(self) -> date:
        return self.sim.calendar.today


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    receiver = Receiver(key=by_path("name"), answer=VALIDATION_OK)
    simulator = create_app(SimConfig(callback_delay=0.05))
    async with staged(receiver, "/hooks/{name}", lambda _: simulator) as stage:
        rig = Rig(simulator[SIMULATOR], stage.base_url, stage.hooks_url, receiver, stage.transport)
        basic = base64.b64encode(b"sandbox-key:sandbox-secret").decode()
        resp = await rig.http(
            "GET", "/oauth/v1/generate?grant_type=client_credentials", None,
            {"Authorization": f"Basic {basic}"},
        )  # fmt: skip
        rig.token = resp.json()["access_token"]
        status, _ = await rig.call(
            "/mpesa/c2b/v2/registerurl",
            {"ShortCode": SHORTCODE, "ResponseType": "Completed",
             "ConfirmationURL": f"{rig.hooks}/hooks/confirm",
             "ValidationURL": f"{rig.hooks}/hooks/validate"},
        )  # fmt: skip
        assert status == 200
        yield rig


def invoice(ref: str, due: date, amount: int = 80_000, phone: str = "254708374149") -> Any:
    return bm.InvoiceOrder(
        ref, "John Doe", bm.local_phone(phone), "December 2026", "Water", due, f"ACC-{ref}", amount
    )


async def opted_in(rig: Rig) -> None:
    status, body = await rig.call(
        bm.PATHS["optin"],
        bm.OptIn(SHORTCODE, "b@example.co.ke", "0710000000", True, f"{rig.hooks}/hooks/bm").body(),
    )
    assert (status, body["rescode"]) == (200, "200")
    rig.app_key = body["app_key"]


async def test_invoices_are_paid_as_c2b_then_pushed(rig: Rig) -> None:
    await opted_in(rig)
    due = rig.today() + timedelta(days=3)
    assert (await rig.bills(bm.PATHS["single"], invoice("A1", due).body())).ok
    again = await rig.bills(bm.PATHS["single"], invoice("A1", due).body())
    assert (again.ok, again.code) == (False, "409")
    bulk = bm.bulk_body([invoice("B1", due), invoice("B2", due, phone="254708370001")])
    assert (await rig.bills(bm.PATHS["bulk"], bulk)).ok

    paid = await rig.control(
        "POST", "/billmanager/pay", {"external_reference": "A1", "amount": 300}
    )
    assert paid["state"] == "completed"
    push = bm.parse_push((await rig.receiver.wait_for("bm"))[0])
    assert (push.transaction_id, push.paid_minor, push.account_reference) == (
        paid["trans_id"],
        30_000,
        "ACC-A1",
    )
    confirmation = orjson.loads(rig.receiver.of("confirm")[0])
    assert (confirmation["TransID"], confirmation["BillRefNumber"]) == (paid["trans_id"], "ACC-A1")

    refused = await rig.bills(bm.PATHS["cancel"], bm.cancel_body("A1"))
    assert (refused.code, refused.message) == (
        "409",
        "partially or fully paid invoices cannot be cancelled.",
    )
    assert (await rig.bills(bm.PATHS["cancel"], bm.cancel_body("B1"))).ok

    # Three days on: reminders at 3 days and on the day; A1's customer pays the rest on the due
    # date, B1 is cancelled, B2's customer (0001) has no money.
    assert (await rig.control("POST", "/clock/advance", {"days": 3}))["today"] == due.isoformat()
    pushes = [bm.parse_push(b) for b in await rig.receiver.wait_for("bm", 2)]
    assert [p.paid_minor for p in pushes] == [30_000, 50_000]
    state = await rig.control("GET", "/billmanager")
    by_ref = {i["external_reference"]: i for i in state["invoices"]}
    assert (by_ref["A1"]["paid"], by_ref["B1"]["paid"], by_ref["B2"]["paid"]) == (800, 0, 0)
    assert any("due in 0 days" in r for r in by_ref["B2"]["reminders"])

    ack = bm.Acknowledgement(due, 80_000, "ACC-A1", push.transaction_id, "0708374149", "John Doe",
                             "Water", "A1")  # fmt: skip
    assert (await rig.bills(bm.PATHS["reconciliation"], ack.body())).ok
    assert (await rig.control("GET", "/billmanager"))["acknowledgements"][0][
        "externalReference"
    ] == "A1"


def standing(rig: Rig, phone: str, start: date, name: str = "Loan") -> dict[str, str]:
    return ratiba.StandingOrderRequest(
        name, start, start + timedelta(days=62), SHORTCODE, False, 50_000, phone,
        f"{rig.hooks}/hooks/ratiba", "LOAN-7", "Instalment", "monthly",
    ).body()  # fmt: skip


async def test_standing_orders_run_on_the_clock_and_report_failures(rig: Rig) -> None:
    rig.sim.config.duplicate_callbacks = 1
    start = rig.today() + timedelta(days=1)
    status, body = await rig.call(ratiba.PATH, standing(rig, "254708374149", start))
    assert ratiba.parse_accepted(status, orjson.dumps(body)).ok
    status, _ = await rig.call(ratiba.PATH, standing(rig, "254708370001", start, "Dues"))
    refused = await rig.http("POST", ratiba.PATH, {**standing(rig, "2547", start), "PartyA": "x"},
                             {"Authorization": f"Bearer {rig.token}",
                              "Content-Type": "application/json"})  # fmt: skip
    assert (refused.status, refused.json()["responseCode"]) == (400, 400)

    consents = [ratiba.parse_callback(b) for b in await rig.receiver.wait_for("ratiba", 4)]
    assert [c.ok for c in consents] == [True] * 4  # two orders, each callback twice
    assert all(c.run is None for c in consents)

    await rig.control("POST", "/clock/advance", {"days": 70})
    runs = [ratiba.parse_callback(b) for b in rig.receiver.of("ratiba")[4:]]
    good = [r for r in runs if r.ok]
    bad = [r for r in runs if not r.ok]
    assert sorted({r.run for r in good if r.run}) == [1, 2, 3]
    assert len(good) == 6  # three runs, each reported twice
    assert (len(bad), {r.code for r in bad}) == (6, {"1"})
    receipts = {r.transaction_id for r in good}
    confirmed = {orjson.loads(b)["TransID"] for b in rig.receiver.of("confirm")}
    assert receipts == confirmed  # each paid run is a C2B payment; failed runs move no money
