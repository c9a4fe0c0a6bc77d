"""Recognise an uploaded file by its bytes and strip what could identify.

Images are decoded and re-encoded from their pixels alone: a new image
carries no EXIF (GPS, camera serial), XMP, ICC profile, comment or
embedded thumbnail. PDFs are rebuilt page by page into a new document,
which leaves the document information, the catalogue's XMP, scripts,
attachments and forms behind. Anything else, and anything these
libraries cannot read, is refused.
"""

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError
from pypdf import PdfReader, PdfWriter
from pypdf.errors import PyPdfError
from pypdf.generic import NameObject

from django.conf import settings
from django.utils.translation import gettext as _

from chat.errors import ChatError

PREVIEW_SIZE = (480, 480)
JPEG_QUALITY = 90
# Page-level entries that can hold identifying data or active content.
PDF_PAGE_KEYS_DROPPED = ("/Metadata", "/PieceInfo", "/AA", "/Thumb")


@dataclass
class CleanFile:
    kind: str  # "image" or "pdf"
    mime: str
    data: bytes
    extension: str
    preview: bytes | None = None
    preview_mime: str = ""
    width: int | None = None
    height: int | None = None


def sniff(head: bytes) -> str | None:
    """Return the file's type from its first bytes, whatever its name."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"mif1", b"msf1"):
        return "heic"
    return None


def refuse(message: str) -> ChatError:
    return ChatError("unsupported_type", message)


def clean_upload(data: bytes) -> CleanFile:
    """Return the stripped copy of an upload, or raise ``unsupported_type``."""
    kind = sniff(data[:16])
    if kind == "heic":
        raise refuse(_("Les photos HEIC ne sont pas acceptées : envoyez-la en JPEG."))
    if kind == "pdf":
        return clean_pdf(data)
    if kind in ("jpeg", "png", "webp"):
        return clean_image(data, kind)
    raise refuse(_("Seules les images JPEG, PNG, WebP et les PDF sont acceptés."))


def _decode(data: bytes, kind: str) -> Image.Image:
    Image.MAX_IMAGE_PIXELS = settings.ATTACHMENT_MAX_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            source = Image.open(io.BytesIO(data), formats=[kind.upper()])
            source.load()
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
        OSError,
        SyntaxError,
        ValueError,
    ) as error:
        raise refuse(_("Cette image est illisible ou trop grande.")) from error
    return source


def clean_image(data: bytes, kind: str) -> CleanFile:
    source = _decode(data, kind)
    # Turn the pixels upright first: the orientation tag goes with EXIF.
    upright = ImageOps.exif_transpose(source)
    has_alpha = upright.mode in ("RGBA", "LA", "PA") or (
        upright.mode == "P" and "transparency" in upright.info
    )
    mode = "RGBA" if has_alpha and kind != "jpeg" else "RGB"
    pixels = upright.convert(mode)
    # A new image from the raw pixels: no info, no EXIF, no ICC, no XMP.
    clean = Image.frombytes(mode, pixels.size, pixels.tobytes())
    out = io.BytesIO()
    if kind == "jpeg":
        clean.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
        mime, extension = "image/jpeg", "jpg"
    elif kind == "webp":
        clean.save(out, "WEBP", quality=JPEG_QUALITY)
        mime, extension = "image/webp", "webp"
    else:
        clean.save(out, "PNG", optimize=True)
        mime, extension = "image/png", "png"
    preview = clean.copy()
    preview.thumbnail(PREVIEW_SIZE)
    preview_out = io.BytesIO()
    if mode == "RGBA":
        preview.save(preview_out, "PNG")
        preview_mime = "image/png"
    else:
        preview.save(preview_out, "JPEG", quality=80)
        preview_mime = "image/jpeg"
    return CleanFile(
        kind="image",
        mime=mime,
        data=out.getvalue(),
        extension=extension,
        preview=preview_out.getvalue(),
        preview_mime=preview_mime,
        width=clean.width,
        height=clean.height,
    )


def clean_pdf(data: bytes) -> CleanFile:
    """Copy the pages into a new PDF with no document information or XMP."""
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise refuse(_("Les PDF protégés par un mot de passe sont refusés."))
        if len(reader.pages) > settings.ATTACHMENT_MAX_PDF_PAGES:
            raise refuse(_("Ce PDF a trop de pages."))
        writer = PdfWriter()
        for page in reader.pages:
            added = writer.add_page(page)
            for key in PDF_PAGE_KEYS_DROPPED:
                added.pop(NameObject(key), None)
        writer.metadata = None
        out = io.BytesIO()
        writer.write(out)
    except ChatError:
        raise
    except (PyPdfError, OSError, ValueError, KeyError, TypeError, RecursionError) as e:
        raise refuse(_("Ce PDF est illisible.")) from e
    return CleanFile(
        kind="pdf", mime="application/pdf", data=out.getvalue(), extension="pdf"
    )
