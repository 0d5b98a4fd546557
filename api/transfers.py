"""``POST /v1/transfers`` and ``GET /v1/transfers/{id}``: money moved between account kinds by a
saga (switch/transfers.py) run in the merchant's shard."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator, model_validator

from api import bank_source
from api import openapi_models as out
from api.auth import CLAIMS
from api.errors import error_response
from api.methods import OPERATORS_OF
from api.models import MetadataValue
from api.payments import maker_of, reply_response, sacco_problem, validated
from api.routes import Route, json_answer
from api.state import STATE
from connectors.pesalink import normalise_bank_code
from routing.operators import operator_of
from switch.errors import Unavailable
from switch.idempotency import request_hash
from switch.ids import shard_of
from switch.messages import CreateTransfer
from switch.money import parse_whole_shillings
from switch.phone import normalise_msisdn
from switch.rails import RAILS, display_name
from switch.transfers import ACCOUNT_TYPES, CREDIT_METHODS, DEBIT_METHODS

# Whose prompts show a transfer's reference: the providers that collect from a phone.
_PROMPTERS = " or ".join(
    dict.fromkeys(
        display_name(r.provider)
        for r in RAILS.values()
        if r.direction == "collection" and r.destination == "phone" and r.routable
    )
)

_NEEDED = {"bank": ("bank_code", "account_number"), "sacco": ("sacco_code", "member_number")}
if TYPE_CHECKING:
    AccountTypeName = str
else:
    AccountTypeName = Literal[ACCOUNT_TYPES]


class Account(BaseModel):
    """One side of a transfer: an M-Pesa or Airtel wallet (``phone``), a bank account
    (``bank_code`` and ``account_number``: paid on PesaLink; as a source, its bank must be a hub
    participant, which is sent a request to pay) or a SACCO member account (``sacco_code`` and
    ``member_number``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: AccountTypeName
    phone: StrictStr | None = None
    bank_code: StrictStr | None = None
    account_number: Annotated[str, Field(pattern=r"^[0-9A-Za-z]{5,20}$")] | None = None
    account_name: Annotated[str, Field(min_length=2, max_length=100)] | None = None
    sacco_code: Annotated[str, Field(pattern=r"^[A-Z0-9]{2,12}$")] | None = None
    member_number: Annotated[str, Field(pattern=r"^[A-Za-z0-9/-]{1,20}$")] | None = None

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return None if value is None else normalise_msisdn(value)

    @field_validator("bank_code")
    @classmethod
    def _bank(cls, value: str | None) -> str | None:
        return None if value is None else normalise_bank_code(value)

    @model_validator(mode="after")
    def _fields(self) -> Account:
        needed = _NEEDED.get(self.type, ("phone",))  # a wallet: its phone
        missing = [f for f in needed if getattr(self, f) is None]
        if missing:
            raise ValueError(f"{missing[0]}: required for a {self.type} account")
        extra = [
            f
            for f in (
                "phone",
                "bank_code",
                "account_number",
                "account_name",
                "sacco_code",
                "member_number",
            )
            if getattr(self, f) is not None and f not in needed and f != "account_name"
        ]
        if extra or (self.account_name and self.type != "bank"):
            name = extra[0] if extra else "account_name"
            raise ValueError(f"{name}: not part of a {self.type} account")
        wanted = OPERATORS_OF.get(DEBIT_METHODS.get(self.type, ""), ())
        if wanted and self.phone and operator_of(self.phone) not in wanted:
            names = " or ".join(w.capitalize() for w in wanted)
            raise ValueError(f"phone: must be a {names} number for {self.type}")
        return self


class TransferCreate(BaseModel):
    """Take ``amount`` from ``source`` and credit it to ``destination``; if the credit fails, the
    money goes back to the source. Legs carry no fee."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    amount: StrictStr = Field(description="Whole shillings, within both rails' limits.")
    currency: Literal["KES"]
    source: Account
    destination: Account
    reference: Annotated[str, Field(pattern=r"^[A-Za-z0-9]{1,12}$")] = Field(
        description=f"1 to 12 letters or digits (shown on the customer's {_PROMPTERS} prompt)."
    )
    description: Annotated[str, Field(min_length=1, max_length=13)] | None = None
    metadata: dict[Annotated[str, Field(max_length=40)], MetadataValue] = Field(
        default_factory=dict, max_length=20
    )

    @model_validator(mode="after")
    def _legs(self) -> TransferCreate:
        if self.source == self.destination:
            raise ValueError("destination: must differ from the source")
        # The debit, the credit and (should the credit fail) the refund to the source.
        methods = (
            DEBIT_METHODS[self.source.type],
            CREDIT_METHODS[self.destination.type],
            CREDIT_METHODS[self.source.type],
        )
        low = max(RAILS[m].min_minor for m in methods)
        high = min(RAILS[m].max_minor for m in methods)
        try:
            minor = parse_whole_shillings(self.amount)
        except ValueError as exc:
            raise ValueError(f"amount: {exc}") from None
        if not low <= minor <= high:
            raise ValueError(f"amount: must be between {low // 100} and {high // 100} shillings")
        return self

    @property
    def amount_minor(self) -> int:
        return parse_whole_shillings(self.amount)


def _account(a: Account) -> dict[str, Any]:
    return a.model_dump(exclude_none=True)


async def create_transfer(request: web.Request) -> web.Response:
    checked = await validated(request, TransferCreate)
    if isinstance(checked, web.Response):
        return checked
    key, raw, body = checked
    state = request.app[STATE]
    for side in ("source", "destination"):
        account: Account = getattr(body, side)
        found = (
            sacco_problem(state.saccos, account.sacco_code, account.member_number or "", side)
            if account.sacco_code
            else None
        )
        if found is not None:
            details = [{"field": found[0], "reason": found[1]}]
            return error_response(
                422, "validation_failed", "the request has invalid fields", details
            )
    merchant_id = request[CLAIMS].merchant_id
    source = _account(body.source)
    if body.source.type == "bank":  # a request to pay through the hub (api/bank_source.py)
        ready = await bank_source.prepared(request, merchant_id, key, source)
        if isinstance(ready, web.Response):
            return ready
        source = ready
    command = CreateTransfer(
        merchant_id=merchant_id,
        idem_key=key,
        request_hash=request_hash(raw),
        amount_minor=body.amount_minor,
        source=source,
        destination=_account(body.destination),
        reference=body.reference,
        description=body.description or body.reference,
        metadata=dict(body.metadata),
        maker=await maker_of(request),
    )
    try:
        [reply] = await state.router.of_merchant(merchant_id).create_transfers([command])
    except Exception as exc:
        raise Unavailable("the payment shard is unavailable; retry with the same key") from exc
    return reply_response(reply)


async def get_transfer(request: web.Request) -> web.Response:
    state = request.app[STATE]
    transfer_id = request.match_info["transfer_id"]
    shard = shard_of(transfer_id)
    if shard is None or shard >= state.router.count:
        return error_response(404, "not_found", f"no transfer {transfer_id}")
    try:
        [reply] = await state.actors.shards[shard].get_transfers(
            [(request[CLAIMS].merchant_id, transfer_id)]
        )
    except Exception as exc:
        raise Unavailable("the payment shard is unavailable; retry") from exc
    return reply_response(reply)


ROUTE_TABLE = (
    Route(
        "POST",
        "/v1/transfers",
        create_transfer,
        "Payouts",
        "Move money from one account to another (refunded if the credit fails)",
        {202: json_answer("The transfer, started", out.Transfer)},
        body=TransferCreate,
        errors=(503,),
        idempotency="required",
    ),
    Route(
        "GET",
        "/v1/transfers/{transfer_id}",
        get_transfer,
        "Payouts",
        "Get a transfer",
        {200: json_answer("The transfer", out.Transfer)},
        errors=(404, 503),
    ),
)
