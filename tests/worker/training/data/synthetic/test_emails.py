"""E-mail-shaped tickets around one-line requests: determinism, the request intact, disjoint train/val banks."""

from __future__ import annotations

import datetime as dt
import random
import re
from collections import Counter
from html.parser import HTMLParser

import pytest

from worker.training.data.synthetic import email_parts as ep
from worker.training.data.synthetic.emails import PART_KINDS, PREFIXED_STYLES, EmailTicket, email_tickets, wrap_email

REQUESTS = (
    "I am still waiting on my card?",
    "What can I do if my card still hasn't arrived after 2 weeks?",
    "How do I top up with Apple Pay & what are the fees?",
    "Why was I charged a fee for a transfer to my friend's account <2 days ago>?",
    "pin blocked",
    "My exchange rate for the cash withdrawal in Spain was wrong, can you check it and refund the difference?",
    "Is there a way to change my address in the app?",
    "I don't recognise a payment of £34.99 on my statement.",
)
N = 600
_BLOCK_TAGS = {"br", "p", "div", "blockquote", "hr", "html", "body"}
_VOID_TAGS = {"br", "hr", "meta"}


class _Text(HTMLParser):
    """Text of an HTML body with a line break at every block tag, and a check that tags nest."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self.chunks.append("\n")
        if tag not in _VOID_TAGS:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, f"</{tag}> closes {self.open[-1:]}"
        self.open.pop()
        if tag in _BLOCK_TAGS:
            self.chunks.append("\n")

    def handle_data(self, data: str) -> None:
        self.chunks.append(data)


def _html_text(body: str) -> str:
    parser = _Text()
    parser.feed(body)
    parser.close()
    assert parser.open == [], f"unclosed tags {parser.open}"
    return "".join(parser.chunks)


def _words(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def tickets() -> dict[str, list[EmailTicket]]:
    requests = [REQUESTS[i % len(REQUESTS)] for i in range(N)]
    return {part: email_tickets(requests, seed=7, part=part) for part in ep.PARTS}


def test_same_seed_gives_the_same_tickets_and_another_seed_others() -> None:
    """email_tickets is a function of the requests, the seed and the part."""
    first = email_tickets(REQUESTS, seed=3, part="train")
    assert first == email_tickets(REQUESTS, seed=3, part="train")
    assert first != email_tickets(REQUESTS, seed=4, part="train")
    assert first != email_tickets(REQUESTS, seed=3, part="val")


def test_a_ticket_depends_only_on_the_seed_and_its_index() -> None:
    """Taking the first requests of a list gives the first tickets of the whole list."""
    assert email_tickets(REQUESTS[:3], seed=5, part="val") == email_tickets(REQUESTS, seed=5, part="val")[:3]


def test_wrap_email_is_deterministic_for_an_rng_state() -> None:
    """Two generators seeded alike give the same e-mail."""
    one = wrap_email(REQUESTS[1], rng=random.Random(11), part="train")
    assert one == wrap_email(REQUESTS[1], rng=random.Random(11), part="train")
    assert one.request == REQUESTS[1]


def test_an_unknown_part_is_refused() -> None:
    """Only "train" and "val" exist; a typo must not silently fall back to either."""
    with pytest.raises(ValueError, match="part"):
        wrap_email(REQUESTS[0], rng=random.Random(0), part="test")  # type: ignore[arg-type]


def test_the_request_is_in_every_body(tickets: dict[str, list[EmailTicket]]) -> None:
    """Word for word (exactly, unless wrapped or HTML), so labels stay true to the text."""
    for ticket in tickets["train"] + tickets["val"]:
        text = _html_text(ticket.body) if "html" in ticket.parts else ticket.body
        assert _words(ticket.request) in _words(text), ticket
        if "html" not in ticket.parts and "wrapped" not in ticket.parts:
            assert ticket.request in ticket.body


def test_no_template_field_is_left_unfilled(tickets: dict[str, list[EmailTicket]]) -> None:
    """No "{agent}" or a lone "#" placeholder reaches a body or subject."""
    for ticket in tickets["train"] + tickets["val"]:
        assert not re.search(r"[{}]", ticket.body + ticket.subject), ticket
        assert not re.search(r"#(?![\w\d])", ticket.body), ticket


def test_train_and_val_banks_are_disjoint_for_every_kind() -> None:
    """Validation holds back phrasings training never shows, for every kind of part."""
    for kind, bank in ep.PHRASE_BANKS.items():
        assert bank.train and bank.val, kind
        assert set(bank.train).isdisjoint(bank.val), kind
        assert len(set(bank.train)) == len(bank.train) and len(set(bank.val)) == len(bank.val), kind


def test_thunderbird_and_french_quotes_are_validation_only() -> None:
    """The held-out quote header styles are the ones the brief names, among others."""
    assert {"thunderbird", "french"} <= set(ep.QUOTE_STYLES.val)
    assert {"gmail", "outlook_original", "outlook_underscore", "apple", "forwarded", "german", "spanish"} <= set(
        ep.QUOTE_STYLES.train)


def test_each_part_uses_only_its_own_phrases(tickets: dict[str, list[EmailTicket]]) -> None:
    """A val e-mail never shows a train-only quote style, greeting, sign-off or footer line, and vice versa."""
    banks = (ep.GREETINGS, ep.OPENERS, ep.FOLLOW_UPS, ep.SIGN_OFFS, ep.SIGNATURE_SEPARATORS, ep.DEVICE_FOOTERS,
             ep.MARKETING_FOOTERS)
    for part, other in (("train", "val"), ("val", "train")):
        phrases = [p for bank in banks for p in bank.of(other)]  # type: ignore[arg-type]
        foreign = {_words(p) for p in phrases if p.strip() and not re.search("[{#]", p)}
        styles = ep.QUOTE_STYLES.of(part)  # type: ignore[arg-type]
        for ticket in tickets[part]:
            assert ticket.quote_style is None or ticket.quote_style in styles
            if "html" not in ticket.parts and ticket.quote_style is None:  # quoted agents sign off their own way
                lines = {_words(re.sub("[\u200b\u200c\u2060\ufeff]", "", line)) for line in ticket.body.splitlines()}
                assert not lines & foreign, (lines & foreign, ticket)


def test_every_quote_style_occurs_often_enough(tickets: dict[str, list[EmailTicket]]) -> None:
    """Over 600 e-mails each of the part's quote styles shows up at least ten times."""
    for part in ep.PARTS:
        counts = Counter(ticket.quote_style for ticket in tickets[part])
        for style in ep.QUOTE_STYLES.of(part):
            assert counts[style] >= 10, (part, style, counts)


def test_quote_headers_read_like_their_mail_clients() -> None:
    """Each style's header has the client's and language's wording, e.g. "Am ... schrieb ...:"."""
    when = dt.datetime(2022, 3, 14, 10, 2)
    sender = "Bank Support <support@bank.example>"
    expected = {
        "gmail": r"On Mon, (14 Mar 2022 at 10:02,|Mar 14, 2022 at 10:02 AM) Bank Support <support@bank.example> wrote:",
        "apple": r"On 14 Mar 2022, at 10:02, Bank Support <support@bank.example> wrote:",
        "thunderbird": r"On 14/03/2022 10:02, Bank Support wrote:",
        "yahoo": r"On Monday, 14 March 2022, 10:02:00 GMT, Bank Support <support@bank.example> wrote:",
        "german": r"Am Mo\., 14\. März 2022 um 10:02 Uhr schrieb Bank Support <support@bank.example>:",
        "french": r"Le lun\. 14 mars 2022 à 10:02, Bank Support <support@bank.example> a écrit :",
        "spanish": r"El lun, 14 mar 2022 a las 10:02, Bank Support \(<support@bank.example>\) escribió:",
        "forwarded": r"---------- Forwarded message ---------\nFrom: Bank Support.*\nDate: .*\nSubject: Hi\nTo: me",
        "outlook_original": r"-----Original Message-----\nFrom: .*\nSent: Monday, March 14, 2022 10:02 AM\nTo: me\n",
        "outlook_underscore": r"_{32}\nFrom: .*\nSent: 14 March 2022 10:02\nTo: me\n",
        "apple_forward": r"Begin forwarded message:\n\nFrom: Bank Support.*\nSubject: Hi\nDate: 14 March 2022 at 10:02",
        "outlook_german": r"Von: .*\nGesendet: Montag, 14\. März 2022 10:02\nAn: me\nBetreff: Hi",
    }
    assert set(expected) == set(ep.QUOTE_STYLES.train + ep.QUOTE_STYLES.val)
    for style, pattern in expected.items():
        for seed in range(6):
            header = " ".join(ep.quote_header(style, sender, "me", "Hi", when, random.Random(seed)))
            if style in PREFIXED_STYLES:
                assert re.fullmatch(pattern, header), (style, header)
            else:
                text = "\n".join(ep.quote_header(style, sender, "me", "Hi", when, random.Random(seed)))
                assert re.search(pattern, text), (style, text)


def test_plain_text_quotes_mark_every_quoted_line(tickets: dict[str, list[EmailTicket]]) -> None:
    """Below a "... wrote:" header (and an optional empty line) every line is quoted with ">"."""
    seen = 0
    for ticket in tickets["train"] + tickets["val"]:
        if ticket.quote_style in PREFIXED_STYLES and not {"html", "disclaimer"} & set(ticket.parts):
            lines = ticket.body.replace("\r\n", "\n").rstrip("\n").split("\n")
            end = max(i for i, line in enumerate(lines) if not line.startswith(">"))
            header = lines[end] or lines[end - 1]
            assert header.endswith(":"), ticket  # "wrote:", "schrieb ...:", "a écrit :", "escribió:"
            seen += 1
    assert seen > 50


def test_html_bodies_parse_and_quote_in_blockquotes(tickets: dict[str, list[EmailTicket]]) -> None:
    """HTML bodies have nested, closed tags, and "wrote:" quotes sit inside a <blockquote>."""
    html_tickets = [t for part in ep.PARTS for t in tickets[part] if "html" in t.parts]
    assert len(html_tickets) > 150
    for ticket in html_tickets:
        _html_text(ticket.body)
        assert re.match(r"<(html|div)\b", ticket.body)
        if ticket.quote_style in PREFIXED_STYLES or ticket.quote_style == "apple_forward":
            assert "<blockquote" in ticket.body
        elif ticket.quote_style is not None:
            assert "From:" in ticket.body or "Von:" in ticket.body


def test_e_mails_range_from_bare_requests_to_everything(tickets: dict[str, list[EmailTicket]]) -> None:
    """Part counts vary: some bodies are (nearly) just the request, some have six kinds or more."""
    for part in ep.PARTS:
        sizes = Counter(len(set(t.parts) - {"html", "crlf", "invisible"}) for t in tickets[part])
        assert sizes[0] >= 20 and sizes[1] >= 20, sizes
        assert sum(n for size, n in sizes.items() if size >= 6) >= 20, sizes
        kinds = {kind for t in tickets[part] for kind in t.parts}
        assert kinds == set(PART_KINDS), set(PART_KINDS) - kinds


def test_line_ends_and_invisible_characters(tickets: dict[str, list[EmailTicket]]) -> None:
    """Some bodies use CRLF throughout, some mix CRLF with LF, some carry zero-width or no-break spaces."""
    bodies = [t.body for part in ep.PARTS for t in tickets[part]]
    assert any("\r\n" in b and not re.search(r"(?<!\r)\n", b) for b in bodies)
    assert any("\r\n" in b and re.search(r"(?<!\r)\n", b) for b in bodies)
    assert sum(bool(re.search("[\u200b\u200c\u2060\ufeff]", b)) for b in bodies) >= 20
    assert sum("\u00a0" in b for b in bodies) >= 20


def test_subjects_carry_the_request_or_the_thread_or_nothing(tickets: dict[str, list[EmailTicket]]) -> None:
    """Subjects mix: empty, generic, the request's first words or topic, and Re:/Fwd: of the quoted thread."""
    for part in ep.PARTS:
        subjects = [t.subject for t in tickets[part]]
        generic = set(ep.GENERIC_SUBJECTS.of(part))
        assert subjects.count("") >= N * 0.1
        assert sum(s in generic for s in subjects) >= N * 0.1
        assert sum(bool(re.match(r"(Re|RE|AW|RE ): ", s)) for s in subjects) >= 30
        assert sum(bool(re.match(r"(Fwd|FW|Fw): ", s)) for s in subjects) >= 5
        first_words = [t for t in tickets[part] if t.subject and " ".join(t.request.split()[:3]).rstrip("?.,!")
                       in t.subject]
        assert len(first_words) >= 20
