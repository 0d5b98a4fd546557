"""Deterministic sandbox outcomes, chosen by the LAST FOUR digits of the paying phone.

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
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_AMOUNT = 250_000  # KES per transaction (doc §13)


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
