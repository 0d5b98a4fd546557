"""Safaricom M-Pesa (Daraja) connector: STK Push (M-Pesa Express) and its query, so far.

``connector`` builds requests and parses answers; ``transformers`` holds the wire types and the
result-code table; ``simulator`` is a faithful local Daraja for tests, demo and bench.
"""

from connectors.mpesa.connector import DarajaAccount, DarajaConnector
from connectors.mpesa.transformers import (
    EAT,
    STK_RESULTS,
    AccessToken,
    ErrorKind,
    MalformedCallback,
    Outcome,
    ProviderError,
    StkAccepted,
    StkPending,
    StkPushOrder,
    StkResult,
    callback_ack,
    classify_error,
    parse_error,
    parse_stk_callback,
    password,
    stk_outcome,
    timestamp,
)

__all__ = [
    "EAT",
    "STK_RESULTS",
    "AccessToken",
    "DarajaAccount",
    "DarajaConnector",
    "ErrorKind",
    "MalformedCallback",
    "Outcome",
    "ProviderError",
    "StkAccepted",
    "StkPending",
    "StkPushOrder",
    "StkResult",
    "callback_ack",
    "classify_error",
    "parse_error",
    "parse_stk_callback",
    "password",
    "stk_outcome",
    "timestamp",
]
