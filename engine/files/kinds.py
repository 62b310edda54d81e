"""What a file is, read from its first bytes (never from the name or the browser's word), and thumbnails."""

from __future__ import annotations

import io

# Photos from phone cameras, scans and signed PDFs; anything else is refused by name.
SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"WEBP", 8, "image/webp"),
    (b"%PDF-", 0, "application/pdf"),
    (b"ftypheic", 4, "image/heic"),
    (b"ftypheix", 4, "image/heic"),
    (b"ftypmif1", 4, "image/heif"),
)
THUMBNAILED = frozenset({"image/jpeg", "image/png", "image/webp"})
THUMBNAIL_SIZE = (320, 320)
# A photo of more pixels than a 50-megapixel camera takes is refused before it is decoded.
MAX_PIXELS = 50_000_000


def sniff(data: bytes) -> str | None:
    """Return the content type the bytes really have, or None when it is not an accepted kind."""
    for signature, offset, kind in SIGNATURES:
        if data[offset:offset + len(signature)] == signature:
            if kind == "image/webp" and not data.startswith(b"RIFF"):
                continue
            return kind
    return None


def thumbnail(data: bytes, kind: str) -> bytes | None:
    """Return a small JPEG of an image (turned upright as the camera held it), None for other kinds."""
    if kind not in THUMBNAILED:
        return None
    from PIL import Image, ImageOps  # only pages that upload photos pay for the import

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with Image.open(io.BytesIO(data)) as image:
            upright = ImageOps.exif_transpose(image) or image
            upright.thumbnail(THUMBNAIL_SIZE)
            out = io.BytesIO()
            upright.convert("RGB").save(out, "JPEG", quality=80)
            return out.getvalue()
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
