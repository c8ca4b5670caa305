"""Uploaded images (issue 16): checked by their content, cleaned, stored, served.

Only JPEG, PNG, GIF and WebP are accepted, told by their first bytes and by Pillow
decoding them (the file name and the browser's content type are not believed). Every
image is decoded and encoded again from its pixels alone, so that nothing but the
picture survives: no EXIF (places, cameras), no comments, no trailing bytes of a
polyglot. It is turned upright first (the EXIF orientation) and scaled down to
`[media] max_pixels` on its longest edge; animations keep their first frame.

Files live in one folder (`media_folder`) under a random name and are served at
`/media/NAME`; several `verbund serve` processes share that folder. The `media_files`
row is the truth: a file without a row is never served.
"""

from __future__ import annotations

import io
import os
import secrets
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Final
from urllib.parse import parse_qsl

from aiohttp import BodyPartReader, web
from PIL import Image, ImageOps
from sqlalchemy import BigInteger, ForeignKey, Integer, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from actors.base import Base
from actors.snowflake import snowflake
from federation.media import MAX_ALT_TEXT, Attachment
from server.config import Config

__all__ = [
    "MAX_SOURCE_PIXELS",
    "Form",
    "MediaError",
    "MediaFile",
    "ProcessedImage",
    "Upload",
    "attachment_of",
    "find_media",
    "media_folder",
    "media_url",
    "process_image",
    "read_multipart",
    "store_image",
    "unattached_media",
    "valid_name",
]

# (format Pillow names, media type, file extension, the bytes a file of it starts with)
_FORMATS: Final = {
    "JPEG": ("image/jpeg", "jpg"),
    "PNG": ("image/png", "png"),
    "GIF": ("image/gif", "gif"),
    "WEBP": ("image/webp", "webp"),
}
# A picture of more pixels than this is refused before it is decoded (decompression
# bombs: a few kilobytes of PNG can claim 50,000 by 50,000 pixels).
MAX_SOURCE_PIXELS: Final = 40_000_000
NAME_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


class MediaError(Exception):
    """An upload that is not an image we accept; the message says why (shown to the person)."""


class MediaFile(Base):
    """One stored image: who uploaded it, for which actor, and the post it belongs to once
    published (`status_id`; none while it waits in a draft or as an avatar or header)."""

    __tablename__ = "media_files"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))
    status_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("statuses.id", ondelete="SET NULL"), index=True
    )
    media_type: Mapped[str] = mapped_column(String(32))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(default="")
    created_at: Mapped[datetime]


@dataclass(frozen=True, slots=True)
class ProcessedImage:
    """A cleaned image, ready to store."""

    body: bytes
    media_type: str
    extension: str
    width: int
    height: int


def _sniff(data: bytes) -> str | None:
    """The format the first bytes announce, of those we accept."""
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def _clean_copy(image: Image.Image) -> Image.Image:
    """The pixels (and palette) of `image` in a new image that carries nothing else."""
    clean = Image.frombytes(image.mode, image.size, image.tobytes())
    if image.mode == "P":
        palette = image.getpalette()
        if palette is not None:
            clean.putpalette(palette)
        if isinstance(image.info.get("transparency"), int):
            clean.info["transparency"] = image.info["transparency"]
    return clean


def process_image(data: bytes, *, max_pixels: int) -> ProcessedImage:
    """Check that `data` is a JPEG, PNG, GIF or WebP image and make its clean copy, scaled
    down to `max_pixels` on its longest edge. Raises MediaError for anything else."""
    announced = _sniff(data)
    if announced is None:
        raise MediaError("Only JPEG, PNG, GIF and WebP images can be uploaded.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            source = Image.open(io.BytesIO(data), formats=[announced])
            width, height = source.size
            if width < 1 or height < 1 or width * height > MAX_SOURCE_PIXELS:
                raise MediaError("This image has too many pixels.")
            source.seek(0)
            source.load()
            upright = ImageOps.exif_transpose(source)
    except MediaError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise MediaError("This image has too many pixels.") from None
    except Exception:  # Pillow raises many kinds (OSError, SyntaxError, ValueError, …)
        raise MediaError("This file is not an image that can be read.") from None
    if source.format != announced:
        raise MediaError("Only JPEG, PNG, GIF and WebP images can be uploaded.")
    image = _clean_copy(upright)
    image.thumbnail((max_pixels, max_pixels), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    if announced == "JPEG":
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        image.save(out, "JPEG", quality=85, optimize=True)
    elif announced == "PNG":
        image.save(out, "PNG", optimize=True)
    elif announced == "GIF":
        if image.mode not in ("P", "L"):
            image = image.convert("P", palette=Image.Palette.ADAPTIVE)
        image.save(out, "GIF")
    else:
        if image.mode not in ("RGB", "RGBA"):
            image = image.convert("RGBA" if "A" in image.mode or image.mode == "P" else "RGB")
        image.save(out, "WEBP", quality=85)
    media_type, extension = _FORMATS[announced]
    return ProcessedImage(out.getvalue(), media_type, extension, image.width, image.height)


# --- uploads in a request ---------------------------------------------------------------

MAX_TEXT_BYTES: Final = 64 * 1024  # all text fields of an upload form together
MAX_PARTS: Final = 64


@dataclass(frozen=True, slots=True)
class Upload:
    field: str
    data: bytes


@dataclass
class Form:
    """A multipart form's text fields (every value of a name, in order) and files."""

    fields: dict[str, list[str]] = field(default_factory=dict)
    uploads: list[Upload] = field(default_factory=list)

    def get(self, name: str, default: str = "") -> str:
        values = self.fields.get(name)
        return values[-1] if values else default


async def _read_part(part: BodyPartReader, limit: int) -> bytes:
    data = bytearray()
    while chunk := await part.read_chunk(64 * 1024):
        data += chunk
        if len(data) > limit:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=len(data))
    return bytes(data)


async def read_multipart(request: web.Request, *, max_file_bytes: int, max_files: int) -> Form:
    """A `multipart/form-data` body within limits: 413 past `max_file_bytes` for a file,
    past MAX_TEXT_BYTES for all text fields together, or past `max_files` files. Empty
    file inputs are left out. A url-encoded body (a form without files) is read too."""
    form = Form()
    if request.content_type != "multipart/form-data":
        if request.content_length is not None and request.content_length > MAX_TEXT_BYTES:
            raise web.HTTPRequestEntityTooLarge(
                max_size=MAX_TEXT_BYTES, actual_size=request.content_length
            )
        body = await request.content.read(MAX_TEXT_BYTES + 1)
        if len(body) > MAX_TEXT_BYTES:
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_TEXT_BYTES, actual_size=len(body))
        for key, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
            form.fields.setdefault(key, []).append(value)
        return form
    total = max_files * max_file_bytes + MAX_TEXT_BYTES
    if request.content_length is not None and request.content_length > total:
        raise web.HTTPRequestEntityTooLarge(max_size=total, actual_size=request.content_length)
    reader = await request.multipart()
    text_bytes = 0
    for _ in range(MAX_PARTS):
        part = await reader.next()
        if part is None:
            return form
        if not isinstance(part, BodyPartReader) or not part.name:
            raise web.HTTPBadRequest(text="This form could not be read.")
        if part.filename is not None:
            data = await _read_part(part, max_file_bytes)
            if data:
                if len(form.uploads) >= max_files:
                    raise web.HTTPRequestEntityTooLarge(max_size=total, actual_size=total + 1)
                form.uploads.append(Upload(part.name, data))
            continue
        raw = await _read_part(part, MAX_TEXT_BYTES - text_bytes)
        text_bytes += len(raw)
        form.fields.setdefault(part.name, []).append(raw.decode("utf-8", "replace"))
    raise web.HTTPRequestEntityTooLarge(max_size=total, actual_size=total + 1)


def media_folder(config: Config) -> Path:
    """Where the files are: `[media] path`, else `media` next to the SQLite database file,
    else `var/media` beside the config file (or the working directory)."""
    if config.media.path:
        return Path(config.media.path)
    url = config.database.url
    prefix = "sqlite+aiosqlite:///"
    if url.startswith(prefix):
        file = url[len(prefix) :].partition("?")[0]
        if file and file != ":memory:" and not file.startswith("file:"):
            return Path(file).parent / "media"
    base = config.path.parent if config.path is not None else Path.cwd()
    return base / "var" / "media"


def media_url(base_url: str, name: str) -> str:
    return f"{base_url}/media/{name}"


def valid_name(name: str) -> bool:
    """A name `store_image` could have made (so no path tricks reach the folder)."""
    stem, dot, extension = name.partition(".")
    return (
        bool(dot)
        and 16 <= len(stem) <= 64
        and set(stem) <= NAME_CHARS
        and extension in {e for _, e in _FORMATS.values()}
    )


def _write(folder: Path, name: str, body: bytes) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    temporary = folder / f".{name}.{secrets.token_hex(4)}.part"
    temporary.write_bytes(body)
    os.replace(temporary, folder / name)


async def store_image(
    session: AsyncSession,
    folder: Path,
    image: ProcessedImage,
    *,
    user_id: int | None,
    actor_id: int | None,
    description: str = "",
    now: datetime,
) -> MediaFile:
    """Write the file under a fresh random name and add its row (the caller commits)."""
    name = f"{secrets.token_urlsafe(18)}.{image.extension}"
    _write(folder, name, image.body)
    row = MediaFile(
        id=snowflake(now),
        name=name,
        user_id=user_id,
        actor_id=actor_id,
        status_id=None,
        media_type=image.media_type,
        width=image.width,
        height=image.height,
        size=len(image.body),
        description=description.strip()[:MAX_ALT_TEXT],
        created_at=now,
    )
    session.add(row)
    await session.flush()
    return row


async def unattached_media(
    session: AsyncSession, user_id: int, ids: list[int]
) -> dict[int, MediaFile]:
    """Those of `ids` that this person uploaded and no post uses yet, by id."""
    if not ids:
        return {}
    rows = await session.scalars(
        select(MediaFile).where(
            MediaFile.id.in_(ids), MediaFile.user_id == user_id, MediaFile.status_id.is_(None)
        )
    )
    return {row.id: row for row in rows}


def attachment_of(row: MediaFile, base_url: str) -> Attachment:
    """The stored attachment of a post (`Status.attachments`), federated as a Document."""
    return Attachment(
        kind="image",
        url=media_url(base_url, row.name),
        media_type=row.media_type,
        description=row.description or None,
        width=row.width,
        height=row.height,
    )


async def find_media(session: AsyncSession, name: str) -> MediaFile | None:
    if not valid_name(name):
        return None
    found: MediaFile | None = await session.scalar(select(MediaFile).where(MediaFile.name == name))
    return found
