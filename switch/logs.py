"""JSON logs, one object per line, with the request id when there is one. Phone numbers are
masked on the way out, whatever a message contains."""

from __future__ import annotations

import contextvars
import logging
import re
import sys
import time

import orjson

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

_MSISDN = re.compile(r"(?<!\d)(\+?254|0)([17]\d)(\d{6})(\d{2})(?!\d)")


def mask_text(text: str) -> str:
    return _MSISDN.sub(lambda m: f"{m.group(1)}{m.group(2)}******{m.group(4)}", text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": round(time.time(), 3),
            "level": record.levelname,
            "logger": record.name,
            "msg": mask_text(record.getMessage()),
        }
        rid = request_id.get()
        if rid:
            entry["request_id"] = rid
        if record.exc_info:
            entry["exc"] = mask_text(self.formatException(record.exc_info))
        return orjson.dumps(entry).decode()


def setup_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("aiohttp.access", "pymongo", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
