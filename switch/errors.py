"""The switch's exception tree. Lower-layer errors are translated once, at the boundary
(transport faults in the provider gateway, domain errors in the api's error middleware)::

    SwitchError
    ├── ConfigError          a bad setting; the command stops with the message
    ├── ClientError          the client's request is wrong; maps to a 4xx answer
    │   ├── ValidationFailed 422, with a list of {field, reason}
    │   ├── IdempotencyError 400 (missing or bad key) / 409 (key reused with another body)
    │   ├── Unauthorized     401
    │   └── NotFound         404
    └── Unavailable          503: a shard or provider could not answer; safe to retry with the
                             same Idempotency-Key
"""

from __future__ import annotations

from typing import Any


class SwitchError(Exception):
    """Base of every error the switch raises on purpose."""


class ConfigError(SwitchError):
    pass


class ClientError(SwitchError):
    """Answered with ``status`` and ``code``, which each kind names as it subclasses:
    ``class NotFound(ClientError, status=404, code="not_found")``."""

    status = 400
    code = "bad_request"

    def __init_subclass__(
        cls, *, status: int | None = None, code: str | None = None, **kwargs: Any
    ) -> None:
        super().__init_subclass__(**kwargs)
        cls.status = cls.status if status is None else status
        cls.code = cls.code if code is None else code

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class ValidationFailed(ClientError, status=422, code="validation_failed"):
    """With a list of {field, reason} in ``details``."""


class IdempotencyError(ClientError, code="idempotency_key_missing"):
    """The Idempotency-Key header is missing or malformed."""


class IdempotencyConflict(ClientError, status=409, code="idempotency_key_reused"):
    """The key was used before with another body."""


class Unauthorized(ClientError, status=401, code="unauthorized"):
    """No valid credentials."""


class NotFound(ClientError, status=404, code="not_found"):
    """Nothing by that id that the caller may see."""


class Unavailable(SwitchError):
    status = 503
    code = "temporarily_unavailable"
