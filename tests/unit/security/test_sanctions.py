"""Sanctions screening against the shipped (invented) test list."""

from __future__ import annotations

import pytest

from switch.security.sanctions import SAMPLE_LIST, SanctionsList, normalise, score


@pytest.fixture(scope="module")
def sample() -> SanctionsList:
    return SanctionsList.load(SAMPLE_LIST)


def test_the_sample_is_marked_as_test_data(sample: SanctionsList) -> None:
    assert "TEST_DATA" in SAMPLE_LIST.name
    assert len(sample) == 7
    assert all(e.id.startswith("TEST-") and "TEST DATA" in e.source for e in sample.entries)


def test_normalise_folds_case_accents_punctuation_titles_and_order() -> None:
    assert normalise("Dr. José  O'Brien-Ñúñez") == ("jose", "nunez", "obrien")
    assert normalise("NUNEZ, jose obrien") == ("jose", "nunez", "obrien")
    assert normalise("Phantom Traders Ltd.") == normalise("phantom traders limited")
    assert normalise("  ") == ()


@pytest.mark.parametrize(
    ("query", "expected_id"),
    [
        ("Kamau Ndegwa Bandia", "TEST-007"),  # exact
        ("BANDIA, Kamau Ndegwa", "TEST-007"),  # order and case
        ("Kamau Ndegwa Bandiah", "TEST-007"),  # a misspelling
        ("Kamau Bandia", "TEST-007"),  # middle name left out
        ("Jose Nunez Imaginario", "TEST-002"),  # without the accents
        ("Abdul Rahman Fiktivi", "TEST-003"),  # split name, particle dropped
        ("Abdulrahman Al Fiktivi", "TEST-003"),  # via an alias
        ("Phantom Trading Co. Ltd", "TEST-006"),  # company-form abbreviations
        ("Mrs Wanjiku Kubuniwa", "TEST-005"),  # a title
    ],
)
def test_hits(sample: SanctionsList, query: str, expected_id: str) -> None:
    hits = sample.screen(query)
    assert hits, query
    assert hits[0].entry.id == expected_id
    assert hits[0].score >= 0.85


@pytest.mark.parametrize(
    "query",
    [
        "Kamau",  # one common name alone must not flag every Kamau
        "Peter Kamau",
        "Mary Wambui Otieno",
        "John Otieno",
        "Olga Petrova",
        "Njeri Kamau",
        "",
    ],
)
def test_non_hits(sample: SanctionsList, query: str) -> None:
    assert sample.screen(query) == []


def test_hits_are_ranked_and_one_per_entry(sample: SanctionsList) -> None:
    hits = sample.screen("Kamau Ndegwa Bandia", threshold=0.3)
    assert hits[0].entry.id == "TEST-007" and hits[0].score == 1.0
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert len({h.entry.id for h in hits}) == len(hits)


def test_score_is_symmetric_enough_and_bounded() -> None:
    a, b = normalise("Kamau Ndegwa Bandia"), normalise("Kamau Bandia")
    assert 0.85 <= score(a, b) <= 1.0 and 0.85 <= score(b, a) <= 1.0
    assert score(a, ()) == 0.0


def test_csv_needs_its_columns() -> None:
    with pytest.raises(ValueError, match="aliases"):
        SanctionsList.from_csv("id,name,source\n1,A B,X\n")
    parsed = SanctionsList.from_csv(
        "id,name,aliases,source\nX1,Jane Doe,J. Doe; Janet Doe ,UN\n,,,\n"
    )
    assert parsed.entries[0].aliases == ("J. Doe", "Janet Doe")
    assert len(parsed) == 1
