"""OCR of screenshots with the models bundled in rapidocr's wheel, and the customer's message in it.

rapidocr downloads any model its config names but does not find, so every path is given here and
points into the installed package: a worker never reaches the network, and a missing file is a
named error instead of a hang on a firewall. The angle classifier stays off: screenshots are
upright, and it turned some upright lines upside down (0.02 % character errors without it).

OCR reads every pixel with text, including window chrome (headers, clocks, buttons, greetings);
``message_text`` keeps what the customer wrote, because chrome words cost intent accuracy.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from worker.pipeline.media_errors import MediaModelMissing

log = logging.getLogger(__name__)

BUNDLED_MODELS = {"det": "PP-OCRv6_det_small.onnx", "rec": "PP-OCRv6_rec_small.onnx"}
MIN_SCORE = 0.5
MIN_MESSAGE_WORDS = 5

# Measured on 20 synthetic screenshots (800x600 chat, e-mail, dialog; two 1600x1000 desktops) on
# 2 busy cores: rapidocr's default upscales the short side to 736 px before detection (1.5x the
# pixels of an 800x600 image); "max 960" detects at the image's own scale up to 960 px and only
# shrinks larger ones (640 lost 10-px text: 5.8 % character errors). Batches of one line avoid
# padding every line to the widest in its batch. Wall time -25 to -30 %, CPU 1924 -> 1346 ms per
# image (845 ms with threads=1), character errors 2 -> 1 in 4459.
MAX_SIDE = 2000  # rapidocr's own cap, applied here before the numpy copy of a huge image
DET_LIMIT_TYPE = "max"
DET_LIMIT_SIDE = 960
REC_BATCH = 1


@dataclass(frozen=True)
class OcrLine:
    """One line of text: ``box`` is x0, y0, x1, y1 in pixels of the image given to ``read``."""

    text: str
    score: float
    box: tuple[float, float, float, float]


@dataclass(frozen=True)
class OcrResult:
    """Lines in reading order, all their text, and the customer's message without the chrome."""

    lines: list[OcrLine]
    text: str
    message: str
    ms: float


def bundled_models_dir() -> Path:
    """rapidocr's ``models`` folder, found without importing rapidocr (it pulls in OpenCV)."""
    spec = importlib.util.find_spec("rapidocr")
    if spec is None or spec.origin is None:
        raise MediaModelMissing("OCR needs the rapidocr package: pip install rapidocr==3.10.0")
    return Path(spec.origin).parent / "models"


def bundled_model_paths() -> dict[str, Path]:
    """The detector and recogniser files shipped in the wheel; MediaModelMissing if one is gone."""
    folder = bundled_models_dir()
    paths = {task: folder / name for task, name in BUNDLED_MODELS.items()}
    missing = [str(path) for path in paths.values() if not path.is_file()]
    if missing:
        raise MediaModelMissing(
            f"OCR model file(s) missing from the rapidocr wheel: {', '.join(missing)}; "
            "reinstall it (pip install --force-reinstall rapidocr==3.10.0): the worker never "
            "downloads models"
        )
    return paths


def rapidocr_params(*, threads: int = 0) -> dict[str, Any]:
    """rapidocr settings that use only the bundled files and the measured fast settings.

    The recogniser's character list is embedded in its ONNX metadata, so no dictionary file is
    needed (rapidocr would download one only for a model without it).
    """
    paths = bundled_model_paths()
    return {
        "Global.use_cls": False,
        "Global.log_level": "error",
        "Global.model_root_dir": str(bundled_models_dir()),
        "Det.model_path": str(paths["det"]),
        "Det.limit_type": DET_LIMIT_TYPE,
        "Det.limit_side_len": DET_LIMIT_SIDE,
        "Rec.model_path": str(paths["rec"]),
        "Rec.rec_batch_num": REC_BATCH,
        "EngineConfig.onnxruntime.intra_op_num_threads": threads if threads > 0 else -1,
        "EngineConfig.onnxruntime.inter_op_num_threads": 1,
    }


class OcrEngine:
    """rapidocr's detector and recogniser, loaded once per worker process."""

    def __init__(self, ocr: Any, *, provider: str, max_side: int = MAX_SIDE) -> None:
        self._ocr = ocr
        self.provider = provider
        self.max_side = max_side

    @classmethod
    def load(cls, *, threads: int = 0, max_side: int = MAX_SIDE) -> OcrEngine:
        """Open both ONNX sessions now, so that a broken install fails at start, not mid-ticket.

        ``threads``: intra-op threads per session (0: ONNX Runtime's default, all cores).
        """
        params = rapidocr_params(threads=threads)
        from rapidocr import RapidOCR

        ocr = RapidOCR(params=params)
        # rapidocr opens sessions lazily on first use; open them here (3.10's loaders).
        det = ocr._load_det_model()
        ocr._load_rec_model()
        provider = det.session.session.get_providers()[0]
        log.info("OCR loaded from %s on %s", bundled_models_dir(), provider)
        return cls(ocr, provider=provider, max_side=max_side)

    def read(self, image: Image.Image) -> OcrResult:
        """Every text line of ``image`` in reading order, and the customer's message among them."""
        start = time.perf_counter()
        rgb = image if image.mode == "RGB" else image.convert("RGB")
        scale = 1.0
        if max(rgb.size) > self.max_side:
            scale = self.max_side / max(rgb.size)
            size = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
            rgb = rgb.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
        bgr = np.ascontiguousarray(np.asarray(rgb)[:, :, ::-1])
        out = self._ocr(bgr)
        lines = []
        if out.txts is not None and out.boxes is not None:
            for text, score, quad in zip(out.txts, out.scores, out.boxes):
                points = np.asarray(quad, dtype=np.float64) / scale
                box = (
                    float(points[:, 0].min()),
                    float(points[:, 1].min()),
                    float(points[:, 0].max()),
                    float(points[:, 1].max()),
                )
                lines.append(OcrLine(text=str(text).strip(), score=float(score), box=box))
        lines = reading_order(lines)
        return OcrResult(
            lines=lines,
            text="\n".join(line.text for line in lines),
            message=message_text(lines, image_size=image.size),
            ms=(time.perf_counter() - start) * 1000.0,
        )


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


# --- the chrome filter ------------------------------------------------------------------------

_DROP_HEADER = re.compile(
    r"^(from|to|cc|bcc|date|sent|reply-to|received)\s*[:：]", re.IGNORECASE
)
_SUBJECT = re.compile(r"^(subject|subj)\s*[:：]\s*(?P<value>.*)$", re.IGNORECASE)
_REPLY_PREFIX = re.compile(r"^((re|fwd?|aw|tr|wg)\s*[:：]\s*)+", re.IGNORECASE)
_EMAIL = r"[\w.+'-]+@[\w-]+(\.[\w-]+)+"
_EMAIL_ONLY = re.compile(  # an address, maybe after a name: "Jane Doe <jane@example.com>"
    rf"^(\"?[A-Z][\w.'-]*( [A-Z][\w.'-]*){{0,3}}\"?\s*)?[<(\[]?\s*{_EMAIL}\s*[>)\]]?[\s,;]*$"
)
_URL_ONLY = re.compile(
    r"^[^\w]{0,3}(https?://|www\.)?([\w-]+\.)+(com|org|net|io|co|uk|de|fr|app|ai|dev|info|biz|eu|us)"
    r"(:\d+)?([/?#]\S*)?$|^(https?://|www\.)\S+$",
    re.IGNORECASE,
)
_CLOCK = r"\d{1,2}[:.]\d{2}([:.]\d{2})?\s*([ap]\.?\s?m\.?)?"
_MONTHS = (
    "jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec|january|february|march|april|june|july|"
    "august|september|october|november|december"
)
_DAYS = "mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun|monday|tuesday|wednesday|thursday|friday|saturday|sunday"
# Tokens that, alone or together, make a line a date, a clock, a status bar or a receipt.
_META_TOKEN = re.compile(
    rf"^({_CLOCK}|[ap]\.?m\.?|\d{{1,4}}([/.-]\d{{1,2}}([/.-]\d{{2,4}})?)?(st|nd|rd|th)?|"
    rf"{_MONTHS}|{_DAYS}|today|yesterday|now|just|ago|min|mins|minutes?|hours?|hrs?|days?|"
    rf"weeks?|at|on|and|the|\d{{1,3}}\s?%|lte|[345]g|wi-?fi|edited|delivered|read|seen|sent|"
    rf"received|typing|online|offline|active|unread|new|messages?)$",
    re.IGNORECASE,
)
_CHROME_PHRASES = {
    # mail and chat clients
    "reply", "reply all", "forward", "send", "sent", "inbox", "outbox", "drafts", "draft", "spam",
    "junk", "trash", "bin", "archive", "starred", "important", "compose", "new message",
    "new mail", "mark as read", "mark as unread", "move", "move to", "labels", "label", "snooze",
    "print", "print all", "to me", "me", "you", "attach", "attachment", "attachments",
    "download", "download all", "save", "share", "more", "back", "menu", "search", "search mail",
    "settings", "help", "delete", "edit", "copy", "paste", "undo", "done", "details",
    "show details", "hide details", "view details", "learn more", "see more", "show more",
    "primary", "promotions", "social", "updates", "favourites", "favorites", "folders",
    "chat", "chats", "live chat", "messages", "message", "contacts", "calls", "status",
    "end chat", "end conversation", "minimise", "minimize", "maximise", "maximize",
    "active now", "online", "offline", "typing", "typing...", "delivered", "read", "seen",
    "today", "yesterday", "now", "just now", "new", "unread", "emoji", "gif", "aa",
    # dialogs
    "ok", "okay", "cancel", "close", "retry", "try again", "yes", "no", "apply", "continue",
    "dismiss", "got it", "next", "previous", "skip", "submit", "confirm", "allow",
    "don't allow", "not now", "later", "remind me later", "report", "send report",
    "don't send", "ignore", "open", "exit", "quit",
    # window and browser chrome
    "file", "edit view", "view", "window", "tools", "history", "bookmarks", "format", "insert",
    "go", "new tab", "secure", "not secure",
    # support widget labels
    "support", "customer support", "customer service", "help center", "help centre",
    "help desk", "helpdesk", "support team", "support agent", "agent", "bot", "assistant",
    "virtual assistant", "chat with us", "powered by intercom", "powered by zendesk",
    "support chat", "rate this conversation", "conversation ended", "chat ended", "chat started",
    # app names seen alone in title bars
    "gmail", "outlook", "mail", "apple mail", "thunderbird", "whatsapp", "messenger",
    "telegram", "signal", "slack", "teams", "microsoft teams", "intercom", "zendesk",
    "freshdesk", "imessage", "sms", "google chrome", "chrome", "firefox", "safari", "edge",
}
_MENU_WORDS = {
    "file", "edit", "view", "window", "help", "tools", "history", "bookmarks", "format",
    "insert", "go", "profiles", "tab", "message", "mailbox",
}
_PLACEHOLDER = re.compile(
    r"^(type|write|enter|send|compose|start typing|reply)\b.{0,30}\b(message|reply|here|text|"
    r"something|question)\b\W*$",
    re.IGNORECASE,
)
_WINDOW_TITLE = re.compile(
    r"[-–—|·]\s*(google chrome|chrome|mozilla firefox|firefox|safari|microsoft edge|edge|"
    r"outlook|gmail|mail|thunderbird|whatsapp|messenger|slack|teams)\s*$",
    re.IGNORECASE,
)
_AGENT = re.compile(
    r"\bhow (can|may|could|shall) (we|i) (help|assist)\b|\bhow can we\b|"
    r"\bwhat can (we|i) (do|help)\b|\bhelp you (with anything )?today\b|^help you\b.{0,15}\?$|"
    r"\banything else (we|i) can\b|\bwelcome to\b|\b(joined|left) the (chat|conversation)\b|"
    r"\b(you are|you're) (now )?(chatting|connected|talking) (with|to)\b|"
    r"\b(agent|representative|advisor|someone) will be with you\b|"
    r"\bthank(s| you) for (contacting|reaching out|your patience|waiting|chatting|getting in touch)\b|"
    r"\bwe('ll| will) (reply|respond|get back)\b|\btypically replies\b|\breplies (in|within)\b|"
    r"\bhave a (great|nice|good|lovely) (day|evening|weekend)\b|\bsorry to hear\b|"
    r"\blet me (check|look)\b.*\bfor you\b",
    re.IGNORECASE,
)
_SIGN_OFF = re.compile(
    r"^((best|kind|warm|warmest)\s+)?(regards|wishes|cheers|sincerely|thanks|thank you|many thanks|"
    r"thanks in advance|best)\s*[,.!]*$",
    re.IGNORECASE,
)
_GREETING = re.compile(
    r"^(hi|hello|hey|dear|good (morning|afternoon|evening)|greetings)"
    r"(( there| all| team| folks)?\s*[,!.]?|( [\w'-]+){1,3}\s*[,:])$",
    re.IGNORECASE,
)
# Everything under "On Mon, 4 Mar 2024, Support <...> wrote:" is the earlier, quoted, message.
_QUOTE_START = re.compile(r"\bwrote\s*:$|^-+\s*original message\s*-+$", re.IGNORECASE)
_FOOTER = re.compile(r"^sent from my \w+|^get outlook for\b|^sent with\b", re.IGNORECASE)


def message_text(lines: Sequence[OcrLine], *, image_size: tuple[int, int] | None = None) -> str:
    """The customer's message: OCR lines without window chrome, joined into one string.

    Drops headers (From/To/Date; a Subject keeps its value), clocks and dates, status bars,
    buttons, app and window names, URLs, lone e-mail addresses, chat receipts, greetings,
    agent phrases, sign-offs, low-confidence lines and, given ``image_size``, short labels in the
    top and bottom bars. Generic rules on text and position, since real layouts vary. A wrapped
    line that continues the line above is kept whatever its words ("... wrong to" / "me.").
    """
    parts: list[tuple[str, bool]] = []  # text, and whether it is only a title-like label
    previous: OcrLine | None = None
    signature = False
    for row in _rows([line for line in lines if line.score >= MIN_SCORE and line.text.strip()]):
        first = _clean(row[0].text)
        if any(_QUOTE_START.search(_clean(cell.text)) for cell in row):
            break
        if _DROP_HEADER.match(first) or _is_header_label(first, ("from", "to", "cc", "bcc", "date")):
            previous = None
            continue
        cells = list(row)
        subject = _SUBJECT.match(first)
        if _is_header_label(first, ("subject",)):
            cells = cells[1:]
        elif subject:
            cells = cells[1:]
            value = _REPLY_PREFIX.sub("", subject.group("value").strip())
            if value:
                parts.append((value, False))
        wrapped = {id(cell) for cell in cells if _continues(previous, cell)}
        kept = [cell for cell in cells if id(cell) in wrapped or not _is_chrome(cell, image_size)]
        if len(kept) < len(cells) and all(_is_name_like(_clean(cell.text)) for cell in kept):
            kept = []  # a sender name next to a dropped address or clock ("Anna  10:42")
        if not kept:
            previous = None
        for cell in kept:
            text = _REPLY_PREFIX.sub("", _clean(cell.text))
            previous = cell
            if _SIGN_OFF.match(text) or _FOOTER.match(text):
                signature = True
                continue
            if signature and len(text.split()) <= 4:
                continue  # the name and title under "Best regards,"
            signature = False
            parts.append((text, id(cell) not in wrapped and _is_title_label(text)))
    firm_words = sum(len(text.split()) for text, title in parts if not title)
    # Titles ("Acme Bank", "Support Chat") are dropped when there is a message without them; a
    # lone dialog title ("Payment Failed") may be all the image says, so it then stays.
    return _join([text for text, title in parts if not title or firm_words < MIN_MESSAGE_WORDS])


def _continues(previous: OcrLine | None, line: OcrLine) -> bool:
    """Whether ``line`` is the next line of the same paragraph as ``previous`` (wrapped text)."""
    if previous is None or re.search(r"[.?!:]$", previous.text.strip()):
        return False
    height = previous.box[3] - previous.box[1]
    gap = line.box[1] - previous.box[3]
    return -0.3 * height < gap < 0.8 * height and abs(line.box[0] - previous.box[0]) < height


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _is_header_label(text: str, labels: tuple[str, ...]) -> bool:
    return text.rstrip(" :：").lower() in labels and len(text) <= 12


def _is_chrome(line: OcrLine, image_size: tuple[int, int] | None) -> bool:
    """Whether one OCR line is interface rather than something the customer wrote."""
    text = _clean(line.text)
    bare = re.sub(r"[^\w\s'%-]", "", text).strip().lower()
    words = bare.split()
    if sum(ch.isalnum() for ch in text) < 2 or text.startswith(">"):
        return True  # icons read as "<", "x", "≡", "+"; quoted lines
    if bare in _CHROME_PHRASES or text.lower().rstrip(".…") in _CHROME_PHRASES:
        return True
    if words and all(word in _MENU_WORDS for word in words) and len(words) >= 2:
        return True
    if words and all(_META_TOKEN.match(word) for word in words):
        return True  # "10:42", "9:41 AM", "87%", "Today", "Yesterday 18:03", "Read 10:42"
    if _EMAIL_ONLY.match(text) or _URL_ONLY.match(text) or _PLACEHOLDER.match(text):
        return True
    if _WINDOW_TITLE.search(text) or _AGENT.search(text) or _GREETING.match(text):
        return True
    if re.fullmatch(r"[A-Z]{1,2}", text):
        return True  # avatar initials
    if image_size is not None and _in_bar(line, image_size) and _is_short_label(text):
        return True
    return False


def _in_bar(line: OcrLine, image_size: tuple[int, int]) -> bool:
    """In the top 10 % or bottom 8 % of a screenshot tall enough to have a title and an input bar."""
    height = image_size[1]
    if height < 250:
        return False
    centre = (line.box[1] + line.box[3]) / 2
    return centre < 0.10 * height or centre > 0.92 * height


def _is_short_label(text: str) -> bool:
    """A title or button rather than a sentence: few words, no sentence punctuation."""
    return len(text.split()) <= 4 and len(text) <= 40 and not re.search(r"[.?!]$", text)


def _is_title_label(text: str) -> bool:
    """Title Case, one to three words, no digits or punctuation: an app, window or sender name."""
    words = text.split()
    if not 1 <= len(words) <= 3 or re.search(r"[\d.,?!:;]", text):
        return False
    return all(word[:1].isupper() or word.lower() in _CONNECTORS for word in words)


_CONNECTORS = {"of", "and", "&", "the", "for", "de", "by"}


def _is_name_like(text: str) -> bool:
    words = text.split()
    return 1 <= len(words) <= 3 and all(re.fullmatch(r"[A-Z][\w.'-]*", word) for word in words)


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
