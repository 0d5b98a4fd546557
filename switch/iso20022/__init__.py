"""ISO 20022 messages for the hub's participants (pure: no I/O beyond reading the bundled
schemas).

One module per message, each with frozen dataclasses in and out (amounts as ``Decimal``, ids
checked as ``Max35Text``, UETRs lowercase UUID v4), a ``build`` that writes the XSD's element
order and a ``parse`` that refuses anything the official schema refuses (``schemas/``), naming
the element:

* :mod:`.pacs008` customer credit transfer, :mod:`.pacs002` status report,
  :mod:`.pacs004` return, :mod:`.pacs009` FI credit transfer (settlement legs);
* :mod:`.camt` statements (camt.053) and notifications (camt.054);
* :mod:`.pain001` bulk initiation by a corporate or a government agency;
* :mod:`.codes` status and reason codes and what they mean to the hub; :mod:`.hub_map` a
  pacs.008 as the hub's JSON transfer and a hub outcome as a pacs.002;
* :mod:`.signing` how hub and banks authenticate each message (our scheme's choice);
* :mod:`.document` safe parsing (no DTD, no entities, no network, a size limit) and the schema
  check every parser goes through.
"""

from switch.iso20022.document import MessageError

__all__ = ["MessageError"]
