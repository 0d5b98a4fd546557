"""The API's error body, ``{"error": {"code", "message", "details": [{field, reason}]}}``, as an
exception (RFC 6749's ``{"error", "error_description"}`` from the token route too)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    reason: str


class ApiError(Exception):
    """A non-2xx answer: ``status`` (HTTP), ``code`` (e.g. ``validation_failed``,
    ``insufficient_balance``, ``idempotency_key_reused``), ``details`` (each bad field and why),
    ``retry_after`` (seconds, for 429 and 503: retry with the same Idempotency-Key)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: tuple[FieldError, ...] = (),
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message
        self.details, self.retry_after = details, retry_after

    @classmethod
    def from_answer(cls, status: int, body: Any, retry_after: str | None = None) -> ApiError:
        wait = float(retry_after) if retry_after and retry_after.isdigit() else None
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            details = tuple(
                FieldError(str(d.get("field", "")), str(d.get("reason", "")))
                for d in error.get("details") or ()
                if isinstance(d, dict)
            )
            code, message = str(error.get("code", "error")), str(error.get("message", ""))
            return cls(status, code, message, details, wait)
        if isinstance(error, str):  # the token route's OAuth shape
            return cls(status, error, str(body.get("error_description", "")), (), wait)
        return cls(status, "http_error", f"unexpected answer: {str(body)[:200]}", (), wait)
