"""A line of OCR text with its box, and the reading order of a screenshot's lines.

Below the engine and the message assembly alike, so both build on one value type.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class OcrLine:
    """One line of text: ``box`` is x0, y0, x1, y1 in pixels of the image given to ``read``."""

    text: str
    score: float
    box: tuple[float, float, float, float]


def reading_order(lines: Sequence[OcrLine]) -> list[OcrLine]:
    """Top to bottom, and left to right within a row (boxes overlapping vertically share a row)."""
    return [line for row in _rows(lines) for line in row]


def _rows(lines: Sequence[OcrLine]) -> list[list[OcrLine]]:
    rows: list[list[OcrLine]] = []
    for line in sorted(lines, key=lambda item: (item.box[1], item.box[0])):
        centre = (line.box[1] + line.box[3]) / 2
        if rows:
            top = min(item.box[1] for item in rows[-1])
            bottom = max(item.box[3] for item in rows[-1])
            if top <= centre <= bottom:
                rows[-1].append(line)
                continue
        rows.append([line])
    return [sorted(row, key=lambda item: item.box[0]) for row in rows]
