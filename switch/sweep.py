"""What to do about a payment still in flight (pure), decided by the shard's sweeper.

- A collection with a CheckoutRequestID is asked about by STK query once it is older than
  ``stk_query_after`` (no more often than every ``gap`` seconds); one without (its answer was lost)
  expires after ``stk_expire_after``, as does one the query keeps calling pending.
- A payout waiting for its result is asked about by Transaction Status; it never expires. So is
  a C2B confirmation until M-Pesa's record settles it (nobody is credited before).
- A reversal waiting for its result is sent again (M-Pesa refuses a second reversal of a receipt).
- Airtel, PesaLink and SACCO payments are checked by a synchronous enquiry (``check``); a
  collection still unanswered after ``stk_expire_after`` expires, a payout never does.
- A payment held for review was never sent: it is left alone, however old.
"""

from __future__ import annotations

from enum import Enum

from switch.payments import Payment
from switch.rails import RAILS
from switch.states import State


class Action(Enum):
    QUERY = "query"  # STK query
    ASK_STATUS = "ask_status"  # Transaction Status
    RESEND = "resend"  # provider-idempotent resend (reversals)
    CHECK = "check"  # a synchronous enquiry by our id
    EXPIRE = "expire"


def sweep_action(
    p: Payment,
    age: float,
    since_asked: float,
    *,
    query_after: float,
    expire_after: float,
    gap: float,
) -> Action | None:
    if p.state == State.HELD:
        return None  # never sent, waiting for reviewers: nothing to ask, nothing to expire
    waiting = p.state in (State.UNKNOWN, State.AWAITING_RESULT)
    due = age >= query_after and since_asked >= gap
    rail = RAILS[p.method]
    if rail.recovery == "check":
        # The shard expires a collection the enquiry still cannot settle after expire_after.
        pending = waiting or p.state == State.AWAITING_CUSTOMER
        return Action.CHECK if pending and due else None
    if p.method == "mpesa_reversal":
        return Action.RESEND if waiting and due else None
    if rail.recovery == "transaction_status":  # payouts, and C2B receipts being verified
        return Action.ASK_STATUS if waiting and due else None
    if p.provider.checkout_request_id and age >= query_after:
        return Action.QUERY if since_asked >= gap else None
    if age >= expire_after:
        return Action.EXPIRE
    return None
