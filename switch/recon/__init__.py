"""Reconciliation (pure): each provider's own record of what happened, matched against the
switch's payments and the bank's statements (:mod:`switch.recon.matching`), and the rules of the
breaks queue (:mod:`switch.recon.breaks`). The providers' file and API formats are parsed by
their connectors (``connectors/<name>/records.py``) into ``ProviderRecord``s
(:mod:`switch.recon.records`).
"""
