"""Hostile image files, made small: the headers lie about the size."""
from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

from PIL import Image


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def giant_png(path: Path, width: int = 40_000, height: int = 25_000) -> Path:
    """A PNG whose header claims width x height (1e9 px), with a tiny body:
    a decoder that trusted it would allocate gigabytes."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = zlib.compress(b"\0" * 1024)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
                     + _chunk(b"IDAT", body) + _chunk(b"IEND", b""))
    return path


def giant_jpeg(path: Path, width: int = 15_000, height: int = 10_000) -> Path:
    """A real JPEG whose frame header is patched to 150 megapixels."""
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 10, 10)).save(buffer, format="JPEG")
    data = bytearray(buffer.getvalue())
    marker = data.index(b"\xff\xc0")  # SOF0: length(2) precision(1) height(2) width(2)
    data[marker + 5:marker + 7] = struct.pack(">H", height)
    data[marker + 7:marker + 9] = struct.pack(">H", width)
    path.write_bytes(bytes(data))
    return path


def random_bytes_jpg(path: Path, size: int = 4096) -> Path:
    import os

    path.write_bytes(os.urandom(size))
    return path
