"""The ports (actors/ports.py): one name per operation from the core to the api, the Ray proxy's
retry rules, and the gateways' routing (written once, for Ray and in process)."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pytest

from actors.batches import BatchCore
from actors.local import Gateways, LocalGateway
from actors.ports import (
    BATCH_RETRY_SAFE,
    GATEWAY_RETRY_SAFE,
    SHARD_RETRY_SAFE,
    BatchPort,
    GatewayPort,
    ShardPort,
)
from actors.runtime import IDEMPOTENT_RETRIES, batch_proxy, gateway_proxy, shard_proxy
from actors.shard import ShardCore
from connectors.airtel.orders import WalletOrder
from connectors.mpesa.orders import StkOrder
from switch.messages import CallbackIn, ProviderOutcome, StatusCheck, SubmitResult
from switch.states import Event
from tests.unit.api.ports import CoreDouble


def _operations(port: type) -> set[str]:
    return {n for n, v in vars(port).items() if not n.startswith("_") and callable(v)}


def _parameters(method: Any) -> list[str]:
    return [p for p in inspect.signature(method).parameters if p != "self"]


@pytest.mark.parametrize(("port", "core"), [(ShardPort, ShardCore), (BatchPort, BatchCore)])
def test_each_port_operation_is_the_cores_method_of_the_same_name_and_parameters(
    port: type, core: type
) -> None:
    for name in _operations(port):
        assert _parameters(getattr(port, name)) == _parameters(getattr(core, name)), name


@pytest.mark.parametrize(
    ("port", "safe"),
    [
        (ShardPort, SHARD_RETRY_SAFE),
        (GatewayPort, GATEWAY_RETRY_SAFE),
        (BatchPort, BATCH_RETRY_SAFE),
    ],
)
def test_the_retry_safe_operations_are_operations_of_their_port(
    port: type, safe: frozenset[str]
) -> None:
    operations = _operations(port) | {"submit", "check", "ask_status", "query"}  # ProviderPort's
    assert safe <= operations


class _Handle:
    """An actor handle: records each ``.remote`` call with the options it was given."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any], tuple[Any, ...]]] = []

    def __getattr__(self, name: str) -> _Method:
        return _Method(self, name, {})


class _Method:
    def __init__(self, handle: _Handle, name: str, options: dict[str, Any]) -> None:
        self.handle, self.name, self.opts = handle, name, options

    def options(self, **options: Any) -> _Method:
        return _Method(self.handle, self.name, options)

    def remote(self, *args: Any) -> asyncio.Future[Any]:
        self.handle.sent.append((self.name, self.opts, args))
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        answer.set_result(f"{self.name} done")
        return answer


async def test_the_ray_proxy_retries_reads_and_callbacks_and_sends_money_at_most_once() -> None:
    handle = _Handle()
    shard = shard_proxy(handle)
    callback = CallbackIn("pay_s0_x", ProviderOutcome(Event.ANSWER_LOST), None)
    assert await shard.apply_callbacks([callback]) == "apply_callbacks done"  # type: ignore[comparison-overlap]
    await shard.get_payments([("mch_1", "pay_s0_x")])
    await shard.create_payments([])
    await shard.create_reversals([])
    await shard.review(None, "pay_s0_x", "approve", "user:u", None)
    await gateway_proxy(handle).submit([])
    await gateway_proxy(handle).lookup("01", "123", None)
    await batch_proxy(handle).create("mch_1", "k", "h", [])
    await batch_proxy(handle).results_csv("mch_1", "bat_1")
    retried = {"max_task_retries": IDEMPOTENT_RETRIES}
    assert [(name, opts) for name, opts, _ in handle.sent] == [
        ("apply_callbacks", retried),
        ("get_payments", retried),
        ("create_payments", {}),  # the actor's max_task_retries=0: at most once
        ("create_reversals", {}),
        ("review", {}),
        ("submit", {}),
        ("lookup", retried),
        ("create", {}),
        ("results_csv", retried),
    ]
    assert handle.sent[0][2] == ([callback],)


def _gateways(**cores: CoreDouble) -> Gateways:
    async def ready(core: CoreDouble) -> Any:
        return core

    ports: dict[str, GatewayPort] = {
        p: LocalGateway(lambda c=c: ready(c)) for p, c in cores.items()
    }
    return Gateways(ports, ports.__getitem__)


def _stk(payment_id: str) -> StkOrder:
    return StkOrder(payment_id, 10, "254712345678", "INV1", "d", "https://cb.example/stk")


async def test_submit_sends_each_order_to_its_providers_gateway_a_lost_call_is_answer_lost() -> (
    None
):
    def airtel_down(_: Any) -> Any:
        raise ConnectionError("the gateway actor died mid-call")

    ok = ProviderOutcome(Event.ACCEPTED)

    def accepted(orders: list[StkOrder]) -> list[SubmitResult]:
        return [SubmitResult(o.payment_id, ok) for o in orders]

    mpesa = CoreDouble(_Submits, submit=accepted)
    airtel = CoreDouble(_Submits, submit=airtel_down)
    gateways = _gateways(mpesa=mpesa, airtel=airtel)
    wallet = WalletOrder("pay_s0_w", "collect", 1000, "254733000000", "INV2")
    results = await gateways.submit([_stk("pay_s0_a"), wallet, _stk("pay_s0_b")])
    assert [(r.payment_id, r.outcome.event) for r in results] == [
        ("pay_s0_a", Event.ACCEPTED),
        ("pay_s0_b", Event.ACCEPTED),
        ("pay_s0_w", Event.ANSWER_LOST),  # may have been sent: the sweeper asks Airtel
    ]
    assert [len(args[0]) for _, args in mpesa.calls] == [2]


async def test_check_asks_the_gateway_of_each_methods_provider() -> None:
    airtel = CoreDouble(_Checks, check=lambda reqs: [f"airtel:{r.payment_id}" for r in reqs])
    pesalink = CoreDouble(_Checks, check=lambda reqs: [f"pesalink:{r.payment_id}" for r in reqs])
    gateways = _gateways(airtel=airtel, pesalink=pesalink)
    answers = await gateways.check(
        [StatusCheck("pay_1", "airtel_ussd"), StatusCheck("pay_2", "bank_transfer")]
    )
    assert answers == ["airtel:pay_1", "pesalink:pay_2"]  # type: ignore[comparison-overlap]


class _Submits:
    """The shape of a gateway core that submits (CoreDouble mirrors it)."""

    async def submit(self, orders: list[Any]) -> list[SubmitResult]:
        raise NotImplementedError


class _Checks:
    async def check(self, requests: list[StatusCheck]) -> list[Any]:
        raise NotImplementedError
