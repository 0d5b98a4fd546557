"""The interoperability hub's pure rules: participants, positions and liquidity
(:mod:`switch.hub.positions`), the transfer state table (:mod:`switch.hub.states`), transfers and
their records (:mod:`switch.hub.transfers`), the hub's journal entries (:mod:`switch.hub.ledger`)
and the ids (:mod:`switch.hub.ids`). Modelled on Mojaloop's central-ledger (participants,
POSITION and SETTLEMENT accounts, net debit cap, two-phase transfers), whose documents are cited
where a rule comes from them."""
