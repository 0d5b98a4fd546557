"""Security and compliance building blocks, pure (their I/O lives in ``infra/``: the rate limiters,
the key store, the audit store and the AML counters):

- ``crypto``: AES-GCM envelope encryption of personal data, blind indexes, key rotation and
  crypto-shredding;
- ``audit``: the hash-chained audit trail;
- ``sanctions``: sanctions-list loading and fuzzy name screening;
- ``aml``: transaction limits and velocity rules.
"""
