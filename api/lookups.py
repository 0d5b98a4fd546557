"""``POST /v1/lookups``: whose account is this? The holder's name before any money moves, from
the PesaLink directory (bank account, or the account a phone is linked to) or the SACCO's core
system (member account)."""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from api import openapi_models as out
from api.errors import error_response, json_response
from api.models import BankAccount, SaccoAccount
from api.payments import parse_body
from api.routes import Route, json_answer
from api.state import STATE
from switch.errors import Unavailable
from switch.phone import normalise_msisdn


class LookupRequest(BaseModel):
    """Exactly one of ``bank``, ``phone`` (through the PesaLink directory) or ``sacco``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bank: BankAccount | None = None
    phone: str | None = None
    sacco: SaccoAccount | None = None

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return None if value is None else normalise_msisdn(value)

    @model_validator(mode="after")
    def _one(self) -> LookupRequest:
        if sum(x is not None for x in (self.bank, self.phone, self.sacco)) != 1:
            raise ValueError("give exactly one of bank, phone or sacco")
        return self

    @property
    def provider(self) -> Literal["pesalink", "sacco"]:
        return "sacco" if self.sacco is not None else "pesalink"


async def lookup(request: web.Request) -> web.Response:
    body = await parse_body(request, LookupRequest)
    if isinstance(body, web.Response):
        return body
    state = request.app[STATE]
    if body.sacco is not None:
        if body.sacco.sacco_code not in state.saccos:
            reason = f"no SACCO {body.sacco.sacco_code} is registered"
            details = [{"field": "sacco.sacco_code", "reason": reason}]
            return error_response(422, "validation_failed", "invalid fields", details)
        args: tuple[str | None, ...] = (body.sacco.sacco_code, body.sacco.member_number)
    elif body.bank is not None:
        args = (body.bank.bank_code, body.bank.account_number, None)
    else:
        args = (None, None, body.phone)
    try:
        found = await state.actors.gateways.lookup(body.provider, *args)
    except Exception as exc:
        raise Unavailable("the lookup could not be made; retry") from exc
    if "error" in found:
        if found.get("error_code") == "provider_unavailable":
            raise Unavailable(found["error"])
        return error_response(422, found.get("error_code") or "account_not_found", found["error"])
    return json_response({"object": "account_lookup", **found})


ROUTE_TABLE = (
    Route(
        "POST",
        "/v1/lookups",
        lookup,
        "Payouts",
        "Whose account is this? The holder's name before any money moves",
        {200: json_answer("The account holder", out.AccountLookup)},
        body=LookupRequest,
        errors=(503,),
        error_texts={422: "Invalid fields, or no such account"},
    ),
)
