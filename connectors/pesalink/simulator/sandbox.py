"""The sandbox signing key pair: PUBLIC TEST VALUES, not secrets.

A merchant signs its requests with its own RSA private key and uploads the public key to the bank
(doc §3.1, ``signature`` header). The simulator stands in for the bank, so it needs the public
half of whatever key its clients sign with: by default this pair, whose private half is here for
tests, the demo, the bench and any local client. Never use it outside the simulator. It was
generated once with ``cryptography`` (RSA 2048, exponent 65537) and kept inline, not as ``.pem``
files, so it ships with the package without package-data entries. A client with its own key
starts the simulator with ``--public-key PATH``.
"""

from __future__ import annotations

from typing import Any

SIGNING_KEY_PEM = b"""\
-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCYr0cpH9s7odWh
3J5LwI0LTTrAzu2+edBEsH3Dmns5K4sN5pP+QdC+yR9vqdwr5tJ3dWV/tR73004C
gVnYII+KNxAj5uNBigB7ZmBm7Av4KaVhhIUwH+IXJ2K9vG2C1lbm6SMYYB0bx8tl
lP2InU9RN8ZzZmgEEuJl7FCfW273emAP5ta3t1XjEVhhpIp6I/JPD4ph5AGZut34
hprPkVGlZHpPjBYzluQn7RkeiSihemp+rr74ydhzMrFgp1PPfOBfs0vgyKR0kddA
qaaqncwvYVmwDovoPNHuJq6piMWHzOYgNgiDC/lZzJafQiLbUnxmtYERAFZh4NGO
opuCtlgNAgMBAAECggEANjTMO8Juj+41rSBpJpW2vVNuz3Lnnt8aXLiX/bDDnJlj
5cx9sB/nn0RCH9+bJg7tm7GXFk7ULsHbCTKpFf0BWN2Rol1fQy5eW3EOOpwE59bJ
OyTUMDCxkOzPtnLGIlQ8SABvEEFXNDyrbmYF2NGYjkoR73hk50VZETxjpx/L9pn0
OJn0JaaGb/+MQJOkiI3ue0JbaOaT25Pzse8wMhV9AjnXX1P/gtIi1QdXOfpD4WXn
Z6ER88abKnk8i/adL38jB3StbcoU7Nbj9crW0Y5Dcgm7CJvSmrtp67CqnOHBFXan
FrCccES6s6QDSsI40QOiLf8RlP/MW3RaCC4QL7OC1QKBgQDMh2qfYb++KDTvuYxI
dLOYkjy6kYmbTfPtxwIbTJNrvV5rpiV4fdkMxJjQ1QrIHI3h6lgOmDnVHIEji70J
DIHTjBKntBlejwnAS1xYJVkZ6URlOvk6EKu4VFvzMNILSU2KmI6lGHPBqle+rQP5
1Qwe4D7Fiig+yfU96eCFD198fwKBgQC/G9eyCAcPwLFMJbEbNmgkYiQU149eiZIF
8nC5jEgTynBkUOFGqJNA8jgwjP1npEXmURAW1gsXCFmQreA2QFpcW9VQAnvRBta9
PuEZcG2mAKaszdJa2OA8PHMSBhgzbPFcjKQyNq6WG0ZsgeCkVEpE578759Qr2L2J
OqtDmOUVcwKBgBwqVcuHCYGlRczxb1kXARh0ovpKSnnhnULUUfzyaaa/mD4YzjYu
lnJErIqtm+N80ykWPXQdEHHBkCMV/j09xK8eLf98NLYp2nzpo9jbo86Gqg2KtoGB
hDRJIbR2t6YoPQ5l/dbMbDxyOc0fRFnmNdoWpW5MnUgwRZ52E54fRNX/AoGBAIBx
ZxvZt11IBiGGp60BeScS6uszIcHJNmJW2ppqhTr/8WAK2A3UWPvqkAdZiyrwRqaQ
Tv76JwP48bGCm1H7GIBAnHKk6LDJJuSUcVfWr2tFvsAfqUSzxKnXewNfIz7U9rdc
MzMoe1iZxlBBTklD+ZKsK2RI4NoDVwf3bYoGJdmvAoGAB88mhwo8CKvw4l+sUUkC
vGv98fZUkpNx+71Ty7oYYjNCSYChxizz8Ws4mdcGVxMRbFqHsQA5AMs5WHB+Uvri
dEMpa6pvDwG+GxCpn1v9GvaPYJAENa7ilCOGA7KOyO4QhPkvIkrqmGH+c5lRaEOa
tKL4NgliZs88ba/vpy2DBBE=
-----END PRIVATE KEY-----
"""

PUBLIC_KEY_PEM = b"""\
-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAmK9HKR/bO6HVodyeS8CN
C006wM7tvnnQRLB9w5p7OSuLDeaT/kHQvskfb6ncK+bSd3Vlf7Ue99NOAoFZ2CCP
ijcQI+bjQYoAe2ZgZuwL+CmlYYSFMB/iFydivbxtgtZW5ukjGGAdG8fLZZT9iJ1P
UTfGc2ZoBBLiZexQn1tu93pgD+bWt7dV4xFYYaSKeiPyTw+KYeQBmbrd+Iaaz5FR
pWR6T4wWM5bkJ+0ZHokooXpqfq6++MnYczKxYKdTz3zgX7NL4MikdJHXQKmmqp3M
L2FZsA6L6DzR7iauqYjFh8zmIDYIgwv5WcyWn0Ii21J8ZrWBEQBWYeDRjqKbgrZY
DQIDAQAB
-----END PUBLIC KEY-----
"""


def switch_settings(base_url: str) -> dict[str, Any]:
    """The switch's Settings overrides (field -> value) that point it at a simulator running at
    ``base_url`` with the simulator's default credentials and source account. The signing key is
    left unset: the switch then signs with :data:`SIGNING_KEY_PEM`, whose public half the
    simulator verifies by default. Callbacks go to each transfer's own ``callbackUrl``.
    """
    from connectors.pesalink.simulator import config  # imports this module: import it late

    return {
        "pesalink_base_url": base_url.rstrip("/"),
        "pesalink_api_key": config.SANDBOX_API_KEY,
        "pesalink_merchant_code": config.SANDBOX_MERCHANT_CODE,
        "pesalink_consumer_secret": config.SANDBOX_CONSUMER_SECRET,
        "pesalink_signing_key_file": None,
        "pesalink_source_account": config.SANDBOX_SOURCE_ACCOUNT,
        "pesalink_source_name": config.SANDBOX_SOURCE_NAME,
    }
