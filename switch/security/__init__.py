"""Security and compliance building blocks, pure where possible, I/O at the edges:

- ``ratelimit``: GCRA rate limits in Redis (one atomic script) or in process, and the headers;
- ``crypto``: AES-GCM envelope encryption of personal data, blind indexes, key rotation and
  crypto-shredding;
- ``audit``: the hash-chained audit trail;
- ``sanctions``: sanctions-list loading and fuzzy name screening;
- ``aml``: transaction limits and velocity rules, with Redis-backed daily counters.
"""
