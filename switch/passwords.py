"""Human passwords: scrypt from the standard library, stored as a PHC-like string, and the rules a
new password must meet. Pure; the callers run :func:`hash_password` and :func:`verify_password`
in a thread, since each costs tens of milliseconds of CPU on purpose.

Stored form: ``scrypt$ln=15,r=8,p=1$<salt b64>$<hash b64>`` (``ln`` is log2 of N), so that the
parameters can be raised later and old hashes upgraded at the next successful login
(:func:`needs_rehash`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

SALT_BYTES = 16
KEY_BYTES = 32
MIN_LENGTH = 12
MAX_LENGTH = 256  # scrypt accepts any length; a bound keeps a login cheap to refuse


@dataclass(frozen=True, slots=True)
class Params:
    log_n: int = 15  # N = 2**15: 32 MiB of memory per hash with r=8
    r: int = 8
    p: int = 1

    def encode(self) -> str:
        return f"ln={self.log_n},r={self.r},p={self.p}"


CURRENT = Params()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _derive(password: str, salt: bytes, params: Params) -> bytes:
    n = 2**params.log_n
    # hashlib's default memory cap (32 MiB) is just under what N=2**15, r=8 needs.
    maxmem = 128 * params.r * (n + params.p + 2) + 1024 * 1024
    return hashlib.scrypt(
        password.encode(),
        salt=salt,
        n=n,
        r=params.r,
        p=params.p,
        maxmem=maxmem,
        dklen=KEY_BYTES,
    )


def hash_password(password: str, params: Params = CURRENT) -> str:
    salt = secrets.token_bytes(SALT_BYTES)
    return f"scrypt${params.encode()}${_b64(salt)}${_b64(_derive(password, salt, params))}"


def _parse(stored: str) -> tuple[Params, bytes, bytes] | None:
    parts = stored.split("$")
    if len(parts) != 4 or parts[0] != "scrypt":
        return None
    try:
        fields = dict(item.split("=", 1) for item in parts[1].split(","))
        params = Params(int(fields["ln"]), int(fields["r"]), int(fields["p"]))
        salt, digest = _unb64(parts[2]), _unb64(parts[3])
    except (ValueError, KeyError):
        return None
    if not (1 <= params.log_n <= 20 and 1 <= params.r <= 32 and 1 <= params.p <= 16):
        return None
    return params, salt, digest


def verify_password(password: str, stored: str) -> bool:
    """Constant-time comparison of the derived key; a malformed stored value never matches."""
    parsed = _parse(stored)
    if parsed is None or len(password) > MAX_LENGTH:
        return False
    params, salt, digest = parsed
    return hmac.compare_digest(_derive(password, salt, params), digest)


def needs_rehash(stored: str, params: Params = CURRENT) -> bool:
    parsed = _parse(stored)
    return parsed is None or parsed[0] != params


# Checked against when the email is unknown, so that a login costs the same either way.
DUMMY_HASH = "scrypt$ln=15,r=8,p=1$c3dpdGNoLWR1bW15LXNhbHQ$" + _b64(bytes(KEY_BYTES))


def password_problems(password: str, email: str = "") -> list[str]:
    """Why a new password is refused (empty when it is acceptable)."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"must be at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        problems.append(f"must be at most {MAX_LENGTH} characters")
    classes = {
        "lower": any(c.islower() for c in password),
        "upper": any(c.isupper() for c in password),
        "digit": any(c.isdigit() for c in password),
        "other": any(not c.isalnum() for c in password),
    }
    if sum(classes.values()) < 2:
        problems.append("must mix at least two of: lower case, upper case, digits, symbols")
    lowered = password.strip().lower()
    local = email.strip().lower().partition("@")[0]
    if email and (lowered == email.strip().lower() or (len(local) >= 4 and local in lowered)):
        problems.append("must not contain your email address")
    return problems
