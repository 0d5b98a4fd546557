"""Notices to an ``iso20022`` participant: a reserved transfer goes to its bank as a signed
pacs.008 (:mod:`switch.iso20022.signing`, the participant's key, sender ``HUB``), and the bank's
signed pacs.002 answer is the payee's answer (commit or abort, through the hub's one queue, as
``POST .../accept`` or ``.../reject`` would be). A ``PDNG`` answer waits for the bank's late
pacs.002 at ``POST /v1/hub/iso/pacs.002``; a bank that never answers lets the transfer expire.

The pacs.008 is resent on a failed delivery: a bank decides a UETR once and answers a repeat
as the first time, so resending cannot credit twice. A transfer's end goes to the payer and to
the payee as the hub's own signed pacs.002 at the same endpoint: ``ACSC`` when it committed,
``RJCT`` with the reason when it was aborted (expired, say, after the payee had accepted). A
payee bank holds an accepted credit until then: accepting is not being paid, and only the hub
knows whether the payer's reservation was committed. Position alarms have no ISO 20022 message
here; a participant may also read a transfer's state as a pacs.002 (``GET
/v1/hub/transfers/{id}`` with ``Accept: application/xml``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from multidict import CIMultiDict

from actors.hub.machine import Command, Fulfil, Notice
from connectors.http import HttpRequest, TransportError
from connectors.transport import Transport
from switch.hub.participants import Participant
from switch.iso20022 import hub_wire, pacs002, pacs008
from switch.iso20022.document import MessageError
from switch.iso20022.signing import HUB, BadSignature, sign, verify
from switch.messages import Reply

log = logging.getLogger(__name__)

PREPARED = "hub.transfer.prepared"
FINAL = frozenset({"hub.transfer.committed", "hub.transfer.aborted"})
Submit = Callable[[list[Command]], Awaitable[list[Reply]]]


class IsoDelivery:
    def __init__(
        self, transport: Transport, participant_of: Callable[[str], Participant | None]
    ) -> None:
        self._transport = transport
        self._participant_of = participant_of
        self.submit: Submit | None = None  # the hub's queue, set once the shell exists

    async def deliver(self, notice: Notice, payee: Participant, within: float) -> bool:
        """Send ``notice`` to ``payee``'s bank and act on its answer; False to try again."""
        if notice.type in FINAL:
            return await self._final(notice, payee, within)
        if notice.type != PREPARED:
            return True
        payer = self._participant_of(notice.data["payer"])
        banks = hub_wire.Banks(payer.bank_code if payer else "", payee.bank_code)
        msg_id = hub_wire.new_msg_id()
        body = pacs008.build(
            hub_wire.notice(notice.data, banks, msg_id, datetime.now(UTC).replace(microsecond=0))
        )
        headers = sign(payee.webhook_secret, HUB, msg_id, body)
        try:
            resp = await self._transport.send(
                HttpRequest("POST", payee.endpoint_url, headers, body, within)
            )
        except TransportError as exc:
            log.info("pacs.008 %s to %s: %s", notice.data["id"], payee.id, exc)
            return False
        if resp.status >= 300:
            log.info("pacs.008 %s to %s: HTTP %d", notice.data["id"], payee.id, resp.status)
            return resp.status < 500 and resp.status not in (408, 429)
        return await self.answered(payee, CIMultiDict(resp.headers), resp.body)

    async def _final(self, notice: Notice, to: Participant, within: float) -> bool:
        """The transfer's end as a signed pacs.002 to ``to``'s bank; False to try again."""
        msg_id = hub_wire.new_msg_id()
        tid = str(notice.data["id"])
        created = datetime.now(UTC).replace(microsecond=0)
        body = pacs002.build(hub_wire.report(notice.data, tid, msg_id, created))
        headers = sign(to.webhook_secret, HUB, msg_id, body)
        try:
            resp = await self._transport.send(
                HttpRequest("POST", to.endpoint_url, headers, body, within)
            )
        except TransportError as exc:
            log.info("final pacs.002 %s to %s: %s", tid, to.id, exc)
            return False
        if resp.status >= 300:
            log.info("final pacs.002 %s to %s: HTTP %d", tid, to.id, resp.status)
        return resp.status < 300 or (resp.status < 500 and resp.status not in (408, 429))

    async def answered(self, payee: Participant, headers: CIMultiDict[str], body: bytes) -> bool:
        """A pacs.002 that ``payee``'s bank answered synchronously: applied if it checks out.
        False when the hub could not record it (503): the pacs.008 is sent again, and the bank
        answers its decision again."""
        try:
            signed = verify(payee.webhook_secret, payee.bank_code, headers, body)
            report = pacs002.parse(body)
            if report.msg_id != signed:
                raise BadSignature("webhook-id: not the document's MsgId")
            answers = [hub_wire.answer_of(s) for s in report.statuses]
        except (BadSignature, MessageError, ValueError) as exc:
            log.warning("pacs.002 from %s refused: %s", payee.id, exc)
            return True
        commands: list[Command] = [
            Fulfil(a.transfer_id, payee.id, a.accept, a.reason) for a in answers if a
        ]
        if not commands or self.submit is None:
            return True
        replies = await self.submit(commands)
        return all(r.status < 500 for r in replies)
