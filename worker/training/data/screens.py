"""Synthetic screenshots of a customer's message, with realistic chrome around it.

:func:`render_screenshot` draws one text in one of several layouts: a phone chat app, an e-mail
client (both also in dark mode), an app error dialog with the text in its message area or as the
customer's note on top, and a photographed printed page (rotated, in perspective, unevenly lit,
blurred, JPEG-compressed). The OCR stage has to drop the chrome (status bar, headers, agent
greeting, buttons, sign-offs), so the chrome is deliberately busy.

Every choice comes from the caller's :class:`random.Random`, so an image is a function of the text,
the seed and the font list. The whole customer text is always on the image: the layouts grow to fit
it, and each layout checks the text's boxes lie on the canvas before any post-processing.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import math
import random
import re
import string
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

LAYOUTS = ("chat", "email", "error", "paper")
LAYOUT_WEIGHTS = (0.32, 0.28, 0.2, 0.2)
DARK_P = 0.35  # chat and e-mail only

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


# --- chat ----------------------------------------------------------------------------------------


def _split_bubbles(text: str, rng: random.Random) -> list[str]:
    sentences = [s for s in re.split(r"(?<=[.?!])\s+", text) if s]
    if len(sentences) >= 2 and rng.random() < 0.55:
        cut = rng.randint(1, len(sentences) - 1)
        return [" ".join(sentences[:cut]), " ".join(sentences[cut:])]
    return [text]


def _status_bar(c: _Canvas, rng: random.Random, y: int, h: int, s: int, w: int, font, fg, clock: str) -> None:
    clock = clock.split()[0]
    c.draw.text((int(26 * s), y + h // 2), clock, font=font, fill=fg, anchor="lm")
    # battery
    bw, bh = 25 * s, 12 * s
    bx, by = w - 22 * s - bw, y + (h - bh) // 2
    level = rng.randint(8, 100)
    c.draw.rounded_rectangle((bx, by, bx + bw, by + bh), radius=3 * s, outline=fg, width=max(1, s))
    c.draw.rectangle((bx + bw + s, by + 4 * s, bx + bw + 2 * s, by + bh - 4 * s), fill=fg)
    fill = (235, 64, 52) if level < 20 else fg
    c.draw.rectangle((bx + 2 * s, by + 2 * s, bx + 2 * s + int((bw - 4 * s) * level / 100), by + bh - 2 * s),
                     fill=fill)
    x = bx - 6 * s
    if rng.random() < 0.5:
        pct = f"{level}%"
        small = _font(font.path, int(font.size * 0.8))
        x -= int(small.getlength(pct))
        c.draw.text((x, y + h // 2), pct, font=small, fill=fg, anchor="lm")
        x -= 6 * s
    # wifi: three arcs
    cx, cy = x - 9 * s, y + h // 2 + 5 * s
    for r in (4, 8, 12):
        c.draw.arc((cx - r * s, cy - r * s, cx + r * s, cy + r * s), 225, 315, fill=fg, width=max(1, 2 * s))
    # signal bars
    x = cx - 16 * s - 18 * s
    for i in range(4):
        bar_h = (4 + 2 * i) * s
        colour = fg if i < rng.randint(2, 4) else (150, 150, 150)
        c.draw.rectangle((x + i * 5 * s, cy - bar_h, x + i * 5 * s + 3 * s, cy), fill=colour)


def _render_chat(text: str, rng: random.Random, fonts: Sequence[Path], dark: bool) -> tuple[_Canvas, dict]:
    s = 2
    logical_w = rng.randint(390, 480)
    w = logical_w * s
    size = rng.randint(13, 26)
    body_path = rng.choice(fonts)
    ui_path, ui_bold = _chrome_fonts(rng, fonts)
    f_body = _font(str(body_path), size * s)
    f_small = _font(str(ui_path), rng.randint(11, 13) * s)
    f_status = _font(str(ui_bold), 15 * s)
    f_name = _font(str(ui_bold), rng.randint(16, 18) * s)
    f_sub = _font(str(ui_path), 12 * s)
    f_input = _font(str(ui_path), rng.randint(15, 17) * s)
    accent = rng.choice(ACCENTS)
    style = rng.choice(("ios", "whatsapp", "messenger", "plain"))
    if dark:
        bg = rng.choice(((0, 0, 0), (18, 18, 18), (11, 20, 26), (28, 28, 30)))
        bar_bg = _jitter((28, 28, 30), rng, 6)
        fg, grey = (240, 240, 240), (142, 142, 147)
        agent_bg = rng.choice(((38, 38, 40), (31, 44, 52), (48, 48, 52)))
        mine_bg = rng.choice(((0, 92, 75), (10, 132, 255), accent))
    else:
        bg = rng.choice(((255, 255, 255), (242, 242, 247), (236, 229, 221), (246, 246, 246)))
        bar_bg = _jitter((247, 247, 247), rng, 5)
        fg, grey = (17, 17, 17), (120, 120, 128)
        agent_bg = rng.choice(((229, 229, 234), (255, 255, 255), (240, 240, 240)))
        mine_bg = rng.choice(((220, 248, 198), accent, accent, (0, 122, 255)))
    if agent_bg == bg:
        agent_bg = _jitter((233, 233, 237) if not dark else (44, 44, 46), rng, 4)
    mine_fg, agent_fg = _on(mine_bg), _on(agent_bg)
    bank = rng.choice(BANKS)
    agent_first, _ = _name(rng)
    contact = rng.choice((bank, f"{bank} Support", "Customer Support", "Support", f"{agent_first} ({bank})",
                          "Help Centre"))
    clock, hour, minute = _clock(rng)
    twelve = clock.endswith("M")
    daypart = "morning" if hour < 12 else "afternoon" if hour < 18 else "evening"
    greeting = rng.choice(AGENT_GREETINGS).format(bank=bank, agent=agent_first, daypart=daypart)

    pad_x, pad_y = rng.randint(10, 14) * s, rng.randint(7, 10) * s
    radius = rng.randint(14, 20) * s
    max_bubble = int(w * rng.uniform(0.7, 0.8))
    spacing = rng.uniform(1.1, 1.3)
    lh_body = _line_height(f_body, spacing)
    agent_font = _font(str(ui_path), max(14, min(size, 18)) * s)
    lh_agent = _line_height(agent_font, 1.2)
    margin = rng.randint(10, 16) * s
    parts = _split_bubbles(text, rng)

    items: list[tuple[int, Callable[[_Canvas, int], None]]] = []
    gap = rng.randint(6, 10) * s

    day = rng.choice(("Today", "Today", "Yesterday", "Mon", "Tue, 12 Mar", "Fri 3 May"))
    chip_h = 22 * s

    def draw_chip(c: _Canvas, y: int) -> None:
        tw = int(f_small.getlength(day)) + 20 * s
        x0 = (w - tw) // 2
        if style in ("whatsapp", "plain"):
            c.draw.rounded_rectangle((x0, y, x0 + tw, y + chip_h), radius=8 * s,
                                     fill=_jitter(agent_bg, rng, 4))
        c.draw.text((w // 2, y + chip_h // 2), day, font=f_small, fill=grey, anchor="mm")

    items.append((chip_h, draw_chip))

    def bubble(lines: list[str], font, lh: int, mine: bool, fill, ink, customer: bool) -> None:
        bw = _text_width(lines, font) + 2 * pad_x
        bh = lh * len(lines) + 2 * pad_y

        def draw_bubble(c: _Canvas, y: int) -> None:
            x0 = w - margin - bw if mine else margin
            c.draw.rounded_rectangle((x0, y, x0 + bw, y + bh), radius=min(radius, bh // 2), fill=fill)
            c.lines((x0 + pad_x, y + pad_y), lines, font, lh, ink, customer=customer)

        items.append((bh, draw_bubble))

    def meta(label: str, right: bool) -> None:
        mh = _line_height(f_small, 1.1)

        def draw_meta(c: _Canvas, y: int) -> None:
            if right:
                c.draw.text((w - margin - 4 * s, y), label, font=f_small, fill=grey, anchor="ra")
            else:
                c.draw.text((margin + 4 * s, y), label, font=f_small, fill=grey, anchor="la")

        items.append((mh, draw_meta))

    bubble(wrap(greeting, agent_font, max_bubble - 2 * pad_x), agent_font, lh_agent, False, agent_bg,
           agent_fg, False)
    meta(f"{bank if rng.random() < 0.3 else agent_first} · {clock}" if rng.random() < 0.5 else clock, False)
    for part in parts:
        bubble(wrap(part, f_body, max_bubble - 2 * pad_x), f_body, lh_body, True, mine_bg, mine_fg, True)
    sent = _later(hour, minute, rng, twelve)
    meta(rng.choice(("Delivered", "Read", f"Read {sent}", f"{sent} · Delivered", "Seen", sent)), True)

    status_h, header_h, input_h = rng.randint(44, 54) * s, rng.randint(56, 66) * s, rng.randint(54, 66) * s
    home_h = 22 * s if rng.random() < 0.6 else 6 * s
    content_h = sum(h for h, _ in items) + gap * (len(items) - 1)
    top, bottom_chrome = status_h + header_h, input_h + home_h
    default_h = int(logical_w * rng.uniform(1.9, 2.17)) * s
    h = max(default_h, top + content_h + bottom_chrome + 2 * gap)
    c = _Canvas(w, h, bg)

    # chrome
    c.draw.rectangle((0, 0, w, top), fill=bar_bg)
    _status_bar(c, rng, 0, status_h, s, w, f_status, fg, _later(hour, minute + 2, rng, twelve))
    hy = status_h
    c.draw.line((0, top - 1, w, top - 1), fill=_jitter(grey, rng, 10), width=1)
    cy = hy + header_h // 2
    c.draw.line(((22 * s, cy - 9 * s), (13 * s, cy), (22 * s, cy + 9 * s)), fill=accent, width=3 * s)
    av = 38 * s
    ax = 34 * s
    c.draw.ellipse((ax, cy - av // 2, ax + av, cy + av // 2), fill=_jitter(accent, rng, 30))
    initials = "".join(word[0] for word in re.findall(r"[A-Za-z]+", contact)[:2]).upper() or "S"
    c.draw.text((ax + av // 2, cy), initials, font=_font(str(ui_bold), 15 * s), fill=(255, 255, 255), anchor="mm")
    nx = ax + av + 10 * s
    subtitle = rng.choice(("online", "Active now", "Typically replies in minutes", "Business account",
                           "last seen today", ""))
    if subtitle:
        c.draw.text((nx, cy - 2 * s), contact, font=f_name, fill=fg, anchor="ld")
        c.draw.text((nx, cy + 2 * s), subtitle, font=f_sub, fill=grey, anchor="la")
    else:
        c.draw.text((nx, cy), contact, font=f_name, fill=fg, anchor="lm")
    for i in range(3):  # overflow menu
        c.draw.ellipse((w - 20 * s - 2 * s, cy - 9 * s + i * 8 * s, w - 20 * s + 2 * s, cy - 5 * s + i * 8 * s),
                       fill=accent)
    # input bar
    iy = h - bottom_chrome
    c.draw.rectangle((0, iy, w, h), fill=bar_bg)
    c.draw.line((0, iy, w, iy), fill=_jitter(grey, rng, 10), width=1)
    c.draw.text((20 * s, iy + input_h // 2), "+", font=_font(str(ui_path), 28 * s), fill=accent, anchor="mm")
    field = (40 * s, iy + 10 * s, w - 52 * s, iy + input_h - 10 * s)
    c.draw.rounded_rectangle(field, radius=(field[3] - field[1]) // 2, fill=bg if not dark else (44, 44, 46),
                             outline=_jitter(grey, rng, 20), width=max(1, s // 2))
    placeholder = rng.choice(("Type a message", "Message", "Write a message…", "Aa", "Type your message"))
    c.draw.text((field[0] + 14 * s, (field[1] + field[3]) // 2), placeholder, font=f_input, fill=grey, anchor="lm")
    sx, sy, sr = w - 26 * s, iy + input_h // 2, 15 * s
    c.draw.ellipse((sx - sr, sy - sr, sx + sr, sy + sr), fill=accent)
    c.draw.polygon(((sx - 6 * s, sy - 7 * s), (sx + 8 * s, sy), (sx - 6 * s, sy + 7 * s)), fill=(255, 255, 255))
    if home_h > 10 * s:
        c.draw.rounded_rectangle((w // 2 - 67 * s, h - 12 * s, w // 2 + 67 * s, h - 7 * s), radius=3 * s, fill=fg)

    # messages, stacked against the input bar
    y = max(top + gap, iy - gap - content_h)
    for height, draw_item in items:
        draw_item(c, y)
        y += height + gap
    params = {"device": "phone", "style": style, "scale": s, "font": body_path.name, "font_size": size,
              "ui_font": ui_path.name, "bubbles": len(parts), "accent": list(accent)}
    return c, params


# --- e-mail --------------------------------------------------------------------------------------


def _render_email(text: str, rng: random.Random, fonts: Sequence[Path], dark: bool) -> tuple[_Canvas, dict]:
    w = rng.randint(800, 1400)
    size = rng.randint(13, 26)
    body_path = rng.choice(fonts)
    ui_path, ui_bold = _chrome_fonts(rng, fonts)
    f_body = _font(str(body_path), size)
    ui_size = rng.randint(13, 15)
    f_ui, f_ui_bold = _font(str(ui_path), ui_size), _font(str(ui_bold), ui_size)
    f_subject = _font(str(ui_bold), rng.randint(18, 24))
    accent = rng.choice(ACCENTS)
    if dark:
        bg, side_bg, bar_bg = (32, 33, 36), (41, 42, 45), (24, 24, 26)
        fg, grey, line = (232, 234, 237), (154, 160, 166), (60, 64, 67)
    else:
        bg, side_bg, bar_bg = (255, 255, 255), _jitter((246, 248, 252), rng, 5), _jitter((238, 240, 243), rng, 6)
        fg, grey, line = (32, 33, 36), (95, 99, 104), (218, 220, 224)
    first, last = _name(rng)
    sender = f"{first} {last}"
    address = f"{first.lower()}.{last.lower().replace('ü', 'u')}{rng.choice(('', '', '84', '.uk', '22'))}@" + rng.choice(
        ("gmail.com", "outlook.com", "yahoo.co.uk", "icloud.com", "proton.me", "example.com"))
    bank = rng.choice(BANKS)
    support = f"support@{re.sub(r'[^a-z]', '', bank.lower())}.com"
    subject = rng.choice(EMAIL_SUBJECTS)
    clock, hour, minute = _clock(rng)
    day = rng.randint(1, 28)
    date = rng.choice((f"{rng.choice(('Mon', 'Tue', 'Wed', 'Thu', 'Fri'))}, {day} "
                       f"{rng.choice(('Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Sep', 'Oct'))} 2024, {clock}",
                       f"{day:02d}/{rng.randint(1, 12):02d}/2024 {clock}", f"Today, {clock}", clock))
    title_h = rng.randint(28, 36)
    toolbar_h = rng.randint(44, 52)
    sidebar_w = rng.randint(180, 240) if rng.random() < 0.7 else 0
    list_w = rng.randint(260, 320) if rng.random() < 0.35 and w - sidebar_w >= 960 else 0
    pane_x = sidebar_w + list_w
    margin = rng.randint(20, 36)
    body_w = min(w - pane_x - 2 * margin, rng.randint(560, 900))
    spacing = rng.uniform(1.15, 1.45)
    lh = _line_height(f_body, spacing)
    lh_ui = _line_height(f_ui, 1.35)
    greeting = rng.choice(GREETINGS) if rng.random() < 0.85 else ""
    sign_off = rng.choice(SIGN_OFFS) if rng.random() < 0.85 else ""
    sign_name = rng.choice((first, sender, first[0])) if sign_off or rng.random() < 0.5 else ""
    footer = rng.choice(("Sent from my iPhone", "Get Outlook for Android", "Sent from my Galaxy")) \
        if rng.random() < 0.2 else ""
    lines = wrap(text, f_body, body_w)
    header_style = rng.choice(("classic", "modern"))
    header_lines = 4 if header_style == "classic" else 2
    header_h = (_line_height(f_subject, 1.3) if header_style == "modern" else 0) + lh_ui * header_lines + 18
    body_h = lh * (len(lines) + (2 if greeting else 0) + (1 if sign_off or sign_name else 0)
                   + (1 if sign_off else 0) + (2 if sign_name else 0) + (2 if footer else 0))
    top = title_h + toolbar_h
    need = top + margin + header_h + 16 + body_h + margin
    h = max(rng.randint(560, 900), need)
    c = _Canvas(w, h, bg)

    # window title and toolbar
    c.draw.rectangle((0, 0, w, title_h), fill=bar_bg)
    if rng.random() < 0.5:
        for i, colour in enumerate(((255, 95, 86), (255, 189, 46), (39, 201, 63))):
            cx = 16 + i * 20
            c.draw.ellipse((cx - 6, title_h // 2 - 6, cx + 6, title_h // 2 + 6), fill=colour)
    else:
        my = title_h // 2
        c.draw.line((w - 22, my - 5, w - 12, my + 5), fill=grey, width=1)  # close
        c.draw.line((w - 22, my + 5, w - 12, my - 5), fill=grey, width=1)
        c.draw.rectangle((w - 62, my - 5, w - 52, my + 5), outline=grey)  # maximise
        c.draw.line((w - 102, my, w - 92, my), fill=grey, width=1)  # minimise
    app = rng.choice(("Mail", "Inbox", "Outlook", "Thunderbird", "Webmail"))
    c.draw.text((w // 2, title_h // 2), f"{subject or '(no subject)'} - {app}", font=f_ui, fill=grey, anchor="mm")
    c.draw.rectangle((0, title_h, w, top), fill=side_bg if not dark else (36, 37, 40))
    c.draw.line((0, top - 1, w, top - 1), fill=line)
    x = pane_x + margin if pane_x else 16
    for label in rng.sample(("Reply", "Reply all", "Forward", "Archive", "Delete", "Move", "Flag", "Mark unread"),
                            k=rng.randint(3, 6)):
        tw = int(f_ui.getlength(label)) + 20
        if x + tw > w - 220:
            break
        c.draw.rounded_rectangle((x, title_h + 8, x + tw, top - 8), radius=6, outline=line, fill=bg)
        c.draw.text((x + tw // 2, title_h + toolbar_h // 2), label, font=f_ui, fill=fg, anchor="mm")
        x += tw + 8
    c.draw.rounded_rectangle((w - 210, title_h + 9, w - 14, top - 9), radius=12, fill=bg, outline=line)
    c.draw.text((w - 196, title_h + toolbar_h // 2), "Search mail", font=f_ui, fill=grey, anchor="lm")

    # sidebar and message list
    if sidebar_w:
        c.draw.rectangle((0, top, sidebar_w, h), fill=side_bg)
        c.draw.rounded_rectangle((14, top + 14, sidebar_w - 40, top + 54), radius=16, fill=accent)
        c.draw.text((30, top + 34), rng.choice(("Compose", "New mail", "New message")), font=f_ui_bold,
                    fill=_on(accent), anchor="lm")
        y = top + 72
        for i, folder in enumerate(("Inbox", "Starred", "Sent", "Drafts", "Spam", "Trash")):
            if i == 0:
                c.draw.rounded_rectangle((6, y - 4, sidebar_w - 8, y + lh_ui), radius=8,
                                         fill=_jitter((211, 227, 253) if not dark else (65, 69, 80), rng, 5))
            c.draw.text((24, y), folder, font=f_ui_bold if i == 0 else f_ui, fill=fg)
            if i == 0:
                c.draw.text((sidebar_w - 20, y), str(rng.randint(1, 40)), font=f_ui, fill=fg, anchor="ra")
            y += lh_ui + 10
    if list_w:
        c.draw.line((sidebar_w + list_w, top, sidebar_w + list_w, h), fill=line)
        y = top + 12
        entries = [(sender, subject or "(no subject)")] + rng.sample(INBOX_SNIPPETS, k=4)
        for i, (who, what) in enumerate(entries):
            if y + 2 * lh_ui > h:
                break
            if i == 0:
                c.draw.rectangle((sidebar_w, y - 6, sidebar_w + list_w - 1, y + 2 * lh_ui + 2),
                                 fill=_jitter((232, 240, 254) if not dark else (50, 54, 62), rng, 4))
            c.draw.text((sidebar_w + 14, y), who, font=f_ui_bold, fill=fg)
            c.draw.text((sidebar_w + 14, y + lh_ui), what, font=f_ui, fill=grey)
            y += 2 * lh_ui + 16
            c.draw.line((sidebar_w + 8, y - 8, sidebar_w + list_w - 8, y - 8), fill=line)

    # reading pane
    x0, y = pane_x + margin, top + margin
    if header_style == "modern":
        c.draw.text((x0, y), subject or "(no subject)", font=f_subject, fill=fg)
        y += _line_height(f_subject, 1.3)
        av = 2 * lh_ui - 6
        c.draw.ellipse((x0, y, x0 + av, y + av), fill=_jitter(accent, rng, 40))
        c.draw.text((x0 + av // 2, y + av // 2), first[0], font=f_ui_bold, fill=(255, 255, 255), anchor="mm")
        c.draw.text((x0 + av + 10, y), sender, font=f_ui_bold, fill=fg)
        c.draw.text((x0 + av + 14 + f_ui_bold.getlength(sender), y), f"<{address}>", font=f_ui, fill=grey)
        c.draw.text((x0 + av + 10, y + lh_ui), f"to {rng.choice(('me', support, 'Support'))}", font=f_ui, fill=grey)
        c.draw.text((w - margin, y), date, font=f_ui, fill=grey, anchor="ra")
        y += 2 * lh_ui + 18
    else:
        for label, value in (("From:", f"{sender} <{address}>"), ("Sent:" if rng.random() < 0.5 else "Date:", date),
                             ("To:", support), ("Subject:", subject)):
            c.draw.text((x0, y), label, font=f_ui_bold, fill=fg)
            c.draw.text((x0 + 80, y), value, font=f_ui, fill=fg)
            y += lh_ui
        y += 18
    c.draw.line((x0, y - 9, w - margin, y - 9), fill=line)
    y += 16
    if greeting:
        c.draw.text((x0, y), greeting, font=f_body, fill=fg)
        y += 2 * lh
    y = c.lines((x0, y), lines, f_body, lh, fg, customer=True)
    y += lh if sign_off or sign_name else 0
    if sign_off:
        c.draw.text((x0, y), sign_off, font=f_body, fill=fg)
        y += lh
    if sign_name:
        c.draw.text((x0, y), sign_name, font=f_body, fill=fg)
        y += 2 * lh
    if footer:
        c.draw.text((x0, y), footer, font=f_body, fill=grey)
    params = {"device": "desktop", "scale": 1, "font": body_path.name, "font_size": size, "ui_font": ui_path.name,
              "header_style": header_style, "subject": subject, "sidebar": bool(sidebar_w), "message_list": bool(list_w)}
    return c, params


# --- app error -----------------------------------------------------------------------------------


def _render_error(text: str, rng: random.Random, fonts: Sequence[Path]) -> tuple[_Canvas, dict]:
    phone = rng.random() < 0.5
    s = 2 if phone else 1
    logical_w = rng.randint(390, 480) if phone else rng.randint(800, 1400)
    w = logical_w * s
    size = rng.randint(13, 26)
    body_path = rng.choice(fonts)
    ui_path, ui_bold = _chrome_fonts(rng, fonts)
    f_body = _font(str(body_path), size * s)
    f_ui = _font(str(ui_path), 15 * s)
    f_ui_bold = _font(str(ui_bold), 15 * s)
    f_title = _font(str(ui_bold), rng.randint(17, 21) * s)
    f_big = _font(str(ui_bold), 28 * s)
    accent = rng.choice(ACCENTS)
    bank = rng.choice(BANKS)
    mode = rng.choice(("error_area", "note"))
    note_style = rng.choice(("sticky", "markup")) if mode == "note" else ""
    pad = rng.randint(18, 24) * s
    dialog_w = int(w * rng.uniform(0.8, 0.88)) if phone else rng.randint(420, 600)
    inner = dialog_w - 2 * pad
    title = rng.choice(ERROR_TITLES)
    code = rng.choice((f"Error code: E{rng.randint(1000, 9999)}", f"Ref: {rng.randrange(16**4):04X}-"
                       f"{rng.randrange(16**4):04X}", f"(code {rng.randint(100, 599)})",
                       f"Error {rng.choice(('AUTH', 'TXN', 'NET', 'CARD'))}-{rng.randint(10, 999)}"))
    lh_body = _line_height(f_body, rng.uniform(1.15, 1.35))
    lh_ui = _line_height(f_ui, 1.3)
    title_lines = wrap(title, f_title, inner - 50 * s)
    if mode == "error_area":
        message_lines, message_font, message_lh = wrap(text, f_body, inner), f_body, lh_body
    else:
        message_lines, message_font, message_lh = wrap(rng.choice(ERROR_MESSAGES), f_ui, inner), f_ui, lh_ui
    button_h = 40 * s
    icon = 40 * s
    dialog_h = (pad + icon + 12 * s + _line_height(f_title, 1.25) * len(title_lines) + 8 * s
                + message_lh * len(message_lines) + 8 * s + lh_ui + 18 * s + button_h + pad)
    note_lines: list[str] = []
    note_h = note_w = 0
    if mode == "note":
        note_w = int(dialog_w * rng.uniform(0.85, 1.0))
        note_lines = wrap(text, f_body, note_w - 2 * pad)
        note_h = lh_body * len(note_lines) + 2 * pad
    nav_h = 56 * s
    gap = 24 * s
    need = nav_h + gap + dialog_h + (gap + note_h if note_h else 0) + gap
    default_h = int(logical_w * rng.uniform(1.9, 2.17)) * s if phone else rng.randint(600, 900)
    h = max(default_h, need)
    light_bg = _jitter((245, 246, 248), rng, 6)
    c = _Canvas(w, h, light_bg)

    # the app behind the dialog
    c.draw.rectangle((0, 0, w, nav_h), fill=accent)
    c.draw.text((16 * s, nav_h // 2), bank, font=f_title, fill=_on(accent), anchor="lm")
    card = (16 * s, nav_h + 16 * s, w - 16 * s, nav_h + 136 * s)
    c.draw.rounded_rectangle(card, radius=14 * s, fill=(255, 255, 255))
    c.draw.text((card[0] + 16 * s, card[1] + 16 * s), "Available balance", font=f_ui, fill=(110, 110, 110))
    currency = rng.choice("£$€")
    c.draw.text((card[0] + 16 * s, card[1] + 44 * s), f"{currency}{rng.randint(0, 9999):,}.{rng.randint(0, 99):02d}",
                font=f_big, fill=(20, 20, 20))
    y = card[3] + 16 * s
    while y + 50 * s < h:
        merchant = rng.choice(MERCHANTS)
        amount = f"-{currency}{rng.randint(1, 250)}.{rng.randint(0, 99):02d}"
        c.draw.ellipse((16 * s, y + 6 * s, 48 * s, y + 38 * s), fill=_jitter((220, 224, 230), rng, 15))
        c.draw.text((60 * s, y + 8 * s), merchant, font=f_ui_bold, fill=(30, 30, 30))
        c.draw.text((w - 16 * s, y + 8 * s), amount, font=f_ui, fill=(30, 30, 30), anchor="ra")
        c.draw.line((60 * s, y + 48 * s, w - 16 * s, y + 48 * s), fill=(225, 225, 225))
        y += 54 * s
    c.image = Image.blend(c.image, Image.new("RGB", c.image.size, (0, 0, 0)), rng.uniform(0.3, 0.55))
    c.draw = ImageDraw.Draw(c.image)

    # the dialog
    dark_dialog = rng.random() < 0.2
    d_bg, d_fg, d_grey = ((44, 44, 46), (240, 240, 240), (160, 160, 165)) if dark_dialog else \
        ((255, 255, 255), (25, 25, 25), (110, 110, 115))
    block_h = dialog_h + (gap + note_h if note_h else 0)
    dy = max(nav_h + gap, (h - block_h) // 2)
    dx = (w - dialog_w) // 2
    c.draw.rounded_rectangle((dx + 3 * s, dy + 5 * s, dx + dialog_w + 3 * s, dy + dialog_h + 5 * s),
                             radius=14 * s, fill=(25, 25, 25))
    c.draw.rounded_rectangle((dx, dy, dx + dialog_w, dy + dialog_h), radius=14 * s, fill=d_bg)
    y = dy + pad
    red = rng.choice(((214, 48, 49), (229, 57, 53), (255, 149, 0)))
    icx = dx + dialog_w // 2 if phone else dx + pad + icon // 2
    if rng.random() < 0.5:
        c.draw.ellipse((icx - icon // 2, y, icx + icon // 2, y + icon), fill=red)
    else:
        c.draw.polygon(((icx, y), (icx + icon // 2, y + icon), (icx - icon // 2, y + icon)), fill=red)
    c.draw.text((icx, y + icon // 2 + 3 * s), "!", font=_font(str(ui_bold), 24 * s), fill=(255, 255, 255), anchor="mm")
    y += icon + 12 * s
    align = "center" if phone else "left"
    y = c.lines((dx + pad, y), title_lines, f_title, _line_height(f_title, 1.25), d_fg, align=align, width=inner)
    y += 8 * s
    y = c.lines((dx + pad, y), message_lines, message_font, message_lh, d_fg if mode == "error_area" else d_grey,
                customer=mode == "error_area", align=align, width=inner)
    y += 8 * s
    c.lines((dx + pad, y), [code], _font(str(ui_path), 13 * s), lh_ui, d_grey, align=align, width=inner)
    by = dy + dialog_h - pad - button_h
    labels = rng.choice((("Cancel", "OK"), ("Close", "Try again"), ("Cancel", "Retry"), ("", "OK")))
    bw = (inner - 12 * s) // 2
    for i, label in enumerate(labels):
        if not label:
            continue
        bx = dx + pad + i * (bw + 12 * s)
        primary = i == 1
        c.draw.rounded_rectangle((bx, by, bx + bw, by + button_h), radius=8 * s, fill=accent if primary else d_bg,
                                 outline=accent, width=max(1, s))
        c.draw.text((bx + bw // 2, by + button_h // 2), label, font=f_ui_bold,
                    fill=_on(accent) if primary else accent, anchor="mm")
    # the customer's note on the screenshot
    if mode == "note":
        ny = dy + dialog_h + gap
        nx = (w - note_w) // 2
        if note_style == "sticky":
            paper = _jitter((255, 241, 118), rng, 10)
            c.draw.rectangle((nx + 4 * s, ny + 4 * s, nx + note_w + 4 * s, ny + note_h + 4 * s), fill=(0, 0, 0))
            c.draw.rectangle((nx, ny, nx + note_w, ny + note_h), fill=paper)
            ink = rng.choice(((20, 20, 20), (20, 40, 120)))
        else:
            c.draw.rectangle((nx, ny, nx + note_w, ny + note_h), fill=(255, 255, 255), outline=red, width=3 * s)
            c.draw.rectangle((dx - 6 * s, dy - 6 * s, dx + dialog_w + 6 * s, dy + dialog_h + 6 * s), outline=red,
                             width=3 * s)
            ink = red
        c.lines((nx + pad, ny + pad), note_lines, f_body, lh_body, ink, customer=True)
    params = {"device": "phone" if phone else "desktop", "scale": s, "font": body_path.name, "font_size": size,
              "ui_font": ui_path.name, "mode": mode, "note_style": note_style, "title": title}
    return c, params


# --- photographed paper --------------------------------------------------------------------------


def _perspective_coeffs(dst: Sequence[tuple[float, float]], src: Sequence[tuple[float, float]]) -> list[float]:
    """Coefficients for ``Image.transform(PERSPECTIVE)``: output point ``dst[i]`` samples ``src[i]``."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(dst, src):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs.extend((u, v))
    return np.linalg.solve(np.asarray(rows, float), np.asarray(rhs, float)).tolist()


def _smooth_noise(rng_np: np.random.Generator, size: tuple[int, int], cells: int) -> np.ndarray:
    """Low-frequency noise in [0, 1], ``size`` = (w, h)."""
    small = (rng_np.random((cells, cells)) * 255).astype(np.uint8)
    return np.asarray(Image.fromarray(small).resize(size, Image.BICUBIC), np.float32) / 255.0


def _render_paper(text: str, rng: random.Random, fonts: Sequence[Path]) -> tuple[Image.Image, list, dict]:
    s = 1.5
    size = rng.randint(13, 26)
    font_path = rng.choice(fonts)
    f_body = _font(str(font_path), size * s)
    page_w = int(rng.randint(520, 800) * s)
    margin = int(page_w * rng.uniform(0.08, 0.13))
    spacing = rng.uniform(1.15, 1.5)
    lh = _line_height(f_body, spacing)
    style = rng.choice(("letter", "letter", "note"))
    lines = wrap(text, f_body, page_w - 2 * margin)
    first, last = _name(rng)
    head: list[str] = []
    tail: list[str] = []
    if style == "letter":
        if rng.random() < 0.6:
            head += [f"{rng.randint(1, 28)} {rng.choice(('January', 'March', 'April', 'June', 'October'))} 2024", ""]
        head += [rng.choice(LETTER_GREETINGS), ""]
        tail = ["", rng.choice(LETTER_SIGN_OFFS), "", f"{first} {last}"]
    elif rng.random() < 0.5:
        head = [rng.choice(("Note:", "NOTE", "Re: my account", "For the bank:")), ""]
    text_h = lh * (len(head) + len(lines) + len(tail))
    page_h = max(int(page_w * rng.uniform(0.55, 1.414)), text_h + 2 * margin)
    paper = _jitter((250, 248, 240), rng, 6)
    ink = rng.choice(((25, 25, 25), (45, 45, 50), (20, 30, 80)))
    c = _Canvas(page_w, page_h, paper)
    y = margin + max(0, (page_h - 2 * margin - text_h) // 4 if style == "note" else 0)
    for line in head:
        if line[:1].isdigit():  # the date, right-aligned
            c.draw.text((page_w - margin, y), line, font=f_body, fill=ink, anchor="ra")
        elif line:
            c.draw.text((margin, y), line, font=f_body, fill=ink)
        y += lh
    y = c.lines((margin, y), lines, f_body, lh, ink, customer=True)
    for line in tail:
        if line:
            c.draw.text((margin, y), line, font=f_body, fill=ink)
        y += lh
    c.check()
    page = c.image

    # a phone camera's resolution: shrink the page (keeping the text >= ~14 px) before the warp
    target_w = rng.randint(900, 1600)
    shrink = min(1.0, max(target_w / (page_w * 1.3), 14 / (size * s)))
    if shrink < 1.0:
        page = page.resize((int(page_w * shrink), int(page_h * shrink)), Image.LANCZOS)
        c.text_boxes = [tuple(int(v * shrink) for v in box) for box in c.text_boxes]  # type: ignore[misc]
        page_w, page_h = page.size

    # photograph it: rotate, perspective, place on a surface, shadow, uneven light, noise
    seed = rng.getrandbits(32)
    rng_np = np.random.default_rng(seed)
    angle = rng.uniform(-8, 8)
    rad = math.radians(angle)
    border = rng.uniform(1.15, 1.4)
    span_w = page_w * abs(math.cos(rad)) + page_h * abs(math.sin(rad))
    span_h = page_w * abs(math.sin(rad)) + page_h * abs(math.cos(rad))
    out_w, out_h = int(span_w * border), int(span_h * border * rng.uniform(1.0, 1.12))
    cx, cy = out_w / 2 + rng.uniform(-0.02, 0.02) * out_w, out_h / 2 + rng.uniform(-0.02, 0.02) * out_h
    corners = [(-page_w / 2, -page_h / 2), (page_w / 2, -page_h / 2), (page_w / 2, page_h / 2), (-page_w / 2, page_h / 2)]
    keystone = rng.uniform(-0.05, 0.05)
    dst = []
    for x, y0 in corners:
        x = x * (1 + (keystone if y0 < 0 else -keystone))
        x += rng.uniform(-0.015, 0.015) * page_w
        y0 += rng.uniform(-0.015, 0.015) * page_h
        dst.append((cx + x * math.cos(rad) - y0 * math.sin(rad), cy + x * math.sin(rad) + y0 * math.cos(rad)))
    src = [(0, 0), (page_w, 0), (page_w, page_h), (0, page_h)]
    coeffs = _perspective_coeffs(dst, src)
    surface_kind = rng.choice(("wood", "desk", "dark", "fabric"))
    base = {"wood": (150, 105, 65), "desk": (200, 200, 196), "dark": (55, 55, 60), "fabric": (90, 110, 140)}[surface_kind]
    # smooth fields (surface, shadow, light) are made at 1/8 size and scaled up: cheap, and smooth anyway
    lw, lh_ = max(8, out_w // 8), max(8, out_h // 8)
    surface = np.empty((lh_, lw, 3), np.float32)
    surface[:] = _jitter(base, rng, 15)
    surface *= (0.8 + 0.4 * _smooth_noise(rng_np, (lw, lh_), rng.randint(4, 12)))[..., None]
    if surface_kind == "wood":
        stripes = np.sin(np.linspace(0, rng.uniform(30, 80), lh_, dtype=np.float32)[:, None]
                         + 3 * _smooth_noise(rng_np, (lw, lh_), 6))
        surface *= (0.93 + 0.07 * stripes)[..., None]
    background = Image.fromarray(np.clip(surface, 0, 255).astype(np.uint8)).resize((out_w, out_h), Image.BILINEAR)
    mask = Image.new("L", page.size, 255).transform((out_w, out_h), Image.PERSPECTIVE, coeffs, Image.BILINEAR)
    offset = (rng.randint(2, 14), rng.randint(2, 14))
    shadow = Image.new("L", (out_w, out_h), 0)
    shadow.paste(mask, offset)
    shadow = shadow.resize((lw, lh_), Image.BILINEAR).filter(ImageFilter.GaussianBlur(rng.uniform(0.8, 2.2)))
    shadow = shadow.point(lambda v: int(v * 0.55)).resize((out_w, out_h), Image.BILINEAR)
    background = Image.composite(Image.new("RGB", (out_w, out_h), (0, 0, 0)), background, shadow)
    warped = page.transform((out_w, out_h), Image.PERSPECTIVE, coeffs, Image.BICUBIC)
    photo = Image.composite(warped, background, mask)
    # the text boxes, mapped through the same transform, must stay in the frame
    inverse = np.linalg.inv(np.append(np.asarray(coeffs), 1.0).reshape(3, 3))
    for x0, y0, x1, y1 in c.text_boxes:
        for px, py in ((x0, y0), (x1, y0), (x1, y1), (x0, y1)):
            qx, qy, qw = inverse @ (px, py, 1.0)
            if not (0 <= qx / qw <= out_w and 0 <= qy / qw <= out_h):
                raise AssertionError("paper text left the photo")
    # uneven light: a gradient across the frame, sometimes a soft shadow blob (a hand, a phone)
    yy, xx = np.mgrid[0:lh_, 0:lw].astype(np.float32)
    theta = rng.uniform(0, 2 * math.pi)
    ramp = (xx / lw - 0.5) * math.cos(theta) + (yy / lh_ - 0.5) * math.sin(theta)
    low, high = rng.uniform(0.6, 0.85), rng.uniform(0.98, 1.1)
    light = low + (high - low) * (ramp - ramp.min()) / max(1e-6, float(ramp.max() - ramp.min()))
    shadow_blob = rng.random() < 0.45
    if shadow_blob:
        bx, by = rng.uniform(0, lw), rng.uniform(0, lh_)
        radius = rng.uniform(0.25, 0.5) * lw
        blob = np.exp(-(((xx - bx) ** 2 + (yy - by) ** 2) / (2 * radius**2)))
        light *= 1 - rng.uniform(0.25, 0.45) * blob
    light_full = np.asarray(Image.fromarray(light.astype(np.float32), "F").resize((out_w, out_h), Image.BILINEAR))
    warm = np.asarray((1.0, rng.uniform(0.96, 1.0), rng.uniform(0.88, 0.99)), np.float32)
    arr = np.asarray(photo, np.float32) * light_full[..., None] * warm
    arr += rng_np.standard_normal(arr.shape, dtype=np.float32) * np.float32(rng.uniform(1.5, 6))
    photo = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    params = {"device": "camera", "scale": s, "font": font_path.name, "font_size": size, "paper_style": style,
              "surface": surface_kind, "rotation": round(angle, 2), "keystone": round(keystone, 3),
              "shadow": shadow_blob, "light_low": round(low, 2), "shrink": round(shrink, 3)}
    return photo, c.text_boxes, params


# --- the entry point -----------------------------------------------------------------------------


def render_screenshot(text: str, rng: random.Random, *, fonts: Sequence[Path]) -> tuple[Image.Image, dict]:
    """One synthetic screenshot (or photo) of ``text``, and the choices made, JSON-ready.

    ``params["format"]`` is ``"png"`` or ``"jpeg"`` (then ``params["jpeg_quality"]``); save with
    :func:`encode_image` so the compression chosen is the one applied.
    """
    fonts = [Path(f) for f in fonts]
    if not fonts:
        raise ValueError("no fonts: install fonts-dejavu-core (or matplotlib)")
    text = clean_text(text)
    if not text:
        raise ValueError("empty text")
    layout = rng.choices(LAYOUTS, weights=LAYOUT_WEIGHTS)[0]
    dark = layout in ("chat", "email") and rng.random() < DARK_P
    if layout == "paper":
        image, _, params = _render_paper(text, rng, fonts)
        blur = rng.uniform(0.3, 1.2) if rng.random() < 0.8 else 0.0
        rotation = 0.0  # rotated as part of the photo (params["rotation"], up to 8 degrees)
        fmt, quality = "jpeg", rng.randint(35, 92)
    else:
        if layout == "chat":
            canvas, params = _render_chat(text, rng, fonts, dark)
        elif layout == "email":
            canvas, params = _render_email(text, rng, fonts, dark)
        else:
            canvas, params = _render_error(text, rng, fonts)
        canvas.check()
        image = canvas.image
        rotation = rng.uniform(-3, 3) if rng.random() < 0.3 else 0.0
        if rotation:
            fill = rng.choice((image.getpixel((0, 0)), (255, 255, 255), (235, 235, 235), (0, 0, 0)))
            image = image.rotate(rotation, resample=Image.BICUBIC, expand=True, fillcolor=fill)
        # shared pictures are often re-scaled; keep the text at least ~14 px tall
        px = params["font_size"] * params["scale"]
        downscale = rng.uniform(max(0.55, 14 / px), 0.9) if rng.random() < 0.25 and px * 0.9 >= 14 else 1.0
        if downscale < 1.0:
            image = image.resize((int(image.width * downscale), int(image.height * downscale)), Image.LANCZOS)
        params["downscale"] = round(downscale, 3)
        blur = rng.uniform(0.2, 1.2) if rng.random() < 0.35 else 0.0
        fmt = "jpeg" if rng.random() < 0.6 else "png"
        quality = rng.randint(35, 95) if fmt == "jpeg" else None
    if blur:
        image = image.filter(ImageFilter.GaussianBlur(blur))
    params = {"layout": layout, "dark": dark, **params}
    params.update(rotation=round(params.get("rotation", rotation), 2), blur=round(blur, 2), format=fmt,
                  jpeg_quality=quality, width=image.width, height=image.height)
    return image, params


def encode_image(image: Image.Image, params: dict) -> tuple[bytes, str]:
    """The image's file bytes in the chosen format, and the file extension (``png``/``jpg``)."""
    buffer = io.BytesIO()
    if params.get("format") == "jpeg":
        image.convert("RGB").save(buffer, "JPEG", quality=int(params.get("jpeg_quality") or 85),
                                  subsampling=2 if int(params.get("jpeg_quality") or 85) < 80 else 0)
        return buffer.getvalue(), "jpg"
    image.save(buffer, "PNG", optimize=False, compress_level=6)
    return buffer.getvalue(), "png"
