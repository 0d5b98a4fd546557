"""Checks of uploaded KYC documents (switch/kyc_files.py): crafted files, no I/O."""

from __future__ import annotations

import struct
import zlib

import pytest

from switch.kyc_files import (
    MAX_BYTES,
    FileRefused,
    check_file,
    open_bytes,
    seal_bytes,
)
from switch.security.crypto import DataKey, DecryptError, new_key


def pdf(*objects: bytes, tail: bytes = b"\n") -> bytes:
    body = b"%PDF-1.7\n" + b"\n".join(objects)
    return body + b"\ntrailer\n<< /Root 1 0 R >>\n%%EOF" + tail


PLAIN = pdf(b"1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj")


def png(width: int = 2, height: int = 2, pixels: bytes | None = None, tail: bytes = b"") -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    raw = (
        pixels
        if pixels is not None
        else b"".join(b"\x00" + b"\x00" * width * 3 for _ in range(height))
    )
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
        + tail
    )


def jpeg(width: int = 16, height: int = 16, tail: bytes = b"") -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    sos = b"\xff\xda" + struct.pack(">H", 8) + b"\x01\x01\x00\x00\x3f\x00"
    return b"\xff\xd8" + app0 + sof + sos + b"\x12\x34\x56" + b"\xff\xd9" + tail


def refused(data: bytes, content_type: str, name: str) -> str:
    with pytest.raises(FileRefused) as caught:
        check_file(data, content_type, name)
    return str(caught.value)


def test_plain_files_of_each_type_pass() -> None:
    assert check_file(PLAIN, "application/pdf", "cert.pdf").kind == "pdf"
    assert check_file(png(), "image/png", "id.PNG").kind == "png"
    assert check_file(jpeg(), "image/jpeg", "id.jpeg").content_type == "image/jpeg"


def test_type_comes_from_the_content_not_the_name() -> None:
    assert "not a PDF, PNG or JPEG" in refused(b"MZ\x90\x00 a program", "application/pdf", "a.pdf")
    assert "Content-Type" in refused(PLAIN, "image/png", "a.pdf")
    assert "file name" in refused(PLAIN, "application/pdf", "cert.pdf.exe")
    assert "file name" in refused(png(), "image/png", "id.jpg")
    # %PDF- must open the file, not merely be near its start as readers allow
    assert "not a PDF" in refused(b"junk" + PLAIN, "application/pdf", "a.pdf")


def test_size_limits() -> None:
    assert "empty" in refused(b"", "application/pdf", "a.pdf")
    big = pdf(b"1 0 obj << /Length 1 >> stream\n" + b"x" * MAX_BYTES + b"\nendstream endobj")
    assert "larger than 4 MiB" in refused(big, "application/pdf", "a.pdf")


@pytest.mark.parametrize(
    "obj",
    [
        b"1 0 obj << /OpenAction << /S /JavaScript /JS (app.alert(1)) >> >> endobj",
        b"1 0 obj << /AA << /O << /S /J#61vaScript /JS (x) >> >> >> endobj",  # escaped name
        b"1 0 obj << /OpenAction << /S /Launch /F (cmd.exe) >> >> endobj",
        b"1 0 obj << /Names << /EmbeddedFiles 2 0 R >> >> endobj",
    ],
)
def test_a_pdf_with_active_content_is_refused(obj: bytes) -> None:
    assert "active content" in refused(pdf(obj), "application/pdf", "a.pdf")


def test_javascript_hidden_in_a_compressed_stream_is_found() -> None:
    hidden = zlib.compress(b"<< /S /JavaScript /JS (this.exportDataObject()) >>")
    obj = b"4 0 obj << /Filter /FlateDecode >> stream\n" + hidden + b"\nendstream endobj"
    assert "/javascript" in refused(pdf(obj), "application/pdf", "a.pdf")


def test_a_decompression_bomb_in_a_pdf_is_refused() -> None:
    bomb = zlib.compress(b"\x00" * (40 * 1024 * 1024), 9)  # 40 MiB from about 40 KiB
    obj = b"4 0 obj << /Filter /FlateDecode >> stream\n" + bomb + b"\nendstream endobj"
    assert "decompression bomb" in refused(pdf(obj), "application/pdf", "a.pdf")


def test_polyglots_are_refused() -> None:
    zip_in_pdf = pdf(b"1 0 obj << >> endobj", tail=b"\nPK\x03\x04" + b"\x00" * 100)
    assert "after the PDF's end" in refused(zip_in_pdf, "application/pdf", "a.pdf")
    zip_inside = pdf(b"1 0 obj << /X (PK\x03\x04zzz) >> endobj")
    assert "ZIP" in refused(zip_inside, "application/pdf", "a.pdf")
    html_pdf = pdf(b"1 0 obj << >> endobj % <html><script>alert(1)</script>")
    assert "markup" in refused(html_pdf, "application/pdf", "a.pdf")
    assert "after the PNG's end" in refused(png(tail=b"x" * 200), "image/png", "a.png")
    assert "after the JPEG's end" in refused(jpeg(tail=b"y" * 200), "image/jpeg", "a.jpg")
    gifar = png(tail=b"PK\x03\x04" + b"\x00" * 30)
    assert "ZIP" in refused(gifar, "image/png", "a.png")
    assert "PDF file inside" in refused(jpeg(tail=b"%PDF-1.4"), "image/jpeg", "a.jpg")


def test_image_bombs_are_refused() -> None:
    assert "pixels" in refused(png(width=100_000, height=100_000, pixels=b""), "image/png", "a.png")
    assert "pixels" in refused(jpeg(width=65_000, height=65_000), "image/jpeg", "a.jpg")
    # a 2x2 PNG whose pixel data inflates to 10 MiB
    fat = png(pixels=b"\x00" * (10 * 1024 * 1024))
    assert "decompression bomb" in refused(fat, "image/png", "a.png")


def test_sealed_bytes_open_only_as_the_same_document() -> None:
    dek = DataKey("k_kya_1", 1, new_key())
    sealed = seal_bytes(PLAIN, dek, "kyd_1", "kya_1")
    assert PLAIN not in sealed and b"%PDF" not in sealed
    assert open_bytes(sealed, dek, "kyd_1", "kya_1") == PLAIN
    with pytest.raises(DecryptError):
        open_bytes(sealed, dek, "kyd_2", "kya_1")  # copied onto another document
    with pytest.raises(DecryptError):
        open_bytes(sealed[:-1] + bytes([sealed[-1] ^ 1]), dek, "kyd_1", "kya_1")
