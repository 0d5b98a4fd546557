"""The HTTP ceiling: a bare aiohttp app on uvloop that takes the same requests as the switch's
API and answers at once, so a run against it measures the load generator and the HTTP stack
alone. ``python -m bench.ceiling --port 8099``.

``POST /v1/payments`` parses the JSON body and answers 202 with a payment-shaped body (orjson);
``GET /v1/payments/{id}`` answers 200; ``GET /healthz`` answers 200.
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Sequence

import orjson
import uvloop
from aiohttp import web

_ids = itertools.count(1)


def _json(payload: object, status: int) -> web.Response:
    return web.Response(body=orjson.dumps(payload), status=status, content_type="application/json")


async def create_payment(request: web.Request) -> web.Response:
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return _json({"error": {"code": "invalid_json"}}, 400)
    if not isinstance(body, dict):
        return _json({"error": {"code": "invalid_json"}}, 400)
    payment_id = f"pay_ceiling_{next(_ids)}"
    answer = {
        "id": payment_id,
        "object": "payment",
        "status": "pending",
        "method": body.get("method"),
        "amount": body.get("amount"),
        "currency": body.get("currency"),
        "reference": body.get("reference"),
    }
    return _json(answer, 202)


async def get_payment(request: web.Request) -> web.Response:
    return _json({"id": request.match_info["payment_id"], "status": "pending"}, 200)


async def healthz(_request: web.Request) -> web.Response:
    return _json({"status": "ok"}, 200)


def create_app() -> web.Application:
    app = web.Application()
    app.router.add_post("/v1/payments", create_payment)
    app.router.add_get("/v1/payments/{payment_id}", get_payment)
    app.router.add_get("/healthz", healthz)
    return app


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ceiling", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    ns = parser.parse_args(argv)
    print(f"ceiling listening on http://{ns.host}:{ns.port}", flush=True)
    web.run_app(
        create_app(),
        host=ns.host,
        port=ns.port,
        access_log=None,
        print=None,
        backlog=2048,
        loop=uvloop.new_event_loop(),
    )


if __name__ == "__main__":
    main()
