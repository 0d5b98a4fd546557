"""Locust scenarios of the bench suite. Run by ``python -m bench run`` as its own process:

    BENCH_SCENARIO=stk BENCH_TOKENS=tok1,tok2 BENCH_RECORDS_DIR=/tmp/x PYTHONPATH=. \\
        locust --headless -f bench/locustfile.py --host http://127.0.0.1:8080 -u 50 -r 50 -t 30s

Locust patches the standard library through gevent when imported, so this file must only ever
be loaded by the ``locust`` command, never imported by the runner or the switch.

Scenarios (``BENCH_SCENARIO``, or the user class name on the command line):

- ``stk``          StkUser: STK Push collections, a new Idempotency-Key each time.
- ``retry_storm``  RetryStormUser: each key sent as ``BENCH_STORM_COPIES`` (10) concurrent copies;
                   every copy must answer 202 with the same payment id.
- ``mixed``        MixedUser: every rail of the provider registry (bench/ops.py): each provider's
                   own collections and payouts (its bench description), ``auto`` collections,
                   transfers between account kinds, GETs of recent objects; weighted as the
                   descriptions say.
- ``daraja``       DarajaUser: STK Push straight to the Daraja simulator (the ceiling of the rail).
- ``hub``          HubUser: a participant bank of the interoperability hub (``BENCH_HUB_BANKS``,
                   one per token): looks up an account another bank holds, then prepares a
                   transfer to it (the payee's answer comes from the runner, bench/hub.py).

Merchants: ``BENCH_TOKENS`` holds one bearer token per merchant, comma-separated (``BENCH_TOKEN``,
a single one, is read when it is empty). Users take them round-robin in the order they start: user
``n`` acts for merchant ``n % len(tokens)`` for its whole life, and its records carry that index.

Closed loop (default): each user sends its next request as soon as the previous one answered.
Open loop (``BENCH_RATE`` > 0, operations/s over all users; a retry storm is one operation): each
user fires on a fixed schedule whatever the answers, each operation in its own greenlet, so a slow
answer does not delay the next one and latency is measured from when the operation was due (no
coordinated omission). At most ``BENCH_MAX_INFLIGHT`` operations per user are in flight; a due
one beyond that is skipped and recorded as an ``inflight_cap`` error.

Every request is written to ``BENCH_RECORDS_DIR/records-<pid>.jsonl`` (see bench/records.py).
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import itertools
import os
import random
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any, ClassVar

import gevent
import orjson
from gevent.pool import Group
from locust import FastHttpUser, events, task
from locust.user.task import LOCUST_STATE_STOPPING

from bench.benefitrun import (
    BENEFICIARIES,
    BENEFIT_RUN,
    BENEFIT_STEP,
    beneficiary_body,
    lookup_body,
    national_id,
    programme_body,
)
from bench.bills import C2B_PAY, c2b_order, payer_phone
from bench.ops import MIXED_WEIGHTS, OPS, READ_PATHS, Destinations, build, is_bill, rail_of
from bench.records import (
    CREATE,
    DARAJA,
    GET,
    HUB_LOOKUP,
    HUB_PREPARE,
    INFLIGHT_CAP,
    NO_ID,
    SKIPPED,
    STORM,
    STORM_MISMATCH,
    Record,
    records_path,
)

TOKENS = [
    t for t in (os.environ.get("BENCH_TOKENS") or os.environ.get("BENCH_TOKEN", "")).split(",") if t
] or [""]
RECORDS_DIR = os.environ.get("BENCH_RECORDS_DIR", "")
RATE = float(os.environ.get("BENCH_RATE") or 0)  # total requests/s over all users; 0: closed loop
USERS = max(1, int(os.environ.get("BENCH_USERS") or 1))
MAX_INFLIGHT = max(1, int(os.environ.get("BENCH_MAX_INFLIGHT") or 100))
STORM_COPIES = max(1, int(os.environ.get("BENCH_STORM_COPIES") or 10))
MAX_SECONDS = float(os.environ.get("BENCH_MAX_SECONDS") or 3600)  # hard bound on any loop here
CALLBACK_URL = os.environ.get("BENCH_CALLBACK_URL", "http://127.0.0.1:9/daraja")
SIM_URL = os.environ.get("BENCH_SIM_URL", "")  # the Daraja simulator: customers pay bills there
# Benefit runs: the agency's maker and checker (people signed in), comma-separated.
MAKER, _, CHECKER = os.environ.get("BENCH_BENEFIT_TOKENS", "").partition(",")
SHORTCODE = os.environ.get("BENCH_SHORTCODE", "174379")
PASSKEY = os.environ.get(
    "BENCH_PASSKEY", "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"
)
AMOUNT = "150"
STK_RAIL = rail_of(CREATE)  # the stk and retry_storm scenarios' rail
EAT_OFFSET_S = 3 * 3600

# Sandbox triggers chosen by the last four digits (declines, no callback): never generated.
_TRIGGERS = frozenset({"1032", "0001", "1037", "2001", "0404"})
_phone_seq = itertools.count(1)
_ref_seq = itertools.count(1)
_user_seq = itertools.count(0)


def next_subscriber() -> str:
    """Seven digits never handed out before in this process: one phone per payment, so the
    simulator's subscriber lock never refuses a push and a second push per phone is a duplicate."""
    for _ in range(len(_TRIGGERS) + 1):
        digits = f"{next(_phone_seq) % 10**7:07d}"
        if digits[-4:] not in _TRIGGERS:
            return digits
    raise RuntimeError("unreachable: at most five consecutive trigger numbers")


class Recorder:
    """Buffers records and appends them to this process's file about twice a second."""

    def __init__(self, directory: str) -> None:
        self.path = records_path(directory, os.getpid()) if directory else None
        self.buffer: list[str] = []
        self.closed = False
        self._flusher: gevent.Greenlet | None = None

    def add(self, record: Record) -> None:
        if self.path is not None:
            self.buffer.append(record.to_line())

    def start(self) -> None:
        if self.path is not None and self._flusher is None:
            self._flusher = gevent.spawn(self._loop)

    def _loop(self) -> None:
        deadline = time.monotonic() + MAX_SECONDS
        while not self.closed and time.monotonic() < deadline:
            gevent.sleep(0.5)
            self.flush()

    def flush(self) -> None:
        if self.path is None or not self.buffer:
            return
        lines, self.buffer = self.buffer, []
        with self.path.open("a") as fh:
            fh.write("".join(lines))

    def close(self) -> None:
        self.flush()
        self.closed = True


RECORDER = Recorder(RECORDS_DIR)


def _on_test_start(**_kwargs: Any) -> None:
    RECORDER.start()


def _on_test_stop(**_kwargs: Any) -> None:
    RECORDER.flush()


def _on_quitting(**_kwargs: Any) -> None:
    RECORDER.close()


events.test_start.add_listener(_on_test_start)  # type: ignore[no-untyped-call]
events.test_stop.add_listener(_on_test_stop)  # type: ignore[no-untyped-call]
events.quitting.add_listener(_on_quitting)  # type: ignore[no-untyped-call]


def error_kind(status: int, error: object | None, code: str = "") -> str:
    """``http_<status>`` (``http_<status>:<code>`` when the body names an error code),
    ``timeout`` or ``conn_<exception>``."""
    if status > 0:
        return f"http_{status}:{code}" if code else f"http_{status}"
    name = type(error).__name__ if error is not None else "no_answer"
    return "timeout" if "timeout" in name.lower() else f"conn_{name}"


def _error_code(response: Any) -> str:
    """The switch's ``{"error": {"code": ...}}``, or RFC 6749's ``{"error": "..."}``."""
    err = _json_of(response).get("error")
    if isinstance(err, dict):
        err = err.get("code")
    return str(err)[:40] if isinstance(err, str) else ""


def _json_of(response: Any) -> dict[str, Any]:
    try:
        body = orjson.loads(response.content or b"{}")
    except orjson.JSONDecodeError:
        return {}
    return body if isinstance(body, dict) else {}


class BenchUser(FastHttpUser):
    """Shared machinery: closed or open loop over weighted operations ``op_<name>(due)``."""

    abstract = True
    network_timeout = 20.0
    connection_timeout = 10.0
    concurrency = max(MAX_INFLIGHT, STORM_COPIES)  # the pool: open loop and storms send in parallel
    weights: ClassVar[dict[str, int]] = {}

    def on_start(self) -> None:
        self.merchant = next(_user_seq) % len(TOKENS)  # round-robin over the merchants
        token = TOKENS[self.merchant]
        self.auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.recent: deque[str] = deque(maxlen=200)
        names = list(self.weights)
        self._ops = [self.operation(name) for name in names]
        self._weights = [self.weights[name] for name in names]

    def operation(self, name: str) -> Callable[[float | None], None]:
        """The task ``name`` of the weights: the method ``op_<name>``."""
        op: Callable[[float | None], None] = getattr(self, f"op_{name}")
        return op

    @task
    def drive(self) -> None:
        if RATE > 0:
            self._open_loop()
        else:
            self._one(None)

    def _one(self, due: float | None) -> None:
        random.choices(self._ops, self._weights)[0](due)

    def _open_loop(self) -> None:
        interval = USERS / RATE
        inflight = Group()
        deadline = time.time() + MAX_SECONDS
        due = time.time() + random.random() * interval  # users out of phase
        while self._state != LOCUST_STATE_STOPPING and due < deadline:
            wait = due - time.time()
            if wait > 0:
                gevent.sleep(wait)
            if len(inflight) >= MAX_INFLIGHT:
                RECORDER.add(
                    Record(due, 0.0, SKIPPED, -1, error=INFLIGHT_CAP, merchant=self.merchant)
                )
            else:
                inflight.spawn(self._one, due)
            due += interval
        inflight.join(timeout=self.network_timeout + self.connection_timeout)

    # --- the switch's API ---------------------------------------------------------------------

    def payment_body(self) -> tuple[str, str]:
        phone = "071" + next_subscriber()
        ref = f"B{next(_ref_seq)}"
        body = {
            "method": STK_RAIL,
            "amount": AMOUNT,
            "currency": "KES",
            "phone": phone,
            "reference": ref,
            "description": f"Order {ref}"[:13],
        }
        return phone, orjson.dumps(body).decode()

    def post_payment(self, due: float | None, key: str, phone: str, body: str, op: str) -> Record:
        t0 = time.time() if due is None else due
        headers = {**self.auth, "Idempotency-Key": key}
        with self.client.post(
            "/v1/payments", data=body, headers=headers, name=f"{op} POST /v1/payments",
            catch_response=True,
        ) as resp:  # fmt: skip
            latency = time.time() - t0
            status = resp.status_code
            payment_id, error = "", ""
            if status == 202:
                payment_id = str(_json_of(resp).get("id") or "")
                error = "" if payment_id else NO_ID
            else:
                error = error_kind(status, getattr(resp, "error", None), _error_code(resp))
            if error:
                resp.failure(error)
            else:
                resp.success()
        return Record(t0, latency, op, status, payment_id, key, phone, error, self.merchant)

    def op_stk(self, due: float | None) -> None:
        phone, body = self.payment_body()
        record = self.post_payment(due, uuid.uuid4().hex, phone, body, CREATE)
        RECORDER.add(record)
        if record.id:
            self.recent.append(record.id)

    def op_storm(self, due: float | None) -> None:
        phone, body = self.payment_body()
        key = uuid.uuid4().hex
        copies: list[Record] = []
        group = Group()
        for _ in range(STORM_COPIES):
            group.spawn(lambda: copies.append(self.post_payment(due, key, phone, body, STORM)))
        group.join(timeout=self.network_timeout + self.connection_timeout)
        ids = {r.id for r in copies if r.id}
        for r in copies:
            mismatch = len(ids) > 1 and not r.error
            RECORDER.add(dataclasses.replace(r, error=STORM_MISMATCH) if mismatch else r)
        for payment_id in ids:
            self.recent.append(payment_id)

    def op_get(self, due: float | None) -> None:
        if not self.recent:
            self.op_stk(due)
            return
        payment_id = random.choice(self.recent)
        t0 = time.time() if due is None else due
        with self.client.get(
            f"/v1/payments/{payment_id}", headers=self.auth, name="GET /v1/payments/{id}",
            catch_response=True,
        ) as resp:  # fmt: skip
            latency = time.time() - t0
            status = resp.status_code
            error = "" if status == 200 else error_kind(status, getattr(resp, "error", None))
            if not error and _json_of(resp).get("id") != payment_id:
                error = "wrong_payment"
            if error:
                resp.failure(error)
            else:
                resp.success()
        RECORDER.add(Record(t0, latency, GET, status, "", "", "", error, self.merchant))

    # --- the Daraja simulator directly ----------------------------------------------------------

    def op_daraja(self, due: float | None) -> None:
        phone = "25471" + next_subscriber()
        stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(time.time() + EAT_OFFSET_S))
        password = base64.b64encode(f"{SHORTCODE}{PASSKEY}{stamp}".encode()).decode()
        ref = f"B{next(_ref_seq)}"
        body = orjson.dumps(
            {
                "BusinessShortCode": SHORTCODE,
                "Password": password,
                "Timestamp": stamp,
                "TransactionType": "CustomerPayBillOnline",
                "Amount": AMOUNT,
                "PartyA": phone,
                "PartyB": SHORTCODE,
                "PhoneNumber": phone,
                "CallBackURL": CALLBACK_URL,
                "AccountReference": ref,
                "TransactionDesc": f"Order {ref}"[:13],
            }
        ).decode()
        t0 = time.time() if due is None else due
        with self.client.post(
            "/mpesa/stkpush/v1/processrequest", data=body, headers=self.auth,
            name="POST stkpush", catch_response=True,
        ) as resp:  # fmt: skip
            latency = time.time() - t0
            status = resp.status_code
            checkout = ""
            if status == 200:
                answer = _json_of(resp)
                checkout = str(answer.get("CheckoutRequestID") or "")
                error = "" if checkout and answer.get("ResponseCode") == "0" else NO_ID
            else:
                error = error_kind(status, getattr(resp, "error", None))
            if error:
                resp.failure(error)
            else:
                resp.success()
        RECORDER.add(Record(t0, latency, DARAJA, status, checkout, "", phone, error))


class StkUser(BenchUser):
    weights: ClassVar[dict[str, int]] = {"stk": 1}


class RetryStormUser(BenchUser):
    weights: ClassVar[dict[str, int]] = {"storm": 1}


DESTINATIONS = Destinations()
_pair_seq = itertools.count(0)
_id_seq = itertools.count(1)
# What a read does before anything was created: the first create operation of the mix.
FIRST_OP = next((name for name, o in OPS.items() if o.build is not None), "")


class MixedUser(BenchUser):
    """Every rail of the registry (bench/ops.py): each create operation is ``_create`` of its
    name, reads are ``op_get``. Creates are remembered with their kind for the GETs."""

    weights: ClassVar[dict[str, int]] = MIXED_WEIGHTS

    def on_start(self) -> None:
        super().on_start()
        self.recent_objects: deque[tuple[str, str]] = deque(maxlen=200)  # (id, kind)

    def operation(self, name: str) -> Callable[[float | None], None]:
        if OPS[name].build is None:
            return super().operation(name)
        return functools.partial(self._create, op=name)

    def _create(self, due: float | None, op: str) -> None:
        ref = f"B{next(_ref_seq)}"
        body, destination = build(op, DESTINATIONS, ref, next(_pair_seq))
        spec = OPS[op]
        t0 = time.time() if due is None else due
        key = uuid.uuid4().hex
        headers = {**self.auth, "Idempotency-Key": key}
        data = orjson.dumps(body).decode()
        with self.client.post(
            spec.path, data=data, headers=headers, name=f"{op} POST {spec.path}",
            catch_response=True,
        ) as resp:  # fmt: skip
            latency = time.time() - t0
            status = resp.status_code
            object_id, error = "", ""
            if status in (201, 202):  # bills are created at once (201), payments accepted (202)
                object_id = str(_json_of(resp).get("id") or "")
                error = "" if object_id else NO_ID
            else:
                error = error_kind(status, getattr(resp, "error", None), _error_code(resp))
            if error:
                resp.failure(error)
            else:
                resp.success()
        RECORDER.add(
            Record(t0, latency, op, status, object_id, key, destination, error, self.merchant)
        )
        if object_id:
            self.recent_objects.append((object_id, spec.kind))
            if is_bill(op):
                self._pay_bill(spec.kind, object_id, body, destination)

    def _pay_bill(self, kind: str, bill_id: str, body: dict[str, Any], account: str) -> None:
        """The customer pays the bill in full by C2B at the Daraja simulator, which answers once
        validation and confirmation are done (bench/bills.py). Recorded as ``c2b_pay`` with the
        bill's id as its key; a payment the simulator did not complete is an error, and the bill
        then stays unpaid in the checks."""
        order = c2b_order(kind, self.merchant, account, str(body["amount"]), payer_phone(body))
        t0 = time.time()
        with self.client.post(
            f"{SIM_URL}/__sim/c2b/pay", data=orjson.dumps(order).decode(), name="POST c2b pay",
            headers={"Content-Type": "application/json"}, catch_response=True,
        ) as resp:  # fmt: skip
            latency = time.time() - t0
            status = resp.status_code
            state = str(_json_of(resp).get("state") or "")
            if status != 200:
                error = error_kind(status, getattr(resp, "error", None))
            else:
                error = "" if state == "completed" else f"c2b_{state or 'no_state'}"
            if error:
                resp.failure(error)
            else:
                resp.success()
        RECORDER.add(
            Record(t0, latency, C2B_PAY, status, "", bill_id, account, error, self.merchant)
        )

    def op_benefit_run(self, due: float | None) -> None:
        """One benefit programme cycle (bench/benefitrun.py): three fresh bank accounts' holders
        looked up and registered, a run of this cycle made by the maker and approved by the
        checker. The run is the record the checks follow; the other requests are
        ``benefit_step`` records (their own latency and errors)."""
        maker = {"Authorization": f"Bearer {MAKER}", "Content-Type": "application/json"}
        ref = f"B{next(_ref_seq)}"
        people = []
        for _ in range(BENEFICIARIES):
            account = DESTINATIONS.account()
            found = self._step("POST", "/v1/lookups", maker, lookup_body(account), 200, "lookup")
            if found is None:
                return
            people.append((account, str(found.get("holder_name") or "")))
        made = self._step("POST", "/v1/benefits/programmes", maker, programme_body(ref), 201,
                          "programme", key=True)  # fmt: skip
        if made is None:
            return
        base = f"/v1/benefits/programmes/{made['id']}"
        for account, name in people:
            body = beneficiary_body(national_id(next(_id_seq)), DESTINATIONS.phone("071"), name,
                                    account)  # fmt: skip
            if self._step("POST", f"{base}/beneficiaries", maker, body, 201, "beneficiary") is None:
                return
        t0 = time.time() if due is None else due
        key = uuid.uuid4().hex
        cycle = time.strftime("%Y-%m", time.gmtime(time.time() + EAT_OFFSET_S))
        with self.client.post(
            f"{base}/runs", data=orjson.dumps({"cycle": cycle}).decode(),
            headers={**maker, "Idempotency-Key": key}, name=f"{BENEFIT_RUN} POST runs",
            catch_response=True,
        ) as resp:  # fmt: skip
            latency = time.time() - t0
            run_id = str(_json_of(resp).get("id") or "") if resp.status_code == 201 else ""
            error = "" if run_id else error_kind(resp.status_code, getattr(resp, "error", None),
                                                 _error_code(resp))  # fmt: skip
            if error:
                resp.failure(error)
            else:
                resp.success()
        RECORDER.add(Record(t0, latency, BENEFIT_RUN, resp.status_code, run_id, key, ref, error,
                            self.merchant))  # fmt: skip
        if run_id:
            checker = {"Authorization": f"Bearer {CHECKER}"}
            deadline = time.monotonic() + self.network_timeout
            status = self._approve(run_id, checker)
            while status == 503 and time.monotonic() < deadline:  # 503: approve again
                gevent.sleep(0.2)
                status = self._approve(run_id, checker)

    def _approve(self, run_id: str, checker: dict[str, str]) -> int:
        t0 = time.time()
        with self.client.post(
            f"/v1/benefits/runs/{run_id}/approve", headers=checker,
            name=f"{BENEFIT_STEP} approve", catch_response=True,
        ) as resp:  # fmt: skip
            status = resp.status_code
            error = "" if status == 200 else error_kind(status, getattr(resp, "error", None),
                                                        _error_code(resp))  # fmt: skip
            if error:
                resp.failure(error)
            else:
                resp.success()
        RECORDER.add(Record(t0, time.time() - t0, BENEFIT_STEP, status, "", run_id, "approve",
                            error, self.merchant))  # fmt: skip
        return int(status)

    def _step(
        self, method: str, path: str, headers: dict[str, str], body: dict[str, Any], ok: int,
        what: str, key: bool = False,
    ) -> dict[str, Any] | None:  # fmt: skip
        """One request of a benefit cycle, recorded as ``benefit_step``; its answer, or None."""
        t0 = time.time()
        sent = {**headers, **({"Idempotency-Key": uuid.uuid4().hex} if key else {})}
        with self.client.request(
            method, path, data=orjson.dumps(body).decode(), headers=sent,
            name=f"{BENEFIT_STEP} {what}", catch_response=True,
        ) as resp:  # fmt: skip
            status = resp.status_code
            answer = _json_of(resp)
            error = "" if status == ok else error_kind(status, getattr(resp, "error", None),
                                                       _error_code(resp))  # fmt: skip
            if error:
                resp.failure(error)
            else:
                resp.success()
        RECORDER.add(Record(t0, time.time() - t0, BENEFIT_STEP, status, "", "", what, error,
                            self.merchant))  # fmt: skip
        return None if error else answer

    def op_get(self, due: float | None) -> None:
        """GET a recent payment, payout, transfer, invoice or reference of this user's merchant."""
        if not self.recent_objects:
            self._create(due, FIRST_OP)
            return
        object_id, kind = random.choice(self.recent_objects)
        path = READ_PATHS[kind]
        t0 = time.time() if due is None else due
        with self.client.get(
            path + object_id, headers=self.auth, name=f"GET {path}{{id}}", catch_response=True
        ) as resp:
            latency = time.time() - t0
            status = resp.status_code
            error = ""
            if status != 200:
                error = error_kind(status, getattr(resp, "error", None), _error_code(resp))
            if not error and _json_of(resp).get("id") != object_id:
                error = "wrong_object"
            if error:
                resp.failure(error)
            else:
                resp.success()
        # The id read rides along (a GET is never counted as accepted; records.PAYMENT_OPS).
        RECORDER.add(Record(t0, latency, GET, status, object_id, "", "", error, self.merchant))


class DarajaUser(BenchUser):
    weights: ClassVar[dict[str, int]] = {"daraja": 1}


HUB_BANKS: list[dict[str, str]] = orjson.loads(os.environ.get("BENCH_HUB_BANKS") or "[]")
HUB_EXPIRES = int(os.environ.get("BENCH_HUB_EXPIRES") or 30)


class HubUser(BenchUser):
    """A participant bank: its token is ``TOKENS[merchant]`` and ``HUB_BANKS[merchant]`` says who
    it is; each operation looks up an account of another bank and prepares a transfer to it."""

    weights: ClassVar[dict[str, int]] = {"hub": 1}

    def op_hub(self, due: float | None) -> None:
        payee = random.choice([b for i, b in enumerate(HUB_BANKS) if i != self.merchant])
        t0 = time.time() if due is None else due
        path = f"/v1/hub/parties/ACCOUNT/{payee['account']}"
        with self.client.get(
            path, headers=self.auth, name="GET /v1/hub/parties", catch_response=True
        ) as resp:
            latency = time.time() - t0
            found = str(_json_of(resp).get("participant") or "")
            error = (
                ""
                if resp.status_code == 200 and found == payee["id"]
                else (error_kind(resp.status_code, getattr(resp, "error", None), _error_code(resp)))
            )
            if error:
                resp.failure(error)
            else:
                resp.success()
        RECORDER.add(Record(t0, latency, HUB_LOOKUP, resp.status_code, "", "", "", error,
                            self.merchant))  # fmt: skip
        if error:
            return
        key = uuid.uuid4().hex
        body = orjson.dumps(
            {
                "payee_participant": found,
                "amount": str(random.randint(1, 500)),
                "currency": "KES",
                "party": {"type": "ACCOUNT", "id": payee["account"]},
                "expires_in": HUB_EXPIRES,
            }
        ).decode()
        t1 = time.time()
        with self.client.post(
            "/v1/hub/transfers", data=body, headers={**self.auth, "Idempotency-Key": key},
            name="POST /v1/hub/transfers", catch_response=True,
        ) as resp:  # fmt: skip
            latency = time.time() - t1
            status = resp.status_code
            answer = _json_of(resp)
            tid = str(answer.get("id") or "") if status == 201 else ""
            if status == 201:
                error = "" if tid else NO_ID
            else:
                error = error_kind(status, getattr(resp, "error", None), _error_code(resp))
            if error:
                resp.failure(error)
            else:
                resp.success()
        RECORDER.add(Record(t1, latency, HUB_PREPARE, status, tid, key, "", error, self.merchant))


SCENARIO_CLASSES: dict[str, type[BenchUser]] = {
    "stk": StkUser,
    "retry_storm": RetryStormUser,
    "mixed": MixedUser,
    "daraja": DarajaUser,
    "hub": HubUser,
}


def _select(scenario: str) -> None:
    """Leave only the scenario's user class runnable (locust runs every non-abstract class it
    finds in this module unless class names are given on its command line)."""
    if scenario not in SCENARIO_CLASSES:
        raise SystemExit(f"BENCH_SCENARIO must be one of {sorted(SCENARIO_CLASSES)}")
    for name, cls in SCENARIO_CLASSES.items():
        cls.abstract = name != scenario


if os.environ.get("BENCH_SCENARIO"):
    _select(os.environ["BENCH_SCENARIO"])
