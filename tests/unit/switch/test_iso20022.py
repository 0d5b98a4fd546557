"""ISO 20022 messages (switch/iso20022): the reference shapes read, every builder's output is
valid against the official schema and reads back equal, and bad documents are refused naming
the element (schema failures, totals that do not add up, unsafe XML, wrong values)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from connectors.banks.simulator.book import default_banks, refusal, sandbox_key
from switch.iso20022 import (
    camt,
    codes,
    hub_map,
    pacs002,
    pacs004,
    pacs008,
    pacs009,
    pain001,
    signing,
)
from switch.iso20022.document import MessageError, validate
from switch.iso20022.values import Agent

EAT = timezone(timedelta(hours=3))
NOW = datetime(2025, 1, 1, 10, 15, tzinfo=EAT)
UETR = "3f2b6c1e-8a4d-4c2b-9e1f-0a1b2c3d4e5f"

# The shapes of the reference examples (pacs.008 §5.2, pacs.002 §5.3, camt.053 §5.6 of the
# hub's message notes, as banks send them).
PACS008_SAMPLE = b"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08">
 <FIToFICstmrCdtTrf>
  <GrpHdr>
   <MsgId>HUB20250101000001</MsgId><CreDtTm>2025-01-01T10:15:00+03:00</CreDtTm>
   <NbOfTxs>1</NbOfTxs><SttlmInf><SttlmMtd>CLRG</SttlmMtd></SttlmInf>
  </GrpHdr>
  <CdtTrfTxInf>
   <PmtId><InstrId>I-1</InstrId><EndToEndId>E2E-1</EndToEndId><TxId>TX-1</TxId>
    <UETR>3f2b6c1e-8a4d-4c2b-9e1f-0a1b2c3d4e5f</UETR></PmtId>
   <IntrBkSttlmAmt Ccy="KES">1500.00</IntrBkSttlmAmt>
   <ChrgBr>SLEV</ChrgBr>
   <Dbtr><Nm>Jane Wanjiku</Nm></Dbtr>
   <DbtrAcct><Id><Othr><Id>0123456789</Id></Othr></Id></DbtrAcct>
   <DbtrAgt><FinInstnId><ClrSysMmbId><MmbId>68</MmbId></ClrSysMmbId></FinInstnId></DbtrAgt>
   <CdtrAgt><FinInstnId><BICFI>KCBLKENX</BICFI></FinInstnId></CdtrAgt>
   <Cdtr><Nm>John Otieno</Nm></Cdtr>
   <CdtrAcct><Id><Othr><Id>1100223344</Id></Othr></Id></CdtrAcct>
   <RmtInf><Ustrd>Invoice 42</Ustrd></RmtInf>
  </CdtTrfTxInf>
 </FIToFICstmrCdtTrf>
</Document>"""

PACS002_SAMPLE = b"""<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.002.001.10">
 <FIToFIPmtStsRpt>
  <GrpHdr><MsgId>ST-1</MsgId><CreDtTm>2025-01-01T10:15:02+03:00</CreDtTm></GrpHdr>
  <OrgnlGrpInfAndSts><OrgnlMsgId>HUB20250101000001</OrgnlMsgId>
   <OrgnlMsgNmId>pacs.008.001.08</OrgnlMsgNmId></OrgnlGrpInfAndSts>
  <TxInfAndSts><OrgnlEndToEndId>E2E-1</OrgnlEndToEndId><OrgnlTxId>TX-1</OrgnlTxId>
   <TxSts>RJCT</TxSts>
   <StsRsnInf><Rsn><Cd>AC04</Cd></Rsn><AddtlInf>Account closed</AddtlInf></StsRsnInf>
  </TxInfAndSts>
 </FIToFIPmtStsRpt>
</Document>"""

CAMT053_SAMPLE = b"""<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">
 <BkToCstmrStmt>
  <GrpHdr><MsgId>STMT-20250101</MsgId><CreDtTm>2025-01-01T23:59:00+03:00</CreDtTm></GrpHdr>
  <Stmt>
   <Id>STMT-20250101-1</Id><ElctrncSeqNb>1</ElctrncSeqNb>
   <Acct><Id><Othr><Id>1234567890</Id></Othr></Id><Ccy>KES</Ccy></Acct>
   <Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="KES">500000.00</Amt>
    <CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2025-01-01</Dt></Dt></Bal>
   <Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="KES">498500.00</Amt>
    <CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2025-01-01</Dt></Dt></Bal>
   <Ntry>
    <Amt Ccy="KES">1500.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>
    <BookgDt><Dt>2025-01-01</Dt></BookgDt><ValDt><Dt>2025-01-01</Dt></ValDt>
    <AcctSvcrRef>BNK-REF-778</AcctSvcrRef>
    <BkTxCd><Prtry><Cd>TRF</Cd></Prtry></BkTxCd>
    <NtryDtls><TxDtls><Refs><EndToEndId>E2E-1</EndToEndId><TxId>TX-1</TxId></Refs></TxDtls>
    </NtryDtls>
   </Ntry>
  </Stmt>
 </BkToCstmrStmt>
</Document>"""


def transfer(**change: object) -> pacs008.CreditTransfer:
    fields: dict[str, object] = {
        "end_to_end_id": "E2E-1",
        "amount": Decimal("1500.00"),
        "currency": "KES",
        "debtor_name": "Jane Wanjiku",
        "debtor_account": "0123456789",
        "debtor_agent": Agent(member_id="68"),
        "creditor_agent": Agent(bic="KCBLKENX", member_id="01"),
        "creditor_name": "John Otieno",
        "creditor_account": "1100223344",
        "uetr": UETR,
        "instruction_id": "I-1",
        "transaction_id": "TX-1",
        "settlement_date": date(2025, 1, 1),
        "remittance": "Invoice 42",
        **change,
    }
    return pacs008.CreditTransfer(**fields)  # type: ignore[arg-type]


def credit_transfer(*txs: pacs008.CreditTransfer) -> pacs008.Pacs008:
    return pacs008.Pacs008("HUB20250101000001", NOW, txs or (transfer(),))


# --- reference shapes ----------------------------------------------------------------------


def test_the_reference_pacs008_reads() -> None:
    msg = pacs008.parse(PACS008_SAMPLE)
    assert msg.msg_id == "HUB20250101000001"
    assert msg.settlement_method == "CLRG"
    (tx,) = msg.transfers
    assert (tx.end_to_end_id, tx.uetr, tx.amount, tx.currency) == (
        "E2E-1",
        UETR,
        Decimal("1500.00"),
        "KES",
    )
    assert tx.debtor_agent == Agent(member_id="68")
    assert tx.creditor_agent == Agent(bic="KCBLKENX")
    assert (tx.creditor_name, tx.creditor_account, tx.remittance) == (
        "John Otieno",
        "1100223344",
        "Invoice 42",
    )


def test_the_reference_pacs002_reads_as_a_rejection_for_a_closed_account() -> None:
    msg = pacs002.parse(PACS002_SAMPLE)
    status = msg.status_of("E2E-1")
    assert status is not None
    assert (status.status, status.reason, status.info) == ("RJCT", "AC04", "Account closed")
    assert status.outcome == "rejected"
    assert codes.hub_reason(status.reason) == "payee_account_closed"
    assert msg.original_msg_id == "HUB20250101000001"


def test_the_reference_camt053_reads_and_its_balances_add_up() -> None:
    msg = camt.parse_statement(CAMT053_SAMPLE)
    (report,) = msg.reports
    (entry,) = report.entries
    assert (entry.amount, entry.credit, entry.status) == (Decimal("1500.00"), False, "BOOK")
    assert (entry.end_to_end_id, entry.transaction_id, entry.bank_reference) == (
        "E2E-1",
        "TX-1",
        "BNK-REF-778",
    )
    assert entry.bank_code == "TRF"
    assert entry.booked_on == date(2025, 1, 1)
    assert report.sequence == 1
    assert report.balanced()
    broken = replace(report, entries=(replace(entry, amount=Decimal("1400.00")),))
    assert not broken.balanced()


def test_a_camt053_v02_statement_with_a_plain_status_reads() -> None:
    v02 = (
        CAMT053_SAMPLE.replace(b"camt.053.001.08", b"camt.053.001.02")
        .replace(b"<Sts><Cd>BOOK</Cd></Sts>", b"<Sts>BOOK</Sts>")
        .replace(b"</ElctrncSeqNb>", b"</ElctrncSeqNb><CreDtTm>2025-01-01T23:59:00+03:00</CreDtTm>")
    )
    msg = camt.parse_statement(v02)
    assert msg.message == "camt.053.001.02"
    assert msg.reports[0].entries[0].status == "BOOK"


# --- round trips: built, valid against the schema, read back equal ---------------------------


def test_pacs008_round_trip_with_several_transfers() -> None:
    second = transfer(
        end_to_end_id="E2E-2",
        uetr="9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d",
        amount=Decimal("0.50"),
        instruction_id=None,
        transaction_id=None,
        settlement_date=None,
        remittance=None,
    )
    msg = credit_transfer(transfer(), second)
    data = pacs008.build(msg)
    validate(pacs008.MESSAGE, data)
    assert pacs008.parse(data) == msg
    assert b"<CtrlSum>1500.50</CtrlSum>" in data
    assert b"<NbOfTxs>2</NbOfTxs>" in data


def test_pacs002_round_trip_per_transaction_and_for_the_group() -> None:
    accepted = pacs002.TxStatus(
        "ACCP", "E2E-1", UETR, "I-1", "TX-1", accepted_at=NOW, bank_reference="FT1"
    )
    rejected = pacs002.TxStatus("RJCT", "E2E-2", reason="AC01", info="No such account")
    msg = pacs002.Pacs002("ST-1", NOW, "HUB1", pacs008.MESSAGE, (accepted, rejected))
    assert pacs002.parse(pacs002.build(msg)) == msg
    group = pacs002.Pacs002(
        "ST-2", NOW, "NOTPROVIDED", pacs008.MESSAGE, group=pacs002.GroupStatus("RJCT", "FF01")
    )
    assert pacs002.parse(pacs002.build(group)) == group


def test_pacs004_round_trip() -> None:
    ret = pacs004.Return(
        "RTR-1",
        "E2E-1",
        Decimal("1500.00"),
        "KES",
        "AC04",
        original_msg_id="HUB1",
        original_transaction_id="TX-1",
        original_uetr=UETR,
        info="Account closed after the credit",
    )
    msg = pacs004.Pacs004("RT-1", NOW, (ret,))
    data = pacs004.build(msg)
    assert pacs004.parse(data) == msg
    assert b'<RtrdIntrBkSttlmAmt Ccy="KES">1500.00</RtrdIntrBkSttlmAmt>' in data


def test_pacs009_round_trip_for_a_settlement_leg() -> None:
    leg = pacs009.FiTransfer(
        "W20250101-1-68",
        Decimal("250000.00"),
        "KES",
        debtor=Agent(member_id="68"),
        creditor=Agent(bic="CBKEKENX"),
        settlement_date=date(2025, 1, 1),
        uetr=UETR,
        debtor_account="1000068",
        remittance="settlement window 20250101-1",
    )
    msg = pacs009.Pacs009("SW-1", NOW, (leg,))
    data = pacs009.build(msg)
    assert pacs009.parse(data) == msg
    assert b"<ChrgBr>" not in data  # an FI transfer has no charge bearer


def _entry(**change: object) -> camt.Entry:
    fields: dict[str, object] = {
        "amount": Decimal("1500.00"),
        "currency": "KES",
        "credit": True,
        "booked_at": NOW,
        "value_on": NOW.date(),
        "bank_reference": "FT-1",
        "end_to_end_id": "E2E-1",
        "uetr": UETR,
        "transaction_id": "TX-1",
        "counterparty": "Jane Wanjiku",
        **change,
    }
    return camt.Entry(**fields)  # type: ignore[arg-type]


def test_camt053_and_camt054_round_trip() -> None:
    debit = _entry(credit=False, bank_reference="FT-2", end_to_end_id="E2E-2", uetr=None)
    balances = (
        camt.Balance("OPBD", Decimal("-100.00"), "KES", NOW.date()),
        camt.Balance("CLBD", Decimal("-100.00"), "KES", NOW.date()),
    )
    report = camt.Report("S-1", "1100223344", (_entry(), debit), balances, "KES", NOW, 7)
    statement = camt.Statement("M-1", NOW, (report,))
    data = camt.build_statement(statement)
    assert camt.parse_statement(data) == statement
    assert report.balanced()
    note = camt.Statement(
        "N-1", NOW, (camt.Report("N-1", "1100223344", (_entry(),)),), camt.NOTIFICATION, True
    )
    assert camt.parse_notification(camt.build_notification(note)) == note
    with pytest.raises(ValueError, match="no balances"):
        camt.Statement("N-2", NOW, (report,), camt.NOTIFICATION, True)


def test_pain001_round_trip_with_two_blocks() -> None:
    def pay(n: int, bank: str) -> pain001.Payment:
        return pain001.Payment(
            f"PAY-{n}", Decimal(f"{n}000.00"), "KES", f"Payee {n}", f"01500{n:05d}",
            Agent(member_id=bank), instruction_id=f"I-{n}", remittance="January stipend",
        )  # fmt: skip

    blocks = (
        pain001.PaymentBlock(
            "B-1", date(2025, 1, 2), "Ministry of Health", "1000200030", Agent(member_id="01"),
            (pay(1, "68"), pay(2, "11")),
        ),
        pain001.PaymentBlock(
            "B-2", date(2025, 1, 3), "Ministry of Health", "1000200030", Agent(member_id="01"),
            (pay(3, "03"),),
        ),
    )  # fmt: skip
    msg = pain001.Pain001("GOV-1", NOW, "Ministry of Health", blocks)
    data = pain001.build(msg)
    assert pain001.parse(data) == msg
    assert b"<CtrlSum>6000.00</CtrlSum>" in data


# --- refusals, each naming the element -------------------------------------------------------


def test_a_schema_failure_names_the_element() -> None:
    no_debtor_agent = PACS008_SAMPLE.replace(
        b"<DbtrAgt><FinInstnId><ClrSysMmbId><MmbId>68</MmbId></ClrSysMmbId></FinInstnId></DbtrAgt>",
        b"",
    )
    with pytest.raises(MessageError, match="CdtTrfTxInf") as err:
        pacs008.parse(no_debtor_agent)
    assert err.value.message == pacs008.MESSAGE
    assert "DbtrAgt" in err.value.reason


def test_elements_out_of_the_xsd_order_are_refused() -> None:
    swapped = PACS008_SAMPLE.replace(b"<ChrgBr>SLEV</ChrgBr>", b"").replace(
        b"<Dbtr><Nm>", b"<ChrgBr>SLEV</ChrgBr><Dbtr><Nm>"
    )
    pacs008.parse(swapped)  # still in order: ChrgBr comes before Dbtr
    wrong = PACS008_SAMPLE.replace(b"<ChrgBr>SLEV</ChrgBr>", b"").replace(
        b"</Cdtr>", b"</Cdtr><ChrgBr>SLEV</ChrgBr>"
    )
    with pytest.raises(MessageError, match="CdtTrfTxInf"):
        pacs008.parse(wrong)


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        (UETR.encode(), UETR.upper().encode(), "UETR"),
        (b"<EndToEndId>E2E-1</EndToEndId>", b"<EndToEndId>" + b"E" * 36 + b"</EndToEndId>",
         "EndToEndId"),
        (b'Ccy="KES">1500.00', b'Ccy="kes">1500.00', "IntrBkSttlmAmt"),
        (b"<SttlmMtd>CLRG</SttlmMtd>", b"<SttlmMtd>CASH</SttlmMtd>", "SttlmMtd"),
        (b"<ChrgBr>SLEV</ChrgBr>", b"<ChrgBr>OURS</ChrgBr>", "ChrgBr"),
    ],
)  # fmt: skip
def test_values_the_schema_refuses(old: bytes, new: bytes, where: str) -> None:
    with pytest.raises(MessageError) as err:
        pacs008.parse(PACS008_SAMPLE.replace(old, new))
    assert where in str(err.value)


def test_totals_that_do_not_add_up_are_refused() -> None:
    two = PACS008_SAMPLE.replace(b"<NbOfTxs>1</NbOfTxs>", b"<NbOfTxs>2</NbOfTxs>")
    with pytest.raises(MessageError, match=r"GrpHdr/NbOfTxs: says 2, found 1"):
        pacs008.parse(two)
    wrong_sum = PACS008_SAMPLE.replace(
        b"<NbOfTxs>1</NbOfTxs>", b"<NbOfTxs>1</NbOfTxs><CtrlSum>1600.00</CtrlSum>"
    )
    with pytest.raises(MessageError, match=r"CtrlSum: says 1600\.00"):
        pacs008.parse(wrong_sum)
    data = pain001.build(
        pain001.Pain001(
            "GOV-1", NOW, "Treasury",
            (pain001.PaymentBlock(
                "B-1", date(2025, 1, 2), "Treasury", "1000", Agent(member_id="01"),
                (pain001.Payment("P-1", Decimal("10.00"), "KES", "A", "1", Agent(member_id="68")),),
            ),),
        )
    )  # fmt: skip
    with pytest.raises(MessageError, match=r"PmtInf\[1\]/CtrlSum"):
        pain001.parse(data.replace(b"<CtrlSum>10.00</CtrlSum></PmtInf>", b"", 1).replace(
            b"<NbOfTxs>1</NbOfTxs><CtrlSum>10.00</CtrlSum><ReqdExctnDt>",
            b"<NbOfTxs>1</NbOfTxs><CtrlSum>11.00</CtrlSum><ReqdExctnDt>",
        ))  # fmt: skip


def test_what_the_hub_needs_beyond_the_schema_is_named() -> None:
    no_uetr = PACS008_SAMPLE.replace(b"\n    <UETR>" + UETR.encode() + b"</UETR>", b"")
    with pytest.raises(MessageError, match=r"CdtTrfTxInf\[1\]/PmtId/UETR: required"):
        pacs008.parse(no_uetr)
    no_account = PACS008_SAMPLE.replace(
        b"<CdtrAcct><Id><Othr><Id>1100223344</Id></Othr></Id></CdtrAcct>", b""
    )
    with pytest.raises(MessageError, match="CdtrAcct: required"):
        pacs008.parse(no_account)


def test_unsafe_or_foreign_documents_are_refused_before_reading() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><Document>&b;</Document>'
    )
    with pytest.raises(MessageError, match="forbidden"):
        pacs008.parse(bomb)
    external = (
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<Document>&x;</Document>"
    )
    with pytest.raises(MessageError, match="forbidden"):
        pacs008.parse(external)
    with pytest.raises(MessageError, match="not well-formed"):
        pacs008.parse(b"<Document><unclosed></Document>")
    with pytest.raises(MessageError, match="larger than"):
        pacs008.parse(b"<Document>" + b" " * 1_100_000 + b"</Document>")
    with pytest.raises(MessageError, match=r"expected one of pacs\.008\.001\.08"):
        pacs008.parse(PACS002_SAMPLE)
    with pytest.raises(MessageError, match="not an ISO 20022 Document"):
        pacs002.parse(b"<Document xmlns='urn:example'/>")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"uetr": UETR.upper()}, "uetr"),
        ({"end_to_end_id": "E" * 36}, "end_to_end_id"),
        ({"end_to_end_id": "  "}, "end_to_end_id"),
        ({"amount": Decimal("10.001")}, "amount"),
        ({"amount": Decimal("-1.00")}, "amount"),
        ({"amount": Decimal("0")}, "amount"),
        ({"currency": "kes"}, "amount"),
        ({"charge_bearer": "OURS"}, "charge_bearer"),
        ({"creditor_account": "1" * 35}, "creditor_account"),
        ({"remittance": "x" * 141}, "remittance"),
    ],
)
def test_builders_refuse_bad_values_naming_the_field(change: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field}"):
        transfer(**change)


def test_a_message_needs_distinct_ids_and_a_zoned_time() -> None:
    with pytest.raises(ValueError, match="transfers: id repeated"):
        credit_transfer(transfer(), transfer(uetr="9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d"))
    with pytest.raises(ValueError, match="uetr repeated"):
        credit_transfer(transfer(), transfer(end_to_end_id="E2E-2"))
    with pytest.raises(ValueError, match="time zone"):
        pacs008.Pacs008("M", NOW.replace(tzinfo=None), (transfer(),))
    with pytest.raises(ValueError, match="agent"):
        Agent()
    with pytest.raises(ValueError, match="not a BIC"):
        Agent(bic="kcblkenx")


# --- codes and the hub seam ------------------------------------------------------------------


def test_every_status_has_an_outcome_and_an_unknown_one_is_pending() -> None:
    assert {codes.outcome_of(s) for s in codes.TX_STATUS} == {
        "accepted",
        "committed",
        "pending",
        "rejected",
    }
    assert codes.outcome_of("ACCP") == "accepted"
    assert codes.outcome_of("ACSC") == "committed"
    assert codes.outcome_of("RJCT") == "rejected"
    assert codes.outcome_of("ZZZZ") == "pending"
    for outcome, status in codes.OUTCOME_STATUS.items():
        assert codes.outcome_of(status) == outcome


@pytest.mark.parametrize(
    ("code", "hub"),
    [
        ("AM04", "payer_insufficient_liquidity"),
        ("AM05", "duplicate"),
        ("AB05", "payee_timeout"),
        ("AB06", "timeout"),
        ("AC01", "payee_account_unknown"),
        ("AC04", "payee_account_closed"),
        ("AC06", "payee_account_blocked"),
        ("BE01", "payee_name_mismatch"),
        ("FF01", "invalid_message"),
    ],
)
def test_reason_codes_map_both_ways(code: str, hub: str) -> None:
    assert codes.hub_reason(code) == hub
    assert codes.reason_code(hub) == code
    assert len(codes.reason_text(code)) <= pacs002.INFO_MAX


def test_reasons_the_tables_do_not_know() -> None:
    assert codes.reason_code("payer_limit") == "AM04"  # Mojaloop's 4200, like 4001
    assert codes.hub_reason("ZZ99") == "other"
    assert codes.hub_reason(None) == "other"
    assert codes.reason_code("something_new") == "NARR"
    assert "4001" in codes.BY_CODE["AM04"].mojaloop
    assert "3303" in codes.BY_CODE["AB05"].mojaloop


def test_a_pacs008_as_the_hubs_json_transfer() -> None:
    (got,) = hub_map.transfers_of(pacs008.parse(PACS008_SAMPLE))
    assert got == {
        "transfer_id": UETR,
        "end_to_end_id": "E2E-1",
        "msg_id": "HUB20250101000001",
        "amount": "1500.00",
        "currency": "KES",
        "payer": {"bank_code": "68", "bic": None, "account": "0123456789", "name": "Jane Wanjiku"},
        "payee": {
            "bank_code": None,
            "bic": "KCBLKENX",
            "account": "1100223344",
            "name": "John Otieno",
        },
        "remittance": "Invoice 42",
    }


def test_hub_outcomes_as_a_pacs002_and_back() -> None:
    second = transfer(end_to_end_id="E2E-2", uetr="9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d")
    third = transfer(end_to_end_id="E2E-3", uetr="0b1c2d3e-4f5a-4b6c-9d7e-1f2a3b4c5d6e")
    original = credit_transfer(transfer(), second, third)
    results = [
        hub_map.HubOutcome(UETR, "committed", at=NOW),
        hub_map.HubOutcome(second.uetr, "rejected", "payer_limit"),
    ]
    report = hub_map.status_report(original, results, "ST-9", NOW)
    data = pacs002.build(report)
    back = pacs002.parse(data)
    first, rejected, silent = back.statuses
    assert (first.status, first.accepted_at) == ("ACSC", NOW)
    assert (rejected.status, rejected.reason) == ("RJCT", "AM04")
    assert rejected.info == codes.reason_text("AM04")
    assert silent.status == "PDNG"  # no outcome yet: never guessed
    assert hub_map.outcome_of(rejected) == hub_map.HubOutcome(
        second.uetr, "rejected", "payer_insufficient_liquidity", rejected.info
    )
    assert hub_map.outcome_of(first).outcome == "committed"
    stranger = hub_map.HubOutcome(UETR[:-1] + "0", "committed")
    with pytest.raises(ValueError, match="not transfers of"):
        hub_map.status_report(original, [stranger], "X", NOW)
    with pytest.raises(ValueError, match="OrgnlUETR"):
        hub_map.outcome_of(pacs002.TxStatus("ACCP", "E2E-1"))


def test_times_keep_their_offset() -> None:
    msg = pacs008.parse(PACS008_SAMPLE.replace(b"+03:00", b"Z"))
    assert msg.created == datetime(2025, 1, 1, 10, 15, tzinfo=UTC)
    with pytest.raises(MessageError, match="time zone"):
        pacs008.parse(PACS008_SAMPLE.replace(b"10:15:00+03:00", b"10:15:00"))


# --- message signatures ------------------------------------------------------------------------


def test_a_signed_message_verifies_only_from_its_sender_with_its_key() -> None:
    key, other = sandbox_key("68"), sandbox_key("11")
    body = pacs008.build(credit_transfer())
    headers = signing.sign(key, signing.HUB, "HUB20250101000001", body, now=1_000_000)
    assert headers["content-type"] == "application/xml"
    assert signing.verify(key, signing.HUB, headers, body, now=1_000_010) == "HUB20250101000001"
    refusals = {
        "other key": (other, signing.HUB, headers, body, 1_000_010),
        "tampered": (key, signing.HUB, headers, body.replace(b"1500", b"9500"), 1_000_010),
        "stale": (key, signing.HUB, headers, body, 1_000_000 + 301),
        "reflected": (key, "68", headers, body, 1_000_010),
        "sender header changed": (key, "68", {**headers, "x-iso-sender": "68"}, body, 1_000_010),
    }
    for what, (k, sender, h, b, now) in refusals.items():
        with pytest.raises(signing.BadSignature):
            signing.verify(k, sender, h, b, now=now)
        assert what


def test_a_bank_decides_by_its_book() -> None:
    bank = default_banks()["68"]

    def to(account: str, name: str, **change: object) -> pacs008.CreditTransfer:
        agent = change.pop("agent", Agent(member_id="68"))
        return transfer(
            creditor_account=account, creditor_name=name, creditor_agent=agent, **change
        )

    assert refusal(bank, to("6810000001", "jane   WANJIKU"), check_names=True) is None
    assert refusal(bank, to("6810000001", "JOHN"), check_names=True) == "BE01"
    assert refusal(bank, to("6810000001", "JOHN"), check_names=False) is None
    assert refusal(bank, to("6899999999", "X"), check_names=True) == "AC01"
    assert refusal(bank, to("6810000404", "PETER KAMAU"), check_names=True) == "AC04"
    assert refusal(bank, to("6810000606", "GRACE MUTHONI"), check_names=True) == "AC06"
    assert refusal(bank, to("6810000001", "JANE WANJIKU", agent=Agent(member_id="01")),
                   check_names=True) == "RC01"  # fmt: skip
    by_bic = to("6810000001", "JANE WANJIKU", agent=Agent(bic="EQBLKENA"))
    assert refusal(bank, by_bic, check_names=True) is None
    assert refusal(bank, to("6810000001", "JANE WANJIKU", currency="USD"), True) == "AM03"
    assert sandbox_key("68") != sandbox_key("01")
    for code in ("AC01", "AC04", "AC06", "BE01", "RC01", "AM03", "AM05"):
        assert codes.hub_reason(code) != "other"
