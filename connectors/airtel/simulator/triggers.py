"""Deterministic sandbox outcomes, chosen by the LAST FOUR digits of the 9-digit msisdn. One
table per API: the same digits may mean different things for collections and disbursements.
Where a product code exists, the digits are its last four (``…1007`` -> ``DP00800001007``).

Collections (:data:`COLLECTION_TRIGGERS`), by the paying subscriber. Enquiry shows the first
status until the callback delay has passed, then the second; the callback (after the delay)
carries TS or TF only (doc §6):

| Ends in  | What the simulated customer does      | Enquiry   | Code after      | Callback  |
|----------|---------------------------------------|-----------|-----------------|-----------|
| ``1002`` | enters a wrong PIN                    | TIP -> TF | DP00800001002   | TF        |
| ``1003`` | exceeds the wallet transaction limit  | TIP -> TF | DP00800001003   | TF        |
| ``1004`` | amount below the minimum              | TIP -> TF | DP00800001004   | TF        |
| ``1005`` | does not enter the PIN                | TIP -> TF | DP00800001005   | TF        |
| ``1007`` | has too little money                  | TIP -> TF | DP00800001007   | TF        |
| ``1008`` | is refused                            | TIP -> TF | DP00800001008   | TF        |
| ``1009`` | is refused (do not honour)            | TIP -> TF | DP00800001009   | TF        |
| ``1010`` | is barred / not permitted             | TIP -> TF | DP00800001010   | TF        |
| ``1024`` | never answers: the prompt times out   | TIP -> TF | DP00800001024   | TF        |
| ``1029`` | lets the transaction expire           | TIP -> TE | DP00800001029   | TF        |
| ``1000`` | pays after an ambiguous spell         | TA -> TS  | DP00800001001   | TS        |
| ``0404`` | pays, but Airtel never calls back     | TIP -> TS | DP00800001001   | **never** |
| ``4005`` | (no prompt: unknown subscriber)       | not found | at once: HTTP 400 DP00800001005 |
| other    | pays                                  | TIP -> TS | DP00800001001   | TS        |

``4005`` is the doc §3 error sample ("Msisdn Not Found"). An amount above KES 250,000 (the
per-transaction limit, doc §11) turns a payment into ``DP00800001003``. Example: msisdn
``733121007`` (``254733121007`` on the switch's side) has too little money.

Disbursements (:data:`DISBURSEMENT_TRIGGERS`), by the payee; answered synchronously (doc §8):

| Ends in  | Answer                                | Status | Code          | Enquiry later  |
|----------|---------------------------------------|--------|---------------|----------------|
| ``1003`` | maximum daily limit reached           | TF     | DP00900001003 | TF             |
| ``1004`` | amount out of range                   | TF     | DP00900001004 | TF             |
| ``1005`` | failed                                | TF     | DP00900001005 | TF             |
| ``1007`` | insufficient funds (wallet untouched) | TF     | DP00900001007 | TF             |
| ``1009`` | invalid initiatee                     | TF     | DP00900001009 | TF             |
| ``1010`` | payer not an allowed user             | TF     | DP00900001010 | TF             |
| ``1011`` | not allowed / duplicate details       | TF     | DP00900001011 | TF             |
| ``1012`` | invalid mobile number                 | TF     | DP00900001012 | TF             |
| ``1013`` | refused                               | TF     | DP00900001013 | TF             |
| ``1006`` | in process                            | TIP    | DP00900001006 | TS after delay |
| ``1014`` | timed out inside Airtel               | TA     | DP00900001014 | TS after delay |
| ``1000`` | ambiguous                             | TA     | DP00900001000 | TS after delay |
| other    | paid                                  | TS     | DP00900001001 | TS             |

Rules before any trigger: a ``pin`` not encrypted with the sandbox key and the configured padding
gives ``ROUTER116``, a wrong PIN ``ROUTER115`` (HTTP 400, nothing paid). After the trigger, a paid
payout above KES 250,000 gives ``DP00900001004`` and one larger than the wallet float
``DP00900001007``; a pending one is checked again when it settles. Codes are the doc's (§10); the
message texts are the simulator's own.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_AMOUNT = 250_000  # KES per transaction (doc §11)


@dataclass(frozen=True, slots=True)
class CollectionOutcome:
    status: str  # the final transaction status: TS, TF or TE
    response_code: str  # the final DP008 code
    message: str  # data.transaction.message / callback message when not paid
    sends_callback: bool = True
    pending_status: str = "TIP"  # what an enquiry shows before the customer acts

    @property
    def paid(self) -> bool:
        return self.status == "TS"

    @property
    def callback_status(self) -> str:
        """The callback carries TS or TF only (doc §6)."""
        return "TS" if self.paid else "TF"


@dataclass(frozen=True, slots=True)
class SyncRefusal:
    http_status: int
    response_code: str
    message: str


def _failed(code: str, message: str, status: str = "TF") -> CollectionOutcome:
    return CollectionOutcome(status, "DP0080000" + code, message)


PAID = CollectionOutcome("TS", "DP00800001001", "Your transaction has been successfully processed")
ABOVE_LIMIT = _failed("1003", "Transaction amount exceeds the wallet transaction limit")

COLLECTION_TRIGGERS: dict[str, CollectionOutcome] = {
    "1002": _failed("1002", "Incorrect PIN entered"),
    "1003": ABOVE_LIMIT,
    "1004": _failed("1004", "Invalid amount: below the minimum"),
    "1005": _failed("1005", "The subscriber did not enter the PIN"),
    "1007": _failed("1007", "Insufficient balance in the subscriber's wallet"),
    "1008": _failed("1008", "Transaction refused"),
    "1009": _failed("1009", "Do not honour"),
    "1010": _failed("1010", "Transaction not permitted to the payee"),
    "1024": _failed("1024", "Transaction timed out: the subscriber did not respond"),
    "1029": _failed("1029", "Transaction expired", status="TE"),
    "1000": CollectionOutcome("TS", PAID.response_code, PAID.message, pending_status="TA"),
    "0404": CollectionOutcome("TS", PAID.response_code, PAID.message, sends_callback=False),
}

COLLECTION_REFUSALS: dict[str, SyncRefusal] = {
    "4005": SyncRefusal(400, "DP00800001005", "Msisdn Not Found"),  # the doc §3 error sample
}


def collection_refusal(msisdn: str) -> SyncRefusal | None:
    return COLLECTION_REFUSALS.get(msisdn[-4:])


def collection_outcome(msisdn: str, amount: int) -> CollectionOutcome:
    """What the simulated subscriber behind ``msisdn`` does with a prompt for ``amount``."""
    chosen = COLLECTION_TRIGGERS.get(msisdn[-4:], PAID)
    if chosen.paid and amount > MAX_AMOUNT:
        return ABOVE_LIMIT
    return chosen


# --- Disbursements (doc §8) --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DisbursementOutcome:
    status: str  # in the synchronous answer: TS, TF, TIP or TA
    response_code: str
    message: str

    @property
    def paid(self) -> bool:
        return self.status == "TS"

    @property
    def pending(self) -> bool:
        return self.status in ("TIP", "TA")


def _payout(code: str, message: str, status: str = "TF") -> DisbursementOutcome:
    return DisbursementOutcome(status, "DP0090000" + code, message)


PAID_OUT = _payout("1001", "Transaction successful", status="TS")
OUT_OF_RANGE = _payout("1004", "Amount out of range")
NO_FLOAT = _payout("1007", "Insufficient funds in the disbursement wallet")

DISBURSEMENT_TRIGGERS: dict[str, DisbursementOutcome] = {
    "1003": _payout("1003", "Maximum daily limit reached"),
    "1004": OUT_OF_RANGE,
    "1005": _payout("1005", "Transaction failed"),
    "1007": NO_FLOAT,
    "1009": _payout("1009", "Invalid initiatee"),
    "1010": _payout("1010", "Payer is not an allowed user"),
    "1011": _payout("1011", "Transaction not allowed"),
    "1012": _payout("1012", "Invalid mobile number"),
    "1013": _payout("1013", "Transaction refused"),
    "1006": _payout("1006", "Transaction in process", status="TIP"),
    "1014": _payout("1014", "Transaction timed out", status="TA"),
    "1000": _payout("1000", "Transaction ambiguous", status="TA"),
}


def disbursement_outcome(msisdn: str, amount: int, float_cents: int) -> DisbursementOutcome:
    """What Airtel answers to a payout of ``amount`` (KES) to ``msisdn`` from ``float_cents``."""
    chosen = DISBURSEMENT_TRIGGERS.get(msisdn[-4:], PAID_OUT)
    if chosen.status == "TF":
        return chosen
    return settle_disbursement(amount, float_cents) if chosen.paid else chosen


def settle_disbursement(amount: int, float_cents: int) -> DisbursementOutcome:
    """The amount rules, applied when a payout is paid (at once, or when a pending one settles)."""
    if amount > MAX_AMOUNT:
        return OUT_OF_RANGE
    if amount * 100 > float_cents:
        return NO_FLOAT
    return PAID_OUT
