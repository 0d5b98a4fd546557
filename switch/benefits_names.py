"""Does the name registered on a payout destination name the beneficiary? Pure.

A benefits programme checks, before paying, the name M-Pesa or the bank holds for the phone or
account against the name in its registry. Registries and wallets spell people differently: word
order ("OTIENO John"), initials ("J. Otieno"), accents ("Wanjikũ"), case, punctuation and typing
slips; a wallet often holds two or three of a person's four names. So:

- both names are cut into words, accents removed (NFKD), case and punctuation ignored;
- the shorter list of words is matched to distinct words of the longer one, whatever the order:
  a full word scores its similarity (``difflib``'s ratio: 1.0 for the same word, about 0.9 for a
  one-letter slip in a long word), an initial scores :data:`INITIAL` against a word it begins;
- the score is the mean over the shorter list, and at least :data:`MIN_FULL_WORDS` full words
  must match (an initial alone, or one shared first name, never names a person).

Exact-word matching already exists for PesaLink transfers (``connectors/pesalink``'s
``names_match``, which refuses a transfer when the account holder differs); this one is graded,
for a programme to choose its threshold and for auditors to see how close a rejected name was.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from difflib import SequenceMatcher
from itertools import permutations

DEFAULT_THRESHOLD = 0.85
INITIAL = 0.9  # an initial is good evidence, not as good as the word
MIN_FULL_WORDS = 2
MAX_WORDS = 6  # the best assignment is searched exhaustively: names are short
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True, slots=True)
class NameMatch:
    score: float  # 0.0 .. 1.0, rounded to 3 places
    matched: bool


def words(name: str) -> list[str]:
    """'Wanjikũ, Jane-N.' -> ['wanjiku', 'jane', 'n']."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return _WORD.findall(plain.casefold())[:MAX_WORDS]


def _pair(a: str, b: str) -> tuple[float, bool]:
    """(similarity, whether it is a full-word match) of two words."""
    if len(a) == 1 or len(b) == 1:
        return (INITIAL, False) if a[0] == b[0] else (0.0, False)
    ratio = SequenceMatcher(None, a, b).ratio()
    return ratio, ratio >= DEFAULT_THRESHOLD


def compare(registered: str, expected: str, threshold: float = DEFAULT_THRESHOLD) -> NameMatch:
    """How well ``registered`` (the wallet's or account's name) matches ``expected`` (the
    registry's): the best one-to-one assignment of the shorter name's words."""
    a, b = words(registered), words(expected)
    if not a or not b:
        return NameMatch(0.0, False)
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    best, best_full = 0.0, 0
    for chosen in permutations(long, len(short)):
        pairs = [_pair(s, t) for s, t in zip(short, chosen, strict=True)]
        total = sum(p[0] for p in pairs)
        full = sum(1 for p in pairs if p[1])
        if (total, full) > (best, best_full):
            best, best_full = total, full
    score = round(best / len(short), 3)
    enough = best_full >= min(MIN_FULL_WORDS, len(short)) and len(short) >= MIN_FULL_WORDS
    return NameMatch(score, enough and score >= threshold)
