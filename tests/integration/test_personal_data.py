"""Personal data at rest: phones, account numbers and names are sealed in MongoDB (unreadable in
the raw documents), opened for the API, and findable only through the keyed blind index."""

from __future__ import annotations

import asyncio
import uuid

import aiohttp
import pytest

from app.stack import Stack

from .helpers import Api, for_up_to, stk_body, unique_phone
from .test_users import owner_with_totp

pytestmark = pytest.mark.integration


async def test_a_raw_payment_document_shows_no_personal_data(merchant: Api, stack: Stack) -> None:
    assert stack.state is not None
    phone = unique_phone()
    paid = await merchant.pay(phone, amount="900")
    assert (await merchant.wait_for(paid["id"]))["status"] == "succeeded"
    account = f"{uuid.uuid4().int % 10**10:010d}"[:-4] + "7123"
    body = {
        "method": "bank_transfer",
        "amount": "300",
        "currency": "KES",
        "reference": "PII1",
        "bank": {"bank_code": "68", "account_number": account},
    }
    headers = {**merchant.auth, "Idempotency-Key": uuid.uuid4().hex}
    async with merchant.http.post(f"{merchant.base}/v1/payouts", json=body, headers=headers) as r:
        created = await r.json()
        assert r.status == 202, created
    done = await merchant.for_payouts().wait_for(created["id"])
    assert done["status"] == "succeeded", done["failure"]
    holder = done["recipient_name"]
    assert holder

    cols = stack.state.cols
    raw_collection = await cols.payments.find_one({"_id": paid["id"]})
    raw_payout = await cols.payments.find_one({"_id": created["id"]})
    assert raw_collection is not None and raw_payout is not None
    national = "254" + phone[1:]
    for raw in (raw_collection, raw_payout):
        text = str(raw)
        assert national not in text
        assert account not in text
        assert holder not in text
    assert raw_collection["phone"].startswith("enc1.")
    assert raw_collection["phone_bidx"]
    assert raw_payout["destination"]["account_number"].startswith("enc1.")
    assert raw_payout["provider"]["receiver_name"].startswith("enc1.")
    # The API still shows what the merchant may see (masked), decrypted from the store.
    assert done["destination"]["account_number"].endswith("7123")
    status, again = await merchant.get(paid["id"])
    assert status == 200 and again["phone"].endswith(phone[-2:])
    # The data keys are wrapped: the key collection holds no usable key material in clear.
    key_doc = await cols.keys.find_one({})
    assert key_doc is not None
    assert "wrapped" in str(key_doc) or "versions" in key_doc


async def test_a_sealed_field_does_not_open_in_another_payment(stack: Stack, merchant: Api) -> None:
    """Each ciphertext is bound to its payment id: copying it elsewhere does not decrypt."""
    from switch.security.crypto import DecryptError, decrypt_field, parse_token

    assert stack.state is not None
    paid = await merchant.pay(unique_phone(), amount="50")
    await merchant.wait_for(paid["id"])
    raw = await stack.state.cols.payments.find_one({"_id": paid["id"]})
    assert raw is not None
    token = raw["phone"]
    ref = parse_token(token)
    from infra.keystore import sealer_for

    settings = stack.settings
    sealer = sealer_for(
        stack.state.cols.keys,
        settings.master_keys,
        settings.master_key_id or "db",
        stack.state.secret_key,
    )
    dek = await sealer.ring.get(ref.key_id, ref.version)
    assert decrypt_field(token, dek, paid["id"].encode()).startswith("2547")
    with pytest.raises(DecryptError):
        decrypt_field(token, dek, b"pay_s0_SOMEONEELSE")


async def test_look_up_by_phone_and_erase_a_customer(merchant: Api, stack: Stack) -> None:
    assert stack.state is not None
    phone = unique_phone()
    first = await merchant.pay(phone, amount="120")
    second = await merchant.pay(phone, amount="130")
    other = await merchant.pay(unique_phone(), amount="140")
    for p in (first, second, other):
        await merchant.wait_for(p["id"])
    async with merchant.http.get(
        f"{merchant.base}/v1/payments", params={"phone": phone}, headers=merchant.auth
    ) as r:
        listed = await r.json()
        assert r.status == 200, listed
    assert {p["id"] for p in listed["data"]} == {first["id"], second["id"]}
    # Erasure needs a person with privacy:manage and two-factor sign-in; a client token is
    # refused.
    async with merchant.http.post(
        f"{merchant.base}/v1/privacy/erasures", json={"phone": phone}, headers=merchant.auth
    ) as r:
        assert r.status == 403
    # The shard does the work; call it as the route does (the route's permission is tested
    # in the roles matrix).
    shard = stack.state.router.of_merchant(merchant.merchant.merchant_id)
    reply = await shard.erase(merchant.merchant.merchant_id, "254" + phone[1:])
    assert reply.status == 200 and reply.body["erased"] == 2
    raw = await stack.state.cols.payments.find_one({"_id": first["id"]})
    assert raw is not None and raw["phone"] == "[erased]"
    status, shown = await merchant.get(first["id"])
    assert status == 200
    assert shown["phone"] == "[erased]"
    assert shown["amount"] == "120" and shown["status"] == "succeeded"  # the record stays
    async with merchant.http.get(
        f"{merchant.base}/v1/payments", params={"phone": phone}, headers=merchant.auth
    ) as r:
        assert (await r.json())["data"] == []


async def test_erasure_through_the_api_covers_the_checkout_id_and_is_audited(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    """Issue 10, finding 7: Daraja's CheckoutRequestID ends with the customer's number. It is
    sealed at rest, shown masked, erased with the person, and every erasure is audited."""
    assert stack.state is not None
    cols = stack.state.cols
    owner = await owner_with_totp(http, stack.api_url)  # privacy:manage, signed in with TOTP
    phone = unique_phone()
    national = phone[1:]  # the 9 digits Daraja puts in the CheckoutRequestID
    status, created, _ = await owner.call(
        "POST", "/v1/payments", stk_body(phone, amount="75"), {"Idempotency-Key": uuid.uuid4().hex}
    )
    assert status == 202, created
    for _ in for_up_to():
        status, shown, _ = await owner.call("GET", f"/v1/payments/{created['id']}")
        if shown["status"] == "succeeded":
            break
        await asyncio.sleep(0.2)
    assert shown["status"] == "succeeded", shown
    checkout = shown["provider"]["checkout_request_id"]
    assert (
        checkout.startswith("ws_CO_") and national not in checkout and national[:6] not in checkout
    )
    raw = await cols.payments.find_one({"_id": created["id"]})
    assert raw is not None
    assert raw["provider"]["checkout_request_id"].startswith("enc1.")
    assert national not in str(raw)

    status, answer, _ = await owner.call("POST", "/v1/privacy/erasures", {"phone": phone})
    assert status == 200, answer
    assert answer["erased"] == 1
    raw = await cols.payments.find_one({"_id": created["id"]})
    assert raw is not None
    assert raw["provider"]["checkout_request_id"] == "[erased]"
    assert "enc1." not in str(raw)  # nothing sealed is left to open: the person is gone
    assert raw["amount_minor"] == 7500 and raw["status"] == "succeeded"
    status, shown, _ = await owner.call("GET", f"/v1/payments/{created['id']}")
    assert shown["provider"]["checkout_request_id"] == "[erased]"
    [record] = [
        r
        async for r in cols.audit.find(
            {"action": "privacy.erasure", "target": f"merchant:{owner.merchant_id}"}
        )
    ]
    assert record["actor"].startswith("user:")
    assert record["after"]["erased"] == 1
    assert record["after"]["phone"].endswith(phone[-2:])
    assert national not in str(record)  # the audit names the request, not the number


async def test_a_batch_items_request_is_sealed_and_erased_with_its_payment(
    merchant: Api, stack: Stack
) -> None:
    """Issue 10, finding 7: a payout batch keeps each item's request in its chunk documents.
    Phones are sealed there; erasing a person overwrites their item too; the merchant's pages
    and results file show the names of the others and ``[erased]`` for that person."""
    from .test_batches import _completed, _fund, _get, _item, _post, _results

    assert stack.state is not None
    await _fund(merchant, 200)
    phones = [unique_phone() for _ in range(3)]
    items = [_item(f"pii-{n}", phone=phone) for n, phone in enumerate(phones)]
    status, created, _ = await _post(merchant, {"items": items}, uuid.uuid4().hex)
    assert status == 202, created
    batch_id = created["id"]
    body = await _completed(merchant, batch_id)
    assert body["counts"]["succeeded"] == 3, body["counts"]
    names = [i["recipient_name"] for i in body["items"]]
    assert all(names) and not any(n.startswith("enc1.") for n in names)

    cols = stack.state.cols
    chunks = [d async for d in cols.batches.find({"batch_id": batch_id})]
    raw = {r["item_id"]: r for d in chunks for r in d["items"]}
    text = str(chunks)
    assert not any("254" + p[1:] in text or p in text for p in phones)
    assert all(r["command"]["phone"].startswith("enc1.") for r in raw.values())
    assert all(r["recipient_name"].startswith("enc1.") for r in raw.values())

    shard = stack.state.router.of_merchant(merchant.merchant.merchant_id)
    reply = await shard.erase(merchant.merchant.merchant_id, "254" + phones[1][1:])
    assert reply.status == 200, reply.body
    assert (reply.body["erased"], reply.body["batch_items"]) == (1, 1)
    chunks = [d async for d in cols.batches.find({"batch_id": batch_id})]
    raw = {r["item_id"]: r for d in chunks for r in d["items"]}
    assert raw["pii-1"]["command"]["phone"] == "[erased]" == raw["pii-1"]["recipient_name"]
    assert raw["pii-1"]["status"] == "succeeded" and raw["pii-1"]["amount_minor"] == 1000
    assert raw["pii-0"]["command"]["phone"].startswith("enc1.")

    status, page = await _get(merchant, batch_id, limit=10)
    assert status == 200
    assert [i["recipient_name"] for i in page["items"]] == [names[0], "[erased]", names[2]]
    _, rows = await _results(merchant, batch_id)
    assert [r["recipient_name"] for r in rows] == [names[0], "[erased]", names[2]]


async def test_an_unmatched_c2b_confirmation_keeps_its_payer_sealed(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    """Issue 10, finding 7: a confirmation no merchant claims is kept for allocation with the
    payer's names and Daraja's masked number sealed (a switch-owned key, bound to the
    receipt)."""
    import orjson

    from api.c2b import url_token
    from infra.keystore import sealer_for
    from switch.pii import UNMATCHED, unmatched_paths

    from .test_c2b import _confirmation, _shortcode

    assert stack.state is not None
    shortcode = _shortcode()
    trans_id = f"UP{uuid.uuid4().hex[:8].upper()}"
    body = {
        **_confirmation(shortcode, trans_id, "75.00", "NOBODY-1"),
        "FirstName": "ACHIENG",
        "MiddleName": "WAMBUI",
        "LastName": "OTIENO",
    }
    token = url_token(stack.state.secret_key, shortcode)
    url = f"{stack.api_url}/callbacks/c2b/confirmation/{shortcode}/{token}"
    async with http.post(url, data=orjson.dumps(body)) as resp:
        assert resp.status == 200
    kept = await stack.state.cols.c2b_unmatched.find_one({"_id": trans_id})
    assert kept is not None
    text = str(kept)
    assert not any(v in text for v in ("ACHIENG", "WAMBUI", "OTIENO", "2547 ***** 678"))
    assert kept["payment"]["first_name"].startswith(f"enc1.m_{UNMATCHED}.")
    assert kept["payment"]["amount_cents"] == 7500 and kept["payment"]["bill_ref"] == "NOBODY-1"
    settings = stack.settings
    sealer = sealer_for(
        stack.state.cols.keys,
        settings.master_keys,
        settings.master_key_id or "db",
        stack.state.secret_key,
    )
    await sealer.ready_for(kept, paths=unmatched_paths)
    payer = sealer.open(kept, paths=unmatched_paths)["payment"]
    assert (payer["first_name"], payer["last_name"], payer["msisdn"]) == (
        "ACHIENG",
        "OTIENO",
        "2547 ***** 678",
    )
