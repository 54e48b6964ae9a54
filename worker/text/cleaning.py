"""Cleaning of e-mail and chat text before any model reads it.

Help desks hand over whole e-mails: HTML, a greeting, the request, a sign-off and signature,
"Sent from my iPhone", a legal footer and the quoted thread below. The models were trained on
one-line requests, so everything but the request costs accuracy. Quoted replies, signatures and
disclaimers are found by ``mail-parser-reply`` (Gmail, Outlook, Apple Mail, Thunderbird and
"-----Original Message-----" headers in 13 languages); HTML becomes text with its line structure
by ``inscriptis``; greetings, sign-offs and device footers that the parser keeps are trimmed here.
The original stays with the ticket: :class:`Cleaned` says what was removed and how much.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

from mailparser_reply import EmailReplyParser

from worker.contract import Cleaning, RemovedPart
from worker.html_text import html_to_text
from worker.text.mail_rules import cut_disclaimers, cut_quote, split_signature

__all__ = ["Cleaned", "Removed", "clean_body", "clean_subject", "clean_ticket"]

RemovedKind = Literal["html", "control", "quote", "signature", "disclaimer", "greeting", "pleasantry", "sign_off",
                      "footer"]
#: Languages whose reply headers and signatures the parser knows.
LANGUAGES = ("en", "de", "fr", "es", "it", "nl", "pl", "sv", "da", "cs", "ja", "ko", "zh")
#: The reply parser reads this much of a body (its time grows with the square of the length).
MAX_PARSE_CHARS = 4_000

# Zero-width characters, bidi controls and the BOM: invisible, yet they split words for a tokenizer.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\u00ad]")
# A tag name followed by a space, a slash or ">": "<a.murphy@example.org>" is an address, not a link.
_HTML = re.compile(r"<(?:html|body|div|p|br|span|table|td|a|b|i|font|blockquote)(?=[\s/>])[^>]*>", re.IGNORECASE)
_GREETING_WORDS = (r"(?:hi|hiya|hello|hey|dear|good\s+(?:morning|afternoon|evening|day)|morning|afternoon|evening|"
                   r"greetings|to\s+whom\s+it\s+may\s+concern|hallo|guten\s+tag|bonjour|hola|buongiorno|ciao|hej)\b"
                   r"(?:\s+[\w.'-]+){0,3}\s*")
_GREETING = re.compile(rf"^\s*{_GREETING_WORDS}[,!:.]?\s*$", re.IGNORECASE)
# The same greeting opening a line that goes on: "Hi team, my card has not arrived".
_GREETING_PREFIX = re.compile(rf"^\s*{_GREETING_WORDS}[,!:]\s+(?=\S)", re.IGNORECASE)
_SIGN_OFF = re.compile(
    r"^\s*(?:thanks?(?:\s+you)?(?:\s+(?:so\s+much|in\s+advance))?|many\s+thanks|cheers|best(?:\s+wishes)?|"
    r"(?:kind|best|warm)\s+regards|regards|sincerely|yours(?:\s+(?:sincerely|faithfully|truly))?|"
    r"thank\s+you(?:\s+for\s+your\s+help)?)(?:\s+\w+){0,2}\s*[,!.]?\s*$",
    re.IGNORECASE,
)
_FOOTER = re.compile(r"^\s*(?:sent\s+(?:from|with|via)\s+\w+|get\s+outlook\s+for\s+\w+|von\s+meinem\s+\w+|"
                     r"envoyé\s+(?:de|depuis)\s+\w+|enviado\s+desde\s+\w+|inviato\s+da\s+\w+|verzonden\s+met\s+\w+)"
                     r"\b[^\n]{0,60}$", re.IGNORECASE)
# Whole sentences that carry no request: removed at the start or the end of the message only.
_PLEASANTRY = re.compile(
    r"(?:i\s+)?hope\s+(?:you|this|all|everyone|that\s+you)\b[^.!?\n]{0,40}\b(?:well|good|great|fine|ok)[.!]?|"
    r"(?:i\s+)?hope\s+you(?:'re|\s+are)\s+(?:having\s+)?a\s+(?:good|great|nice|lovely)\s+\w+[.!]?|"
    r"(?:many\s+)?thanks?(?:\s+you)?(?:\s+(?:so|very)\s+much)?(?:\s+in\s+advance)?(?:\s+for\s+(?:your|the|any)\s+"
    r"(?:time|help|assistance|patience|support|reply|response|attention))?[.!]?|"
    r"(?:i\s+)?look(?:ing)?\s+forward\s+to\s+(?:hearing|your|a)\b[^.!?\n]{0,40}[.!]?|"
    r"any\s+help\s+(?:would\s+be|is|will\s+be)\s+(?:much\s+|greatly\s+|really\s+)?appreciated[.!]?|"
    r"have\s+a\s+(?:nice|great|good|lovely)\s+(?:day|weekend|evening|week)[.!]?",
    re.IGNORECASE,
)
_GENERIC_SUBJECT = re.compile(
    r"^(?:(?:re|fwd?|aw|wg|tr|sv|antw)\s*:\s*)*(?:\(?no\s+subject\)?|help|hi|hello|question|query|"
    r"request|urgent|support|issue|problem|enquiry|inquiry|your\s+(?:message|email|e-mail|reply)|"
    r"message|ticket|(?:re\s*:\s*)?\s*)[\s!?.]*$",
    re.IGNORECASE,
)
_REPLY_PREFIX = re.compile(r"^(?:(?:re|fwd?|aw|wg|tr|sv|antw)\s*:\s*)+", re.IGNORECASE)


@dataclass(frozen=True)
class Removed:
    """One kind of text that cleaning took out, and how many characters of it."""

    kind: RemovedKind
    chars: int


@dataclass(frozen=True)
class Cleaned:
    """The text the models read, and what was removed from the original to get it."""

    text: str
    removed: tuple[Removed, ...]
    #: The signature block and sign-off lines taken off the end: who wrote, read for entities only.
    signature: str = ""

    @property
    def removed_chars(self) -> int:
        """Characters taken out in all, for the share of the original the models did not read."""
        return sum(item.chars for item in self.removed)


def clean_subject(subject: str | None) -> str | None:
    """The subject when it carries the request ("Card not arrived"), else None ("Re: Help")."""
    if not subject:
        return None
    text = _normalise(subject)
    if _GENERIC_SUBJECT.fullmatch(text):
        return None
    return _REPLY_PREFIX.sub("", text).strip() or None


def clean_body(body: str, *, languages: tuple[str, ...] = LANGUAGES) -> Cleaned:
    """The newest message of ``body`` without its quoted thread, signature, footers, greeting and
    sign-off; HTML is read as text first. A body that would clean to nothing is kept as it was."""
    removed: list[Removed] = []
    signature: list[str] = []
    text = body
    if _HTML.search(text):
        text = _record(removed, "html", text, html_to_text(text))
    text = _record(removed, "control", text, _normalise(text))
    text = _cut(removed, "quote", text, cut_quote(text))
    text = _newest_message(text, removed, languages, signature)
    text = _cut(removed, "disclaimer", text, cut_disclaimers(text))
    text, ending = split_signature(text)
    if ending:
        removed.append(Removed("signature", len(ending)))
        signature.insert(0, ending)
    text = _trim_lines(text, removed, signature)
    cleaned = text.strip()
    if not cleaned:
        return Cleaned(_normalise(body).strip(), ())
    return Cleaned(cleaned, tuple(item for item in removed if item.chars > 0),
                   "\n".join(part.strip() for part in signature if part.strip()))


def clean_ticket(subject: str, body: str) -> Cleaning:
    """The text the models read of a ticket (a telling subject, then the cleaned body), with what
    was removed: the contract's :class:`~worker.contract.Cleaning`."""
    kept_subject = clean_subject(subject)
    cleaned = clean_body(body) if body else Cleaned("", ())
    if kept_subject and cleaned.text and cleaned.text.lower().startswith(kept_subject.lower()):
        kept_subject = None  # the body repeats the subject: read it once
    text = ". ".join(part for part in (kept_subject, cleaned.text) if part) or _normalise(subject).strip()
    original = len(subject) + len(body)
    removed = [RemovedPart(kind=item.kind, chars=item.chars) for item in cleaned.removed]
    if subject and not kept_subject and text != _normalise(subject).strip():
        removed.insert(0, RemovedPart(kind="subject", chars=len(subject)))
    share = 1.0 - min(1.0, len(text) / original) if original else 0.0
    return Cleaning(text=text, signature=cleaned.signature, subject_used=bool(kept_subject),
                    original_chars=original, removed=removed, removed_share=round(max(0.0, share), 4))


def _newest_message(text: str, removed: list[Removed], languages: tuple[str, ...], signature: list[str]) -> str:
    """The parser's newest reply without signature and disclaimers. Its patterns take quadratic
    time on adversarial text, so it reads the first :data:`MAX_PARSE_CHARS` only: a quote found
    there takes the rest with it; without one, the rest is kept as it is."""
    cut = text.rfind("\n", 0, MAX_PARSE_CHARS) if len(text) > MAX_PARSE_CHARS else len(text)
    head, tail = text[: cut if cut > 0 else MAX_PARSE_CHARS], text[cut if cut > 0 else MAX_PARSE_CHARS:]
    replies = EmailReplyParser(languages=list(languages)).read(head).replies
    if not replies:
        return text
    latest = replies[0]
    if len(replies) > 1:
        removed.append(Removed("quote", sum(len(reply.content) for reply in replies[1:]) + len(tail)))
    elif tail:
        return text  # no quote in the head: the signature, if any, is further down
    if latest.signatures:
        removed.append(Removed("signature", len(latest.signatures)))
        signature.append(latest.signatures)
    if latest.disclaimers:
        removed.append(Removed("disclaimer", sum(len(item) for item in latest.disclaimers)))
    return latest.body.strip() or text


def _normalise(text: str) -> str:
    """NFKC, no invisible characters, one space between words, at most one empty line in a row."""
    text = _INVISIBLE.sub("", unicodedata.normalize("NFKC", text))
    text = re.sub(r"[^\S\n]+", " ", text.replace("\r\n", "\n").replace("\r", "\n"))
    return re.sub(r"\n\s*\n\s*(?:\n\s*)+", "\n\n", text)


def _cut(removed: list[Removed], kind: RemovedKind, before: str, kept_and_cut: tuple[str, str]) -> str:
    kept, cut = kept_and_cut
    if cut:
        removed.append(Removed(kind, len(before) - len(kept)))
    return kept


def _record(removed: list[Removed], kind: RemovedKind, before: str, after: str) -> str:
    if len(after) < len(before):
        removed.append(Removed(kind, len(before) - len(after)))
    return after


def _trim_lines(text: str, removed: list[Removed], signature: list[str]) -> str:
    """Greeting lines at the top, sign-offs and device footers at the bottom, footers anywhere."""
    lines = text.split("\n")
    counts: dict[RemovedKind, int] = {"greeting": 0, "pleasantry": 0, "sign_off": 0, "footer": 0}
    kept = []
    for line in lines:
        if _FOOTER.match(line):
            counts["footer"] += len(line)
        else:
            kept.append(line)
    while kept and (not kept[0].strip() or _GREETING.match(kept[0])):
        counts["greeting"] += len(kept.pop(0))
    prefix = _GREETING_PREFIX.match(kept[0]) if kept else None
    if prefix:  # "Hi team, my card has not arrived": the greeting goes, its line stays
        counts["greeting"] += prefix.end()
        kept[0] = kept[0][prefix.end():]
    kept = _trim_pleasantries(kept, counts)
    ending: list[str] = []
    while kept and (not kept[-1].strip() or _SIGN_OFF.match(kept[-1])):
        ending.insert(0, kept.pop())
        counts["sign_off"] += len(ending[0])
    signature.insert(0, "\n".join(ending))
    removed += [Removed(kind, n) for kind, n in counts.items() if n]
    return "\n".join(kept)


def _trim_pleasantries(lines: list[str], counts: dict[RemovedKind, int]) -> list[str]:
    """"I hope you are well." before the request, "Thanks in advance." after it: whole sentences at
    either end, never the last sentence left."""
    text = "\n".join(lines).strip()
    bounds = [(m.start(), m.end()) for m in re.finditer(r"[^.!?\n]+(?:[.!?]+|$)", text, re.MULTILINE)
              if m.group(0).strip()]
    start, end = 0, len(bounds)
    while end - start > 1 and _PLEASANTRY.fullmatch(text[slice(*bounds[start])].strip()):
        start += 1
    while end - start > 1 and _PLEASANTRY.fullmatch(text[slice(*bounds[end - 1])].strip()):
        end -= 1
    if (start, end) == (0, len(bounds)):
        return lines
    kept = text[bounds[start][0]:bounds[end - 1][1]]
    counts["pleasantry"] += len(text) - len(kept)
    return kept.split("\n")
