"""Where messages come from on disk: a .eml file, a folder of them, a Maildir, an mbox file.

Each yields one :class:`Converted` per message, named so a person can find it again (``path`` for
a file, ``path#3`` for an mbox's third message); a message that cannot be read is an ``error``
item and the iteration goes on. Sizes are checked before a message is read whole, so one huge
message costs neither memory nor the rest of the mailbox.
"""

from __future__ import annotations

import mailbox
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol

from producers.conversion import Converted
from producers.email.message import convert_message
from worker.blobs import BlobStore
from worker.settings import Settings

EML_SUFFIXES = (".eml",)
MBOX_SUFFIXES = (".mbox", ".mbx")


def is_maildir(path: Path) -> bool:
    """A Maildir has ``cur`` and ``new`` folders (``tmp`` holds deliveries still being written)."""
    return (path / "cur").is_dir() and (path / "new").is_dir()


def looks_like_mbox(path: Path) -> bool:
    """An mbox file starts with a ``From `` separator line; a single message never does."""
    try:
        with path.open("rb") as handle:
            return handle.read(5) == b"From "
    except OSError:
        return False


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


def _read_bounded(handle: _Readable, limit: int) -> bytes | None:
    """At most ``limit`` bytes, or None when there are more (the rest is never read)."""
    data = handle.read(limit + 1)
    return None if len(data) > limit else data


def _too_large(source: str, size: int | None, limit: int) -> Converted:
    shown = f"{size} bytes" if size is not None else f"over {limit} bytes"
    return Converted(source=source, error=f"too_large: {shown}; the limit is {limit}")


def convert_eml(path: Path, *, settings: Settings, blobs: BlobStore) -> Converted:
    """One message file."""
    source, limit = str(path), settings.max_email_bytes
    try:
        size = path.stat().st_size
        if size > limit:
            return _too_large(source, size, limit)
        with path.open("rb") as handle:
            data = _read_bounded(handle, limit)
    except OSError as exc:
        return Converted(source=source, error=f"unreadable_file: {exc.strerror or exc}")
    if data is None:
        return _too_large(source, None, limit)
    return convert_message(data, source=source, settings=settings, blobs=blobs)


def convert_mbox(path: Path, *, settings: Settings, blobs: BlobStore) -> Iterator[Converted]:
    """Every message of an mbox file, in order, as ``path#1``, ``path#2``, ..."""
    try:
        box = mailbox.mbox(str(path), create=False)
        keys = list(box.iterkeys())
    except (OSError, mailbox.Error) as exc:
        yield Converted(source=str(path), error=f"unreadable_mbox: {exc}")
        return
    try:
        for number, key in enumerate(keys, start=1):
            source = f"{path}#{number}"
            try:
                with box.get_file(key) as handle:
                    data = _read_bounded(handle, settings.max_email_bytes)
            except (OSError, KeyError, mailbox.Error) as exc:
                yield Converted(source=source, error=f"unreadable_message: {exc}")
                continue
            if data is None:
                yield _too_large(source, None, settings.max_email_bytes)
                continue
            yield convert_message(data, source=source, settings=settings, blobs=blobs)
    finally:
        box.close()


def _maildir_files(path: Path) -> list[Path]:
    files: list[Path] = []
    for sub in ("new", "cur"):  # tmp holds deliveries in progress: never read them
        folder = path / sub
        files += sorted(entry for entry in folder.iterdir() if entry.is_file() and not entry.name.startswith("."))
    return files


def convert_maildir(path: Path, *, settings: Settings, blobs: BlobStore) -> Iterator[Converted]:
    """Every message in a Maildir's ``new`` and ``cur``, named by its file."""
    try:
        files = _maildir_files(path)
    except OSError as exc:
        yield Converted(source=str(path), error=f"unreadable_maildir: {exc.strerror or exc}")
        return
    for file in files:
        yield convert_eml(file, settings=settings, blobs=blobs)


def _convert_folder(path: Path, *, settings: Settings, blobs: BlobStore) -> Iterator[Converted]:
    try:
        entries = sorted(path.iterdir())
    except OSError as exc:
        yield Converted(source=str(path), error=f"unreadable_folder: {exc.strerror or exc}")
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            yield from convert_path(entry, settings=settings, blobs=blobs, explicit=False)
        elif entry.suffix.lower() in EML_SUFFIXES + MBOX_SUFFIXES:
            yield from convert_path(entry, settings=settings, blobs=blobs)


def convert_path(path: Path, *, settings: Settings, blobs: BlobStore, explicit: bool = True) -> Iterator[Converted]:
    """One input: a message file, an mbox, a Maildir, or a folder of those (recursively).

    A folder inside a folder is read only when it is a Maildir or holds message files; files
    other than ``.eml``/``.mbox`` inside a folder are ignored. A file named on its own is read
    whatever its name: an mbox when it starts with a ``From`` line, else one message.
    """
    path = Path(path)
    if path.is_dir():
        if is_maildir(path):
            yield from convert_maildir(path, settings=settings, blobs=blobs)
        else:
            yield from _convert_folder(path, settings=settings, blobs=blobs)
    elif path.is_file():
        if looks_like_mbox(path):
            yield from convert_mbox(path, settings=settings, blobs=blobs)
        else:
            yield convert_eml(path, settings=settings, blobs=blobs)
    elif explicit:
        yield Converted(source=str(path), error="not_found: no such file or folder")


def convert_paths(paths: Sequence[Path | str], *, settings: Settings, blobs: BlobStore) -> Iterator[Converted]:
    """``ticketfusion convert email INPUT...``: every message of every input, in order."""
    for path in paths:
        yield from convert_path(Path(path), settings=settings, blobs=blobs)
