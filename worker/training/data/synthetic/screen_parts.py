"""The pieces every synthetic screenshot layout draws with: the fonts on this machine, the names and
phrases of the chrome, text wrapping and measuring, colours, clocks, and the canvas that records
where the customer's text went. The layouts are in :mod:`worker.training.data.synthetic.screens` (the entry
point), :mod:`~worker.training.data.synthetic.screen_messages` and :mod:`~worker.training.data.synthetic.screen_dialog`.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import random
import re
import string
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"))
# Characters Banking77 texts use; a font that lacks any of them is not offered.
REQUIRED_CHARS = string.ascii_letters + string.digits + ".,?!'\"-:;()/$%&|>£€"
_EXCLUDED_FONT = re.compile(
    r"^cm\w+10\.ttf$|^STIX(Siz|NonUni)|LastResort|MathTeXGyre|Display\.ttf$|Thin|Hairline",
    re.IGNORECASE,
)

BANKS = ("Acme Bank", "Nova Bank", "Harbor Bank", "Crest Bank", "Bright Money", "Pine Savings",
         "Summit Finance", "Orbit Pay", "Northway Bank", "Kite Card")
FIRST_NAMES = ("Alex", "Sam", "Maria", "James", "Priya", "Chen", "Fatima", "Lukas", "Olivia", "Noah",
               "Aisha", "Tom", "Sofia", "Daniel", "Emma", "Mohammed", "Grace", "Ivan", "Chloe", "Ben",
               "Hannah", "Diego", "Yuki", "Kofi", "Laura", "Omar", "Nina", "Peter", "Zoe", "Ryan")
LAST_NAMES = ("Smith", "Patel", "Garcia", "Müller", "Nguyen", "Brown", "Kowalski", "Rossi", "Khan",
              "Johnson", "Dubois", "Silva", "Murphy", "Novak", "Okafor", "Taylor", "Lee", "Jensen")
AGENT_GREETINGS = (
    "Hi! How can we help?",
    "Hi there! How can we help you today?",
    "Welcome to {bank} support. How can we help?",
    "Hello, you're chatting with {agent}. What can I do for you?",
    "Hi, thanks for reaching out! What can we help with?",
    "Good {daypart}! How can I help you today?",
)
EMAIL_SUBJECTS = ("Question", "Help needed", "Re: my account", "Help", "Problem", "Query",
                  "Urgent", "Support", "Re: Support request", "Hello", "Account", "")
GREETINGS = ("Hi,", "Hello team,", "Hello,", "Dear Support,", "Hi there,", "Hi team,", "Good morning,")
SIGN_OFFS = ("Thanks,", "Thank you,", "Regards,", "Best,", "Cheers,", "Kind regards,", "Many thanks,")
LETTER_GREETINGS = ("Dear Sir or Madam,", "To whom it may concern,", "Dear Customer Services,",
                    "Dear Support Team,", "Hello,")
LETTER_SIGN_OFFS = ("Yours faithfully,", "Yours sincerely,", "Kind regards,", "Thank you,", "Sincerely,")
ERROR_TITLES = ("Something went wrong", "Error", "Oops!", "Request failed", "Unable to continue",
                "Something went wrong.", "We hit a problem")
ERROR_MESSAGES = (
    "An unexpected error occurred. Please try again later.",
    "We couldn't process your request right now.",
    "Please try again or contact support.",
    "The service is temporarily unavailable.",
    "This action could not be completed.",
)
MERCHANTS = ("Coffee House", "Grocery Mart", "Metro Transit", "Online Store", "Book Nook", "Fuel Stop",
             "Pharmacy", "Streaming Co", "Salary", "Transfer from Sam", "Restaurant", "Gym Club")
INBOX_SNIPPETS = (("Newsletter", "This month's highlights"), ("Calendar", "Meeting moved to 3pm"),
                  ("Mum", "Dinner on Sunday?"), ("Shop", "Your order has shipped"),
                  ("Team", "Notes from today"), ("Travel", "Your booking reference"),
                  ("Photos", "New memories for you"), ("Landlord", "Boiler service visit"))
ACCENTS = ((0, 122, 255), (11, 147, 246), (52, 199, 89), (0, 132, 255), (108, 92, 231),
           (230, 81, 0), (0, 150, 136), (214, 48, 49), (26, 115, 232), (0, 120, 212), (94, 53, 177))


# --- fonts ---------------------------------------------------------------------------------------


def matplotlib_font_dir() -> Path | None:
    """matplotlib's bundled TTF folder, found without importing matplotlib; None if absent."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.origin:
        return None
    folder = Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf"
    return folder if folder.is_dir() else None


@functools.lru_cache(maxsize=None)
def covers_basic_latin(path: str) -> bool:
    """Whether the font draws every character in :data:`REQUIRED_CHARS` (none falls to .notdef)."""
    try:
        font = ImageFont.truetype(path, 24)
        notdef = font.getmask("\U0010fffd")
        missing = (notdef.size, bytes(notdef))
        for char in REQUIRED_CHARS:
            mask = font.getmask(char)
            if mask.size == (0, 0) or (mask.size, bytes(mask)) == missing:
                return False
    except OSError:
        return False
    return True


def available_fonts(extra_dirs: Sequence[Path] = ()) -> list[Path]:
    """TTF fonts on this machine (system folders, matplotlib's) that cover basic Latin, sorted by name.

    A file name found twice (DejaVu is both system-wide and in matplotlib) is kept once.
    """
    folders = [*FONT_DIRS, *(Path(d) for d in extra_dirs)]
    mpl = matplotlib_font_dir()
    if mpl is not None:
        folders.append(mpl)
    seen: dict[str, Path] = {}
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*.ttf")):
            if path.name in seen or _EXCLUDED_FONT.search(path.name):
                continue
            if covers_basic_latin(str(path)):
                seen[path.name] = path
    return [seen[name] for name in sorted(seen)]


@functools.lru_cache(maxsize=512)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, max(6, int(size)))


def _is_plain_sans(path: Path) -> bool:
    name = path.name
    return bool(re.search(r"Sans|Roboto|Arial|Helvet", name)) and not re.search(
        r"Mono|Serif|Italic|Oblique|Cond|Narrow|Light|Bold|Black|Medium|Semi|Extra", name
    )


def _chrome_fonts(rng: random.Random, fonts: Sequence[Path]) -> tuple[Path, Path]:
    """A regular UI font and a bold one (its bold sibling when there is one)."""
    sans = [f for f in fonts if _is_plain_sans(f)] or list(fonts)
    regular = rng.choice(sans)
    stem = re.sub(r"[-_]?(Regular|Book|Roman)$", "", regular.stem)
    for candidate in (f"{stem}-Bold", f"{stem}Bold", f"{stem}-Bd"):
        for f in fonts:
            if f.stem == candidate:
                return regular, f
    return regular, regular


# --- text helpers --------------------------------------------------------------------------------


def clean_text(text: str) -> str:
    """The text as drawn: non-breaking spaces as spaces, runs of spaces collapsed, lines kept."""
    lines = [" ".join(line.replace("\xa0", " ").split()) for line in text.strip().splitlines()]
    return "\n".join(line for line in lines if line)


def wrap(text: str, font: ImageFont.FreeTypeFont, width: float) -> list[str]:
    """Greedy word wrap to ``width`` pixels; a word longer than a line is broken inside."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        current = ""
        for word in paragraph.split():
            candidate = f"{current} {word}" if current else word
            if font.getlength(candidate) <= width:
                current = candidate
                continue
            if current:
                lines.append(current)
            while font.getlength(word) > width and len(word) > 1:
                cut = len(word) - 1
                while cut > 1 and font.getlength(word[:cut]) > width:
                    cut -= 1
                lines.append(word[:cut])
                word = word[cut:]
            current = word
        if current:
            lines.append(current)
    return lines


def _line_height(font: ImageFont.FreeTypeFont, spacing: float) -> int:
    ascent, descent = font.getmetrics()
    return int(round((ascent + descent) * spacing))


def _text_width(lines: Sequence[str], font: ImageFont.FreeTypeFont) -> int:
    return int(math.ceil(max((font.getlength(line) for line in lines), default=0)))


def _on(colour: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black or white, whichever reads better on ``colour``."""
    r, g, b = colour
    return (20, 20, 20) if 0.299 * r + 0.587 * g + 0.114 * b > 160 else (255, 255, 255)


def _jitter(colour: tuple[int, int, int], rng: random.Random, amount: int = 8) -> tuple[int, int, int]:
    return tuple(max(0, min(255, c + rng.randint(-amount, amount))) for c in colour)  # type: ignore[return-value]


def _clock(rng: random.Random) -> tuple[str, int, int]:
    hour, minute = rng.randint(7, 22), rng.randint(0, 59)
    if rng.random() < 0.5:
        return f"{hour}:{minute:02d}", hour, minute
    return f"{(hour - 1) % 12 + 1}:{minute:02d} {'AM' if hour < 12 else 'PM'}", hour, minute


def _later(hour: int, minute: int, rng: random.Random, twelve: bool) -> str:
    minute += rng.randint(0, 3)
    hour, minute = (hour + minute // 60) % 24, minute % 60
    if twelve:
        return f"{(hour - 1) % 12 + 1}:{minute:02d} {'AM' if hour < 12 else 'PM'}"
    return f"{hour}:{minute:02d}"


def _name(rng: random.Random) -> tuple[str, str]:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    return first, last


class _Canvas:
    """An RGB image with a draw handle and the boxes where the customer's text went."""

    def __init__(self, width: int, height: int, background: tuple[int, int, int]) -> None:
        self.image = Image.new("RGB", (int(width), int(height)), background)
        self.draw = ImageDraw.Draw(self.image)
        self.text_boxes: list[tuple[int, int, int, int]] = []

    def lines(self, xy: tuple[float, float], lines: Sequence[str], font, line_h: int, fill,
              *, customer: bool = False, align: str = "left", width: float = 0) -> int:
        """Draw lines from ``xy`` (top-left); returns the y below them."""
        x, y = xy
        for line in lines:
            dx = 0.0
            if align == "right":
                dx = width - font.getlength(line)
            elif align == "center":
                dx = (width - font.getlength(line)) / 2
            self.draw.text((x + dx, y), line, font=font, fill=fill)
            if customer:
                box = self.draw.textbbox((x + dx, y), line, font=font)
                self.text_boxes.append(tuple(int(v) for v in box))  # type: ignore[arg-type]
            y += line_h
        return int(y)

    def check(self) -> None:
        """Every customer text box lies on the canvas (the layout grew enough)."""
        w, h = self.image.size
        if not self.text_boxes:
            raise AssertionError("layout drew no customer text")
        for x0, y0, x1, y1 in self.text_boxes:
            if x0 < 0 or y0 < 0 or x1 > w or y1 > h:
                raise AssertionError(f"customer text box {(x0, y0, x1, y1)} falls off a {w}x{h} canvas")
