"""Payment-card numbers: Luhn-valid windows of 13-19 digits, however the digits are laid out.

A card is looked for inside a **digit run**: groups of digits (any Unicode decimal digits)
joined by *gaps*. A gap may hold any number of invisible characters (zero-width space and
joiners, word joiner, BOM, soft hyphen, bidi marks: skipped as if absent) and, of visible ones,

* at most three separators of any kind: any Unicode space, any dash, ``/ _ , .`` (and their
  full-width forms, middle dots), a line break (``\r\n`` is one), e.g. ``" - "``, ``"-\n"``; or
* a longer run of spaces, at most 16, with at most one punctuation mark in it, for numbers padded
  into columns or split across OCR lines ("4111 1111\n    1111 1111");

never two line breaks (a blank line parts paragraphs), never more than two punctuation marks.
Why these bounds: people and OCR write a card with one separator between groups, sometimes padded
or broken over a line, never with a word between; each character more that a gap may hold joins
more unrelated numbers ("15/01/2024, 1,250.00 ...") into runs where Luhn passes by chance one
window in ten. ``tests/worker/pii/pii_samples.py`` measures what that costs on ordinary text.

Three kinds of window are read in a run:

* **aligned**: starting and ending where groups do. When its gaps agree (all spaces, or all the
  same dash, slash, dot...; a line break or an invisible-only gap agrees with anything) it is
  *strict*: :func:`card_spans`-style extraction reads only these, the best of overlapping ones.
* aligned with gaps that do not agree ("4111-1111 1111/1111"): masked too, when both its ends are
  the run's ends or gaps with a space or a line break. The mixed gaps inside a run are what an
  unrelated neighbour looks like ("18-18-69 70547003"), so one cut at a dash or a dot is not read.
* **glued**: inside one group, flush with one end of it, for a card written against another
  number without any gap ("2024-01-154111111111111111", "4111111111111111" + "0125"); its flush end
  must be a clear end (the run's end, a space, a line break) and it must look like a brand (Visa
  4: 13/16/19 digits, Mastercard 2 and 5: 16, Amex, Diners and JCB 3: 14-16, Discover, UnionPay
  and Maestro 6: 16-19), since every long number holds some Luhn-valid window. Not read in a
  decimal fraction ("3.14159265358979323846").

Masking (:func:`card_covers`) hides the union of the windows, so a card beside a phone number or a
date is covered whole even where a wrong window also passes the check.

Not found: a card glued to other digits on both sides, or glued and written in groups
("4111 1111 1111 111112/25"), or glued and not brand-like; a card whose gaps disagree and that
touches another number through a dash or dot alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import accumulate

from worker.pii.characters import INVISIBLE, LINE_BREAKS, PUNCTUATION, ascii_digits, punctuation_class
from worker.pii.reading import read_runs, shows_run_of

__all__ = ["CardCover", "CardWindow", "card_covers", "card_windows", "luhn_ok", "MIN_DIGITS", "MAX_DIGITS"]

MIN_DIGITS, MAX_DIGITS = 13, 19
#: Visible characters a gap may hold (as a run of spaces); three when it mixes in punctuation.
MAX_SPACE_RUN, MAX_MIXED_GAP = 16, 3
#: How many digits a window that is not strict may reach past a strict one and still be left out
#: of the cover (see :func:`card_covers`): no more than a card's visible last four.
SPARED_DIGITS = 4
#: The strength of a clear end: the run's end (3) or a gap with a space or a line break (2).
CLEAR_END = 2

_CLUSTER = re.compile(r"\d+")  # any Unicode decimal digit
_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum that every payment-card number satisfies."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        total += _DOUBLED[value] if index % 2 else value
    return total % 10 == 0


@dataclass(frozen=True)
class _Gap:
    """What separates two digit groups: ``signature`` is the punctuation classes it holds ("-",
    "/", " " for spaces only, None for a line break or invisible characters alone, which agree
    with any other gap), ``strength`` how clearly it ends a number (2 with a space, else 1)."""

    signature: str | None
    strength: int


def _gap(text: str, start: int, end: int) -> _Gap | None:
    """The gap ``text[start:end]`` between two digits, or None where it parts two numbers."""
    visible = punct = breaks = 0
    classes: list[str] = []
    previous = ""
    for char in text[start:end] if end - start <= 64 else _visible(text, start, end):
        if char in INVISIBLE:
            continue
        if char in LINE_BREAKS:
            if not (char == "\n" and previous == "\r"):
                visible, breaks = visible + 1, breaks + 1
        elif char.isspace():
            visible += 1
        elif char in PUNCTUATION:
            visible, punct = visible + 1, punct + 1
            classes.append(punctuation_class(char))
        else:
            return None
        previous = char
        if visible > MAX_SPACE_RUN or punct > 2 or breaks > 1:
            return None
    if visible > MAX_MIXED_GAP and punct > 1:
        return None
    spaced = visible > punct
    if classes:
        return _Gap("".join(classes), 2 if spaced else 1)
    if breaks or not visible:
        return _Gap(None, 2 if breaks else 1)
    return _Gap(" ", 2)


def _visible(text: str, start: int, end: int) -> str:
    """A long gap without its invisible characters, cut short once it is too long to be a gap."""
    kept = []
    for index in range(start, end):
        char = text[index]
        if char not in INVISIBLE:
            kept.append(char)
            if len(kept) > MAX_SPACE_RUN + 1:
                break
    return "".join(kept)


@dataclass(frozen=True)
class CardWindow:
    """One Luhn-valid window: ``start``/``end`` in the text, its ASCII ``digits``, whether it is
    ``strict`` (see the module's doc) and a ``score`` that ranks overlapping windows."""

    start: int
    end: int
    digits: str
    strict: bool
    score: int
    aligned: bool = True
    #: Both ends at the run's ends or at a gap with a space or line break.
    clear_ends: bool = True


@dataclass(frozen=True)
class CardCover:
    """Text to mask, ``[start, end)``; ``digits`` are the most card-like window's inside it and
    ``shown_end`` is where that window ends: its last four digits may stay visible, unless
    ``hide_last_four`` (digits right after them were spared, see :func:`card_covers`)."""

    start: int
    end: int
    digits: str
    shown_end: int
    hide_last_four: bool = False


class _Run:
    """Digit groups joined by gaps; digits are indexed 0..n-1 across the groups."""

    def __init__(self, text: str, clusters: list[re.Match[str]], gaps: list[_Gap]) -> None:
        self.clusters, self.gaps = clusters, gaps
        self.digits = ascii_digits("".join(match.group(0) for match in clusters))
        self.offsets = [0, *accumulate(len(match.group(0)) for match in clusters)]
        self._group_at = {offset: group for group, offset in enumerate(self.offsets)}
        values = [int(char) for char in self.digits]
        # Prefix sums by parity of position, plain and Luhn-doubled, so each window costs O(1).
        self._plain = [[0], [0]]
        self._doubled = [[0], [0]]
        for index, value in enumerate(values):
            for parity in (0, 1):
                hit = index % 2 == parity
                self._plain[parity].append(self._plain[parity][-1] + (value if hit else 0))
                self._doubled[parity].append(self._doubled[parity][-1] + (_DOUBLED[value] if hit else 0))
        self.decimal_fraction = (
            len(clusters) == 2 and len(clusters[0].group(0)) <= 3
            and text[clusters[0].end():clusters[1].start()] in (".", ","))

    def luhn(self, a: int, b: int) -> bool:
        """Whether digits ``[a, b)`` pass Luhn: the last digit is plain, then every other doubled."""
        plain = (b - 1) % 2
        total = (self._plain[plain][b] - self._plain[plain][a]
                 + self._doubled[1 - plain][b] - self._doubled[1 - plain][a])
        return total % 10 == 0

    def position(self, digit: int) -> int:
        """Where digit number ``digit`` lies in the text."""
        lo, hi = 0, len(self.clusters) - 1
        while lo < hi:  # the last group starting at or before the digit
            mid = (lo + hi + 1) // 2
            if self.offsets[mid] <= digit:
                lo = mid
            else:
                hi = mid - 1
        return self.clusters[lo].start() + digit - self.offsets[lo]

    def _strength(self, digit: int) -> int:
        """3 at the run's ends, the gap's strength at a group boundary, 0 inside a group."""
        if digit in (0, len(self.digits)):
            return 3
        if digit in self._group_at:
            return self.gaps[self._group_at[digit] - 1].strength
        return 0

    def window(self, a: int, b: int, *, aligned: bool, first: int = 0, last: int = 0) -> CardWindow:
        """The window of digits ``[a, b)``; ``first``..``last`` are its groups when aligned."""
        agreeing = True
        if aligned:
            signatures = {gap.signature for gap in self.gaps[first:last]} - {None}
            agreeing = len(signatures) <= 1
        digits = self.digits[a:b]
        ends = (self._strength(a), self._strength(b))
        score = sum(ends) + 2 * (aligned and agreeing) + (digits[0] in "23456") + (len(digits) in (15, 16))
        return CardWindow(self.position(a), self.position(b - 1) + 1, digits, aligned and agreeing, score,
                          aligned, min(ends) >= CLEAR_END)

    def windows(self) -> list[CardWindow]:
        """Every Luhn-valid window (see the module's doc for which are read)."""
        found = []
        count = len(self.clusters)
        for first in range(count):
            for last in range(first + 1, count + 1):
                a, b = self.offsets[first], self.offsets[last]
                if b - a > MAX_DIGITS:
                    break
                if b - a >= MIN_DIGITS and self.luhn(a, b):
                    found.append(self.window(a, b, aligned=True, first=first, last=last - 1))
        if self.decimal_fraction:
            return found
        for group in range(count):  # glued: inside one group, flush with one of its ends
            lo, hi = self.offsets[group], self.offsets[group + 1]
            if hi - lo <= MIN_DIGITS:
                continue
            flush = [(lo, b) for b in range(lo + MIN_DIGITS, min(lo + MAX_DIGITS, hi - 1) + 1)]
            flush += [(a, hi) for a in range(max(lo + 1, hi - MAX_DIGITS), hi - MIN_DIGITS + 1)]
            for a, b in flush:
                # The flush end must clearly end a number: the run's end, a space, a line break.
                clear = self._strength(lo if a == lo else hi) >= CLEAR_END
                if clear and self.luhn(a, b) and _brand_like(self.digits[a:b]):
                    found.append(self.window(a, b, aligned=False))
        return found


def _brand_like(digits: str) -> bool:
    """Whether a number has a length its first digit's card brands use (Visa 4: 13, 16, 19;
    Mastercard 2 and 5: 16; Amex, Diners, JCB 3: 14-16; Discover, UnionPay, Maestro 6: 16-19)."""
    return len(digits) in _BRAND_LENGTHS.get(digits[0], ())


_BRAND_LENGTHS = {"2": (16,), "3": (14, 15, 16), "4": (13, 16, 19), "5": (16,), "6": (16, 17, 18, 19)}


def _runs(text: str) -> list[_Run]:
    """The digit runs of ``text`` that hold at least 13 digits."""
    runs: list[_Run] = []
    clusters: list[re.Match[str]] = []
    gaps: list[_Gap] = []

    def close() -> None:
        if clusters and sum(len(match.group(0)) for match in clusters) >= MIN_DIGITS:
            runs.append(_Run(text, list(clusters), list(gaps)))

    for match in _CLUSTER.finditer(text):
        gap = _gap(text, clusters[-1].end(), match.start()) if clusters else None
        if gap is None:
            close()
            clusters, gaps = [match], []
        else:
            clusters.append(match)
            gaps.append(gap)
    close()
    return runs


def _ranked(windows: list[CardWindow]) -> list[CardWindow]:
    """Most card-like first: strict, then by score, then longer, then earlier."""
    return sorted(windows, key=lambda w: (not w.strict, -w.score, -len(w.digits), w.start))


def _chosen(windows: list[CardWindow]) -> list[CardWindow]:
    """The most card-like windows first, each kept unless it overlaps one kept before; by position."""
    chosen: list[CardWindow] = []
    for window in _ranked(windows):
        if all(window.end <= other.start or other.end <= window.start for other in chosen):
            chosen.append(window)
    return sorted(chosen, key=lambda w: w.start)


def card_windows(text: str, *, strict: bool = True) -> list[CardWindow]:
    """Luhn-valid windows, none overlapping (the most card-like wins), by position; ``strict``:
    only windows aligned with groups whose gaps agree (see the module's doc)."""
    chosen: list[CardWindow] = []
    for run in _runs(text):
        chosen += _chosen([w for w in run.windows() if w.strict or not strict])
    return chosen


class _StrictCover:
    """Which digits of a run the chosen cards cover, to count in O(1) what another adds."""

    def __init__(self, text: str, run: _Run, strict: list[CardWindow]) -> None:
        self.origin = run.clusters[0].start()
        length = run.clusters[-1].end() - self.origin
        depth = [0] * (length + 1)
        for window in strict:
            depth[window.start - self.origin] += 1
            depth[window.end - self.origin] -= 1
        self.digits, self.covered = [0], [0]
        inside = 0
        for offset in range(length):
            inside += depth[offset]
            digit = text[self.origin + offset].isdecimal()
            self.digits.append(self.digits[-1] + digit)
            self.covered.append(self.covered[-1] + (digit and inside > 0))

    def added(self, window: CardWindow) -> int | None:
        """Digits of ``window`` outside every chosen card; None when it overlaps none."""
        a, b = window.start - self.origin, window.end - self.origin
        covered = self.covered[b] - self.covered[a]
        return None if not covered else self.digits[b] - self.digits[a] - covered


def _kept(window: CardWindow, strict: _StrictCover) -> bool | None:
    """Whether a window that is not one of the chosen cards joins the cover: aligned ones with
    disagreeing gaps only with clear ends; and none where it overlaps a chosen card and adds at
    most SPARED_DIGITS digits to it (a date or a phone number's end beside a card): None then."""
    if window.aligned and not window.strict and not window.clear_ends:
        return False
    added = strict.added(window)
    return True if added is None or added > SPARED_DIGITS else None


def card_covers(text: str) -> list[CardCover]:
    """What to mask: the union of the Luhn-valid windows, one cover per overlapping group.

    The chosen cards (the best strict windows, none overlapping, as :func:`card_windows` picks
    them) are in it; so is every other window, unless it overlaps a chosen card and reaches at
    most :data:`SPARED_DIGITS` digits past it: "4111 1111 1111 1111 2024-01-15" keeps its date
    although "1111 1111 1111 2024" passes Luhn too. Should that other window be the real card,
    at most those four digits stay visible; and where they follow the card, its own last four are
    hidden in place (``hide_last_four``), lest the two make a run of more than four. Nor is it
    spared where those digits, read with the visible ones beside them ("0000-01"), would show a
    run of its own digits (:func:`_exposed`).
    """
    windows: list[CardWindow] = []
    spared: list[CardWindow] = []
    chosen: list[CardWindow] = []
    for run in _runs(text):
        found = run.windows()
        cards = _chosen([w for w in found if w.strict])
        cover = _StrictCover(text, run, cards)
        chosen += cards
        windows += cards
        for window in found:
            if window in cards:
                continue
            kept = _kept(window, cover)
            if kept:
                windows.append(window)
            elif kept is None:
                spared.append(window)
    while spared and (exposed := _exposed(text, windows, spared)) is not None:
        spared.remove(exposed)
        windows.append(exposed)
    # Cards that a spared window reaches past the end of: their last four are hidden in place.
    spared_after = {card.end for window in spared for card in chosen
                    if card.start < window.end and window.start < card.end < window.end}
    windows.sort(key=lambda w: w.start)
    covers: list[CardCover] = []
    group: list[CardWindow] = []
    end = -1
    for window in [*windows, None]:
        if window is not None and window.start < end:
            group.append(window)
            end = max(end, window.end)
            continue
        if group:
            best = _ranked(group)[0]
            covers.append(CardCover(group[0].start, end, best.digits, best.end, best.end in spared_after))
        group, end = ([window], window.end) if window is not None else ([], -1)
    return covers


def _exposed(text: str, masked: list[CardWindow], spared: list[CardWindow]) -> CardWindow | None:
    """The first spared window whose digits left visible, read with the visible digits around
    them (:mod:`worker.pii.reading`), show SHOWN_RUN of its digits in a row; None if none does.
    Rare (the digits must repeat the card's by chance), so reading the text again is cheap."""
    runs = read_runs(text, [(window.start, window.end) for window in masked])
    return next((w for w in spared if shows_run_of(runs, w.start, w.end, w.digits)), None)
