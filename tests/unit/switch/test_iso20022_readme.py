"""The README's "Bank messages (ISO 20022)" section: its Python example runs as written, and
each XML example is valid against its schema and reads back to the same values (read, built
again, read again: equal). Every message the section lists has an example."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from switch.iso20022 import camt, pacs002, pacs004, pacs008, pacs009, pain001

README = Path(__file__).resolve().parents[3] / "README.md"
SECTION = "## Bank messages (ISO 20022)"
_BLOCK = re.compile(r"^```(\w+)\n(.*?)^```$", re.S | re.M)
_NAMESPACE = re.compile(r'xmlns="urn:iso:std:iso:20022:tech:xsd:([a-z0-9.]+)"')

# message -> (read, write)
CODECS: dict[str, tuple[Callable[[bytes], Any], Callable[[Any], bytes]]] = {
    pacs008.MESSAGE: (pacs008.parse, pacs008.build),
    pacs002.MESSAGE: (pacs002.parse, pacs002.build),
    pacs004.MESSAGE: (pacs004.parse, pacs004.build),
    pacs009.MESSAGE: (pacs009.parse, pacs009.build),
    camt.STATEMENT: (camt.parse_statement, camt.build_statement),
    camt.NOTIFICATION: (camt.parse_notification, camt.build_notification),
    pain001.MESSAGE: (pain001.parse, pain001.build),
}


def section() -> str:
    text = README.read_text()
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    return text[start : end if end > 0 else len(text)]


def blocks(lang: str) -> list[str]:
    return [body for found, body in _BLOCK.findall(section()) if found == lang]


def test_every_message_has_an_example() -> None:
    shown = {_NAMESPACE.search(x).group(1) for x in blocks("xml")}  # type: ignore[union-attr]
    assert shown == set(CODECS)


@pytest.mark.parametrize("example", blocks("xml"), ids=lambda x: _NAMESPACE.search(x).group(1))  # type: ignore[union-attr]
def test_each_xml_example_is_valid_and_reads_back(example: str) -> None:
    message = _NAMESPACE.search(example).group(1)  # type: ignore[union-attr]
    read, write = CODECS[message]
    first = read(example.encode())
    assert read(write(first)) == first


def test_the_python_example_runs() -> None:
    (code,) = blocks("python")
    exec(compile(code, "README.md", "exec"), {})  # noqa: S102 - our own README's example
