"""Reading and writing ISO 20022 XML documents safely, and checking them against the schemas.

Every message is a ``<Document>`` in the namespace ``urn:iso:std:iso:20022:tech:xsd:<message>``
(for example ``...:pacs.008.001.08``). :func:`read` takes untrusted bytes and gives back the
message name and its root element only once

* the body is at most ``max_bytes`` long (checked before any parsing);
* it parses with no DTD, no entity and no external resource (``xmlschema``'s defused parser:
  a billion-laughs or an external entity is refused, and nothing is ever fetched);
* its namespace is one of the messages the caller accepts;
* it is valid against the message's official schema (``schemas/``, see its README).

Failures raise :class:`MessageError`, whose text names the message, the element (an XPath as
the schema validator gives it) and the reason. Writers build an ElementTree in the XSD's element
order (each message module does) and :func:`write` serialises it; tests check every writer's
output against the schema, so a builder that breaks the order fails there, not at a bank.

Pure: the only file read is a bundled schema, once per message (cached).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TypeVar
from xml.etree import ElementTree as ET

import xmlschema
from xmlschema import XMLResource
from xmlschema.exceptions import XMLResourceForbidden

SCHEMAS = Path(__file__).with_name("schemas")
PREFIX = "urn:iso:std:iso:20022:tech:xsd:"
MAX_BYTES = 1_048_576  # one message; statements and bulk files pass a larger limit
FILE_MAX_BYTES = 20 * 1_048_576  # a camt.053 of a busy account, a pain.001 of a payroll

Element = ET.Element
T = TypeVar("T")


class MessageError(ValueError):
    """An ISO 20022 message that cannot be read (or built): ``element`` says where, ``reason``
    why. ``message`` is the message name (``pacs.008.001.08``) or ``"document"`` when it is not
    yet known."""

    def __init__(self, message: str, element: str, reason: str) -> None:
        super().__init__(f"{message}: {element}: {reason}")
        self.message = message
        self.element = element
        self.reason = reason


def namespace(message: str) -> str:
    return PREFIX + message


@cache
def schema(message: str) -> xmlschema.XMLSchema:
    """The official schema of ``message`` (one of the files in ``schemas/``)."""
    path = SCHEMAS / f"{message}.xsd"
    if not path.is_file():
        raise ValueError(f"no schema bundled for {message}")
    return xmlschema.XMLSchema(str(path))


def read(data: bytes, accepted: tuple[str, ...], max_bytes: int = MAX_BYTES) -> tuple[str, Element]:
    """``(message name, root element)`` of a valid document of one of the ``accepted`` messages."""
    if len(data) > max_bytes:
        raise MessageError("document", "Document", f"larger than {max_bytes} bytes")
    try:
        resource = XMLResource(data, defuse="always", allow="none")
    except XMLResourceForbidden as exc:
        raise MessageError("document", "Document", f"forbidden XML: {exc}") from None
    except (ET.ParseError, xmlschema.XMLResourceError) as exc:
        raise MessageError("document", "Document", f"not well-formed XML: {exc}") from None
    root = resource.root
    if not root.tag.startswith("{" + PREFIX) or not root.tag.endswith("}Document"):
        raise MessageError("document", "Document", f"not an ISO 20022 Document: {root.tag}")
    message = root.tag[1 + len(PREFIX) : -len("}Document")]
    if message not in accepted:
        raise MessageError(message, "Document", f"expected one of {', '.join(accepted)}")
    for error in schema(message).iter_errors(resource):
        raise MessageError(message, error.path or "Document", _reason(error))
    return message, root


def validate(message: str, data: bytes) -> None:
    """Check a document we wrote (tests, and the simulators before they send)."""
    read(data, (message,), max_bytes=FILE_MAX_BYTES)


def _reason(error: xmlschema.XMLSchemaValidationError) -> str:
    reason = error.reason or str(error.message)
    return " ".join(reason.split())


def write(root: Element) -> bytes:
    out: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return out


def document(message: str, body: str) -> tuple[Element, Element]:
    """A new ``<Document>`` of ``message`` and its message element ``body``."""
    root = ET.Element("Document", xmlns=namespace(message))
    return root, ET.SubElement(root, body)


def add(parent: Element, tag: str, text: str | None = None, **attrs: str) -> Element:
    """``<tag attrs>text</tag>`` appended to ``parent``; the caller keeps the XSD's order."""
    child = ET.SubElement(parent, tag, attrs)
    if text is not None:
        child.text = text
    return child


def add_path(parent: Element, path: str, text: str) -> Element:
    """``a/b/c`` as nested elements, the last holding ``text``."""
    *outer, last = path.split("/")
    for tag in outer:
        parent = ET.SubElement(parent, tag)
    return add(parent, last, text)


class Reader:
    """Finds elements of a schema-valid document by paths without namespaces (``GrpHdr/MsgId``).

    The schema has already said what is there, so a required element is looked up with
    :meth:`text` and any surprise still names the element.
    """

    def __init__(self, message: str, element: Element, where: str = "") -> None:
        self.message = message
        self.element = element
        self.where = where or element.tag.split("}")[-1]
        self._ns = {"": element.tag[1:].split("}")[0]} if element.tag.startswith("{") else {}

    def find(self, path: str) -> Reader | None:
        found = self.element.find(path, self._ns)
        return None if found is None else Reader(self.message, found, f"{self.where}/{path}")

    def all(self, path: str) -> list[Reader]:
        return [
            Reader(self.message, el, f"{self.where}/{path}[{n}]")
            for n, el in enumerate(self.element.findall(path, self._ns), start=1)
        ]

    def text(self, path: str) -> str:
        value = self.opt(path)
        if value is None:
            raise self.error(path, "required")
        return value

    def opt(self, path: str) -> str | None:
        found = self.element.find(path, self._ns)
        if found is None or found.text is None:
            return None
        return found.text.strip()

    def attr(self, path: str, name: str) -> str:
        found = self.element.find(path, self._ns)
        value = None if found is None else found.get(name)
        if value is None:
            raise self.error(f"{path}/@{name}", "required")
        return value

    def error(self, path: str, reason: str) -> MessageError:
        return MessageError(self.message, f"{self.where}/{path}" if path else self.where, reason)


def made(reader: Reader, make: Callable[[], T]) -> T:
    """``make()``, a value checked on construction; its ``ValueError`` (a rule the schema cannot
    say, such as a UETR's case) becomes a :class:`MessageError` at ``reader``'s element."""
    try:
        return make()
    except MessageError:
        raise
    except ValueError as exc:
        raise reader.error("", str(exc)) from None
