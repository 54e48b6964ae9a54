"""OCR with rapidocr's bundled models (no network, no download) and the chrome filter."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from worker.pipeline import ocr
from worker.pipeline.media_errors import MediaModelMissing
from worker.pipeline.ocr import OcrEngine, OcrLine, OcrResult, message_text, reading_order

REPO = Path(__file__).resolve().parents[3]
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


# --- rendering ---------------------------------------------------------------------------------


def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if DEJAVU.is_file():
        return ImageFont.truetype(str(DEJAVU), size)
    return ImageFont.load_default(size)


class Screen:
    """A blank screenshot that remembers where each piece of text was drawn."""

    def __init__(self, size: tuple[int, int] = (800, 600), bg: tuple[int, int, int] = (255, 255, 255)):
        self.img = Image.new("RGB", size, bg)
        self.draw = ImageDraw.Draw(self.img)
        self.boxes: dict[str, tuple[int, int, int, int]] = {}

    def text(self, xy: tuple[int, int], text: str, size: int = 16, fill: tuple[int, int, int] = (25, 25, 25)) -> None:
        self.draw.text(xy, text, font=font(size), fill=fill)
        self.boxes[text] = self.draw.textbbox(xy, text, font=font(size))


def chat_screenshot() -> Image.Image:
    """Phone-style support chat: status bar, contact header, greeting, the customer's bubble."""
    s = Screen()
    s.text((14, 6), "9:41", 13)
    s.text((745, 6), "87%", 13)
    s.draw.rectangle((0, 26, 800, 74), fill=(18, 140, 126))
    s.text((64, 32), "Acme Bank", 18, fill=(255, 255, 255))
    s.text((64, 54), "online", 12, fill=(230, 230, 230))
    s.text((372, 92), "Today", 13, fill=(90, 90, 90))
    s.draw.rounded_rectangle((16, 122, 340, 156), 10, fill=(236, 236, 236))
    s.text((28, 130), "Hi! How can we help you today?", 16)
    y = 186
    s.draw.rounded_rectangle((372, y - 8, 784, y + 76), 10, fill=(220, 248, 198))
    for line in textwrap.wrap("I lost my card on the train this morning and I need to block it right now.", 40):
        s.text((384, y), line, 16)
        y += 24
    s.text((726, y + 2), "10:42", 12, fill=(110, 110, 110))
    s.draw.rectangle((0, 550, 800, 600), fill=(240, 240, 240))
    s.text((24, 566), "Type a message", 15, fill=(140, 140, 140))
    s.text((736, 566), "Send", 15, fill=(18, 140, 126))
    return s.img


def email_screenshot() -> Image.Image:
    """Desktop mail client: toolbar, headers with addresses and date, body, sign-off, footer."""
    s = Screen()
    s.draw.rectangle((0, 0, 800, 34), fill=(243, 243, 243))
    for x, label in ((14, "Inbox"), (104, "Reply"), (186, "Forward"), (288, "Delete")):
        s.text((x, 9), label, 14)
    s.text((20, 52), "Subject: Card payment declined", 19)
    s.text((20, 88), "From: Jane Doe <jane.doe@example.com>", 15)
    s.text((20, 111), "To: support@acmebank.com", 15)
    s.text((20, 134), "Date: Tue, 12 Mar 2024 10:42", 15)
    s.text((20, 180), "Hello,", 16)
    y = 214
    body = "My card was declined at the pharmacy today although my balance is fine. Please check what is wrong."
    for line in textwrap.wrap(body, 62):
        s.text((20, y), line, 16)
        y += 24
    s.text((20, y + 20), "Best regards,", 16)
    s.text((20, y + 44), "Jane", 16)
    s.text((20, y + 80), "Sent from my iPhone", 13, fill=(120, 120, 120))
    return s.img


def wide_dialog() -> tuple[Image.Image, Screen]:
    """An error dialog in a 2400 px wide screenshot: read after downscaling, boxes in input pixels."""
    s = Screen((2400, 900), bg=(205, 210, 220))
    s.draw.rectangle((700, 250, 1700, 650), fill=(250, 250, 250))
    s.text((740, 300), "Transfer failed", 44)
    s.text((740, 400), "The beneficiary account is blocked.", 34)
    s.text((1480, 560), "OK", 34)
    return s.img, s


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine() -> OcrEngine:
    """One engine for the end-to-end tests (loading costs about a second)."""
    return OcrEngine.load(threads=1)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Any connection attempt or rapidocr download fails the test (and is recorded)."""
    attempts: list[str] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(repr(args[:2]))
        raise AssertionError(f"network access attempted: {args[:2]!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    from rapidocr.utils.download_file import DownloadFile

    monkeypatch.setattr(DownloadFile, "run", classmethod(refuse))
    yield attempts


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir()}


# --- models and configuration ------------------------------------------------------------------


def test_config_uses_only_bundled_files() -> None:
    """Detector and recogniser paths point into rapidocr's own models folder; no classifier."""
    folder = ocr.bundled_models_dir()
    params = ocr.rapidocr_params(threads=1)
    assert Path(params["Det.model_path"]) == folder / "PP-OCRv6_det_small.onnx"
    assert Path(params["Rec.model_path"]) == folder / "PP-OCRv6_rec_small.onnx"
    assert Path(params["Det.model_path"]).is_file() and Path(params["Rec.model_path"]).is_file()
    assert params["Global.use_cls"] is False
    assert params["EngineConfig.onnxruntime.intra_op_num_threads"] == 1
    assert ocr.rapidocr_params(threads=0)["EngineConfig.onnxruntime.intra_op_num_threads"] == -1


def test_missing_bundled_model_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A models folder without the files raises MediaModelMissing naming the file and the fix."""
    monkeypatch.setattr(ocr, "bundled_models_dir", lambda: tmp_path)
    with pytest.raises(MediaModelMissing, match="PP-OCRv6_det_small.onnx.*reinstall") as info:
        OcrEngine.load(threads=1)
    assert info.value.code == "media_model_missing"
    assert list(tmp_path.iterdir()) == []  # and nothing was downloaded into it


def test_load_and_read_never_touch_the_network(no_network: list[str]) -> None:
    """A fresh load and a read make no connection and add no file to rapidocr's models folder."""
    folder = ocr.bundled_models_dir()
    before = snapshot(folder)
    engine = OcrEngine.load(threads=1)
    img, screen = wide_dialog()
    result = engine.read(img)
    assert no_network == []
    assert snapshot(folder) == before
    assert engine.provider == "CPUExecutionProvider"
    assert "Transfer failed" in result.text
    (line,) = [line for line in result.lines if "Transfer failed" in line.text]
    drawn = screen.boxes["Transfer failed"]
    assert line.box[0] == pytest.approx(drawn[0], abs=25) and line.box[1] == pytest.approx(drawn[1], abs=25)
    assert line.box[2] == pytest.approx(drawn[2], abs=25) and line.box[3] == pytest.approx(drawn[3], abs=25)


def test_worker_side_never_imports_torch() -> None:
    """Importing both modules and loading the engine leaves torch out of the process."""
    code = (
        "import sys\n"
        "from worker.pipeline.images import decode_image\n"
        "from worker.pipeline.ocr import OcrEngine\n"
        "OcrEngine.load(threads=1)\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


# --- end to end --------------------------------------------------------------------------------


def test_chat_screenshot_end_to_end(engine: OcrEngine) -> None:
    """A chat screenshot gives the customer's words, without clock, battery, greeting or buttons."""
    result = engine.read(chat_screenshot())
    assert isinstance(result, OcrResult) and result.ms > 0
    assert "lost my card" in result.text and "9:41" in result.text  # OCR reads everything...
    message = result.message.lower()
    for words in ("lost my card", "train", "block it right now"):
        assert words in message
    for chrome in ("9:41", "87%", "acme", "online", "today", "how can we help", "10:42", "type a message", "send"):
        assert chrome not in message, chrome  # ...the message keeps only the customer's


def test_email_screenshot_end_to_end(engine: OcrEngine) -> None:
    """An e-mail screenshot keeps the subject's value and the body; headers and footer go."""
    result = engine.read(email_screenshot())
    tops = [line.box[1] for line in result.lines]
    assert all(b >= a - 5 for a, b in zip(tops, tops[1:]))  # reading order: top to bottom
    message = result.message
    assert message.startswith("Card payment declined")
    for words in ("declined at the pharmacy", "balance is fine", "check what is wrong"):
        assert words in message
    for chrome in ("Subject", "From", "jane.doe@", "support@", "Mar 2024", "Inbox", "Reply", "Forward",
                   "Delete", "Hello", "Best regards", "Jane", "iPhone"):
        assert chrome not in message, chrome


# --- reading order and the filter on hand-made lines -------------------------------------------


def line(text: str, x0: float, y0: float, x1: float | None = None, y1: float | None = None, score: float = 0.95) -> OcrLine:
    """An OCR line at (x0, y0), 8 px per character wide and 18 px high unless given."""
    return OcrLine(text, score, (x0, y0, x1 if x1 is not None else x0 + 8 * len(text), y1 if y1 is not None else y0 + 18))


def test_reading_order_rows_then_left_to_right() -> None:
    """Boxes on one row are read left to right even when the right one sits slightly higher."""
    lines = [line("second", 300, 10), line("third", 20, 60), line("first", 20, 13)]
    assert [item.text for item in reading_order(lines)] == ["first", "second", "third"]


def test_filter_chat_layout() -> None:
    """Chat chrome (status bar, contact, receipts, agent bubbles, input bar) is dropped."""
    lines = [
        line("10:42", 12, 4), line("LTE", 660, 4), line("87%", 720, 4),
        line("<", 10, 40), line("Acme Bank Support", 60, 36), line("Active now", 60, 58),
        line("Yesterday", 360, 100),
        line("Hi! How can we", 24, 130), line("help you today?", 24, 152),
        line("My transfer to my landlord still has not", 400, 200),
        line("arrived after three days, where is my", 400, 222),
        line("money?", 400, 244), line("11:02", 720, 266), line("Read", 760, 266),
        line("Anna joined the chat", 300, 300),
        line("Sorry to hear that, let me check that for you.", 24, 330),
        line("Write a reply...", 24, 570), line("Send", 740, 570),
    ]
    assert message_text(lines, image_size=(800, 600)) == (
        "My transfer to my landlord still has not arrived after three days, where is my money?"
    )


def test_filter_email_layout() -> None:
    """Mail chrome goes; the Subject's value stays (label in its own box here); the quote is cut."""
    lines = [
        line("https://mail.example.com/mail/u/0/#inbox", 120, 4),
        line("Inbox (3) - jane@example.com - Gmail", 20, 30),
        line("Subject:", 20, 70), line("Re: Fwd: Charged twice for one purchase", 110, 70),
        line("Jane Doe <jane@example.com>", 20, 100), line("Mon 4 Mar, 09:15 (2 days ago)", 520, 100),
        line("to me", 20, 122),
        line("Dear Support Team,", 20, 160),
        line("I was charged twice for my groceries. Please refund the dup-", 20, 190),
        line("licate payment to jane@example.com's account ending 1234.", 20, 212),
        line("Kind regards,", 20, 250), line("Jane Doe", 20, 272), line("Sent from my iPhone", 20, 300),
        line("On Fri, 1 Mar 2024 at 10:00, Acme Support <help@acme.com> wrote:", 20, 340),
        line("> Thank you for contacting us.", 20, 362),
        line("Reply", 20, 420), line("Forward", 120, 420),
    ]
    assert message_text(lines) == (
        "Charged twice for one purchase I was charged twice for my groceries. Please refund the "
        "duplicate payment to jane@example.com's account ending 1234."
    )


def test_filter_error_dialog_layout() -> None:
    """A dialog keeps its title and text; the app name, the buttons and the help URL go."""
    lines = [
        line("Mobile Banking", 160, 150),
        line("Payment declined", 180, 200),
        line("Your card payment of 42.50 EUR could not be", 180, 240),
        line("completed. Error code 4012.", 180, 262),
        line("www.acmebank.com/help", 180, 300),
        line("Details", 330, 380), line("Cancel", 430, 380), line("OK", 540, 380),
    ]
    assert message_text(lines, image_size=(800, 600)) == (
        "Payment declined Your card payment of 42.50 EUR could not be completed. Error code 4012."
    )


def test_lone_title_is_kept_when_it_is_all_there_is() -> None:
    """A dialog that only says "Payment Failed" keeps it: titles go only beside a real message."""
    lines = [line("Payment Failed", 180, 200), line("OK", 300, 260)]
    assert message_text(lines) == "Payment Failed"
    assert message_text([*lines, line("My card keeps being refused at every shop.", 180, 230)]) == (
        "My card keeps being refused at every shop."
    )


def test_low_scores_and_wrapped_meta_words() -> None:
    """Lines under 0.5 go; a wrapped line of date words ("on Monday.") continuing a sentence stays."""
    lines = [
        line("I was charged twice at the supermarket", 20, 100),
        line("on Monday.", 20, 122),
        line("xq7 #@!k", 20, 160, score=0.31),
        line("Monday", 20, 200),
    ]
    assert message_text(lines) == "I was charged twice at the supermarket on Monday."


def test_hyphenated_line_break_is_joined() -> None:
    """"trans-" + "fer" becomes "transfer"; a hyphen before a capital stays a hyphen."""
    lines = [line("my trans-", 20, 100), line("fer is stuck, see E-", 20, 122), line("Statement", 20, 144)]
    assert message_text(lines) == "my transfer is stuck, see E- Statement"


def test_top_and_bottom_bars_need_the_image_size() -> None:
    """A short label in the top bar is dropped only when the image size says it is in the bar."""
    lines = [line("Acme Wallet v2", 20, 10), line("my top up by card failed twice", 20, 300)]
    assert message_text(lines) == "Acme Wallet v2 my top up by card failed twice"
    assert message_text(lines, image_size=(800, 600)) == "my top up by card failed twice"


def test_empty_input_gives_empty_message() -> None:
    """No lines (a blank screenshot) give an empty message, not an error."""
    assert message_text([]) == ""
    assert message_text([line("OK", 10, 10), line("12:30", 10, 40)]) == ""
