"""Providers' documented wire samples that more than one test file checks against (the
connector builds or parses them, the simulator parses or answers them)."""

from __future__ import annotations

from typing import Any

PESALINK_TRANSFER: dict[str, Any] = {  # PesaLink doc §3.1, verbatim
    "source": {"countryCode": "KE", "name": "John Doe", "accountNumber": "0020100014605"},
    "destination": {
        "type": "bank",
        "countryCode": "KE",
        "name": "Tom Doe",
        "bankCode": "57",
        "accountNumber": "99901288715910",
    },
    "transfer": {
        "type": "PesaLink",
        "amount": "500.00",
        "currencyCode": "KES",
        "reference": "112194688993",
        "date": "2023-10-11",
        "description": "Supplier payment",
    },
}


# Airtel doc §4, the accepted push.
AIRTEL_PUSH_ACCEPTED: dict[str, Any] = {
    "data": {"transaction": {"id": "ORD-20240607-0001", "status": "SUCCESS"}},
    "status": {
        "code": "200",
        "message": "SUCCESS",
        "result_code": "ESB000010",
        "response_code": "DP00800001006",
        "success": True,
    },
}


# M-Pesa doc §8: a B2C v3 request as our connector sends it.
MPESA_B2C_REQUEST: dict[str, Any] = {
    "OriginatorConversationID": "payout-2024-000123",
    "InitiatorName": "apiop1",
    "SecurityCredential": "c2VjcmV0",
    "CommandID": "BusinessPayment",
    "Amount": 10,
    "PartyA": "600992",
    "PartyB": "254712345678",
    "Remarks": "Loan disbursement",
    "QueueTimeOutURL": "https://example.co.ke/b2c/timeout",
    "ResultURL": "https://example.co.ke/b2c/result",
    "Occassion": "April",  # sic (doc §1)
}
