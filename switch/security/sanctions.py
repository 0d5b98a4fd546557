"""Sanctions screening: load a list (CSV), normalise names, fuzzy-match with a score.

CSV columns: ``id,name,aliases,source`` with aliases separated by ``;``. Names are normalised
(accents stripped, case folded, punctuation removed, honorifics dropped, tokens sorted), then
compared three ways, keeping the best:

- the sorted-token strings as a whole (difflib ratio): catches spelling variants;
- a one-to-one alignment of tokens, weighted by length, over *all* tokens of both names: word
  order free, and a missing or extra word costs what it weighs;
- the same alignment over the tokens of one name only (whichever is covered better), when both
  have two tokens or more, discounted by 0.95: a payee "Juma Kariuki" still hits a listed
  "Juma Mwangi Kariuki" and the other way round (a middle name left out on either side), but
  a lone "Juma" does not hit every Juma on the list.

Standard library only (difflib), which is enough for lists of thousands of names; a national
list of hundreds of thousands would want a token index in front.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import lru_cache
from pathlib import Path

DEFAULT_THRESHOLD = 0.85
SUBSET_DISCOUNT = 0.95
SAMPLE_LIST = Path(__file__).with_name("data") / "sample_sanctions_TEST_DATA.csv"

# Titles carry no identity; dropping them keeps "Dr. Juma Kariuki" equal to "Juma Kariuki".
_HONORIFICS = frozenset({"mr", "mrs", "ms", "miss", "dr", "prof", "sir", "hon", "rev", "eng"})
# Company-form abbreviations, spelt out so "Ltd" and "Limited" are the same word.
_SYNONYMS = {"ltd": "limited", "co": "company", "inc": "incorporated", "corp": "corporation"}


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    name: str
    aliases: tuple[str, ...]
    source: str


@dataclass(frozen=True, slots=True)
class Hit:
    entry: Entry
    score: float
    matched: str  # the name or alias that scored best


def normalise(name: str) -> tuple[str, ...]:
    """Tokens of a name, comparable across spellings: 'José  O'Brien-Ñúñez' and
    'obrien nunez jose' give the same result."""
    decomposed = unicodedata.normalize("NFKD", name)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    # Apostrophes join (O'Brien -> obrien); every other non-alphanumeric separates.
    plain = plain.replace("'", "").replace("\u2019", "")
    spaced = "".join(c if c.isalnum() else " " for c in plain)
    tokens = [_SYNONYMS.get(t, t) for t in spaced.split() if t not in _HONORIFICS]
    return tuple(sorted(tokens))


@lru_cache(maxsize=65_536)
def _token_sim(a: str, b: str) -> float:
    return SequenceMatcher(None, a, b, autojunk=False).ratio()


def _alignment(query: tuple[str, ...], other: tuple[str, ...]) -> tuple[float, float]:
    """Greedy one-to-one matching of tokens by similarity. Returns (score over both names,
    score over the shorter name's tokens only), each weighted by token length."""
    pairs = sorted(
        ((_token_sim(q, o), i, j) for i, q in enumerate(query) for j, o in enumerate(other)),
        reverse=True,
    )
    used_q: set[int] = set()
    used_o: set[int] = set()
    on_q = on_o = 0.0
    for sim, i, j in pairs:
        if i in used_q or j in used_o:
            continue
        used_q.add(i)
        used_o.add(j)
        on_q += sim * len(query[i])
        on_o += sim * len(other[j])
    len_q, len_o = sum(map(len, query)), sum(map(len, other))
    return (on_q + on_o) / (len_q + len_o), max(on_q / len_q, on_o / len_o)


def score(query: tuple[str, ...], other: tuple[str, ...]) -> float:
    """Similarity of two normalised names, 0..1."""
    if not query or not other:
        return 0.0
    if query == other:
        return 1.0
    whole = SequenceMatcher(None, " ".join(query), " ".join(other), autojunk=False).ratio()
    both, one = _alignment(query, other)
    subset = one * SUBSET_DISCOUNT if min(len(query), len(other)) >= 2 else 0.0
    return max(whole, both, subset)


class SanctionsList:
    def __init__(self, entries: Iterable[Entry]) -> None:
        self.entries = tuple(entries)
        self._names = [
            (entry, name, normalise(name))
            for entry in self.entries
            for name in (entry.name, *entry.aliases)
        ]

    @classmethod
    def from_csv(cls, text: str) -> SanctionsList:
        rows = csv.DictReader(io.StringIO(text))
        missing = {"id", "name", "aliases", "source"} - set(rows.fieldnames or ())
        if missing:
            raise ValueError(f"sanctions CSV lacks columns: {', '.join(sorted(missing))}")
        entries = []
        for row in rows:
            if not (row["name"] or "").strip():
                continue
            aliases = tuple(a.strip() for a in (row["aliases"] or "").split(";") if a.strip())
            entries.append(Entry(row["id"].strip(), row["name"].strip(), aliases, row["source"]))
        return cls(entries)

    @classmethod
    def load(cls, path: str | Path) -> SanctionsList:
        return cls.from_csv(Path(path).read_text(encoding="utf-8"))

    def screen(self, name: str, threshold: float = DEFAULT_THRESHOLD) -> list[Hit]:
        """Entries whose name or an alias scores at least ``threshold``, best first, one hit
        per entry."""
        query = normalise(name)
        best: dict[str, Hit] = {}
        for entry, listed, tokens in self._names:
            s = score(query, tokens)
            if s >= threshold and (entry.id not in best or s > best[entry.id].score):
                best[entry.id] = Hit(entry, round(s, 4), listed)
        return sorted(best.values(), key=lambda h: (-h.score, h.entry.id))

    def __len__(self) -> int:
        return len(self.entries)
