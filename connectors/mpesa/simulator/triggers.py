"""Deterministic sandbox outcomes, chosen by the LAST FOUR digits of a phone. One table per API:
the same digits may mean different things for STK Push and for B2C.

STK Push (:data:`TRIGGERS`), by the paying phone:

| Phone ends in | What the simulated customer does          | ResultCode | Callback?             |
|---------------|-------------------------------------------|------------|-----------------------|
| ``1032``      | cancels the prompt                        | 1032       | yes, after the delay  |
| ``0001``      | has too little money (insufficient funds) | 1          | yes, after the delay  |
| ``1037``      | cannot be reached / never answers         | 1037       | yes, after the delay  |
| ``2001``      | enters a wrong PIN                        | 2001       | yes, after the delay  |
| ``0404``      | pays, but Safaricom never calls back      | 0          | **never**: use query  |
| anything else | pays                                      | 0          | yes, after the delay  |

One rule by amount overrides a success: an amount above KES 250,000 (the per-transaction maximum,
doc §13) is declined with ResultCode 3. Example phones: ``254708371032``, ``254708370001``.

The STK push query (``/mpesa/stkpushquery/v1/query``) answers "The transaction is being processed"
until the callback delay has elapsed, then the same ResultCode as the callback (as a string).

B2C (:data:`B2C_TRIGGERS`), by the recipient phone (``PartyB``); every code doc §8 lists:

| Phone ends in | Result                                                        | ResultCode   |
|---------------|---------------------------------------------------------------|--------------|
| ``0001``      | insufficient balance in the utility account (float untouched) | 1            |
| ``0002``      | below the minimum                                             | 2            |
| ``0003``      | above the maximum                                             | 3            |
| ``0004``      | would exceed the customer's daily limit                       | 4            |
| ``0008``      | would exceed the customer's maximum balance                   | 8            |
| ``0011``      | debit party in an invalid state                               | 11           |
| ``0021``      | initiator not allowed (missing role)                          | 21           |
| ``2001``      | initiator information invalid                                 | 2001         |
| ``2006``      | account status does not allow the transaction                 | 2006         |
| ``2028``      | not permitted by product assignment                           | 2028         |
| ``2040``      | recipient is not a registered customer                        | 2040         |
| ``8006``      | security credential locked                                    | 8006         |
| ``9003``      | the phone does not exist ("operator does not exist")          | SFC_IC0003   |
| ``0404``      | paid, but the Result is never sent: use Transaction Status    | 0            |
| ``0408``      | times out in M-Pesa's queue: QueueTimeOutURL, nothing paid    | (see below)  |
| anything else | paid                                                          | 0            |

Rules that override a payment (in this order): a wrong SecurityCredential or InitiatorName gives
2001 and a PartyA other than the B2C shortcode gives 21 (before any trigger); an amount below
KES 10 gives 2 and above KES 250,000 gives 3; a payout larger than the simulated float gives 1.
Only the wording of 0 and 2001 comes from the doc; the other ResultDesc texts are the simulator's.
Recipients' registered names (``ReceiverPartyPublicName``) come from :func:`registered_name`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

MAX_AMOUNT = 250_000  # KES per transaction (doc §13)
B2C_MIN_AMOUNT = 10  # KES (doc §8)


@dataclass(frozen=True, slots=True)
class Outcome:
    result_code: int  # a JSON number in callbacks, a string in query answers (doc §4, §5)
    result_desc: str  # the ResultDesc texts from the doc's STK ResultCodes table
    sends_callback: bool = True

    @property
    def paid(self) -> bool:
        return self.result_code == 0


PAID = Outcome(0, "The service request is processed successfully.")
CANCELLED = Outcome(1032, "Request cancelled by user")  # as in the failure callback sample
INSUFFICIENT_FUNDS = Outcome(1, "The balance is insufficient for the transaction.")
UNREACHABLE = Outcome(1037, "DS timeout user cannot be reached.")
WRONG_PIN = Outcome(2001, "The initiator information is invalid.")
PAID_NO_CALLBACK = Outcome(0, PAID.result_desc, sends_callback=False)
ABOVE_MAXIMUM = Outcome(
    3, "Declined due to limit rule: greater than the maximum transaction amount."
)

TRIGGERS: dict[str, Outcome] = {
    "1032": CANCELLED,
    "0001": INSUFFICIENT_FUNDS,
    "1037": UNREACHABLE,
    "2001": WRONG_PIN,
    "0404": PAID_NO_CALLBACK,
}


def outcome_for(phone: str, amount: int = 1) -> Outcome:
    """What the simulated customer behind ``phone`` does with a prompt for ``amount``."""
    chosen = TRIGGERS.get(phone[-4:], PAID)
    if chosen.paid and amount > MAX_AMOUNT:
        return ABOVE_MAXIMUM
    return chosen


# --- B2C (doc §8) ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class B2cOutcome:
    result_code: int | str  # a JSON number in B2C results, except 'SFC_IC0003' (doc §7)
    result_desc: str
    sends_result: bool = True
    queue_timeout: bool = False  # M-Pesa's queue times out: QueueTimeOutURL, nothing processed

    @property
    def paid(self) -> bool:
        return self.result_code == 0 and not self.queue_timeout


B2C_PAID = B2cOutcome(0, "The service request is processed successfully.")  # doc §8
B2C_INVALID_INITIATOR = B2cOutcome(2001, "The initiator information is invalid.")  # doc §8
B2C_INITIATOR_NOT_ALLOWED = B2cOutcome(21, "The initiator is not allowed to initiate this request.")
B2C_INSUFFICIENT_FLOAT = B2cOutcome(1, "The balance is insufficient for the transaction.")
B2C_BELOW_MINIMUM = B2cOutcome(2, "Declined due to limit rule: less than the minimum amount.")
B2C_ABOVE_MAXIMUM = B2cOutcome(
    3, "Declined due to limit rule: greater than the maximum transaction amount."
)

B2C_TRIGGERS: dict[str, B2cOutcome] = {
    "0001": B2C_INSUFFICIENT_FLOAT,
    "0002": B2C_BELOW_MINIMUM,
    "0003": B2C_ABOVE_MAXIMUM,
    "0004": B2cOutcome(4, "Declined due to limit rule: would exceed daily transfer limit."),
    "0008": B2cOutcome(8, "Declined due to limit rule: would exceed the maximum balance."),
    "0011": B2cOutcome(11, "The DebitParty is in an invalid state."),
    "0021": B2C_INITIATOR_NOT_ALLOWED,
    "2001": B2C_INVALID_INITIATOR,
    "2006": B2cOutcome(2006, "Declined due to account rule: account status does not allow."),
    "2028": B2cOutcome(2028, "The request is not permitted according to product assignment."),
    "2040": B2cOutcome(2040, "Credit Party customer type (Unregistered) is not supported."),
    "8006": B2cOutcome(8006, "The security credential is locked."),
    "9003": B2cOutcome("SFC_IC0003", "The operator does not exist."),
    "0404": B2cOutcome(0, B2C_PAID.result_desc, sends_result=False),
    "0408": B2cOutcome(0, "", queue_timeout=True),
}


def b2c_outcome_for(phone: str, amount: int, float_cents: int) -> B2cOutcome:
    """What M-Pesa does with a payout of ``amount`` to ``phone`` from a float of ``float_cents``."""
    chosen = B2C_TRIGGERS.get(phone[-4:], B2C_PAID)
    if not chosen.paid:
        return chosen
    if amount < B2C_MIN_AMOUNT:
        return B2C_BELOW_MINIMUM
    if amount > MAX_AMOUNT:
        return B2C_ABOVE_MAXIMUM
    if amount * 100 > float_cents:
        return B2C_INSUFFICIENT_FLOAT
    return chosen


# --- Registered customers' names ---------------------------------------------------------------

_FIRST = ("JANE", "JOHN", "MARY", "PETER", "GRACE", "DAVID", "FAITH", "JAMES", "ANN", "JOSEPH")
_MIDDLE = ("WANJIKU", "OTIENO", "NJERI", "KIPROP", "AKINYI", "MUTUA", "CHEPKOECH", "KAMAU")
_LAST = ("DOE", "KARIUKI", "OCHIENG", "MWANGI", "KIBET", "WAFULA", "NJOROGE", "OMONDI")
KNOWN_NAMES = {"254712345678": "JANE WANJIKU DOE"}  # the doc §8 sample recipient


def registered_name(phone: str) -> str:
    """The M-Pesa registered name of ``phone``: stable for a phone, different across phones."""
    if phone in KNOWN_NAMES:
        return KNOWN_NAMES[phone]
    h = hashlib.sha256(phone.encode()).digest()
    return f"{_FIRST[h[0] % len(_FIRST)]} {_MIDDLE[h[1] % len(_MIDDLE)]} {_LAST[h[2] % len(_LAST)]}"
