"""TLS for the api: a server context from the configured certificate chain and key (PEM).

TLS 1.2 is the floor (PCI DSS and the CBK's guidance on payment systems both retire 1.0/1.1);
the cipher choice is OpenSSL's default for the version, which has no export, RC4 or NULL
suites. Compression is off (CRIME). A bad file stops start-up with a ConfigError naming the
setting, never the key's content.
"""

from __future__ import annotations

import ssl

from switch.config import Settings, env_name
from switch.errors import ConfigError


def enabled(settings: Settings) -> bool:
    return bool(settings.tls_cert_file or settings.tls_key_file)


def _reason(exc: OSError | ssl.SSLError) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__


def server_context(cert_file: str, key_file: str, client_ca: str | None = None) -> ssl.SSLContext:
    """With ``client_ca``, clients are asked for a certificate: one they present must chain to
    that CA (the handshake fails otherwise); one they do not present is allowed here, and
    refused later for clients bound to a certificate (:mod:`switch.mtls`)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_COMPRESSION
    try:
        context.load_cert_chain(cert_file, key_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"{env_name('tls_cert_file')}/{env_name('tls_key_file')}: cannot load the "
            f"certificate and key ({_reason(exc)})"
        ) from None
    if client_ca:
        try:
            context.load_verify_locations(cafile=client_ca)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"{env_name('tls_client_ca_file')}: cannot load the CA certificates "
                f"({_reason(exc)})"
            ) from None
        context.verify_mode = ssl.CERT_OPTIONAL
    return context


def context_for(settings: Settings) -> ssl.SSLContext | None:
    """The server context when TLS is configured; None for plain HTTP. Both files or neither."""
    if not enabled(settings):
        if settings.tls_client_ca_file:
            raise ConfigError(
                f"{env_name('tls_client_ca_file')} needs TLS: set {env_name('tls_cert_file')} "
                f"and {env_name('tls_key_file')}"
            )
        return None
    if not (settings.tls_cert_file and settings.tls_key_file):
        raise ConfigError(
            f"{env_name('tls_cert_file')} and {env_name('tls_key_file')} must be set together"
        )
    return server_context(
        settings.tls_cert_file, settings.tls_key_file, settings.tls_client_ca_file
    )
