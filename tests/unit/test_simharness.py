"""The simulator test harness itself: a receiver keeps and keys what is posted to it, answers as
scripted, and says how many callbacks it had when a wait runs out."""

from __future__ import annotations

import aiohttp
import orjson
import pytest

from tests.simharness import Receiver, by_json, by_path, serving


async def test_a_receiver_keys_bodies_and_answers_as_scripted() -> None:
    receiver = Receiver(answer=b'{"ok":1}', key=by_json("transaction", "id"))
    receiver.answers["B"] = (500, b"no")
    async with serving(receiver.app("/cb")) as url, aiohttp.ClientSession() as http:
        for txn in ("A", "B", "A"):
            body = orjson.dumps({"transaction": {"id": txn}})
            async with http.post(url + "/cb", data=body) as resp:
                assert (resp.status, await resp.read()) == (
                    (500, b"no") if txn == "B" else (200, b'{"ok":1}')
                )
        async with http.post(url + "/cb", data=b"not json") as resp:
            assert resp.status == 200  # kept under '' rather than lost
        assert len(await receiver.wait_for("A", count=2)) == 2
        assert (receiver.count(), receiver.count("B"), receiver.of("")) == (4, 1, [b"not json"])
        with pytest.raises(TimeoutError, match="1 of 2 callbacks for B"):
            await receiver.wait_for("B", count=2, timeout=0.05)


async def test_a_receiver_keys_by_path() -> None:
    receiver = Receiver(key=by_path("name"))
    async with serving(receiver.app("/hooks/{name}")) as url, aiohttp.ClientSession() as http:
        async with http.post(url + "/hooks/result", data=b"{}") as resp:
            assert resp.status == 200
        assert await receiver.wait_for("result") == [b"{}"]
        assert receiver.of("timeout") == []
