"""Uploaded KYC documents (pure): what a file is, whether it may be kept, and sealing its bytes.

A document is kept only when it passes every check; the first failure refuses it (422, field
``file``, the reason in plain words):

- size: 1 byte to :data:`MAX_BYTES`;
- type by its own first bytes (magic), never by what the client says: PDF (``%PDF-`` at byte 0,
  not merely near the start as readers allow), PNG, JPEG. The ``Content-Type`` and the file
  name's extension must both name the same type (a mismatched extension is refused);
- PDF: no JavaScript (``/JavaScript``, ``/JS``), launch, import or submit actions, embedded
  files, rich media or XFA forms, also when the name is spelt with ``#xx`` escapes or sits in a
  compressed stream. Flate streams are inflated to look inside, within :data:`MAX_INFLATED`
  bytes in all and a ratio of :data:`MAX_RATIO`: beyond either it is a decompression bomb;
- images: dimensions within :data:`MAX_PIXELS` (a small PNG or JPEG can claim a huge canvas,
  a decompression bomb), and PNG pixel data inflating to no more than its size can hold;
- polyglots: a ZIP header, another of the accepted types' magic, HTML or script markup anywhere
  in an image, a ZIP header or markup in a PDF, or data after the format's end (PNG ``IEND``,
  JPEG's last ``EOI``, PDF's last ``%%EOF``) beyond a little trailing whitespace.

These are checks for obvious abuse, not a virus scanner: a PDF reader's own bugs remain its own.
Documents are sealed with AES-256-GCM under the application's data key (the envelope keys of
:mod:`switch.security.crypto`), the key id and version and the document's identity bound into
the associated data, so sealed bytes copied onto another document do not open.
"""

from __future__ import annotations

import os
import re
import struct
import zlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from switch.security.crypto import NONCE_BYTES, DataKey, DecryptError

MAX_BYTES = 4 * 1024 * 1024
MAX_INFLATED = 32 * 1024 * 1024
MAX_RATIO = 200
MAX_PIXELS = 40_000_000
TRAILING_SLACK = 64

MAGIC = {
    "pdf": b"%PDF-",
    "png": b"\x89PNG\r\n\x1a\n",
    "jpeg": b"\xff\xd8\xff",
}
CONTENT_TYPES = {"pdf": "application/pdf", "png": "image/png", "jpeg": "image/jpeg"}
EXTENSIONS = {"pdf": (".pdf",), "png": (".png",), "jpeg": (".jpg", ".jpeg")}

_PDF_ACTIVE = (
    b"/javascript",
    b"/js",
    b"/launch",
    b"/importdata",
    b"/submitform",
    b"/embeddedfile",
    b"/embeddedfiles",
    b"/richmedia",
    b"/xfa",
)
_PDF_NAME = re.compile(rb"/[^\s/<>\[\]()%{}]+")
_NAME_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
_STREAM = re.compile(rb"stream\r?\n(.*?)endstream", re.S)
_MARKUP = re.compile(rb"<\s*(script|html|iframe|svg)\b", re.I)
_ZIP = b"PK\x03\x04"


class FileRefused(ValueError):
    """Why an upload is refused, in words for the client."""


@dataclass(frozen=True, slots=True)
class Checked:
    kind: str  # pdf, png, jpeg
    content_type: str
    size: int


def sniff(data: bytes) -> str | None:
    for kind, magic in MAGIC.items():
        if data.startswith(magic):
            return kind
    return None


def check_file(data: bytes, content_type: str, filename: str) -> Checked:
    """The document's type when every check passes (module docstring), else FileRefused."""
    if not data:
        raise FileRefused("the file is empty")
    if len(data) > MAX_BYTES:
        raise FileRefused(f"the file is larger than {MAX_BYTES // (1024 * 1024)} MiB")
    kind = sniff(data)
    if kind is None:
        raise FileRefused("not a PDF, PNG or JPEG file (by its content)")
    declared = content_type.split(";", 1)[0].strip().lower()
    if declared != CONTENT_TYPES[kind]:
        raise FileRefused(f"the content is {kind.upper()} but Content-Type says {declared}")
    if not filename.lower().endswith(EXTENSIONS[kind]):
        raise FileRefused(f"the content is {kind.upper()} but the file name says otherwise")
    {"pdf": _check_pdf, "png": _check_png, "jpeg": _check_jpeg}[kind](data)
    return Checked(kind, CONTENT_TYPES[kind], len(data))


# --- inflating within bounds ------------------------------------------------------------------


class _Budget:
    """Bytes that inflating may still produce, across every stream of one file."""

    def __init__(self, compressed_size: int) -> None:
        self.left = min(MAX_INFLATED, max(compressed_size, 1024) * MAX_RATIO)

    def inflate(self, data: bytes) -> bytes:
        inflater = zlib.decompressobj()
        try:
            out = inflater.decompress(data, self.left + 1)
        except zlib.error:
            return b""  # not Flate, or damaged: nothing to read inside; the raw bytes are scanned
        if len(out) > self.left or inflater.unconsumed_tail:
            raise FileRefused("a compressed part inflates beyond the limits (decompression bomb)")
        self.left -= len(out)
        return out


# --- PDF ---------------------------------------------------------------------------------------


def _pdf_names(data: bytes) -> set[bytes]:
    return {
        _NAME_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), name).lower()
        for name in _PDF_NAME.findall(data)
    }


def _check_pdf(data: bytes) -> None:
    end = data.rfind(b"%%EOF")
    if end < 0:
        raise FileRefused("a PDF without its %%EOF end marker")
    if len(data[end + 5 :].strip()) > TRAILING_SLACK:
        raise FileRefused("data after the PDF's end (a polyglot or a hidden payload)")
    budget = _Budget(len(data))
    parts = [data, *(budget.inflate(s) for s in _STREAM.findall(data))]
    for part in parts:
        if _ZIP in part:
            raise FileRefused("a ZIP archive inside the PDF (a polyglot)")
        if _MARKUP.search(part):
            raise FileRefused("HTML or script markup inside the PDF (a polyglot)")
        active = sorted(n.decode(errors="replace") for n in _pdf_names(part) & set(_PDF_ACTIVE))
        if active:
            raise FileRefused(f"a PDF with active content ({', '.join(active)}): not accepted")


# --- images ------------------------------------------------------------------------------------


def _no_foreign_content(data: bytes, kind: str) -> None:
    if _ZIP in data:
        raise FileRefused("a ZIP archive inside the image (a polyglot)")
    if _MARKUP.search(data):
        raise FileRefused("HTML or script markup inside the image (a polyglot)")
    for other, magic in MAGIC.items():
        # (JPEG's three bytes turn up by chance in compressed pixels: only the longer ones)
        if other != kind and len(magic) > 3 and magic in data:
            raise FileRefused(f"a {other.upper()} file inside the image (a polyglot)")


def _pixels(width: int, height: int) -> None:
    if width == 0 or height == 0 or width * height > MAX_PIXELS:
        raise FileRefused(f"image of {width}x{height} pixels: outside the limits")


def _check_png(data: bytes) -> None:
    _no_foreign_content(data, "png")
    pos, idat, ended, size = 8, [], -1, (0, 0)
    while pos + 8 <= len(data):
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if len(body) != length:
            raise FileRefused("a damaged PNG (a chunk runs past the end)")
        if ctype == b"IHDR":
            size = struct.unpack(">II", body[:8])
            _pixels(*size)
        elif ctype == b"IDAT":
            idat.append(body)
        pos += 12 + length
        if ctype == b"IEND":
            ended = pos
            break
    if ended < 0 or size == (0, 0):
        raise FileRefused("a PNG without its IHDR header or IEND end chunk")
    if len(data) - ended > TRAILING_SLACK:
        raise FileRefused("data after the PNG's end (a polyglot or a hidden payload)")
    _inflate_within(b"".join(idat), size[1] * (1 + size[0] * 8))


def _inflate_within(data: bytes, limit: int) -> None:
    """Inflate in 1 MiB steps, keeping nothing, and refuse past ``limit`` bytes (the most a
    PNG of its declared size can hold: 8 bytes a pixel and a filter byte a row)."""
    inflater, total, chunk = zlib.decompressobj(), 0, data
    try:
        while chunk:
            total += len(inflater.decompress(chunk, 1 << 20))
            if total > limit:
                raise FileRefused("PNG pixel data inflates beyond its size (decompression bomb)")
            chunk = inflater.unconsumed_tail
    except zlib.error:
        raise FileRefused("a damaged PNG (pixel data does not inflate)") from None


_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


def _check_jpeg(data: bytes) -> None:
    _no_foreign_content(data, "jpeg")
    end = data.rfind(b"\xff\xd9")
    if end < 0:
        raise FileRefused("a JPEG without its end marker")
    if len(data) - (end + 2) > TRAILING_SLACK:
        raise FileRefused("data after the JPEG's end (a polyglot or a hidden payload)")
    pos, sized = 2, False
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            break
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        if marker in _SOF and pos + 9 <= len(data):
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            _pixels(width, height)
            sized = True
        pos += 2 + length
    if not sized:
        raise FileRefused("a JPEG without a frame header (no dimensions)")


# --- sealing -----------------------------------------------------------------------------------


def _aad(dek: DataKey, document_id: str, application_id: str) -> bytes:
    return f"kyc_documents/{document_id}/{application_id}|{dek.key_id}|{dek.version}".encode()


def seal_bytes(data: bytes, dek: DataKey, document_id: str, application_id: str) -> bytes:
    """nonce + AES-GCM ciphertext and tag of a document's bytes."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(dek.key).encrypt(nonce, data, _aad(dek, document_id, application_id))


def open_bytes(sealed: bytes, dek: DataKey, document_id: str, application_id: str) -> bytes:
    try:
        return AESGCM(dek.key).decrypt(
            sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], _aad(dek, document_id, application_id)
        )
    except (InvalidTag, ValueError):
        raise DecryptError(
            "cannot open the document (wrong key or identity, or tampered)"
        ) from None
