"""Every route of the api, in the order the router registers them (aiohttp matches in that
order): each module's ``ROUTE_TABLE``, declared beside its handlers. ``create_app`` registers
these and :mod:`api.openapi` documents these, so a route cannot be served undocumented."""

from __future__ import annotations

from api import (
    audit,
    auth,
    batches,
    benefits,
    benefits_reads,
    benefits_runs,
    c2b,
    callbacks,
    clients,
    exports,
    gov,
    hub,
    hub_iso,
    hub_operator,
    hub_settlement,
    hub_switch_operator,
    invoices,
    kyc,
    kyc_review,
    live,
    lookups,
    merchant_settings,
    merchants,
    operator,
    ops,
    payments,
    privacy,
    qr,
    recon,
    reviews,
    sandbox_funding,
    search,
    settlement,
    standing_orders,
    statements,
    sub_merchants,
    transfers,
    users,
    webhooks,
)
from api.console import routes as console
from api.routes import Route, registered_path

ROUTE_TABLE: tuple[Route, ...] = (
    *auth.ROUTE_TABLE,
    *search.ROUTE_TABLE,
    *payments.ROUTE_TABLE,
    *live.ROUTE_TABLE,
    *callbacks.ROUTE_TABLE,
    *c2b.ROUTE_TABLE,
    *qr.ROUTE_TABLE,
    *invoices.ROUTE_TABLE,
    *gov.ROUTE_TABLE,
    *standing_orders.ROUTE_TABLE,
    *transfers.ROUTE_TABLE,
    *batches.ROUTE_TABLE,
    *benefits.ROUTE_TABLE,
    *benefits_runs.ROUTE_TABLE,
    *benefits_reads.ROUTE_TABLE,
    *lookups.ROUTE_TABLE,
    *privacy.ROUTE_TABLE,
    *operator.ROUTE_TABLE,
    *reviews.ROUTE_TABLE,
    *ops.ROUTE_TABLE,
    *users.ROUTE_TABLE,
    *clients.ROUTE_TABLE,
    *audit.ROUTE_TABLE,
    *merchant_settings.ROUTE_TABLE,
    *merchants.ROUTE_TABLE,
    *sub_merchants.ROUTE_TABLE,
    *sandbox_funding.ROUTE_TABLE,
    *settlement.ROUTE_TABLE,
    *statements.ROUTE_TABLE,
    *exports.ROUTE_TABLE,
    *console.ROUTE_TABLE,
    *recon.ROUTE_TABLE,
    *kyc.ROUTE_TABLE,
    *kyc_review.ROUTE_TABLE,
    *webhooks.ROUTE_TABLE,
    *hub_operator.ROUTE_TABLE,
    *hub_settlement.ROUTE_TABLE,
    *hub_switch_operator.ROUTE_TABLE,
    *hub.ROUTE_TABLE,
    *hub_iso.ROUTE_TABLE,
)

# Registered paths that the document spells otherwise (a static directory is one route).
DOCUMENTED_AS = {registered_path(r): r.path for r in ROUTE_TABLE if registered_path(r) != r.path}

# The request bodies that are pydantic models: the document's schemas for them.
REQUEST_MODELS = tuple(dict.fromkeys(r.body for r in ROUTE_TABLE if isinstance(r.body, type)))
