"""Walk a message's MIME tree into body text and attachment candidates.

Decisions made here: in ``multipart/alternative`` the plain-text version wins over HTML (it is
what the sender typed; HTML is converted only when no usable plain text exists), but attachments
are collected from every alternative (Outlook puts pasted screenshots in the HTML branch's
``multipart/related``); a forwarded ``message/rfc822`` keeps its text, under a "Forwarded
message" header the cleaning stage recognises, and its attachments; a multipart whose boundary is
missing is re-parsed with the boundary its body lines show. Depth and part count are bounded so a
hostile message cannot make us walk forever.
"""

from __future__ import annotations

import binascii
import quopri
import re
from collections import Counter
from dataclasses import dataclass, field
from email.message import Message

from producers.email.headers import header_text, parse_message
from producers.email.textparts import payload_bytes, read_text_part

MAX_DEPTH = 12
MAX_PARTS = 500
_BOUNDARY_LINE = re.compile(r"^--([0-9A-Za-z'()+_,./:=?-]{1,70}?)(?:--)?[ \t]*\r?$", re.M)
# MIME structure left in a body that could not be parsed as parts: boundaries and part headers.
_SCAFFOLDING = re.compile(r"^(?:--[!-~]+[ \t]*|content-[a-z-]+:.*(?:\n[ \t].*)*|mime-version:.*)\n?", re.I | re.M)
_TRIVIAL_PLAIN = 40  # "This is an HTML message." placeholders next to a real HTML version


@dataclass(frozen=True)
class TextPiece:
    """Body text from one part; ``format`` is the part's type (text/plain or text/html)."""

    text: str
    format: str


@dataclass(frozen=True)
class Leaf:
    """A non-body part: a candidate attachment, decided on later by its bytes."""

    part: Message
    content_type: str
    forwarded: bool = False


@dataclass
class Walked:
    """Everything the walk found, in document order, and notes on what it had to survive."""

    texts: list[TextPiece] = field(default_factory=list)
    leaves: list[Leaf] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    forwarded: int = 0

    def extend(self, other: Walked) -> None:
        self.texts += other.texts
        self.leaves += other.leaves
        self.notes += [note for note in other.notes if note not in self.notes]
        self.forwarded += other.forwarded


def content_type(part: Message) -> str:
    """The part's type, lower-case; text/plain when the header is absent or unreadable."""
    try:
        return part.get_content_type().lower()
    except Exception:  # noqa: BLE001
        return "text/plain"


def disposition(part: Message) -> str | None:
    """``inline``, ``attachment`` or None, without raising on a malformed header."""
    try:
        value = part.get_content_disposition()
    except Exception:  # noqa: BLE001
        return None
    return value.lower() if value else None


def recover_multipart(part: Message) -> Message | None:
    """Re-parse a multipart that lost its boundary parameter, using its own ``--xyz`` lines."""
    raw = part.get_payload()
    if not isinstance(raw, str):
        return None
    found = [b for b in _BOUNDARY_LINE.findall(raw) if any(c.isalnum() for c in b)]
    if not found:
        return None
    boundary = Counter(found).most_common(1)[0][0]
    subtype = re.sub(r"[^a-z0-9.+-]", "", content_type(part).split("/", 1)[-1]) or "mixed"
    head = f'Content-Type: multipart/{subtype}; boundary="{boundary}"\n\n'.encode("ascii")
    try:
        rebuilt = parse_message(head + raw.encode("utf-8", errors="surrogateescape"))
    except RecursionError:
        return None
    return rebuilt if rebuilt.is_multipart() else None


class _Walker:
    def __init__(self) -> None:
        self.parts = 0

    def walk(self, part: Message, depth: int = 0, forwarded: bool = False) -> Walked:
        self.parts += 1
        if depth > MAX_DEPTH or self.parts > MAX_PARTS:
            return Walked(notes=[f"mime tree cut at depth {MAX_DEPTH} or {MAX_PARTS} parts"])
        ctype = content_type(part)
        if ctype in ("message/rfc822", "message/global"):
            return self._forwarded(part, depth)
        if part.is_multipart():
            children = [child for child in part.get_payload() if isinstance(child, Message)]
            if ctype == "multipart/alternative":
                return self._alternative(children, depth, forwarded)
            walked = Walked()
            for child in children:
                walked.extend(self.walk(child, depth + 1, forwarded))
            return walked
        if ctype.startswith("multipart/"):
            rebuilt = recover_multipart(part)
            if rebuilt is not None:
                walked = self.walk(rebuilt, depth + 1, forwarded)
                walked.notes.append("multipart without boundary: boundary recovered")
                return walked
            read = read_text_part(part, "plain")  # no parts to find: read the body as text
            text = _SCAFFOLDING.sub("", read.text).strip()
            notes = ["multipart unreadable: read as text", *read.notes]
            return Walked(texts=[TextPiece(text, "text/plain")], notes=notes)
        if ctype in ("text/plain", "text/html") and disposition(part) != "attachment":
            read = read_text_part(part, ctype.split("/")[1])
            return Walked(texts=[TextPiece(read.text, ctype)], notes=list(read.notes))
        return Walked(leaves=[Leaf(part, ctype, forwarded)])

    def _alternative(self, children: list[Message], depth: int, forwarded: bool) -> Walked:
        options = [self.walk(child, depth + 1, forwarded) for child in children]
        chosen = _choose(options)
        walked = Walked(texts=list(chosen.texts) if chosen else [])
        for option in options:
            walked.leaves += option.leaves
            walked.notes += [note for note in option.notes if note not in walked.notes]
            walked.forwarded += option.forwarded
        return walked

    def _forwarded(self, part: Message, depth: int) -> Walked:
        inner = _inner_message(part)
        if inner is None:
            return Walked(leaves=[Leaf(part, "message/rfc822")])
        walked = Walked(forwarded=1)
        lines = ["---------- Forwarded message ---------"]
        for name in ("From", "Date", "Subject", "To"):
            value = header_text(inner, name)
            if value:
                lines.append(f"{name}: {value}")
        walked.texts.append(TextPiece("\n".join(lines), "text/plain"))
        walked.extend(self.walk(inner, depth + 1, forwarded=True))
        return walked


def _transfer_decoded(part: Message, inner: Message) -> Message | None:
    """A message/rfc822 part sent base64 or quoted-printable (RFC 2046 forbids it; clients do it)."""
    cte = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if cte not in ("base64", "quoted-printable"):
        return None
    try:
        encoded = inner.as_bytes()
        data = binascii.a2b_base64(encoded + b"==") if cte == "base64" else quopri.decodestring(encoded)
    except (binascii.Error, ValueError, TypeError, LookupError):
        return None
    return parse_message(data) if data.strip() else None


def _inner_message(part: Message) -> Message | None:
    """The message inside a message/rfc822 part (parsed by hand when it was transfer-encoded)."""
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        inner = payload[0]
        decoded = _transfer_decoded(part, inner)
        if decoded is not None:
            return decoded
        if inner.keys() or inner.get_payload():
            return inner
    data = payload_bytes(part)
    return parse_message(data) if data.strip() else None


def _plain_text(walked: Walked) -> str:
    return "".join(piece.text for piece in walked.texts if piece.format == "text/plain").strip()


def _choose(options: list[Walked]) -> Walked | None:
    """The alternative to read: the first with real plain text, else the first with any text."""
    with_text = [option for option in options if any(piece.text.strip() for piece in option.texts)]
    if not with_text:
        return None
    richest = max(len("".join(piece.text for piece in option.texts)) for option in with_text)
    for option in with_text:
        plain = _plain_text(option)
        if plain and (len(plain) >= _TRIVIAL_PLAIN or richest < 3 * len(plain) + 200):
            return option
    return with_text[-1] if len(with_text) > 1 else with_text[0]


def walk_message(msg: Message) -> Walked:
    """Body pieces and attachment candidates of a whole message."""
    return _Walker().walk(msg)
