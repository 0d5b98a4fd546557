"""Infrastructure: the adapters through which the switch touches the outside world.

Layer decision (issue 11, item 3): ``switch/`` is the pure domain (no pymongo, redis, aiohttp, ray,
subprocess or secantus import, enforced by import-linter in ``make lint``); everything here does
I/O on the domain's behalf: MongoDB storage and the embedded SecantusDB child process
(``storage``), Redis live events (``live``), the Redis and in-process rate limiters
(``ratelimit``), Prometheus metrics (``metrics``), the webhook delivery guard (``netguard``),
listening sockets and TLS (``listen``, ``tls``), and the MongoDB-backed stores of the audit trail,
data keys, AML counters, users, API clients and merchants. It may import the domain and the
connectors, never the api, the actors, the sandbox or the composition root (``app/``).
"""
