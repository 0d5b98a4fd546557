"""JSON logs, one object per line, with the request, merchant and payment ids of the work in hand
(context variables: set once where the work starts, e.g. the api's middlewares, never passed by
hand to each call). Phone numbers, long account numbers and bearer/basic credentials are masked on
the way out, whatever a message contains; tokens in callback URLs never reach a log."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import re
import sys
import time
from collections.abc import Iterator, Mapping

import orjson

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
merchant_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "merchant_id", default=None
)
payment_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("payment_id", default=None)
_CONTEXT = (("request_id", request_id), ("merchant_id", merchant_id), ("payment_id", payment_id))


@contextlib.contextmanager
def acting_on(merchant: str | None, payment: str | None) -> Iterator[None]:
    """Lines logged inside carry these ids: an actor works on many payments per batch, so it
    wraps only the logging call about one of them (nothing is set on the hot path)."""
    tokens = (merchant_id.set(merchant), payment_id.set(payment))
    try:
        yield
    finally:
        merchant_id.reset(tokens[0])
        payment_id.reset(tokens[1])


# A Kenyan MSISDN: 254 or 0, then the 9-digit national number starting with 7 or 1.
_MSISDN = re.compile(r"(?<!\d)(\+?254|0)([17])(\d{6})(\d{2})(?!\d)")
# Account, card or ID numbers: any other run of 9+ digits keeps only its last four.
_LONG_NUMBER = re.compile(r"(?<![\d*])\d{5,}(\d{4})(?!\d)")
# Credentials in a header or URL that reached a message: the scheme stays, the value goes.
_CREDENTIAL = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")
# Route variables that are secrets: the HMAC in every callback URL given to a provider.
SECRET_PATH_PARAMS = frozenset({"token"})
REDACTED = "[redacted]"
# Unmatched callback paths (a forged or stale callback) may carry a token too: keep the kind.
_CALLBACK_PREFIX = re.compile(r"^(/callbacks/[^/]+)/.+$")

# Ray forwards every worker's stderr to the driver's console. By default it puts a coloured
# "(ShardActor pid=...)" before each line and folds similar lines from different workers into
# one with " [repeated Nx across cluster]" appended, which breaks the JSON lines and hides
# events. Each JSON line names its process ("proc", "pid") instead. Set before Ray is imported
# (Ray reads some of these once, at import): ``python -m switch`` calls this first.
RAY_CONSOLE_ENV = {
    "RAY_COLOR_PREFIX": "0",
    "RAY_DISABLE_WORKER_LOG_PREFIX": "1",
    "RAY_DEDUP_LOGS": "0",
}


def quiet_ray_console(environ: os._Environ[str] | dict[str, str] | None = None) -> None:
    env = os.environ if environ is None else environ
    for name, value in RAY_CONSOLE_ENV.items():
        env.setdefault(name, value)  # an operator's own choice wins


def mask_text(text: str) -> str:
    text = _MSISDN.sub(lambda m: f"{m.group(1)}{m.group(2)}******{m.group(4)}", text)
    text = _LONG_NUMBER.sub(lambda m: "*****" + m.group(1), text)
    return _CREDENTIAL.sub(lambda m: f"{m.group(1)} {REDACTED}", text)


def loggable_path(path: str, params: Mapping[str, str] | None) -> str:
    """The request path as it may be logged: secret route variables replaced, and an unmatched
    callback path cut after its kind (``params`` is None when no route matched)."""
    if params is None:
        return _CALLBACK_PREFIX.sub(rf"\1/{REDACTED}", path)
    for name in SECRET_PATH_PARAMS & params.keys():
        value = params[name]
        if value:
            path = path.replace(value, REDACTED)
    return path


def access_message(method: str, path: str, status: int, seconds: float) -> str:
    return f"{method} {path} {status} {seconds * 1000:.1f} ms"


class JsonFormatter(logging.Formatter):
    def __init__(self, proc: str | None = None) -> None:
        super().__init__()
        self._proc = proc

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": round(time.time(), 3),
            "level": record.levelname,
            "logger": record.name,
            "msg": mask_text(record.getMessage()),
        }
        if self._proc:
            entry["proc"] = self._proc
        entry["pid"] = record.process
        for name, var in _CONTEXT:
            value = var.get()
            if value:
                entry[name] = value
        http = getattr(record, "http", None)
        if isinstance(http, dict):
            entry["http"] = http
        if record.exc_info:
            entry["exc"] = mask_text(self.formatException(record.exc_info))
        return orjson.dumps(entry).decode()


def setup_logging(level: str = "INFO", proc: str | None = None) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(proc))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("aiohttp.access", "pymongo", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
