"""The text of one text/plain or text/html part: transfer-decoded, charset-decoded, made plain.

Kept apart from the MIME walk so each decision (payload bytes, charset, HTML, format=flowed,
characters no database stores) is visible on its own. HTML becomes text with inscriptis, which
keeps line structure (paragraphs, lists, table rows) that the cleaning stage relies on.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass
from email.message import Message
from email.utils import collapse_rfc2231_value

from producers.email.charsets import decode_bytes
from worker.html_text import html_to_text

MAX_HTML_CHARS = 2_000_000  # inscriptis builds a tree; bound its work on hostile input
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/=]*")
_BAD_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class PartText:
    """One part's text and what had to give on the way (a charset fallback, a cut HTML)."""

    text: str
    notes: tuple[str, ...] = ()


def decode_base64(text: str) -> bytes:
    """Base64 that survives damage: on each line, what follows a character outside the alphabet
    is dropped (the stdlib skips the bad character and decodes the letters after it as junk)."""
    kept = []
    for line in text.splitlines():
        match = _BASE64_RUN.match(re.sub(r"[ \t]", "", line))
        kept.append(match.group(0).rstrip("=") if match else "")
    joined = "".join(kept)
    joined = joined[: len(joined) - len(joined) % 4] if len(joined) % 4 == 1 else joined
    return binascii.a2b_base64(joined + "=" * (-len(joined) % 4)) if joined else b""


def payload_bytes(part: Message) -> bytes:
    """The part's body after Content-Transfer-Encoding (lenient with bad base64 and QP)."""
    raw = part.get_payload()
    if isinstance(raw, str) and str(part.get("Content-Transfer-Encoding", "")).strip().lower() == "base64":
        try:
            return decode_base64(raw)
        except (binascii.Error, ValueError):
            pass
    try:
        data = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001 - a broken transfer encoding: take the raw text instead
        data = None
    if isinstance(data, bytes):
        return data
    if isinstance(raw, str):
        return raw.encode("utf-8", errors="surrogateescape")
    return b""


def part_charset(part: Message) -> str | None:
    """The declared charset parameter, or None (never raises on a malformed Content-Type)."""
    try:
        return part.get_content_charset()
    except Exception:  # noqa: BLE001
        return None


def content_param(part: Message, name: str) -> str:
    """A Content-Type parameter, lower-cased ("" when absent or malformed)."""
    try:
        value = part.get_param(name)
        if isinstance(value, tuple):  # an RFC 2231 value
            value = collapse_rfc2231_value(value)
        return str(value or "").strip().lower()
    except Exception:  # noqa: BLE001
        return ""


def unflow(text: str, *, delsp: bool) -> str:
    """Join format=flowed soft line breaks (RFC 3676): a line ending in a space continues."""
    out: list[str] = []
    buffer = ""
    for line in text.split("\n"):
        if line.startswith(" "):  # space-stuffing
            line = line[1:]
        if line.endswith(" ") and line != "-- ":
            buffer += line[:-1] if delsp else line
            continue
        out.append(buffer + line)
        buffer = ""
    if buffer:
        out.append(buffer)
    return "\n".join(out)


def tidy(text: str) -> str:
    """Unix newlines, no NUL or other control characters a database or a terminal chokes on."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _BAD_CONTROLS.sub("", text)


def read_text_part(part: Message, subtype: str) -> PartText:
    """Text of a ``text/plain`` (``subtype="plain"``) or ``text/html`` part."""
    data = payload_bytes(part)
    declared = part_charset(part)
    if subtype == "html" and not declared:
        match = _META_CHARSET.search(data[:4096])
        declared = match.group(1).decode("ascii") if match else None
    decoded = decode_bytes(data, declared)
    notes = [decoded.note] if decoded.note else []
    text = tidy(decoded.text)
    if subtype == "html":
        if len(text) > MAX_HTML_CHARS:
            notes.append(f"html cut at {MAX_HTML_CHARS} characters before conversion")
            text = text[:MAX_HTML_CHARS]
        text = tidy(html_to_text(text))
    else:
        if content_param(part, "format") == "flowed":
            text = unflow(text, delsp=content_param(part, "delsp") == "yes")
    return PartText(text, tuple(notes))
