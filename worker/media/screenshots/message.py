"""The customer's message in a screenshot: OCR lines without chrome, joined into one string.

Rows, wrapped sentences, stock paragraphs and layout chrome (amount labels, header bands, side
columns) need the lines' boxes; the per-line text rules live in :mod:`worker.media.screenshots.chrome`.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence

from worker.media.screenshots.chrome import (
    AGENT,
    CODE_WORDS,
    DROP_HEADER,
    FOOTER,
    QUOTE_START,
    REPLY_PREFIX,
    SIGN_OFF,
    SUBJECT,
    clean,
    is_amount,
    is_chrome,
    is_code_line,
    is_generic,
    is_header_label,
    is_icon,
    is_name_like,
    is_short_label,
    is_stock,
    is_title_label,
    strip_stamps,
)
from worker.media.screenshots.lines import OcrLine

MIN_SCORE = 0.5
MIN_MESSAGE_WORDS = 5


def message_text(lines: Sequence[OcrLine], *, image_size: tuple[int, int] | None = None) -> str:
    """The customer's message: OCR lines without window chrome, joined into one string.

    Drops headers (From/To/Date; a Subject keeps its value unless generic), clocks and dates,
    status bars, buttons, app and window names, URLs, lone e-mail addresses, chat receipts,
    greetings, agent phrases, stock error-dialog text, amounts and codes with their labels,
    sign-offs, low-confidence lines and, given ``image_size``, short labels in the top and bottom
    bars and side columns left of the main text. Generic rules on text and position, since real
    layouts vary. A wrapped line that continues the line above is kept whatever its words
    ("... wrong to" / "me.").
    """
    usable = [line for line in lines if line.score >= MIN_SCORE and line.text.strip()]
    chrome = {id(line): is_chrome(line, image_size) for line in usable}
    usable = _without_layout_chrome(usable, image_size, chrome)
    rows = _message_rows(usable)
    stock = _stock_paragraphs([cell for row in rows for cell in row])
    parts: list[tuple[str, bool]] = []  # text, and whether it is only a title-like label
    previous: OcrLine | None = None
    signature = False
    for row in rows:
        first = clean(row[0].text)
        if any(QUOTE_START.search(clean(cell.text)) for cell in row):
            break
        if DROP_HEADER.match(first) or is_header_label(first, ("from", "to", "cc", "bcc", "date")):
            previous = None
            continue
        cells = list(row)
        subject = SUBJECT.match(first)
        if is_header_label(first, ("subject",)):
            cells = cells[1:]
        elif subject:
            cells = cells[1:]
            value = REPLY_PREFIX.sub("", subject.group("value").strip())
            if value and not is_generic(value):
                parts.append((value, is_title_label(value)))
        cells = [cell for cell in cells if id(cell) not in stock]
        wrapped = {id(cell) for cell in cells if _wraps(previous, cell)}
        kept = [cell for cell in cells if id(cell) in wrapped or not chrome[id(cell)]]
        if len(kept) < len(cells) and all(is_name_like(clean(cell.text)) for cell in kept):
            kept = []  # a sender name next to a dropped address or clock ("Anna  10:42")
        previous = _merged(kept)
        # Title-like only with no sentence beside it: "Where can I locate my" + "PIN" is one line.
        titles = all(is_title_label(clean(cell.text)) for cell in kept)
        for cell in kept:
            text = strip_stamps(REPLY_PREFIX.sub("", clean(cell.text)))
            if SIGN_OFF.match(text) or FOOTER.match(text):
                signature = True
                continue
            if signature and len(text.split()) <= 4:
                continue  # the name and title under "Best regards,"
            signature = False
            parts.append((text, id(cell) not in wrapped and titles))
    firm_words = sum(len(text.split()) for text, title in parts if not title)
    # Titles ("Acme Bank", "Support Chat") are dropped when there is a message without them; a
    # lone dialog title ("Payment Failed") may be all the image says, so it then stays.
    return _join([text for text, title in parts if not title or firm_words < MIN_MESSAGE_WORDS])


def _merged(cells: Sequence[OcrLine]) -> OcrLine | None:
    """One line for a row's kept cells (OCR may cut a line in two): what a next line continues."""
    if not cells:
        return None
    box = (
        min(cell.box[0] for cell in cells),
        min(cell.box[1] for cell in cells),
        max(cell.box[2] for cell in cells),
        max(cell.box[3] for cell in cells),
    )
    score = min(cell.score for cell in cells)
    return OcrLine(" ".join(clean(cell.text) for cell in cells), score, box)


def _message_rows(lines: Sequence[OcrLine]) -> list[list[OcrLine]]:
    """Rows for the message: side by side boxes that share most of their height.

    Stricter than ``reading_order``'s rows: tall, slightly overlapping boxes of a paragraph's
    successive lines (photos, large fonts) stay in their own rows, so their order holds.
    """
    rows: list[list[OcrLine]] = []
    for line in sorted(lines, key=lambda item: ((item.box[1] + item.box[3]) / 2, item.box[0])):
        if rows and all(_same_row(item, line) for item in rows[-1]):
            rows[-1].append(line)
        else:
            rows.append([line])
    return [sorted(row, key=lambda item: item.box[0]) for row in rows]


def _same_row(a: OcrLine, b: OcrLine) -> bool:
    overlap = min(a.box[3], b.box[3]) - max(a.box[1], b.box[1])
    height = min(a.box[3] - a.box[1], b.box[3] - b.box[1])
    apart = min(a.box[2], b.box[2]) - max(a.box[0], b.box[0]) <= 0.25 * height  # tilted photos
    return apart and overlap >= 0.5 * height


def _continues(previous: OcrLine | None, line: OcrLine) -> bool:
    """Whether ``line`` is the next line of the same paragraph as ``previous`` (wrapped text).

    Left-aligned or centred (dialogs) under ``previous``, which has no end punctuation.
    """
    if previous is None:
        return False
    height = previous.box[3] - previous.box[1]
    gap = line.box[1] - previous.box[3]
    if not -0.45 * height < gap < 0.8 * height:  # tilted lines overlap more
        return False
    centre_shift = (line.box[0] + line.box[2] - previous.box[0] - previous.box[2]) / 2
    aligned = abs(line.box[0] - previous.box[0]) < height or abs(centre_shift) < height
    return aligned and not previous.text.rstrip().endswith((".", "?", "!", ":"))


def _wraps(previous: OcrLine | None, line: OcrLine) -> bool:
    """Whether ``line`` continues a sentence of ``previous``, so is kept whatever its words.

    Not after a title ("Fuel Stop" over "Online Store" in a list), nor for avatar initials or a
    labelled code ("Ref: 94B6-F654") under a dialog's last line.
    """
    if previous is None or is_title_label(clean(previous.text)) or is_icon(line.text):
        return False
    text = clean(line.text)
    labelled = any(word.lower().rstrip(".") in CODE_WORDS for word in re.split(r"[\s:()#]+", text))
    return not (labelled and is_code_line(text)) and _continues(previous, line)


def _stock_paragraphs(ordered: Sequence[OcrLine]) -> set[int]:
    """Ids of the lines of short wrapped paragraphs that, read whole, are agent or dialog stock.

    A greeting or an error text wrapped over lines ("... What can we" / "help with?") is judged
    as one text, so that its tail is not kept as a wrapped continuation.
    """
    chains: list[list[OcrLine]] = []
    for line in ordered:
        for chain in reversed(chains[-4:]):
            if _continues(chain[-1], line):
                chain.append(line)
                break
        else:
            chains.append([line])
    dropped: set[int] = set()
    for chain in chains:
        if len(chain) < 2:
            continue
        text = _join([clean(line.text) for line in chain])
        if len(text.split()) <= 30 and (AGENT.search(text) or is_stock(text)):
            dropped.update(id(line) for line in chain)
    return dropped


def _without_layout_chrome(
    lines: Sequence[OcrLine], image_size: tuple[int, int] | None, chrome: dict[int, bool]
) -> list[OcrLine]:
    """``lines`` without chrome that only geometry reveals.

    Labels of amounts (a list row "Coffee House  -£4.50", "Available balance" over its figure);
    with ``image_size``, short labels of a header parted from the content by a wide empty band
    (a phone chat's contact name and "Business account"), and side columns (folder lists, other
    mails, transaction lists) lying wholly left of the main block of sentences.
    ``chrome``: ``is_chrome`` of each line, by id.
    """
    drop = _amount_labels(lines)
    if image_size is not None:
        drop |= _header_labels(lines, image_size, chrome)
        drop |= _side_columns([line for line in lines if id(line) not in drop], image_size, chrome)
    return [line for line in lines if id(line) not in drop]


def _amount_labels(lines: Sequence[OcrLine]) -> set[int]:
    """Ids of short labels right above an amount of money, or beside one in a list.

    A label beside an amount counts only in a column of such labels (same left edge), so that a
    dialog's short text that happens to share a row with a list's amount stays.
    """
    amounts = [line for line in lines if is_amount(clean(line.text))]
    above: set[int] = set()
    beside: list[OcrLine] = []
    if not amounts:
        return above
    wrapped = _sentence_tails(lines)
    for line in lines:
        text = clean(line.text)
        words = text.split()
        if (
            not 1 <= len(words) <= 4
            or sum(1 for word in words if word[:1].islower()) > 1
            or re.search(r"[.?!,;]$", text)
            or is_code_line(text)
        ):
            continue
        for amount in amounts:
            height = amount.box[3] - amount.box[1]
            if amount.box[1] > line.box[3] + height or amount.box[3] < line.box[1]:
                continue  # neither on its row nor right under it
            gap = amount.box[1] - line.box[3]
            aligned = abs(line.box[0] - amount.box[0]) < height
            is_above = -0.2 * height < gap < 0.6 * height and aligned
            is_beside = not is_above and _same_row(line, amount) and line.box[2] < amount.box[0]
            if not (is_above or is_beside):
                continue
            if id(line) in wrapped:
                break  # the wrapped end of a sentence ("... how many tries do i" / "have")
            if is_above:
                above.add(id(line))
            else:
                beside.append(line)
            break
    listed = {
        id(line)
        for line in beside
        if any(
            other is not line and abs(other.box[0] - line.box[0]) < line.box[3] - line.box[1]
            for other in beside
        )
    }
    return above | listed


def _sentence_tails(lines: Sequence[OcrLine]) -> set[int]:
    """Ids of lines that continue a line of three or more words (found by a sorted scan)."""
    ordered = sorted(lines, key=lambda item: item.box[1])
    tops = [line.box[1] for line in ordered]
    tails: set[int] = set()
    for previous in ordered:
        if len(previous.text.split()) < 3:
            continue
        height = previous.box[3] - previous.box[1]
        start = bisect.bisect_left(tops, previous.box[3] - 0.45 * height)
        end = bisect.bisect_right(tops, previous.box[3] + 0.8 * height)
        tails.update(id(line) for line in ordered[start:end] if _continues(previous, line))
    return tails


def _header_labels(
    lines: Sequence[OcrLine], image_size: tuple[int, int], chrome: dict[int, bool]
) -> set[int]:
    """Ids of short labels above the first empty band (over 12 % of the height) in the top quarter.

    Only with some chrome (a status bar's clock, an avatar) and no sentence up there: a short
    message at the top of a page stays.
    """
    height = image_size[1]
    bottom = 0.0
    ordered = sorted(lines, key=lambda item: item.box[1])
    for index, line in enumerate(ordered):
        if index and line.box[1] - bottom > 0.12 * height:
            if bottom > 0.25 * height:
                break
            header = ordered[:index]
            if not any(chrome[id(item)] for item in header) or any(
                _sentence_words(clean(item.text)) and not chrome[id(item)] for item in header
            ):
                break
            return {id(item) for item in header if is_short_label(clean(item.text))}
        bottom = max(bottom, line.box[3])
    return set()


def _side_columns(
    lines: Sequence[OcrLine], image_size: tuple[int, int], chrome: dict[int, bool]
) -> set[int]:
    """Ids of lines in the left third wholly left of the main block of sentences.

    Not on the right: a chat puts the customer's short bubbles there, maybe beside a longer
    reply of the agent's; right-hand amounts and labels go by other rules.
    """
    candidates = [
        line
        for line in lines
        if not chrome[id(line)]
        and not SIGN_OFF.match(clean(line.text))
        and not FOOTER.match(clean(line.text))
    ]
    blocks: list[list[OcrLine]] = []
    for line in sorted(candidates, key=lambda item: item.box[1]):
        home = None
        for block in blocks:
            last = block[-1]
            height = max(last.box[3] - last.box[1], line.box[3] - line.box[1])
            gap = line.box[1] - last.box[3]
            overlap = min(last.box[2], line.box[2]) - max(last.box[0], line.box[0])
            if overlap > 0 and -0.5 * height < gap < 1.2 * height:
                home = block
        if home is None:
            blocks.append([line])
        else:
            home.append(line)
    # Sentence words, times the share of sentence-like lines: a list of short items with a few
    # three-word titles ("Your order has shipped") loses to a paragraph of fewer, longer lines.
    scores = []
    for block in blocks:
        counts = [_sentence_words(clean(line.text)) for line in block]
        scores.append(sum(counts) * sum(1 for count in counts if count) / len(counts))
    if not scores or max(scores) == 0:
        return set()
    left = min(line.box[0] for line in blocks[scores.index(max(scores))])
    return {id(line) for line in lines if line.box[2] < min(left, 0.35 * image_size[0])}


def _sentence_words(text: str) -> int:
    """Words of a sentence-like line (three or more words, two lowercase), else 0."""
    words = text.split()
    lower = sum(1 for word in words if word[:1].islower())
    return len(words) if len(words) >= 3 and lower >= 2 else 0


def _join(parts: Sequence[str]) -> str:
    """One string; a word hyphenated across lines ("trans-" + "fer") is made whole again."""
    out = ""
    for part in parts:
        if not out:
            out = part
        elif re.search(r"[A-Za-z]-$", out) and part[:1].islower():
            out = out[:-1] + part
        else:
            out = f"{out} {part}"
    return out
