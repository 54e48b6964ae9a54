"""Text for the PII tests: card numbers in every layout, and ordinary text full of numbers that are
not cards. Both the hypothesis strategies and the seeded generator the false-positive figure comes
from live here.

    .venv/bin/python tests/worker/pii/pii_samples.py [COUNT] [SEED]

prints, per kind of ordinary text, how many of COUNT generated strings lose a digit to card masking
(the cover used by redaction) and how many give a card entity (the strict finder).
"""

from __future__ import annotations

import random
import re
import sys
from collections.abc import Callable

from hypothesis import strategies as st

from worker.contract import TriageResult

# --- cards -------------------------------------------------------------------------------------

SPACES = [" ", "\u00a0", "\u2009", "\u202f", "\u2007", "\u3000", "\u2002", "\u2003", "\u205f", "\t"]
DASHES = ["-", "\u2010", "\u2011", "\u2012", "\u2013", "\u2014", "\u2212", "\ufe63", "\uff0d", "\u2015"]
PUNCTUATION = ["/", "_", ",", ".", "\uff0f", "\uff0c", "\uff0e", "\u00b7"]
LINE_BREAKS = ["\n", "\r\n", " \n", "\n ", "-\n", " \n    ", "\u2028"]
INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"]
LONG_SPACES = ["  ", "   ", "     ", " " * 8, " " * 12, " " * 16]
FULLWIDTH = str.maketrans("0123456789", "\uff10\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19")
ARABIC_INDIC = str.maketrans("0123456789", "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669")


def luhn_complete(body: str) -> str:
    """``body`` with the check digit that makes it pass Luhn."""
    total = 0
    for index, char in enumerate(reversed(body)):
        value = int(char)
        if index % 2 == 0:  # doubled once the check digit is appended
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return body + str((10 - total % 10) % 10)


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    """A Luhn-valid number of 13 to 19 digits (any prefix, so not only real brands)."""
    length = draw(st.integers(13, 19))
    body = draw(st.text("0123456789", min_size=length - 1, max_size=length - 1))
    return luhn_complete(body)


def separators() -> st.SearchStrategy[str]:
    """One gap between digit groups, from every class the finders accept."""
    return st.one_of(
        st.sampled_from(SPACES), st.sampled_from(DASHES), st.sampled_from(PUNCTUATION),
        st.sampled_from(LINE_BREAKS), st.sampled_from(INVISIBLE), st.sampled_from(LONG_SPACES),
        st.sampled_from([" - ", " / ", ", ", ". ", "-\u200b", "\u200b\u200b\u200b", " \u2013 "]),
    )


@st.composite
def group_sizes(draw: st.DrawFn, length: int) -> list[int]:
    """How a number of ``length`` digits is cut into groups: a brand's layout, single digits,
    or random cuts."""
    layout = draw(st.sampled_from(["none", "fours", "amex", "single", "random", "random"]))
    if layout == "none":
        return [length]
    if layout == "fours":
        return [4] * (length // 4) + ([length % 4] if length % 4 else [])
    if layout == "amex" and length == 15:
        return [4, 6, 5]
    if layout == "single":
        return [1] * length
    sizes, left = [], length
    while left:
        size = draw(st.integers(1, min(left, 7)))
        sizes.append(size)
        left -= size
    return sizes


@st.composite
def card_layouts(draw: st.DrawFn, *, mixed: bool = True) -> tuple[str, str]:
    """``(digits, written)``: a card number and how it is written; one separator for the whole
    number, or (``mixed``) one drawn for each gap, with line breaks and invisible characters
    anywhere; digits sometimes full-width or Arabic-Indic."""
    digits = draw(card_numbers())
    sizes = draw(group_sizes(len(digits)))
    one = draw(separators())
    per_gap = mixed and draw(st.booleans())
    pieces, cursor = [], 0
    for index, size in enumerate(sizes):
        if index:
            pieces.append(draw(separators()) if per_gap else one)
        pieces.append(digits[cursor:cursor + size])
        cursor += size
    written = "".join(pieces)
    script = draw(st.sampled_from(["ascii"] * 6 + ["fullwidth", "arabic"]))
    if script == "fullwidth":
        written = written.translate(FULLWIDTH)
    elif script == "arabic":
        written = written.translate(ARABIC_INDIC)
    return digits, written


def _digit_string(draw: st.DrawFn, low: int, high: int) -> str:
    return draw(st.text("0123456789", min_size=low, max_size=high))


_NUMERIC = ["number", "date", "phone", "amount"]


@st.composite
def neighbours(draw: st.DrawFn, kinds: list[str] | None = None) -> tuple[str, str]:
    """``(kind, text)``: what may stand right before or after a card: words, other numbers,
    punctuation, or nothing."""
    kind = draw(st.sampled_from(kinds or ["word", "nothing", "punct", *_NUMERIC]))
    if kind == "word":
        return kind, draw(st.sampled_from(["card", "my card is", "Card no.", "pan:", "TX", "ref", "GBP", "exp"]))
    if kind == "number":
        return kind, _digit_string(draw, 1, 12)
    if kind == "date":
        return kind, draw(st.sampled_from(["2024-01-15", "15/01/2024", "15.01.2024", "01/25", "12/2027"]))
    if kind == "phone":
        return kind, draw(st.sampled_from(["+44 20 7946 0958", "07700 900123", "555-123-4567", "(020) 7946 0958"]))
    if kind == "amount":
        return kind, draw(st.sampled_from(["1,250.00", "£45.99", "12 000", "99"]))
    if kind == "punct":
        return kind, draw(st.sampled_from([":", "(", ")", "#", "*", "'", '"', "\n"]))
    return kind, ""


#: Between a number and a card: one separator, a padded one, a line break (a card's own gaps).
TIGHT_JOINERS = ["-", "/", ".", ",", "_", "\u2013", "\u200b"]
#: What clearly parts two numbers while still being a gap: spaces, line breaks, a spaced dash.
CLEAR_JOINERS = [" ", "\n", "\u00a0", "  ", " - ", ", ", ": "]


@st.composite
def cards_in_text(draw: st.DrawFn, *, mixed: bool = True) -> tuple[str, str, str, str]:
    """``(digits, before, written, after)``: a card in a layout with whatever surrounds it.

    A number beside the card stands one gap away (never glued: see :func:`glued_cards`); with
    ``mixed`` gaps inside the card, that gap clearly parts two numbers (a space, a line break),
    as the finder needs to tell where such a card starts."""
    digits, written = draw(card_layouts(mixed=mixed))
    joiners = CLEAR_JOINERS if mixed else CLEAR_JOINERS + TIGHT_JOINERS
    kind, before = draw(neighbours())
    before += draw(st.sampled_from(joiners if kind in _NUMERIC else ["", *CLEAR_JOINERS]))
    kind, after = draw(neighbours())
    after = draw(st.sampled_from(joiners if kind in _NUMERIC else ["", *CLEAR_JOINERS])) + after
    prose = draw(st.sampled_from(["", "Hello, ", "I was charged twice on ", "Declined: "]))
    tail = draw(st.sampled_from(["", " please help", " thanks.", "\nSent from my phone"]))
    return digits, prose + before, written, after + tail


#: The lengths each leading digit's card brands use (see worker.pii.cards).
BRAND_LENGTHS = {"2": (16,), "3": (14, 15, 16), "4": (13, 16, 19), "5": (16,), "6": (16, 17, 18, 19)}


@st.composite
def brand_card_numbers(draw: st.DrawFn) -> str:
    """A Luhn-valid number with a brand's leading digit and length."""
    first = draw(st.sampled_from(sorted(BRAND_LENGTHS)))
    length = draw(st.sampled_from(BRAND_LENGTHS[first]))
    return luhn_complete(first + _digit_string(draw, length - 2, length - 2))


@st.composite
def glued_cards(draw: st.DrawFn) -> tuple[str, str, str, str]:
    """``(digits, before, written, after)``: a card written without a gap against another number
    on one side ("2024-01-15" + card, card + "0125"), the other side clear."""
    digits = draw(brand_card_numbers())
    glued = draw(st.one_of(st.text("0123456789", min_size=1, max_size=12),
                           st.sampled_from(["2024-01-15", "15/01/2024", "+44 20 7946 0958", "12/25", "0125"])))
    clear_side = draw(st.sampled_from(["", " ", "\n", "card ", " thanks", ": "]))
    if draw(st.booleans()):
        return digits, "ref " + glued, digits, clear_side
    return digits, clear_side, digits, glued + " ok"


# --- IBANs and e-mail addresses ----------------------------------------------------------------

def iban_with_check(country: str, bban: str) -> str:
    """The IBAN of ``bban`` in ``country``, with its mod-97 check digits."""
    rearranged = bban + country + "00"
    number = int("".join(str(int(char, 36)) for char in rearranged))
    return f"{country}{98 - number % 97:02d}{bban}"


@st.composite
def ibans(draw: st.DrawFn) -> tuple[str, str]:
    """``(compact, written)``: a valid IBAN of a registered country, grouped by fours with one
    separator (space, dash, dot, no-break space, en dash, zero-width space) or compact, in upper,
    lower or mixed case."""
    from worker.pii.finders import IBAN_LENGTHS

    country = draw(st.sampled_from(sorted(IBAN_LENGTHS)))
    alphabet = draw(st.sampled_from(["0123456789", "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"]))
    bban = draw(st.text(alphabet, min_size=IBAN_LENGTHS[country] - 4, max_size=IBAN_LENGTHS[country] - 4))
    compact = iban_with_check(country, bban)
    separator = draw(st.sampled_from(["", " ", "-", ".", "\u00a0", "\u2013", "\u200b", " - "]))
    written = separator.join(compact[index:index + 4] for index in range(0, len(compact), 4))
    case = draw(st.sampled_from(["upper", "lower", "mixed"]))
    if case == "lower":
        written = written.lower()
    elif case == "mixed":
        written = "".join(char.lower() if draw(st.booleans()) else char for char in written)
    return compact, written


_ATEXT = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+/=?^_`{|}~-" + "éøßжя"
_LABEL_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789" + "üéжя中文"


@st.composite
def _label(draw: st.DrawFn) -> str:
    head = draw(st.text(_LABEL_CHARS, min_size=1, max_size=8))
    tail = draw(st.sampled_from(["", "-" + draw(st.text(_LABEL_CHARS, min_size=1, max_size=5))]))
    return head + tail


@st.composite
def email_addresses(draw: st.DrawFn) -> str:
    """An address with any legal local part, written plainly, quoted, spaced or spelled out."""
    from worker.pii.emails import SPELLED_TLDS

    atoms = draw(st.lists(st.text(_ATEXT, min_size=1, max_size=8), min_size=1, max_size=3))
    labels = draw(st.lists(_label(), min_size=1, max_size=3))
    form = draw(st.sampled_from(["plain", "plain", "quoted", "spaced", "at-dot", "unicode-tld"]))
    tld = draw(st.sampled_from(sorted(SPELLED_TLDS)))
    if form == "plain":
        return ".".join(atoms) + "@" + ".".join([*labels, tld])
    if form == "unicode-tld":
        return ".".join(atoms) + "@" + ".".join([*labels, draw(st.sampled_from(["рф", "中国", "みんな", "xn--p1ai"]))])
    if form == "quoted":
        inner = draw(st.text(_ATEXT + ' ().,:;<>@[]', min_size=1, max_size=12)).replace('"', "")
        return '"' + (inner or "x") + draw(st.sampled_from(["", ' \\"q\\"'])) + '"@' + ".".join([*labels, tld])
    if form == "spaced":
        return " . ".join(atoms) + " @ " + " . ".join([*labels, tld])
    at = draw(st.sampled_from(["(at)", " [at] ", "[at]", " (at) ", "<at>"]))
    dot = draw(st.sampled_from(["(dot)", " [dot] ", " dot ", "."]))
    return ".".join(atoms) + at + dot.join([*labels, tld])


# --- leaks -------------------------------------------------------------------------------------

_RUN = re.compile(r"\d(?:[^\w\[\]*]{0,16}\d)*")


def digit_runs(text: str) -> list[str]:
    """The ASCII digits of each run of digits in ``text`` (digits of any script; joined by up to
    16 characters that are not letters, digits, ``[``, ``]`` or ``*``: a token or a mask ends it)."""
    from worker.pii.characters import ascii_digits

    return [ascii_digits(match.group(0)) for match in _RUN.finditer(text)]


def five_grams(digits: str) -> set[str]:
    return {digits[index:index + 5] for index in range(len(digits) - 4)}


def leaked(card: str, output: str, *, context: str = "") -> set[str]:
    """The runs of 5 digits of ``card`` in ``output`` that do not come from ``context`` (the
    text around the card, which may hold the same 5 digits by chance)."""
    grams = five_grams(card)
    ours = {gram for run in digit_runs(output) for gram in five_grams(run)}
    theirs = {gram for run in digit_runs(context) for gram in five_grams(run)}
    return (grams & ours) - theirs


# --- ordinary text -----------------------------------------------------------------------------

Maker = Callable[[random.Random], str]


def _d(rng: random.Random, count: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(count))


def _date(rng: random.Random) -> str:
    y, m, d = rng.randint(2015, 2027), rng.randint(1, 12), rng.randint(1, 28)
    return rng.choice([f"{y}-{m:02}-{d:02}", f"{d:02}/{m:02}/{y}", f"{m:02}/{d:02}/{y}", f"{d:02}.{m:02}.{y}",
                       f"{d}-{m}-{y}", f"{y}/{m:02}/{d:02}", f"{d} Jan {y}", f"{y}-{m:02}-{d:02}T{rng.randint(0, 23):02}:"
                       f"{rng.randint(0, 59):02}:00Z", f"{d:02}/{m:02}/{y % 100:02}", f"{m:02}/{y % 100:02}"])


def _time(rng: random.Random) -> str:
    return rng.choice([f"{rng.randint(0, 23):02}:{rng.randint(0, 59):02}",
                       f"{rng.randint(0, 23):02}:{rng.randint(0, 59):02}:{rng.randint(0, 59):02}",
                       f"{rng.randint(1, 12)}.{rng.randint(0, 59):02}pm"])


def _amount(rng: random.Random) -> str:
    whole = rng.choice([rng.randint(1, 99), rng.randint(100, 9999), rng.randint(10_000, 9_999_999)])
    cents = rng.randint(0, 99)
    return rng.choice([f"£{whole:,}.{cents:02}", f"{whole:,}.{cents:02}", f"${whole}.{cents:02}",
                       f"{whole:,}".replace(",", ".") + f",{cents:02} €", f"{whole:,}".replace(",", " "),
                       f"EUR {whole}", f"{whole} GBP", f"{whole:,}.{cents:02} USD"])


def _phone(rng: random.Random) -> str:
    return rng.choice([f"+44 20 {_d(rng, 4)} {_d(rng, 4)}", f"07{_d(rng, 3)} {_d(rng, 6)}",
                       f"({_d(rng, 3)}) {_d(rng, 3)}-{_d(rng, 4)}", f"{_d(rng, 3)}-{_d(rng, 3)}-{_d(rng, 4)}",
                       f"+1 {_d(rng, 3)} {_d(rng, 3)} {_d(rng, 4)}", f"+49 30 {_d(rng, 6)}",
                       f"+33 1 {_d(rng, 2)} {_d(rng, 2)} {_d(rng, 2)} {_d(rng, 2)}", f"+447{_d(rng, 9)}",
                       f"0{_d(rng, 3)} {_d(rng, 3)} {_d(rng, 4)}"])


def _order(rng: random.Random) -> str:
    return rng.choice([f"ORD-{rng.randint(2015, 2027)}-{_d(rng, 6)}", f"#{_d(rng, 8)}",
                       f"{_d(rng, 3)}-{_d(rng, 7)}-{_d(rng, 7)}", f"ref {_d(rng, 6)}", f"{_d(rng, 10)}",
                       f"case {_d(rng, 8)}", f"invoice INV{_d(rng, 7)}", f"{_d(rng, 12)}",
                       f"ticket #{_d(rng, 5)}", f"TX{_d(rng, 10)}"])


def _bank(rng: random.Random) -> str:
    return rng.choice([f"sort code {_d(rng, 2)}-{_d(rng, 2)}-{_d(rng, 2)} account {_d(rng, 8)}",
                       f"{_d(rng, 2)}-{_d(rng, 2)}-{_d(rng, 2)} {_d(rng, 8)}",
                       f"routing {_d(rng, 9)} account {_d(rng, 10)}", f"account no. {_d(rng, 8)}",
                       f"BIC DEUTDEFF, acct {_d(rng, 10)}"])


def _tracking(rng: random.Random) -> str:
    return rng.choice([f"1Z{_d(rng, 3)}AA{_d(rng, 10)}", f"{_d(rng, 4)} {_d(rng, 4)} {_d(rng, 4)} {_d(rng, 4)} "
                       f"{_d(rng, 4)} {_d(rng, 2)}", f"AB{_d(rng, 9)}GB", f"{_d(rng, 22)}", f"{_d(rng, 12)}"])


def _timestamp(rng: random.Random) -> str:
    return rng.choice([str(rng.randint(1_500_000_000, 1_800_000_000)),
                       str(rng.randint(1_500_000_000_000, 1_800_000_000_000)),
                       f"{rng.randint(2015, 2027)}{rng.randint(1, 12):02}{rng.randint(1, 28):02}"
                       f"{rng.randint(0, 23):02}{rng.randint(0, 59):02}{rng.randint(0, 59):02}"])


def _misc(rng: random.Random) -> str:
    return rng.choice([f"{rng.randint(1, 255)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}",
                       f"version {rng.randint(1, 20)}.{rng.randint(0, 20)}.{rng.randint(0, 99)}",
                       f"{rng.randint(1, 100)}%", f"{rng.randint(1, 12)} cards", f"SW1A {rng.randint(1, 9)}AA",
                       f"{_d(rng, 5)}-{_d(rng, 4)}", f"{rng.randint(1, 30)} days", f"PIN {_d(rng, 4)}",
                       f"last four {_d(rng, 4)}", f"code {_d(rng, 6)}"])


KINDS: dict[str, Maker] = {
    "date": _date, "time": _time, "amount": _amount, "phone": _phone, "order id": _order,
    "bank details": _bank, "tracking": _tracking, "timestamp": _timestamp, "misc": _misc,
}
_WORDS = ["on", "at", "I paid", "and", "then", "ref", "amount", "date:", "-", ",", "from", "to", "call me on",
          "order", "total", "balance", "was", "charged", "(", ")", "\n", "·", "|", "/"]


def sentence(rng: random.Random) -> str:
    """Two to five ordinary numbers, joined by words, punctuation, or nothing but a space."""
    parts = []
    for index in range(rng.randint(2, 5)):
        if index:
            parts.append(rng.choice([" ", " ", ", ", " " + rng.choice(_WORDS) + " ", "\n", " - "]))
        parts.append(rng.choice(list(KINDS.values()))(rng))
    return "".join(parts)


_PROSE = [
    "I was charged {amount} on {date} at {time} and again on {date}.",
    "Order {order} was paid on {date} ({amount}), please call me on {phone}.",
    "My {bank}; the transfer of {amount} on {date} has not arrived, ref {order}.",
    "Parcel {tracking} was due on {date}. I paid {amount}. Phone: {phone}",
    "Since {date} {time} I see {amount} pending ({misc}), ticket {order}.",
    "Hi, on {date} my balance went from {amount} to {amount}. Log id {timestamp}.",
]


def prose(rng: random.Random) -> str:
    """A support message with numbers of several kinds, words between them."""
    template = rng.choice(_PROSE)
    return re.sub(r"\{(\w+)\}", lambda m: KINDS[m.group(1).replace("bank", "bank details")
                                                  .replace("order", "order id")](rng), template)


def ordinary_texts(count: int, seed: int = 12) -> dict[str, list[str]]:
    """``count`` strings of each kind; ``count`` support messages with words between the numbers
    ("prose"); ``count`` strings of two to five numbers side by side ("adjacent", the hard case)."""
    rng = random.Random(seed)
    texts = {kind: [make(rng) for _ in range(count)] for kind, make in KINDS.items()}
    texts["prose"] = [prose(rng) for _ in range(count)]
    texts["adjacent"] = [sentence(rng) for _ in range(count)]
    return texts


def _report(count: int, seed: int) -> None:
    from worker.pii.finders import card_cover_spans, card_spans

    print(f"{'kind':<14}{'strings':>8}{'masked':>9}{'rate':>8}{'entity':>9}{'rate':>8}")
    total = masked_total = strict_total = 0
    for kind, texts in ordinary_texts(count, seed).items():
        masked = sum(bool(card_cover_spans(text)) for text in texts)
        strict = sum(bool(card_spans(text)) for text in texts)
        total, masked_total, strict_total = total + len(texts), masked_total + masked, strict_total + strict
        print(f"{kind:<14}{len(texts):>8}{masked:>9}{masked / len(texts):>8.2%}{strict:>9}{strict / len(texts):>8.2%}")
    print(f"{'all':<14}{total:>8}{masked_total:>9}{masked_total / total:>8.2%}{strict_total:>9}"
          f"{strict_total / total:>8.2%}")


if __name__ == "__main__":
    _report(int(sys.argv[1]) if len(sys.argv) > 1 else 1000, int(sys.argv[2]) if len(sys.argv) > 2 else 12)


def result_carrying(text: str, **fields: object) -> TriageResult:
    """A result carrying ``text`` in every field redact_result masks, as the property test builds it."""
    return TriageResult(
        ticket_id="T-1",
        reply={"action": "draft", "text": text, "reasons": [text]},
        entities=[{"type": "card_last4", "text": text, "start": 0, "end": 1, "value": {"raw": text}}],
        transcripts=[{"text": text}],
        errors=[{"where": "x", "code": "y", "message": text}],
        cleaning={"text": text, "signature": text},
        priority={"level": "high", "reasons": [text]},
        **fields,
    )
