"""Participant banks of the interoperability hub, as the hub meets them: over ISO 20022
messages (:mod:`switch.iso20022`), each signed with the participant's key.

The simulator (:mod:`.simulator`) runs several banks in one process for tests, the bench and
sandbox mode. Banks are hub participants, not a payment rail of the switch, so this package
has no ``provider.py``: the hub's participant registry (not the provider registry) names them.
"""
