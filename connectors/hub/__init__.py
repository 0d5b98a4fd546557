"""The interoperability hub as a provider the switch's books name: money a bank participant
sends through the hub to a merchant's collection account (api/hub_collections.py)."""
