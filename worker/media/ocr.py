"""OCR of screenshots with the models bundled in rapidocr's wheel, and the customer's message in it.

rapidocr downloads any model its config names but does not find, so every path is given here and
points into the installed package: a worker never reaches the network, and a missing file is a
named error instead of a hang on a firewall. The angle classifier stays off: screenshots are
upright, and it turned some upright lines upside down (0.02 % character errors without it).

OCR reads every pixel with text, including window chrome (headers, clocks, buttons, greetings);
``message_text`` keeps what the customer wrote, because chrome words cost intent accuracy.
"""

from __future__ import annotations

import bisect
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

from worker.errors import MediaModelMissing

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
# "to me", "to Support", "to support@acme.com": the recipient line under a sender in a mail client.
_RECIPIENT = re.compile(
    rf"^to\s+(me|[A-Z][\w.'-]*( [A-Z][\w.'-]*)?|[<(]?{_EMAIL}[>)]?)(,\s*(me|[A-Z][\w.'-]*))*$"
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
    rf"received|typing|online|offline|active|unread|new|messages?|last)$",
    re.IGNORECASE,
)
_CHROME_PHRASES = {
    # mail and chat clients
    "reply", "reply all", "forward", "send", "sent", "inbox", "outbox", "drafts", "draft", "spam",
    "junk", "trash", "bin", "archive", "starred", "important", "compose", "new message",
    "new mail", "mark as read", "mark as unread", "mark read", "mark unread", "flag", "unflag",
    "move", "move to", "labels", "label", "snooze",
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
# Words that say only "this is a support mail": a subject or label made of them alone carries no
# intent ("Help", "Question", "Re: my account", "Support request", "(no subject)").
_GENERIC_WORDS = {
    "help", "question", "questions", "query", "queries", "support", "request", "problem",
    "problems", "issue", "issues", "urgent", "account", "my", "hello", "hi", "enquiry", "inquiry",
    "no", "subject", "info", "information", "important", "customer", "service", "team", "ticket",
    "contact", "a", "re", "fwd", "fw", "needed", "assistance", "required",
}
# Tokens that label a number in an error or receipt line: "(code 491)", "Ref: 94B6-F654".
_CODE_WORDS = {"code", "error", "err", "ref", "reference", "id", "no", "nr", "number", "txn"}
_PLACEHOLDER = re.compile(
    r"^(type|write|enter|send|compose|start typing|reply)\b.{0,30}\b(message|reply|here|text|"
    r"something|question)\b\W*$",
    re.IGNORECASE,
)
_WINDOW_TITLE = re.compile(
    r"[-–—|·]\s*(google chrome|chrome|mozilla firefox|firefox|safari|microsoft edge|edge|"
    r"outlook|gmail|mail|webmail|inbox|thunderbird|whatsapp|messenger|slack|teams)\s*$",
    re.IGNORECASE,
)
_AGENT = re.compile(
    r"\bhow (can|may|could|shall) (we|i) (help|assist)\b|\bhow can we\b|"
    r"\bwhat can (we|i) (do for you|help( you)? with)\b|\bhelp you (with anything )?today\b|"
    r"^help you\b.{0,15}\?$|"
    r"\banything else (we|i) can\b|\bwelcome to\b|\b(joined|left) the (chat|conversation)\b|"
    r"\b(you are|you're) (now )?(chatting|connected|talking) (with|to)\b|"
    r"\b(agent|representative|advisor|someone) will be with you\b|"
    r"\bthank(s| you) for (contacting|reaching out|your patience|waiting|chatting|getting in touch)\b|"
    r"\bwe('ll| will) (reply|respond|get back)\b|\btypically replies\b|\breplies (in|within)\b|"
    r"\bhave a (great|nice|good|lovely) (day|evening|weekend)\b|\bsorry to hear\b|"
    r"\blet me (check|look)\b.*\bfor you\b|"
    # the tail of a wrapped agent question: "... What" / "can we help with?"
    r"^(what )?(can|may|could) (we|i) (help( you)?( with)?|assist( you)?|do for you)"
    r"( today)?\s*\?$",
    re.IGNORECASE,
)
_SIGN_OFF = re.compile(
    r"^((best|kind|warm|warmest|with)\s+)?(regards|wishes|cheers|sincerely|thanks|thank you|"
    r"many\s*thanks|thanks in advance|best|respectfully|thank\s*you)\s*[,.!]*$|"
    r"^(yours|yours (sincerely|faithfully|truly)|(sincerely|faithfully|truly) yours)\s*[,.!]*$",
    re.IGNORECASE,
)
_GREETING = re.compile(
    r"^(hi|hello|hey|dear|good (morning|afternoon|evening)|greetings)"
    r"(( there| all| team| folks)?\s*[,!.]?|( [\w'-]+){1,3}\s*[,:])$|"
    r"^to whom it may concern\s*[,:.]?$",
    re.IGNORECASE,
)
# The addressee heading a note: "For the bank:", "To Acme Bank:", "Attn: Card services".
_ADDRESSEE = re.compile(
    r"^(For|To|FOR|TO) (the [\w'-]+( [\w'-]+)?|[A-Z][\w'-]*( [A-Z][\w'-]*){0,2})\s*:$|"
    r"^(Attn|ATTN|Attention)\b.{0,40}$"
)
# Everything under "On Mon, 4 Mar 2024, Support <...> wrote:" is the earlier, quoted, message.
_QUOTE_START = re.compile(r"\bwrote\s*:$|^-+\s*original message\s*-+$", re.IGNORECASE)
_FOOTER = re.compile(r"^sent from my \w+|^get outlook for\b|^sent with\b", re.IGNORECASE)
# Stock sentences of error dialogs, which name no problem of the customer's own. A whole sentence
# must be made of them: "Your card payment could not be completed" says what failed and stays.
_STOCK_CLAUSE = (
    r"(error|oops|whoops|uh[- ]?oh|sorry|"
    r"(an? )?((unexpected|unknown|internal|network|server|technical|system) )?(error|problem)"
    r"( has)? (occurred|occured|happened)|"
    r"something (went|has gone|is) wrong|"
    r"we (hit|ran into|encountered|had) (a|an|some) (problem|snag|issue|error|hiccup)|"
    r"there (was|has been|is) (a|an) (problem|issue|error)( on our (end|side))?|"
    r"(request|action|operation) failed|"
    r"unable to (continue|proceed)|(cannot|can't|could not|couldn't) (continue|proceed)|"
    r"(please )?try again( later| in a (few minutes|moment|minute|while)| shortly)?|"
    r"(please )?(contact|call|reach out to) (our )?(customer )?(support|service|us|help)( team)?|"
    r"(this|the|your) (action|request|operation) (could not|couldn't|cannot|can't) be "
    r"(completed|processed)|"
    r"we (could not|couldn't|can't|cannot|were unable to|are unable to) ?(process|complete) "
    r"(your|this|the) request|"
    r"(the )?service is (temporarily )?unavailable|"
    r"(please )?check your (internet |network )?connection)"
    r"( (right now|at this time|at the moment|for now))?"
)
# A chat stamp read into a bubble's line: "Chen·9:17 AM Do you ...", "... checks? 20:09 ✓✓".
_STAMP_RECEIPT = r"(delivered|read|seen|sent|edited)"
_STAMP_CLOCK = r"\d{1,2}:\d{2}(\s*[ap]\.?\s?m\.?)?"  # a colon: "4.99" is no clock
_LEADING_STAMP = re.compile(
    rf"^([A-Z][\w.'-]*( [A-Z][\w.'-]*)?\s*[·•]\s*)?{_STAMP_CLOCK}\s*([·•]\s*{_STAMP_RECEIPT}?\s*)?"
    r"(?=[A-Za-z])",
    re.IGNORECASE,
)
_TRAILING_STAMP = re.compile(
    rf"(?<=[.?!])\s*[·•]?\s*{_STAMP_CLOCK}(\s*[·•]?\s*{_STAMP_RECEIPT})?[\s✓✔]*$|"
    rf"\s*[·•]\s*{_STAMP_CLOCK}(\s*[·•]?\s*{_STAMP_RECEIPT})?[\s✓✔]*$",
    re.IGNORECASE,
)
# Spaces optional: OCR glues words ("This action could notbe completed.").
_STOCK = re.compile(rf"^{_STOCK_CLAUSE}( (or |and )?{_STOCK_CLAUSE})*$".replace(" ", " ?"))


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
    chrome = {id(line): _is_chrome(line, image_size) for line in usable}
    usable = _without_layout_chrome(usable, image_size, chrome)
    rows = _message_rows(usable)
    stock = _stock_paragraphs([cell for row in rows for cell in row])
    parts: list[tuple[str, bool]] = []  # text, and whether it is only a title-like label
    previous: OcrLine | None = None
    signature = False
    for row in rows:
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
            if value and not _is_generic(value):
                parts.append((value, _is_title_label(value)))
        cells = [cell for cell in cells if id(cell) not in stock]
        wrapped = {id(cell) for cell in cells if _wraps(previous, cell)}
        kept = [cell for cell in cells if id(cell) in wrapped or not chrome[id(cell)]]
        if len(kept) < len(cells) and all(_is_name_like(_clean(cell.text)) for cell in kept):
            kept = []  # a sender name next to a dropped address or clock ("Anna  10:42")
        previous = _merged(kept)
        # Title-like only with no sentence beside it: "Where can I locate my" + "PIN" is one line.
        titles = all(_is_title_label(_clean(cell.text)) for cell in kept)
        for cell in kept:
            text = _strip_stamps(_REPLY_PREFIX.sub("", _clean(cell.text)))
            if _SIGN_OFF.match(text) or _FOOTER.match(text):
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
    return OcrLine(" ".join(_clean(cell.text) for cell in cells), score, box)


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
    if previous is None or _is_title_label(_clean(previous.text)) or _is_icon(line.text):
        return False
    text = _clean(line.text)
    labelled = any(word.lower().rstrip(".") in _CODE_WORDS for word in re.split(r"[\s:()#]+", text))
    return not (labelled and _is_code_line(text)) and _continues(previous, line)


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
        text = _join([_clean(line.text) for line in chain])
        if len(text.split()) <= 30 and (_AGENT.search(text) or _is_stock(text)):
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
    ``chrome``: ``_is_chrome`` of each line, by id.
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
    amounts = [line for line in lines if _is_amount(_clean(line.text))]
    above: set[int] = set()
    beside: list[OcrLine] = []
    if not amounts:
        return above
    wrapped = _sentence_tails(lines)
    for line in lines:
        text = _clean(line.text)
        words = text.split()
        if (
            not 1 <= len(words) <= 4
            or sum(1 for word in words if word[:1].islower()) > 1
            or re.search(r"[.?!,;]$", text)
            or _is_code_line(text)
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
                _sentence_words(_clean(item.text)) and not chrome[id(item)] for item in header
            ):
                break
            return {id(item) for item in header if _is_short_label(_clean(item.text))}
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
        and not _SIGN_OFF.match(_clean(line.text))
        and not _FOOTER.match(_clean(line.text))
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
        counts = [_sentence_words(_clean(line.text)) for line in block]
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
    if _is_meta(text):
        return True  # "10:42", "9:41 AM", "87%", "Today", "Yesterday 18:03", "23/12/2024 9:31 PM"
    if _EMAIL_ONLY.match(text) or _URL_ONLY.match(text) or _PLACEHOLDER.match(text):
        return True
    if _WINDOW_TITLE.search(text) or _AGENT.search(text) or _GREETING.match(text):
        return True
    if _ADDRESSEE.match(text) or _DROP_HEADER.match(text):
        return True  # "For the bank:"; a header that is not first in its row
    if _is_header_label(text, ("from", "to", "cc", "bcc", "date", "sent")):
        return True
    if _RECIPIENT.match(text) or (text.startswith("to ") and "@" in text and len(words) <= 5):
        return True  # "to Support", "to support @acme bank.com" (OCR spaces in an address)
    if _is_meta_with_name(text) or _is_code_line(text):
        return True  # "Chen·9:17 AM", "14:33·Delivered", "-£81.08", "(code 491)", "Ref: 94B6-F654"
    if _is_stock(text) or _is_generic(text):
        return True  # "Request failed", "Please try again or contact support.", "(no subject)"
    if _is_icon(text):
        return True  # avatar initials
    if image_size is not None and _in_bar(line, image_size) and _is_short_label(text):
        return True
    return False


def _is_icon(text: str) -> bool:
    """Avatar initials or an icon: one or two capitals, or under two letters and digits."""
    return bool(re.fullmatch(r"[A-Z]{1,2}", text.strip())) or sum(ch.isalnum() for ch in text) < 2


def _is_code_line(text: str) -> bool:
    """Only amounts, numbers and codes, maybe labelled: "-£81.08", "(code 491)", "Error NET-417"."""
    tokens = [token for token in re.split(r"[\s:()\[\]#]+", text) if token]
    numbers = 0
    for token in tokens:
        if token.lower().rstrip(".") in _CODE_WORDS:
            continue
        alnum = [ch for ch in token if ch.isalnum()]
        digits = sum(ch.isdigit() for ch in alnum)
        if not digits or (2 * digits < len(alnum) and any(ch.islower() for ch in alnum)):
            return False
        numbers += 1
    return numbers > 0


def _strip_stamps(text: str) -> str:
    """``text`` without a leading "Name·9:17" or a trailing "20:09 ✓✓" stamp that OCR joined to it.

    A leading clock goes only with a dot or a name before it ("Chen·9:17 AM Do you ..."), a
    trailing one only after end punctuation or a dot: "we met at 10:42" keeps its time.
    """
    head = _LEADING_STAMP.match(text)
    if head and (head.group(1) or "·" in head.group(0) or "•" in head.group(0)):
        text = text[head.end():]
    return _TRAILING_STAMP.sub("", text).strip() or text


def _is_amount(text: str) -> bool:
    """An amount of money: a currency sign or a figure with cents ("-£81.08", "1,204.50")."""
    return _is_code_line(text) and bool(re.search(r"[£$€¥₹]|\d[.,]\d{2}$", text))


def _is_meta_with_name(text: str) -> bool:
    """A clock or receipt glued to a short name by a dot: "Chen·9:17 AM", "14:33·Delivered"."""
    parts = [part.strip() for part in re.split(r"[·•∙]", text) if part.strip()]
    if len(parts) < 2:
        return False
    metas = [part for part in parts if _is_meta(part)]
    return bool(metas) and all(_is_meta(part) or _is_name_like(part) for part in parts)


def _is_meta(text: str) -> bool:
    """Only clock, date, status and receipt tokens ("Today, 9:26 AM", "23/12/2024", "Read")."""
    for drop in (r"[^\w\s'%-]", r"[^\w\s'%/:.-]"):  # "10:42" read as "10 42" or as a clock
        words = [word.strip(".,;:") for word in re.sub(drop, " ", text).lower().split()]
        words = [word for word in words if word]
        if words and all(_META_TOKEN.match(word) for word in words):
            return True
    return False


def _is_stock(text: str) -> bool:
    """Only stock error-dialog text ("Oops!", "Please try again later."), punctuation aside."""
    plain = " ".join(re.sub(r"[^\w\s']", " ", text.lower().replace("’", "'")).split())
    return bool(plain) and bool(_STOCK.match(plain))


def _is_generic(text: str) -> bool:
    """A short title of support words only: a generic subject ("Question", "Re: my account").

    Not the lowercase or full-stopped tail of a sentence ("... on my" / "account.").
    """
    value = _REPLY_PREFIX.sub("", text)
    if value == text and (text[:1].islower() or re.search(r"[.?!]$", text)):
        return False
    words = re.sub(r"[^\w\s']", " ", value).lower().split()
    return 1 <= len(words) <= 4 and all(word in _GENERIC_WORDS for word in words)


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
