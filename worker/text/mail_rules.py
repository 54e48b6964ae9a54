"""Our own rules for what e-mail reply parsers miss, applied around ``mail-parser-reply``.

The parser knows many reply headers but not every client's: a Spanish Gmail header with one space
before "escribió:", a header wrapped over two lines, a forward's or an Outlook reply's separator
line, a disclaimer without its keywords, a signature under a sign-off with no "--" above it. These
rules are generic (no phrase of our training or validation e-mails), line-based, and each returns
the text it keeps plus what it cut, so the cleaner can say what was removed.
"""

from __future__ import annotations

import re

__all__ = ["cut_disclaimers", "cut_quote", "split_signature"]

_WROTE = r"(?:wrote|writes|a\s+écrit|escribió|schrieb|ha\s+scritto|schreef|napisał\(a\)|napisał|skrev|kirjoitti|napsal)"
# "On Mon, 14 Mar 2022 at 10:02, Ann <a@b.c> wrote:", also split over two lines.
_ATTRIBUTION = re.compile(
    r"^[ \t]*(?:on|le|el|am|il|op|den|w\s+dniu|dne|em)\b[^\n]{4,240}?(?:\n[^\n]{0,160}?)?\b" + _WROTE + r"\s*:?[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)
_SEPARATOR = re.compile(
    r"^[ \t]*(?:-{2,}\s*(?:original\s+message|forwarded\s+message|ursprüngliche\s+nachricht|weitergeleitete\s+nachricht|"
    r"message\s+d'origine|message\s+transféré|mensaje\s+original|mensaje\s+reenviado|messaggio\s+originale|"
    r"oorspronkelijk\s+bericht)\s*-*|_{10,}|begin\s+forwarded\s+message\s*:|début\s+du\s+message\s+réexpédié\s*:|"
    r"inicio\s+del\s+mensaje\s+reenviado\s*:)[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)
# An Outlook header block: "From: ..." followed within two lines by "Sent:"/"Date:"/"To:".
_HEADER_BLOCK = re.compile(
    r"^[ \t]*\*?(?:from|von|de|da|van|od)\s*:\*?[^\n]+\n(?:[^\n]*\n){0,2}?[ \t]*\*?(?:sent|date|gesendet|datum|envoyé|"
    r"enviado|fecha|inviato|data|verzonden|to|an|à|para|a)\s*:",
    re.IGNORECASE | re.MULTILINE,
)
_QUOTED_LINE = re.compile(r"^[ \t]*>", re.MULTILINE)
_DISCLAIMER = re.compile(
    r"\b(?:confidential|privileged|intended\s+(?:solely\s+)?(?:for\s+the\s+)?(?:recipient|addressee)|named\s+recipient|"
    r"if\s+you\s+(?:have\s+)?received\s+this|received\s+this\s+(?:e-?mail|message)\s+in\s+error|"
    r"(?:e-?mail|message)\s+(?:and\s+any\s+attachments\s+)?(?:is|are|may\s+be)\s+(?:strictly\s+)?(?:private|confidential)|"
    r"unauthori[sz]ed\s+(?:use|disclosure|copying)|disclaimer|legally\s+binding|print\s+this\s+e-?mail|"
    r"vertraulich|confidentiel|confidencial|riservat|registered\s+(?:office|in\s+england)|"
    r"authori[sz]ed\s+and\s+regulated|virus(?:es)?\s+(?:free|scan))",
    re.IGNORECASE,
)
_SIGN_OFF_LINE = re.compile(
    r"^\s*(?:thanks?(?:\s+(?:you|again|so\s+much|a\s+lot|in\s+advance))*|thx|ty|many\s+thanks|cheers|best|"
    r"(?:kind|best|warm|warmest|kindest)\s+(?:regards|wishes)|regards|sincerely|respectfully|all\s+the\s+best|"
    r"take\s+care|yours(?:\s+(?:sincerely|faithfully|truly))?|with\s+thanks|mit\s+freundlichen\s+grüßen|"
    r"cordialement|saludos|un\s+saludo|atentamente|grazie|groeten|vg|mfg)\s*[,!.]*\s*$",
    re.IGNORECASE,
)
# "Daniel Nguyen", "G. Brown", "C. Murphy", "Ann-Marie O'Neil": one to three capitalised words.
_NAME = re.compile(r"(?:[A-Z][\w'’-]*\.?\s?){1,3}")
_CONTACT = re.compile(r"@|www\.|https?://|\+?\d[\d ()./-]{6,}\d|\|")
# A line of the request has a verb-ish word a signature never has.
_SENTENCE_LIKE = re.compile(r"\b(?:i|my|me|we|our|you|your|is|are|was|can|could|please|why|how|what|when)\b", re.IGNORECASE)
#: A sign-off this close to the end starts the signature (lines after it: a name, a title, numbers).
SIGNATURE_LINES = 8


def cut_quote(text: str) -> tuple[str, str]:
    """The text before the first quote or forward marker that has text above it, and the rest."""
    starts = [m.start() for m in (_ATTRIBUTION.search(text), _SEPARATOR.search(text), _HEADER_BLOCK.search(text)) if m]
    quoted = [m.start() for m in _QUOTED_LINE.finditer(text)]
    # A run of "> " lines to the end is a quote even without its header line.
    if quoted and all(not line.strip() or line.lstrip().startswith(">") for line in text[quoted[0]:].split("\n")):
        starts.append(quoted[0])
    starts = [s for s in starts if text[:s].strip()]
    if not starts:
        return text, ""
    cut = min(starts)
    return text[:cut].rstrip(), text[cut:]


def cut_disclaimers(text: str) -> tuple[str, str]:
    """Trailing paragraphs that read as a legal or confidentiality notice (never the first)."""
    paragraphs = re.split(r"(\n[ \t]*\n)", text)
    cut = len(paragraphs)
    while cut > 2 and _DISCLAIMER.search(paragraphs[cut - 1]) and len(paragraphs[cut - 1]) > 40:
        cut -= 2
    if cut == len(paragraphs):
        return text, ""
    return "".join(paragraphs[:cut]).rstrip(), "".join(paragraphs[cut:])


def split_signature(text: str) -> tuple[str, str]:
    """The message above its signature, and the signature: from the last sign-off near the end,
    or else a last paragraph of short lines that starts with a name or holds contact details."""
    lines = text.split("\n")
    for index in range(len(lines) - 1, max(0, len(lines) - SIGNATURE_LINES) - 1, -1):
        if index > 0 and _SIGN_OFF_LINE.match(lines[index]) and "\n".join(lines[:index]).strip():
            return "\n".join(lines[:index]).rstrip(), "\n".join(lines[index:])
    head, gap, last = text.rstrip().rpartition("\n\n")
    block = [line.strip() for line in last.split("\n") if line.strip()]
    if not (gap and head.strip() and 0 < len(block) <= SIGNATURE_LINES):
        return text, ""
    short = all(len(line) <= 60 and len(line.split()) <= 7 and not line.endswith("?") for line in block)
    named = bool(_NAME.fullmatch(block[0]))
    contact = any(_CONTACT.search(line) for line in block)
    if short and (contact or (named and len(block) >= 2)) and not _SENTENCE_LIKE.search(" ".join(block)):
        return head.rstrip(), last
    return text, ""
