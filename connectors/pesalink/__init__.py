"""PesaLink (IPSL) bank transfers through a participant bank's API.

``connector`` builds requests and parses answers (token, account and phone lookups, credit
transfer, status enquiry, callback); ``transformers`` holds the wire types, the gateway codes and
the one transfer-status table, and says which wire facts are documented and which are our choice;
``banks`` the CBK codes of PesaLink participants and the limits; ``signature`` the RSA-SHA256
request signature; ``simulator`` is a local "PesaLink hub + banks" for tests, demo and bench.
"""

from connectors.pesalink.banks import (
    BANKS,
    DEFAULT_MINIMUM_CENTS,
    MAX_PER_TRANSACTION_CENTS,
    NOT_ON_PESALINK,
    bank_code_form,
    bank_name,
    check_limits,
    is_pesalink_bank,
    normalise_bank_code,
)
from connectors.pesalink.connector import PesaLinkAccount, PesaLinkConnector
from connectors.pesalink.transformers import (
    EAT,
    REASONS,
    STATE_CODES,
    TRANSFER_STATUSES,
    AccessToken,
    AccountInvalid,
    AccountName,
    DirectoryEntry,
    ErrorKind,
    LinkedAccount,
    MalformedCallback,
    Outcome,
    PhoneNotLinked,
    ProviderError,
    TransferNotFound,
    TransferOrder,
    TransferResult,
    callback_ack,
    classify_error,
    format_amount,
    names_match,
    normalise_msisdn,
    parse_amount,
    parse_callback,
    transfer_outcome,
)

__all__ = [
    "BANKS",
    "DEFAULT_MINIMUM_CENTS",
    "EAT",
    "MAX_PER_TRANSACTION_CENTS",
    "NOT_ON_PESALINK",
    "REASONS",
    "STATE_CODES",
    "TRANSFER_STATUSES",
    "AccessToken",
    "AccountInvalid",
    "AccountName",
    "DirectoryEntry",
    "ErrorKind",
    "LinkedAccount",
    "MalformedCallback",
    "Outcome",
    "PesaLinkAccount",
    "PesaLinkConnector",
    "PhoneNotLinked",
    "ProviderError",
    "TransferNotFound",
    "TransferOrder",
    "TransferResult",
    "bank_code_form",
    "bank_name",
    "callback_ack",
    "check_limits",
    "classify_error",
    "format_amount",
    "is_pesalink_bank",
    "names_match",
    "normalise_bank_code",
    "normalise_msisdn",
    "parse_amount",
    "parse_callback",
    "transfer_outcome",
]
