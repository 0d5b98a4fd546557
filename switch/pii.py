"""Personal data at rest: the fields of a payment document that name a person are sealed with the
merchant's data key (AES-GCM, switch/security/crypto.py) before MongoDB sees them, and opened
when a document is read back. Each ciphertext is bound to its payment id (the AAD), so a sealed
phone copied into another payment does not open.

Sealed: the phone, a bank account number and holder name, a SACCO member number (the
destination's, and the member a C2B payment was posted for in ``metadata.member``), the parties of
a transfer leg (``transfer.source`` and ``transfer.destination``), a C2B payer's number and
names (``metadata.payer``), the recipient's name the
provider returns and M-Pesa's CheckoutRequestID (Daraja builds it from the customer's number), in
``provider`` and in the history entries that recorded them. A keyed blind index of the phone
(``phone_bidx``) allows look-ups by phone without decrypting anything.

Copies kept elsewhere are sealed too. A payout batch item's request (its phone, bank account or
member number, in the batch's chunk documents, actors/batches.py) is sealed with the merchant's
key bound to the item's Idempotency-Key (``batch:<batch id>:<item id>``): the item exists before
its payment does. Its recipient's name is the payment's own ciphertext, copied (bound to the
payment id). A C2B confirmation that matches no merchant (``c2b_unmatched``) has the payer's
names and Daraja's masked or hashed number sealed with a switch-owned key (owner
:data:`UNMATCHED`, key ``m__unmatched``), bound to the M-Pesa receipt.

Keys: one data key per merchant (``m_<merchant id>``), wrapped by the master key, loaded once per
process and kept in memory, so sealing costs no database read on the hot path. Erasure of one
person (actors/shard ``erase``, :func:`erased_fields`) overwrites that person's sealed fields,
in the copies kept by batch items first; destroying a merchant's key erases every customer of
that merchant at once, backups included (crypto-shredding). Erasure by
phone cannot reach an unmatched C2B confirmation: Daraja never sends the payer's number in clear
(masked or hashed), so no blind index of it can be kept; such a record is found by its receipt
and erased by hand when the payment is allocated or refunded.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from switch.payments import ERASED
from switch.security.crypto import (
    DataKey,
    KeyRing,
    blind_index,
    decrypt_field,
    encrypt_field,
    is_token,
    parse_token,
)

Doc = dict[str, Any]
Paths = Callable[[Doc], Iterator[tuple[dict[str, Any], str]]]
KEY_TTL = 300.0  # seconds a merchant's newest key is trusted before asking the store again


def merchant_key_id(merchant_id: str) -> str:
    return f"m_{merchant_id}"[:64]


_PARTY = ("phone", "account_number", "account_name", "member_number")  # who pays or is paid
_REFS = ("receiver_name", "checkout_request_id")  # provider refs that name or number a person


def _keys(container: Any, keys: tuple[str, ...]) -> Iterator[tuple[dict[str, Any], str]]:
    if isinstance(container, dict):
        for key in keys:
            if key in container:
                yield container, key


def _paths(doc: Doc) -> Iterator[tuple[dict[str, Any], str]]:
    """Every (container, key) of a payment document (or a partial update) holding personal
    data."""
    yield from _keys(doc, ("phone",))
    yield from _keys(doc.get("destination"), _PARTY)
    metadata = doc.get("metadata")
    if isinstance(metadata, dict):
        yield from _keys(metadata.get("member"), ("member_number", "name"))
        yield from _keys(
            metadata.get("payer"), ("msisdn", "first_name", "middle_name", "last_name")
        )
    transfer = doc.get("transfer")
    if isinstance(transfer, dict):
        for party in ("source", "destination"):  # accounts as switch/transfers.py keeps them
            yield from _keys(transfer.get(party), _PARTY)
    yield from _keys(doc.get("provider"), _REFS)
    for entry in doc.get("history") or ():
        yield from _keys((entry.get("detail") or {}).get("provider"), _REFS)


# The owner of the key that seals C2B confirmations belonging to no merchant yet. Merchant ids
# are ``mch_...``, so its key id (``m__unmatched``) is no merchant's.
UNMATCHED = "_unmatched"
_PAYER_NAMES = ("msisdn", "first_name", "middle_name", "last_name")


def unmatched_paths(doc: Doc) -> Iterator[tuple[dict[str, Any], str]]:
    """The personal fields of a ``c2b_unmatched`` document: the payer, as Daraja named them.
    The account reference the customer typed (``bill_ref``) stays clear: it is what allocating
    the payment by hand searches for."""
    yield from _keys(doc.get("payment"), _PAYER_NAMES)


def erase_paths(doc: Doc, paths: Paths = _paths) -> Doc:
    """``doc`` with every personal field holding a value replaced by ``[erased]`` (in place)."""
    for container, key in paths(doc):
        if container[key]:
            container[key] = ERASED
    return doc


class Sealer:
    """Seals and opens payment documents with keys already in memory (``ready`` first)."""

    def __init__(
        self, ring: KeyRing, index_key: bytes, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ring = ring
        self.index_key = index_key
        self.clock = clock
        self.newest: dict[str, tuple[float, DataKey]] = {}
        self.versions: dict[tuple[str, int], DataKey] = {}

    def bidx(self, phone: str) -> str:
        return blind_index(phone, self.index_key)

    async def ready(self, merchant_id: str) -> None:
        """Make sure this merchant's newest key is in memory (a dict look-up when it is)."""
        key_id = merchant_key_id(merchant_id)
        held = self.newest.get(key_id)
        if held is not None and self.clock() - held[0] < KEY_TTL:
            return
        dek = await self.ring.create(key_id)
        self.newest[key_id] = (self.clock(), dek)
        self.versions[(dek.key_id, dek.version)] = dek

    async def ready_for(self, doc: Doc, paths: Paths = _paths) -> None:
        """Load every key version the sealed fields of ``doc`` were written with."""
        for container, key in paths(doc):
            value = container[key]
            if is_token(value):
                ref = parse_token(value)
                if (ref.key_id, ref.version) not in self.versions:
                    dek = await self.ring.get(ref.key_id, ref.version)
                    self.versions[(dek.key_id, dek.version)] = dek

    def seal(self, doc: Doc, payment_id: str, merchant_id: str, paths: Paths = _paths) -> Doc:
        """``doc`` with its personal fields sealed (in place; returned for chaining), bound to
        ``payment_id`` (or, for another kind of document, to the id ``paths`` go with)."""
        dek = self._sealing_key(merchant_key_id(merchant_id))
        aad = payment_id.encode()
        for container, key in paths(doc):
            value = container[key]
            if isinstance(value, str) and value and value != ERASED and not is_token(value):
                container[key] = encrypt_field(value, dek, aad)
        return doc

    def _sealing_key(self, key_id: str) -> DataKey:
        held = self.newest.get(key_id)
        if held is not None:
            return held[1]
        # Not made ready (a path that forgot to): any version of the merchant's key in memory
        # still seals correctly; none at all is a bug that must not write personal data clear.
        loaded = [dek for (kid, _), dek in self.versions.items() if kid == key_id]
        if not loaded:
            raise RuntimeError(f"no data key of {key_id} in memory: call ready() first")
        return max(loaded, key=lambda dek: dek.version)

    async def reveal(self, value: str | None, payment_id: str) -> str | None:
        """One field sealed with payment ``payment_id`` (a copy kept elsewhere, e.g. a batch
        item's recipient name), opened; anything not sealed comes back as it is."""
        if not isinstance(value, str) or not is_token(value):
            return value
        ref = parse_token(value)
        if (ref.key_id, ref.version) not in self.versions:
            dek = await self.ring.get(ref.key_id, ref.version)
            self.versions[(dek.key_id, dek.version)] = dek
        return decrypt_field(value, self.versions[(ref.key_id, ref.version)], payment_id.encode())

    def open(self, doc: Doc, bound_to: str | None = None, paths: Paths = _paths) -> Doc:
        """``doc`` with its sealed fields opened (in place). Keys must be ready (ready_for).
        They were bound to ``bound_to``, by default the document's ``_id``."""
        aad = str(doc["_id"] if bound_to is None else bound_to).encode()
        for container, key in paths(doc):
            value = container[key]
            if is_token(value):
                ref = parse_token(value)
                container[key] = decrypt_field(value, self.versions[(ref.key_id, ref.version)], aad)
        return doc


def account_of(doc: Doc) -> str | None:
    """The bank account or SACCO member number a payment goes to or comes from, if any."""
    destination = doc.get("destination")
    if isinstance(destination, dict):
        for key in ("account_number", "member_number"):
            value = destination.get(key)
            if isinstance(value, str) and value and value != ERASED and not is_token(value):
                return value
    return None


def account_bidx(sealer: Sealer, account: str) -> str:
    """The blind index of an account number, keyed apart from phones' (``acct:``), so the
    same digits as a phone and as an account never match each other."""
    return sealer.bidx("acct:" + account)


def with_index(doc: Doc, sealer: Sealer) -> Doc:
    """Add the blind indexes of the phone and of the account to a new payment document (before
    sealing): look-ups by phone (support desk, erasure) and searches by account
    (``GET /v1/payouts?account=``) without decrypting anything."""
    phone = doc.get("phone")
    if isinstance(phone, str) and phone:
        doc["phone_bidx"] = sealer.bidx(phone)
    account = account_of(doc)
    if account is not None:
        doc["account_bidx"] = account_bidx(sealer, account)
    return doc


def erased_fields(doc: Doc, bidx: str) -> Doc:
    """The ``$set`` that erases a person from a stored payment: every sealed field becomes
    ``[erased]`` (names, member numbers, transfer parties and CheckoutRequestIDs in the provider
    refs and history included) and the blind index no longer matches the phone; amounts, dates,
    statuses and receipts stay."""
    erase_paths(doc)
    fields: Doc = {"phone_bidx": f"erased:{bidx[:16]}"}
    if "account_bidx" in doc:
        fields["account_bidx"] = f"erased:{bidx[:16]}"
    for top in ("phone", "destination", "metadata", "transfer", "provider", "history"):
        if top in doc:
            fields[top] = doc[top]
    return fields
