"""E-mail-shaped tickets around one-line Banking77 requests, for training and validating on e-mails.

Real tickets arrive as e-mails: a greeting, a sentence of context, the request, a sign-off, a
signature with phone numbers and an address, "Sent from my iPhone", a legal disclaimer, a marketing
footer and the quoted thread below, sometimes as HTML with CRLF line ends and invisible characters.
:func:`wrap_email` builds one such e-mail around a request; :func:`email_tickets` builds many, one
per request, deterministically for a seed (each e-mail depends only on the seed and its index).

How much an e-mail holds varies: a "richness" draw scales the chance of every optional part, so
some e-mails are the bare request and some have everything. The quoted thread is a plausible
earlier message (the bank's reply to another question, or the customer's own earlier message or a
bank notification they forward), so a cleaner cannot drop it by topic alone.

Every phrase comes from :mod:`worker.training.data.synthetic.email_parts`, whose banks are split
into ``train`` and ``val`` halves. ``part="val"`` draws only held-out greetings, signatures,
footers, disclaimers, quoted messages, quote header styles (Thunderbird, French, German Outlook,
Apple Mail's forward) and HTML flavours, so validation measures generalisation to phrasings and
layouts that training never showed, not recall of the training templates. The request itself is
always in the body intact, though it may be wrapped over two lines or share a line with a greeting
or follow-up.
"""

from __future__ import annotations

import datetime as dt
import html
import random
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

from worker.training.data.synthetic import email_parts as ep
from worker.training.data.synthetic.email_parts import Part

__all__ = ["PART_KINDS", "QUOTE_STYLES", "EmailTicket", "email_tickets", "wrap_email"]

#: The kinds an :class:`EmailTicket` may contain, in the order ``parts`` lists them. "context" is an
#: opener or follow-up sentence, "inline" a greeting or context on the request's own line, "wrapped"
#: a request broken over two lines, "invisible" zero-width characters or non-breaking spaces.
PART_KINDS = ("greeting", "context", "inline", "wrapped", "sign_off", "signature", "device_footer", "marketing",
              "disclaimer", "quote", "forward", "html", "crlf", "invisible")
QUOTE_STYLES = ep.QUOTE_STYLES.train + ep.QUOTE_STYLES.val
#: Styles whose quoted lines start with "> " in plain text (the others put the text under a header block).
PREFIXED_STYLES = frozenset({"gmail", "apple", "german", "spanish", "thunderbird", "french", "yahoo"})
#: Chance of each optional part at medium richness; the richness draw scales it from 1/4 to 7/4 of this.
BASE_P = {"greeting": 0.65, "opener": 0.3, "follow_up": 0.3, "sign_off": 0.6, "signature": 0.55,
          "device_footer": 0.25, "marketing": 0.12, "disclaimer": 0.18, "quote": 0.4, "inline": 0.25,
          "wrapped": 0.1, "invisible": 0.15}
HTML_P = 0.2
CRLF_P = 0.25
SUBJECT_P = {"request": 0.4, "generic": 0.35}  # the rest are empty
_REPLY_PREFIX = {"german": "AW: ", "outlook_german": "AW: ", "french": "RE : ", "outlook_original": "RE: ",
                 "outlook_underscore": "RE: ", "spanish": "RE: "}
_INVISIBLE = ("\u200b", "\u200c", "\u2060", "\ufeff")


@dataclass(frozen=True)
class EmailTicket:
    """One synthetic e-mail: what a help desk would hand over, and the request it was built around."""

    subject: str
    body: str
    request: str
    parts: tuple[str, ...]
    quote_style: str | None = None


@dataclass(frozen=True)
class _Quote:
    """A quoted earlier message: its header lines and its text, which may quote one message more."""

    style: str
    header: tuple[str, ...]
    body: tuple[str | _Quote, ...]


@dataclass
class _Block:
    """A paragraph of the new message; ``tight`` blocks follow the previous one without an empty line."""

    kind: str
    lines: list[str]
    tight: bool = False


@dataclass
class _Mail:
    """The draws one e-mail shares between its parts: people, bank, dates and what it contains."""

    rng: random.Random
    part: Part
    richness: float
    fill: dict[str, str] = field(default_factory=dict)
    kinds: set[str] = field(default_factory=set)

    def wants(self, kind: str) -> bool:
        """Whether this e-mail gets an optional part, more often the richer it is."""
        return self.rng.random() < min(1.0, BASE_P[kind] * (0.25 + 1.5 * self.richness))

    def phrase(self, bank: ep.Bank) -> str:
        """A phrase of this e-mail's part with its fields filled and each "#" a random digit."""
        return self.filled(bank.pick(self.part, self.rng))

    def filled(self, template: str) -> str:
        """``template`` with this e-mail's names and numbers, and each "#" a random digit."""
        return re.sub("#", lambda _: str(self.rng.randint(0, 9)), template).format(**self.fill)


def email_tickets(requests: Sequence[str], *, seed: int, part: Part) -> list[EmailTicket]:
    """One e-mail per request; e-mail ``i`` depends only on ``seed`` and ``i``, so subsets stay stable."""
    return [wrap_email(request, rng=random.Random(f"emails:{seed}:{i}"), part=part)
            for i, request in enumerate(requests)]


def wrap_email(request: str, *, rng: random.Random, part: Part) -> EmailTicket:
    """An e-mail around ``request`` drawn with ``rng`` from the ``part`` ("train" or "val") banks."""
    ep.GREETINGS.of(part)  # rejects an unknown part before any draw
    mail = _Mail(rng, part, rng.random())
    _draw_people(mail)
    blocks = _message_blocks(request, mail)
    quote, thread_subject = (_quote(mail) if mail.wants("quote") else (None, None))
    trailing: list[_Block] = []
    if quote is not None and blocks[-1].kind == "disclaimer" and rng.random() < 0.3:
        trailing.append(blocks.pop())  # a mail server appends its disclaimer below the whole thread
    if mail.wants("invisible"):
        _sprinkle_invisible(blocks, mail)
    as_html = rng.random() < HTML_P
    if as_html:
        mail.kinds.add("html")
        body = _render_html(blocks, quote, trailing, mail)
    else:
        body = _render_text(blocks, quote, trailing, mail)
    if rng.random() < CRLF_P:
        mail.kinds.add("crlf")
        body = _crlf(body, rng)
    subject = _subject(request, mail, quote, thread_subject)
    parts = tuple(kind for kind in PART_KINDS if kind in mail.kinds)
    return EmailTicket(subject, body, request, parts, quote.style if quote else None)


def _draw_people(mail: _Mail) -> None:
    """Customer, agent and bank names, numbers and the customer's address for the templates."""
    rng = mail.rng
    first, last = ep.FIRST_NAMES.pick(mail.part, rng), ep.LAST_NAMES.pick(mail.part, rng)
    agent = rng.choice([n for n in ep.FIRST_NAMES.of(mail.part) if n != first])
    mail.fill.update(first=first, last=last, customer=first, agent=agent, FIRST=first.upper(), LAST=last.upper(),
                     first_initial=first[0], last_initial=last[0], first_lower=first.lower(),
                     years=str(rng.randint(2, 25)), year=str(rng.randint(1995, 2020)),
                     account=str(rng.randint(10_000_000, 99_999_999)), n=str(rng.randint(1, 240)),
                     ref=rng.choice(("CS-", "#", "REF")) + str(rng.randint(100_000, 9_999_999)),
                     amount=rng.choice("£€$") + rng.choice(("12.50", "250", "1,200.00", "39.99", "75")))
    mail.fill["bank"] = ep.BANK_NAMES.pick(mail.part, rng)
    mail.fill["company"] = ep.COMPANIES.pick(mail.part, rng)
    local = re.sub("#", lambda _: str(rng.randint(0, 9)), ep.MAIL_NAMES.pick(mail.part, rng))
    local = local.format(first=_ascii(first), last=_ascii(last), fi=_ascii(first)[0])
    mail.fill["customer_email"] = f"{local}@{mail.phrase(ep.MAIL_DOMAINS)}"


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower().replace("'", "")


def _message_blocks(request: str, mail: _Mail) -> list[_Block]:
    """The new message from greeting to disclaimer, in the order people write them."""
    rng, blocks = mail.rng, []
    lines = _request_lines(request, mail)
    if mail.wants("opener"):
        mail.kinds.add("context")
        opener = mail.phrase(ep.OPENERS)
        if mail.wants("inline"):
            mail.kinds.add("inline")
            lines[0] = f"{opener} {lines[0]}"
        else:
            blocks.append(_Block("context", [opener]))
    if mail.wants("greeting"):
        mail.kinds.add("greeting")
        greeting = mail.phrase(ep.GREETINGS)
        first = blocks[0].lines if blocks else lines
        if mail.wants("inline"):  # "Hi, I hope you are well." or "Hi, my card ..."
            if first is lines:
                mail.kinds.add("inline")
            first[0] = f"{greeting} {first[0]}"
        else:
            blocks.insert(0, _Block("greeting", [greeting]))
            if len(blocks) > 1:
                blocks[1].tight = rng.random() < 0.2
    blocks.append(_Block("request", lines, tight=rng.random() < 0.2))
    if mail.wants("follow_up"):
        mail.kinds.add("context")
        follow_up = mail.phrase(ep.FOLLOW_UPS)
        if mail.wants("inline"):
            mail.kinds.add("inline")
            lines[-1] = f"{lines[-1]} {follow_up}"
        else:
            blocks.append(_Block("context", [follow_up], tight=rng.random() < 0.4))
    if mail.wants("sign_off"):
        mail.kinds.add("sign_off")
        blocks.append(_Block("sign_off", [mail.phrase(ep.SIGN_OFFS)]))
    if mail.wants("signature"):
        mail.kinds.add("signature")
        blocks.append(_Block("signature", _signature(mail), tight=blocks[-1].kind == "sign_off"))
    for kind, bank in (("device_footer", ep.DEVICE_FOOTERS), ("marketing", ep.MARKETING_FOOTERS),
                       ("disclaimer", ep.DISCLAIMERS)):
        if mail.wants(kind):
            mail.kinds.add(kind)
            blocks.append(_Block(kind, mail.phrase(bank).split("\n")))
    return blocks


def _request_lines(request: str, mail: _Mail) -> list[str]:
    """The request as one line or, now and then, wrapped at a space near the middle."""
    spaces = [i for i, char in enumerate(request) if char == " "]
    if len(request) < 30 or not spaces or not mail.wants("wrapped"):
        return [request]
    mail.kinds.add("wrapped")
    cut = min(spaces, key=lambda i: abs(i - len(request) * mail.rng.uniform(0.4, 0.7)))
    return [request[:cut], request[cut + 1:]]


def _signature(mail: _Mail) -> list[str]:
    """The customer's name and, by layout, title, company, phones, address, e-mail and web site."""
    layout = mail.phrase(ep.SIGNATURE_LAYOUTS)
    values = {"name": mail.phrase(ep.NAME_FORMS), "title": mail.phrase(ep.JOB_TITLES), "company": mail.fill["company"],
              "phone": mail.phrase(ep.PHONES), "address": mail.phrase(ep.ADDRESSES),
              "email": mail.fill["customer_email"],
              "web": "www." + re.sub(r"\W+", "", _ascii(mail.fill["company"])) + ".example"}
    lines = []
    for line in layout.split():
        lines.extend(" | ".join(values[key] for key in line.split("|")).split("\n"))
    separator = mail.phrase(ep.SIGNATURE_SEPARATORS) if layout != "name" else ""
    return [separator, *lines] if separator else lines


def _quote(mail: _Mail) -> tuple[_Quote, str]:
    """An earlier message in one of the part's quote styles, and the subject of its thread."""
    rng = mail.rng
    style = ep.QUOTE_STYLES.pick(mail.part, rng)
    mail.kinds.add("forward" if style in ep.FORWARD_STYLES else "quote")
    from_agent = rng.random() < (0.3 if style in ep.FORWARD_STYLES else 0.6)
    when = dt.datetime(2019, 1, 1, 7) + dt.timedelta(days=rng.randint(0, 6 * 365), minutes=rng.randint(0, 900))
    subject, text = mail.phrase(ep.AGENT_REPLIES if from_agent else ep.CUSTOMER_EARLIER).split("|", 1)
    body: list[str | _Quote] = list(text.split("\n"))
    if from_agent and rng.random() < 0.35:
        signed = [t for t in ep.CUSTOMER_EARLIER.of(mail.part) if t.endswith("{customer}")]
        inner_subject, inner_text = mail.filled(rng.choice(signed)).split("|", 1)
        inner_header = ep.quote_header(style, _sender(mail, text=inner_text), mail.fill["bank"], inner_subject,
                                     when - dt.timedelta(days=rng.randint(1, 9), hours=3), rng)
        body += ["", _Quote(style, inner_header, tuple(inner_text.split("\n")))]
    sender = _sender(mail, agent=from_agent, text=text)
    customer = f"{mail.fill['first']} {mail.fill['last']} <{mail.fill['customer_email']}>"
    to = mail.fill["bank"] if sender == customer else customer
    return _Quote(style, ep.quote_header(style, sender, to, subject, when, rng), tuple(body)), subject


def _sender(mail: _Mail, *, agent: bool = False, text: str = "") -> str:
    """Who sent a quoted message: the bank's support desk, or the customer when they signed it."""
    if not agent and text.rstrip().endswith(mail.fill["customer"]):
        return f"{mail.fill['first']} {mail.fill['last']} <{mail.fill['customer_email']}>"
    name, box = mail.phrase(ep.SUPPORT_SENDERS).split("|")
    return f"{name} <{box}@{_ascii(mail.fill['bank']).replace(' ', '')}.example>"


def _quote_text(quote: _Quote, rng: random.Random) -> list[str]:
    """A quote in plain text: "> " before every line, or the text under an Outlook-like header."""
    inner: list[str] = []
    for item in quote.body:
        inner.extend(_quote_text(item, rng) if isinstance(item, _Quote) else [item])
    if quote.style not in PREFIXED_STYLES:
        return [*quote.header, "", *inner]
    header, gap = list(quote.header), [""] if rng.random() < 0.5 else []
    if len(header[0]) > 76 and rng.random() < 0.4:  # plain-text clients wrap long attribution lines
        cut = header[0].rfind(" ", 0, 76)
        header = [header[0][:cut], header[0][cut + 1:]]
    return [*header, *gap, *(">" + line if line.startswith(">") else ("> " + line).rstrip() for line in inner)]


def _render_text(blocks: list[_Block], quote: _Quote | None, trailing: list[_Block], mail: _Mail) -> str:
    """The e-mail as plain text: paragraphs split by empty lines, then the quote, then server footers."""
    text = ""
    for block in blocks:
        text += ("" if not text else "\n" if block.tight else "\n\n") + "\n".join(block.lines)
    if quote is not None:
        text += "\n" * mail.rng.randint(1, 3) + "\n".join(_quote_text(quote, mail.rng))
    for block in trailing:
        text += "\n\n" + "\n".join(block.lines)
    return text + mail.rng.choice(("", "\n", "\n\n"))


def _render_html(blocks: list[_Block], quote: _Quote | None, trailing: list[_Block], mail: _Mail) -> str:
    """The e-mail as HTML in one of the part's flavours, with the quote in a blockquote or below a rule."""
    flavour = mail.phrase(ep.HTML_FLAVOURS)
    parts = [_html_paragraph(block.lines, flavour, block.kind) for block in blocks]
    if quote is not None:
        parts.append(_html_quote(quote, flavour))
    parts.extend(_html_paragraph(block.lines, flavour, block.kind) for block in trailing)
    joiner = {"gmail_div": "<div><br></div>", "paragraphs": "", "mso": '<p class="MsoNormal"><o:p>&nbsp;</o:p></p>'}
    inner = joiner[flavour].join(parts)
    if flavour == "gmail_div" and mail.rng.random() < 0.5:
        return f'<div dir="ltr">{inner}</div>'
    head = '<head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"></head>'
    return f"<html>{head if mail.rng.random() < 0.5 else ''}<body>{inner}</body></html>"


def _html_paragraph(lines: Sequence[str], flavour: str, kind: str) -> str:
    """One paragraph's lines, escaped, joined by <br> inside the flavour's paragraph tag."""
    text = "<br>".join(html.escape(line, quote=False) for line in lines)
    if flavour == "mso":
        return f'<p class="MsoNormal">{text}<o:p></o:p></p>'
    if flavour == "gmail_div":
        return f'<div dir="ltr" class="gmail_signature">{text}</div>' if kind == "signature" else f"<div>{text}</div>"
    return f"<p>{text}</p>"


def _html_quote(quote: _Quote, flavour: str) -> str:
    """A quote the way its client marks it up: Gmail's and Apple's blockquotes, Outlook's rule."""
    body, paragraph = [], []
    for item in (*quote.body, ""):
        if isinstance(item, _Quote) or not item:
            if paragraph:
                body.append(_html_paragraph(paragraph, flavour, "quote"))
            paragraph = []
            if isinstance(item, _Quote):
                body.append(_html_quote(item, flavour))
        else:
            paragraph.append(item)
    header = [html.escape(line, quote=False) for line in quote.header]
    if quote.style in ("gmail", "german", "french", "spanish", "forwarded"):
        return ep.HTML_GMAIL_QUOTE.format(header="<br>".join(header), body="".join(body))
    if quote.style in PREFIXED_STYLES or quote.style == "apple_forward":
        return ep.HTML_CITE_QUOTE.format(header="<br>".join(header), body="".join(body))
    header = [re.sub(r"^(\w+):", r"<b>\1:</b>", line) for line in header]
    return ep.HTML_OUTLOOK_QUOTE.format(header="<br>".join(header), body="".join(body))


def _sprinkle_invisible(blocks: list[_Block], mail: _Mail) -> None:
    """Zero-width characters and non-breaking spaces as pasted text and editors leave them, outside
    the request's words (a trailing one after the request is allowed)."""
    mail.kinds.add("invisible")
    rng = mail.rng
    for _ in range(rng.randint(1, 3)):
        block = rng.choice(blocks)
        i = rng.randrange(len(block.lines))
        line, how = block.lines[i], rng.random()
        if block.kind == "request" or how < 0.3:
            block.lines[i] = line + "\u00a0"
        elif how < 0.55 and " " in line:
            block.lines[i] = line.replace(" ", "\u00a0", 1)
        else:
            spaces = [0, *(j + 1 for j, char in enumerate(line) if char == " ")]
            j = rng.choice(spaces)
            block.lines[i] = line[:j] + rng.choice(_INVISIBLE) + line[j:]


def _crlf(body: str, rng: random.Random) -> str:
    """CRLF line ends for all lines, or for some lines only, as in e-mails edited on two systems."""
    if rng.random() < 0.5:
        return body.replace("\n", "\r\n")
    return "".join(piece + ("\r\n" if rng.random() < 0.5 else "\n") for piece in body.split("\n")[:-1]) + \
        body.split("\n")[-1]


def _subject(request: str, mail: _Mail, quote: _Quote | None, thread_subject: str | None) -> str:
    """A subject: the thread's (Re:/Fwd:), one naming the request, a generic one, or none."""
    rng = mail.rng
    if quote is not None and thread_subject and rng.random() < 0.6:
        if quote.style in ep.FORWARD_STYLES:
            return rng.choice(("Fwd: ", "FW: ", "Fw: ")) + thread_subject
        prefix = _REPLY_PREFIX.get(quote.style, "Re: ")
        return thread_subject if thread_subject.lower().startswith("re:") else prefix + thread_subject
    draw = rng.random()
    if draw < SUBJECT_P["request"]:
        words = " ".join(request.split()[: rng.randint(3, 6)]).rstrip(".,?!;:")
        topic = next((name for key, name in ep.TOPICS if key in request.lower()), ep.DEFAULT_TOPIC)
        return ep.REQUEST_SUBJECTS.pick(mail.part, rng).format(
            words=words, Words=words[:1].upper() + words[1:], topic=topic, Topic=topic[:1].upper() + topic[1:])
    if draw < SUBJECT_P["request"] + SUBJECT_P["generic"]:
        return mail.phrase(ep.GENERIC_SUBJECTS)
    return ""
