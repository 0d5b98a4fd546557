"""The simulated Airtel KYC user enquiry (``GET /standard/v1/users/{msisdn}``, doc §9; the shape
of a not-found answer is unverified: see connectors/airtel/kyc.py).

Every subscriber has a registered first and last name: one set by ``PUT /__sim/users/{msisdn}``
(``{"first_name", "last_name"}``), else :func:`registered_name`, stable for a number and different
across numbers. A number ending ``4005`` (the collections' unknown subscriber, triggers.py) is no
Airtel Money customer.
"""

from __future__ import annotations

import hashlib
from typing import Any

from connectors.airtel import kyc
from connectors.airtel.simulator.wire import Refusal, status_block

UNKNOWN = "4005"
_FIRST = ("ACHIENG", "BRIAN", "CAROLINE", "DENNIS", "ESTHER", "FELIX", "GLADYS", "HASSAN")
_LAST = ("ODHIAMBO", "CHERUIYOT", "MWENDE", "BARASA", "NYAMBURA", "KIPCHUMBA", "WAMBUI", "ALI")


def registered_name(msisdn: str) -> tuple[str, str]:
    """(first, last) of a subscriber (the 9-digit msisdn), stable for a number."""
    h = hashlib.sha256(("airtel:" + msisdn[-9:]).encode()).digest()
    return _FIRST[h[0] % len(_FIRST)], _LAST[h[1] % len(_LAST)]


def user(msisdn: str, names: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """The enquiry's answer body; Refusal for an unknown subscriber or a malformed number."""
    if not (msisdn.isdigit() and len(msisdn) == 9):
        raise Refusal(400, "Invalid msisdn", result_code="ESB000001")
    if msisdn.endswith(UNKNOWN):
        raise Refusal(404, "Msisdn Not Found", result_code="ESB000001",
                      response_code="DP02200000000")  # fmt: skip
    first, last = names.get(msisdn) or registered_name(msisdn)
    data = {"first_name": first, "last_name": last, "grade": "SUBS", "is_barred": False,
            "is_pin_set": True, "msisdn": msisdn[:2] + "*****" + msisdn[-2:]}  # fmt: skip
    status = status_block(200, "SUCCESS", success=True, result_code="ESB000010",
                          response_code=kyc.FOUND_CODE)  # fmt: skip
    return {"data": data, "status": status}
