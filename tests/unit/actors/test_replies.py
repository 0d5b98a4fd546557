"""The shard's refusals name the provider from the registry."""

from __future__ import annotations

from actors.replies import circuit_open


def test_an_open_circuit_names_its_provider_by_its_display_name() -> None:
    reply = circuit_open(4.6, "airtel")
    assert reply.status == 503 and reply.retry_after == 4.6
    message = reply.body["error"]["message"]
    assert message.startswith("Airtel Money is failing and its circuit is open")
    assert "Retry in 5 s" in message


def test_without_a_provider_it_names_the_stk_push_rails_as_before() -> None:
    message = circuit_open(3).body["error"]["message"]
    assert message.startswith("M-Pesa is failing and its circuit is open; nothing was stored")
