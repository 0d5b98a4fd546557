"""CBK bank codes of PesaLink participants and PesaLink's published limits. Pure.

Sources: "ref §3" is CBK's list of bank codes (as PesaLink participants publish them), "doc §N"
IPSL's PesaLink FAQs (https://ipsl.co.ke/pesalink/pesalink-faqs) and the participant banks' APIs.

A bank code is the CBK-assigned number, written in three ways for the same bank (doc §4):
``"1"``, ``"01"`` and ``"0001"`` are all KCB. :func:`normalise_bank_code` turns any of them into
the 2-digit form this package keys everything by (and sends on the wire, as Jenga does, doc §3.1).
Three-digit and five-digit strings are refused on purpose: a 3-digit code is a *branch* code and
5 digits a bank+branch sort code (ref §3), so accepting them would route money by a branch number.
"""

from __future__ import annotations

import re

# PesaLink participants with their current names (ref §3, "Current name" column). The codes of
# institutions that are not banks (32, 89, 97) come from one aggregator list (unverified, ref §3).
BANKS: dict[str, str] = {
    "01": "KCB Bank Kenya",
    "02": "Standard Chartered Bank Kenya",
    "03": "Absa Bank Kenya",
    "06": "Bank of Baroda",
    "07": "NCBA Bank Kenya",
    "10": "Prime Bank",
    "11": "Co-operative Bank of Kenya",
    "12": "National Bank of Kenya",
    "14": "M-Oriental Bank",
    "16": "Citibank N.A. Kenya",
    "17": "Habib Bank AG Zurich",
    "18": "Middle East Bank",
    "19": "Bank of Africa Kenya",
    "23": "Consolidated Bank of Kenya",
    "25": "Credit Bank",
    "31": "Stanbic Bank Kenya",
    "32": "Unaitas Sacco",
    "35": "African Banking Corporation (ABC Bank)",
    "36": "Choice Microfinance Bank",
    "43": "Ecobank Kenya",
    "48": "Caritas Microfinance Bank",
    "49": "Spire Bank",
    "50": "Paramount Universal Bank",
    "51": "Kingdom Bank",
    "53": "Guaranty Bank",
    "54": "Victoria Commercial Bank",
    "55": "Guardian Bank",
    "57": "I&M Bank",
    "60": "SBM Bank Kenya",
    "61": "Housing Finance Company (HFC)",
    "63": "Diamond Trust Bank (DTB)",
    "65": "CIB Bank Kenya",
    "66": "Sidian Bank",
    "68": "Equity Bank Kenya",
    "70": "Family Bank",
    "72": "Gulf African Bank",
    "74": "Premier Bank",
    "75": "DIB Bank Kenya",
    "76": "UBA Kenya",
    "78": "KWFT Bank",
    "79": "Faulu Microfinance Bank",
    "89": "Stima SACCO",
    "97": "Telkom Kenya",
}

# Codes of the 2017 list that the current PesaLink list lacks (closed, merged, renamed or not a
# participant, ref §3): kept only so a refusal can say why.
NOT_ON_PESALINK: dict[str, str] = {
    "05": "Bank of India",
    "08": "Habib Bank Ltd",
    "09": "Central Bank of Kenya",
    "20": "Dubai Bank of Kenya",
    "26": "Trans-National Bank",
    "30": "Chase Bank (Kenya)",
    "39": "Imperial Bank",
    "41": "NIC Bank (merged into NCBA, code 07)",
    "42": "Giro Bank",
    "59": "Development Bank of Kenya",
    "64": "Charterhouse Bank",
}

TIER_ONE = frozenset({"01", "02", "03", "07", "11", "31", "57", "63", "68"})  # ref §3, ★

_FORMS = re.compile(r"^([0-9]{1,2}|[0-9]{4})$")  # "1", "01", "0001" (doc §4)

# --- Limits (doc §1, ref §4) -------------------------------------------------------------------

MAX_PER_TRANSACTION_CENTS = 999_999 * 100  # IPSL FAQ: KES 999,999 per transaction
# The minimum is each bank's: KES 10 at several banks, some tariffs start at KES 1 (doc §1, §5).
DEFAULT_MINIMUM_CENTS = 10 * 100
# No daily cap is published: each bank sets its own (ref §4), so it is a parameter, off by default.


def bank_code_form(raw: str) -> str:
    """The 2-digit form of ``raw`` ("1", "01" or "0001"); ValueError if it is not one of them.

    Says nothing about whether the bank exists: see :func:`normalise_bank_code`.
    """
    text = raw.strip() if isinstance(raw, str) else ""
    if not _FORMS.match(text) or (len(text) == 4 and not text.startswith("00")):
        raise ValueError(
            "a bank code is the CBK code in 1, 2 or 4 digits (e.g. 1, 01 or 0001 for KCB); "
            "3 digits is a branch code and 5 digits a sort code"
        )
    return f"{int(text):02d}"


def normalise_bank_code(raw: str) -> str:
    """The 2-digit code of a PesaLink participant, or ValueError saying what is wrong."""
    code = bank_code_form(raw)
    if code in BANKS:
        return code
    if code in NOT_ON_PESALINK:
        raise ValueError(f"bank code {code} ({NOT_ON_PESALINK[code]}) is not on PesaLink")
    raise ValueError(f"bank code {code} is not a CBK bank code of a PesaLink participant")


def is_pesalink_bank(raw: str) -> bool:
    try:
        normalise_bank_code(raw)
    except ValueError:
        return False
    return True


def bank_name(code: str) -> str:
    """The participant's name for any accepted form of its code; ValueError if unknown."""
    return BANKS[normalise_bank_code(code)]


def check_limits(
    amount_cents: int,
    *,
    minimum_cents: int = DEFAULT_MINIMUM_CENTS,
    sent_today_cents: int = 0,
    daily_limit_cents: int | None = None,
) -> str | None:
    """None if PesaLink (and the bank's minimum/daily cap) allow ``amount_cents``, else why not.

    ``sent_today_cents`` and ``daily_limit_cents`` are the sending bank's business: PesaLink
    publishes no daily cap (ref §4), so the caller passes the bank's, if it has one.
    """
    if isinstance(amount_cents, bool) or not isinstance(amount_cents, int) or amount_cents <= 0:
        return "the amount must be a positive whole number of cents"
    if amount_cents < minimum_cents:
        return f"the amount is below the bank's PesaLink minimum of {kes(minimum_cents)}"
    if amount_cents > MAX_PER_TRANSACTION_CENTS:
        return f"the amount is above PesaLink's maximum of {kes(MAX_PER_TRANSACTION_CENTS)}"
    if daily_limit_cents is not None and sent_today_cents + amount_cents > daily_limit_cents:
        left = max(daily_limit_cents - sent_today_cents, 0)
        return f"the amount is above what is left of today's limit ({kes(left)})"
    return None


def kes(cents: int) -> str:
    """12345678 -> 'KES 123,456.78' (messages only; the wire form is in ``transformers``)."""
    major, minor = divmod(cents, 100)
    return f"KES {major:,}.{minor:02d}"
