"""How a reader reads the digits a masking leaves: digits joined by up to 16 characters that are
neither letters, digits nor a mask's ``[ ] *`` make one number ("0000-01", "1875:  000"), whatever
the card finder's stricter gaps say (the leak check of ``tests/worker/pii/pii_samples.py`` reads
them so too).

Why: masking may leave a few digits of a number it is unsure of visible (at most four, see
:func:`worker.pii.cards.card_covers`); read with the visible digits beside them, those can make a
run of five of the card's digits, so masking asks here before it spares them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from worker.pii.characters import ascii_digits

__all__ = ["SHOWN_RUN", "ReadRun", "read_runs", "shows_run_of"]

#: The shortest run of a card's digits that shows too much: one more than its visible last four.
SHOWN_RUN = 5

_READ_RUN = re.compile(r"\d(?:[^\w\[\]*]{0,16}\d)*")
_MASK = "["  # what a hidden character reads as: it ends a number, as a token's bracket does

#: One number as read: where each of its digits lies, and those digits in ASCII.
ReadRun = tuple[list[int], str]


def read_runs(text: str, hidden: Iterable[tuple[int, int]]) -> list[ReadRun]:
    """The numbers a reader sees in ``text`` once the ``[start, end)`` ranges of ``hidden`` are masked."""
    view = list(text)
    for start, end in hidden:
        view[start:end] = _MASK * (end - start)
    masked = "".join(view)
    runs: list[ReadRun] = []
    for match in _READ_RUN.finditer(masked):
        positions = [match.start() + index for index, char in enumerate(match.group(0)) if char.isdecimal()]
        runs.append((positions, ascii_digits(match.group(0))))
    return runs


def shows_run_of(runs: list[ReadRun], start: int, end: int, digits: str) -> bool:
    """Whether a number in ``runs`` shows SHOWN_RUN digits in a row of ``digits`` with at least one
    of them inside ``[start, end)`` (the ones there are those ``digits`` were read from)."""
    grams = {digits[index:index + SHOWN_RUN] for index in range(len(digits) - SHOWN_RUN + 1)}
    for positions, run in runs:
        if len(run) < SHOWN_RUN or positions[-1] < start or positions[0] >= end:
            continue
        for index in range(len(run) - SHOWN_RUN + 1):
            touches = positions[index + SHOWN_RUN - 1] >= start and positions[index] < end
            if touches and run[index:index + SHOWN_RUN] in grams:
                return True
    return False
