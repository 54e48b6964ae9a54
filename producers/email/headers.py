"""Parse a message and read its headers without letting one broken header sink it.

The modern parser (``email.policy.default``) decodes RFC 2047 words and 8-bit headers well but
builds header objects lazily and can raise on a malformed one; ``compat32`` never interprets a
header. So every read here goes through the modern object first and falls back to the raw value,
decoded by hand, and text is flattened to one line (a decoded ``\\r\\n`` cannot inject a header
into anything we write later).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timezone
from email import policy
from email.header import decode_header
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime

from producers.email.charsets import decode_bytes, fix_surrogates

MAX_HEADER_CHARS = 64 * 1024
MAX_MIME_HEADER_CHARS = 8 * 1024
MAX_TREE_PARTS = 1000
_CONTENT_HEADER = re.compile(rb"^content-[a-z-]*:[^\n]*(?:\n[ \t][^\n]*)*", re.IGNORECASE | re.MULTILINE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff]+")
_SPACES = re.compile(r"\s+")
_MSGID = re.compile(r"<([^<>\s]+)>")


def iter_parts(msg: Message, *, limit: int = MAX_TREE_PARTS) -> Iterator[Message]:
    """Every part, depth first, without recursion (``Message.walk`` recurses) and at most ``limit``."""
    stack, seen = [msg], 0
    while stack and seen < limit:
        part = stack.pop()
        seen += 1
        yield part
        payload = part.get_payload() if part.is_multipart() else None
        if isinstance(payload, list):
            stack.extend(reversed([child for child in payload if isinstance(child, Message)]))


def _oversized_headers(msg: Message) -> bool:
    """A header so long that the modern parser's per-access re-parsing would take seconds."""
    for part in iter_parts(msg):
        for name, value in part.raw_items():
            size = len(value) if isinstance(value, str) else 0
            if size > MAX_HEADER_CHARS or (size > MAX_MIME_HEADER_CHARS and name.lower().startswith("content-")):
                return True
    return False


def _long_mime_header(data: bytes) -> bool:
    """A Content-* header (folded lines included) over the limit: the modern parser reads the
    Content-Type while it parses, at a cost that grows faster than the header."""
    return any(len(match.group(0)) > MAX_MIME_HEADER_CHARS for match in _CONTENT_HEADER.finditer(data))


def parse_message(data: bytes, *, modern: bool = True) -> Message:
    """The message tree of ``data``: the modern parser, or ``compat32`` when asked, when the
    modern one raises, or when a header is too long for it; headers and raw body when even
    ``compat32`` cannot build the tree (thousands of nested multiparts exhaust the stack)."""
    if modern and not _long_mime_header(data):
        try:
            msg = BytesParser(policy=policy.default).parsebytes(data)
            if not _oversized_headers(msg):
                return msg
        except Exception:  # noqa: BLE001 - any parser bug falls back to the lenient parser
            pass
    try:
        return BytesParser(policy=policy.compat32).parsebytes(data)
    except RecursionError:
        return BytesParser(policy=policy.compat32).parsebytes(data, headersonly=True)


def one_line(text: str) -> str:
    """Control characters and line breaks become single spaces (no header injection)."""
    return _SPACES.sub(" ", _CONTROL.sub(" ", text)).strip()


def raw_header(msg: Message, name: str) -> str | None:
    """The first ``name`` header exactly as it came (unfolded, 8-bit bytes re-decoded)."""
    wanted = name.lower()
    try:
        items = msg.raw_items()
    except Exception:  # noqa: BLE001
        return None
    for key, value in items:
        if key.lower() == wanted:
            text = value if isinstance(value, str) else str(value)
            return fix_surrogates(text.replace("\r", "").replace("\n", " "))
    return None


def decode_words(raw: str) -> str:
    """RFC 2047 encoded words decoded by hand, each with our charset fallbacks."""
    try:
        chunks = decode_header(raw)
    except Exception:  # noqa: BLE001 - a malformed encoded word: keep the raw text
        return raw
    pieces = []
    for chunk, charset in chunks:
        pieces.append(decode_bytes(chunk, charset).text if isinstance(chunk, bytes) else chunk)
    return "".join(pieces)


def header_text(msg: Message, name: str) -> str:
    """A header's decoded text on one line; empty when absent or unreadable."""
    raw = raw_header(msg, name)
    if raw is None:
        return ""
    modern = None
    if getattr(msg, "policy", None) is not policy.compat32:
        try:
            value = msg.get(name)
            modern = None if value is None else fix_surrogates(str(value))
        except Exception:  # noqa: BLE001 - the modern header class raised: use the raw text
            modern = None
    by_hand = decode_words(raw)
    if modern is None or ("\ufffd" in modern and "\ufffd" not in by_hand):
        return one_line(by_hand)
    return one_line(modern)


def first_address(msg: Message, names: tuple[str, ...] = ("From", "Sender", "Reply-To")) -> tuple[str, str] | None:
    """(display name, address) of the first header among ``names`` that holds an address."""
    for name in names:
        text = header_text(msg, name)
        if not text:
            continue
        try:
            pairs = getaddresses([text])
        except Exception:  # noqa: BLE001
            pairs = []
        for display, address in pairs:
            address = address.strip().strip("<>")
            if "@" in address and " " not in address:
                return one_line(display).strip("\"' "), address
        match = re.search(r"[^\s<>\"',;:]+@[^\s<>\"',;:]+", text)
        if match:
            return "", match.group(0)
    return None


def header_date(msg: Message) -> datetime | None:
    """The Date header as an aware UTC datetime, or None when absent or unparseable."""
    raw = raw_header(msg, "Date")
    if not raw:
        return None
    try:
        value = parsedate_to_datetime(one_line(raw))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if value is None:
        return None
    if value.tzinfo is None:  # "-0000" means UTC with no known offset (RFC 5322)
        value = value.replace(tzinfo=timezone.utc)
    try:
        return value.astimezone(timezone.utc)
    except (OverflowError, ValueError):
        return None


def message_ids(raw: str | None) -> list[str]:
    """The ids in a Message-ID, In-Reply-To or References value, normalised (no <>, lower case)."""
    if not raw:
        return []
    found = _MSGID.findall(raw) or [token for token in raw.split() if "@" in token]
    return [token.strip().strip("<>").lower() for token in found if token.strip().strip("<>")]
