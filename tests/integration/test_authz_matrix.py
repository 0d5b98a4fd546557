"""The authorisation matrix (OWASP API1 and API5), generated from the one route table:

- every non-public route of the app, asked by a person in every role: the permission check
  refuses exactly the routes the role lacks (403), and lets the others through to their handler;
- every route that names an object, asked by another merchant about the first merchant's
  objects: 404, never the object (and nothing changes).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import aiohttp
import pytest

from app.stack import Stack
from switch.roles import PUBLIC, ROLES, ROUTES, SESSION

from .helpers import Api, unique_phone
from .test_permissions import staff  # noqa: F401 - the module-scoped fixture
from .test_users import Person

pytestmark = pytest.mark.integration

DUMMY = {
    "payment_id": "pay_s0_01M8FAB1BAFSNTMGPC5G8EQJ3J",
    "transfer_id": "trf_s0_01M8FAB1BAFSNTMGPC5G8EQJ3J",
    "batch_id": "bat_01M8FAB1BAFSNTMGPC5G8EQJ3J",
    "client_id": "cli_01M8FAB1BAFSNTMGPC5G8EQJ3J",
    "merchant_id": "mch_01M8FAB1BAFSNTMGPC5G8EQJ3J",
}
STREAMS = ("/events",)  # server-sent event streams stay open: not probed here


def _path(route: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: DUMMY.get(m.group(1), "x_nothing"), route)


def _probes() -> list[tuple[str, str, str]]:
    return [
        (method, route, permission)
        for (method, route), permission in sorted(ROUTES.items())
        if permission not in (PUBLIC, SESSION)
        and not route.endswith(STREAMS)
        and not route.startswith("/callbacks/")
    ]


@pytest.mark.parametrize("role", list(ROLES))
async def test_every_route_for_every_role(staff: dict[str, Person], role: str) -> None:  # noqa: F811
    person = staff[role]
    granted = ROLES[role]
    wrong: list[str] = []
    for method, route, permission in _probes():
        # No Idempotency-Key and an empty body: a request let through is refused by its handler
        # before anything moves.
        status, body, _ = await person.call(method, _path(route), {} if method != "GET" else None)
        refused_by_permission = status == 403 and (body or {}).get("error", {}).get("code") in (
            "forbidden",
            "mfa_required",
        )
        if refused_by_permission == (permission in granted):
            wrong.append(f"{method} {route} needs {permission}: {status} {body}")
        if status >= 500:
            wrong.append(f"{method} {route}: server error {status} {body}")
    assert not wrong, "\n".join(wrong)


async def _post(api: Api, path: str, body: Any, key: bool = True) -> tuple[int, Any]:
    headers = {**api.auth, **({"Idempotency-Key": uuid.uuid4().hex} if key else {})}
    async with api.http.post(f"{api.base}{path}", json=body, headers=headers) as resp:
        return resp.status, await resp.json()


@pytest.fixture
async def intruder(stack: Stack, receiver: Any, http: aiohttp.ClientSession) -> Api:
    from infra.merchants import create_merchant

    assert stack.state is not None
    created = await create_merchant(stack.state.cols, "Intruder Ltd", None)
    api = Api(http, stack.api_url, created, "intruder")
    await api.login()
    return api


async def test_another_merchants_objects_are_not_found(merchant: Api, intruder: Api) -> None:
    paid = await merchant.pay(unique_phone(), amount="900")
    await merchant.wait_for(paid["id"])
    status, payout = await merchant.payout(unique_phone(), amount="100")
    assert status == 202, payout
    status, transfer = await _post(
        merchant,
        "/v1/transfers",
        {
            "amount": "50", "currency": "KES", "reference": "T1",
            "source": {"type": "mpesa", "phone": unique_phone()},
            "destination": {"type": "airtel", "phone": "0733123456"},
        },
    )  # fmt: skip
    assert status == 202, transfer
    status, batch = await _post(
        merchant,
        "/v1/payouts/batches",
        {"items": [{"item_id": "a", "method": "mpesa_b2c", "amount": "10", "currency": "KES",
                    "phone": unique_phone(), "reference": "B"}]},
    )  # fmt: skip
    assert status == 202, batch

    reads = [
        f"/v1/payments/{paid['id']}",
        f"/v1/payouts/{payout['id']}",
        f"/v1/reversals/{paid['id']}",
        f"/v1/transfers/{transfer['id']}",
        f"/v1/payouts/batches/{batch['id']}",
        f"/v1/payouts/batches/{batch['id']}/results.csv",
        f"/v1/payments/{paid['id']}/events",
    ]
    for path in reads:
        async with intruder.http.get(f"{intruder.base}{path}", headers=intruder.auth) as resp:
            assert resp.status == 404, (path, resp.status, await resp.text())
    writes = [
        (f"/v1/payments/{paid['id']}/reversal", {"reason": "mine now"}),
        (f"/v1/reviews/{payout['id']}/approve", {}),
        (f"/v1/reviews/{payout['id']}/reject", {"reason": "no"}),
    ]
    for path, body in writes:
        status, answer = await _post(intruder, path, body)
        assert status in (403, 404), (path, status, answer)
    # Nothing changed for the owner.
    status, again = await merchant.get(paid["id"])
    assert status == 200 and again["status"] == "succeeded"
    async with merchant.http.get(
        f"{merchant.base}/v1/payments", params={"phone": unique_phone()}, headers=merchant.auth
    ) as resp:
        assert resp.status == 200
    async with intruder.http.get(f"{intruder.base}/v1/balance", headers=intruder.auth) as resp:
        assert (await resp.json())["available"] == "0"
