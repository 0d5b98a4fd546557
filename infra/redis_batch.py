"""Redis commands of one turn of the event loop in one pipeline: the requests an api process
handles side by side each ask for their rate-limit check (and a payment for its prompt key),
and those all go in one round trip, sent when the turn is over (:class:`GroupCommit`'s
``per_turn``). Not a transaction: each command keeps its own atomicity (a script, ``SET NX``)
and its own answer, an error included, so batching changes no outcome, only the round trips.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from infra.group_commit import GroupCommit

_Command = tuple[str, tuple[Any, ...], dict[str, Any]]


class TurnPipeline:
    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis
        self._batch = GroupCommit(self._send, per_turn=True)

    async def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """The answer of ``name`` (a command of redis-py's pipeline) as if sent alone; a
        command's error is raised to its caller alone."""
        answer = await self._batch.submit((name, args, kwargs))
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def _send(self, commands: list[_Command]) -> list[Any]:
        pipe = self._redis.pipeline(transaction=False)
        for name, args, kwargs in commands:
            getattr(pipe, name)(*args, **kwargs)
        return list(await pipe.execute(raise_on_error=False))

    async def close(self) -> None:
        await self._batch.stop()
