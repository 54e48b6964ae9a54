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

from worker.errors import MediaModelMissing
from worker.media.screenshots import ocr
from worker.media.screenshots.message import message_text
from worker.media.screenshots.ocr import OcrEngine, OcrLine, OcrResult, reading_order

REPO = Path(__file__).resolve().parents[4]
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
        "from worker.media.images import decode_image\n"
        "from worker.media.screenshots.ocr import OcrEngine\n"
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


# --- layouts the line rules alone miss: dialogs over apps, lists, headers, wrapped stock text ---


def test_dialog_over_a_banking_app_keeps_only_the_customers_note() -> None:
    """Amounts, their labels, the dialog's stock title and text, its code and buttons all go."""
    lines = [
        line("Orbit Pay", 10, 12), line("Available balance", 28, 88), line("£2,034.55", 28, 112, y1=140),
        line("Coffee House", 55, 215), line("-£20.87", 940, 215),
        line("We hit a problem", 280, 205), line("Pharmacy", 55, 268), line("-£75.92", 940, 268),
        line("Please try again or contact support.", 280, 245), line("(code 554)", 280, 290),
        line("Transfer from Sam", 55, 322), line("-£175.93", 940, 322),
        line("Cancel", 365, 335), line("Retry", 596, 335),
        line("Gym Club", 55, 430), line("how do I get my card to show in the", 288, 430), line("-£166.96", 940, 430),
        line("app?", 288, 452), line("Fuel Stop", 55, 485), line("-£109.69", 940, 485),
    ]
    assert message_text(lines, image_size=(1020, 650)) == "how do I get my card to show in the app?"


def test_stock_dialog_text_wrapped_and_centred_is_dropped_whole() -> None:
    """"An unexpected error occurred. Please try" / "again later." is stock even when split."""
    lines = [
        line("Request failed", 280, 550, 520, 590),
        line("An unexpected error occurred. Please try", 120, 612, 680, 650),
        line("again later.", 322, 654, 482, 692),
        line("Error code: E4036", 290, 720, 510, 756), line("Ref: 94B6-F654", 300, 760, 500, 790),
        line("Try again", 480, 830),
        line("How do I get my card out of", 136, 1020, 618, 1070), line("the ATM?", 137, 1080, 305, 1130),
    ]
    assert message_text(lines, image_size=(800, 1600)) == "How do I get my card out of the ATM?"


def test_dialog_text_that_shares_a_row_with_a_list_amount_stays() -> None:
    """A short customer text in a dialog is no list label, though a list's amount is on its row."""
    lines = [
        line("Book Nook", 54, 211), line("-$239.09", 1030, 211),
        line("Grocery Mart", 56, 319), line("Lost password", 294, 317), line("-$241.82", 1030, 319),
        line("Online Store", 56, 373), line("-$11.76", 1040, 373), line("Ref: B4C2-6653", 296, 343),
    ]
    assert message_text(lines, image_size=(1113, 663)) == "Lost password"


def test_amount_and_code_lines_go_but_a_sentence_with_a_code_stays() -> None:
    """Lines of figures and codes are chrome; a number inside a sentence, or wrapped, is not."""
    lines = [
        line("11", 800, 60), line("1.05", 790, 90), line("Error NET-417", 100, 120), line("B3", 400, 150),
        line("My card ending 4012 was charged £42.50 twice and", 20, 200),
        line("£42.50", 20, 222),
    ]
    assert message_text(lines, image_size=(900, 700)) == (
        "My card ending 4012 was charged £42.50 twice and £42.50"
    )


def test_chat_names_glued_to_clocks_and_wrapped_agent_greetings_go() -> None:
    """"Chen·9:17 AM", "14:33·Delivered", "last seen today" and a greeting split over lines go."""
    lines = [
        line("last seen today", 150, 160), line("Hi, thanks for reaching out! What can we", 50, 1370, 718, 1420),
        line("help with?", 49, 1421, 234, 1470), line("Chen·9:17 AM", 24, 1490),
        line("I keep checking my statements but no", 240, 1530, 880, 1580),
        line("progress.", 240, 1585, 400, 1630),
        line("Can you please help me get the money back", 250, 1680, 890, 1730),
        line("from the seller?", 250, 1735, 600, 1780), line("14:33·Delivered", 700, 1800),
        line("Good afternoon! How can I", 44, 1840, 458, 1880), line("help you today?", 43, 1885, 295, 1925),
    ]
    assert message_text(lines, image_size=(930, 2000)) == (
        "I keep checking my statements but no progress. "
        "Can you please help me get the money back from the seller?"
    )


def test_phone_header_above_an_empty_band_is_dropped() -> None:
    """Short labels over the first wide gap ("Kite Card", "Business account") are the header."""
    lines = [
        line("17:18", 44, 23, 154, 63), line("Kite Card", 156, 102, 349, 146),
        line("Business account", 156, 151, 382, 188), line("Yesterday", 326, 770, 454, 815),
        line("Do you take checks?", 431, 1406, 803, 1464), line("Delivered", 634, 1500, 756, 1540),
    ]
    assert message_text(lines, image_size=(780, 1554)) == "Do you take checks?"


def test_short_message_at_the_top_is_no_header() -> None:
    """The header rule stops when a sentence sits above the band: a short mail stays whole."""
    lines = [line("My card was stolen today", 20, 40), line("Reply", 20, 1500)]
    assert message_text(lines, image_size=(800, 1600)) == "My card was stolen today"


def test_mail_list_and_folders_beside_the_body_go() -> None:
    """A column of other mails and folders wholly left of the body is dropped; the body stays."""
    lines = [
        line("Inbox", 17, 147), line("Mum", 6, 160), line("Dinner on Sunday?", 6, 182),
        line("Shop", 7, 215), line("Your order has shipped", 7, 237),
        line("Photos", 9, 270), line("New memories for you", 6, 292),
        line("Calendar", 8, 325), line("Meeting moved to 3pm", 8, 347),
        line("Hi team,", 333, 210),
        line("I thought I knew my password but I guess I was wrong,", 336, 263),
        line("what can I do now?", 336, 285),
        line("Many thanks,", 333, 330), line("Alex", 333, 352),
    ]
    assert message_text(lines, image_size=(963, 640)) == (
        "I thought I knew my password but I guess I was wrong, what can I do now?"
    )


def test_email_body_of_several_paragraphs_is_kept_whole() -> None:
    """Paragraphs apart from each other all stay, in order, under a modern mail header."""
    lines = [
        line("Re: my account", 335, 106), line("Grace Garcia <grace@example.com>", 385, 135),
        line("to support@acmebank.com", 383, 159), line("17:53", 904, 133),
        line("I paid my rent by transfer on Monday and the money left", 332, 220),
        line("my account the same day.", 332, 242),
        line("The landlord says nothing has arrived yet.", 332, 300),
        line("Can you tell me where the transfer is?", 332, 360),
        line("Kind regards,", 332, 420), line("Grace", 332, 442),
    ]
    assert message_text(lines, image_size=(973, 840)) == (
        "I paid my rent by transfer on Monday and the money left my account the same day. "
        "The landlord says nothing has arrived yet. Can you tell me where the transfer is?"
    )


def test_generic_subjects_go_and_informative_ones_stay() -> None:
    """"Subject: Help" or "Re: Support request" say nothing; "Card declined abroad" does."""
    body = line("My card is declined in every shop in Spain.", 20, 200)
    assert message_text([line("Subject: Help", 20, 100), body]) == body.text
    assert message_text([line("Re: Support request", 20, 100), body]) == body.text
    assert message_text([line("Subject: Card declined abroad", 20, 100), body]) == (
        f"Card declined abroad {body.text}"
    )
    assert message_text([line("(no subject)", 20, 100), line("to Support", 20, 122), body]) == body.text


def test_letter_salutations_and_closings() -> None:
    """"To whom it may concern," "For the bank:" and "Yours faithfully," with the name go."""
    lines = [
        line("4 June 2024", 700, 60), line("To whom it may concern,", 20, 120),
        line("For the bank:", 20, 150), line("What do I do to close my account?", 20, 190),
        line("Yours faithfully,", 20, 240), line("Omar Johnson", 20, 270),
    ]
    assert message_text(lines) == "What do I do to close my account?"


def test_tilted_photo_lines_keep_their_order() -> None:
    """Tall overlapping boxes of successive lines stay in order; a line cut in two reads left first."""
    lines = [
        line("I completed a transfer the day before yesterday", 266, 272, 972, 321),
        line("and it is still not complete. Can you check", 264, 292, 955, 340),
        line("The ATM ate my", 379, 380, 570, 417), line("card; how do I get a", 564, 368, 833, 409),
        line("new one?", 377, 411, 492, 448),
    ]
    assert message_text(lines) == (
        "I completed a transfer the day before yesterday and it is still not complete. Can you check "
        "The ATM ate my card; how do I get a new one?"
    )


def test_customer_phrases_like_agent_ones_stay() -> None:
    """"What can I do" and a closing "How can I" are the customer's own questions."""
    lines = [line("I just got my new card. How can I", 20, 100), line("activate it?", 20, 122),
             line("If my card expires what can I do?", 20, 170)]
    assert message_text(lines) == "I just got my new card. How can I activate it? If my card expires what can I do?"


def test_stamps_read_into_a_bubble_line_are_stripped() -> None:
    """"Omar·20:07 Do you take checks? 20:09" keeps the question; "at 10:42" in a sentence stays."""
    lines = [line("Omar·20:07 Do you take checks? 20:09 ✓✓", 400, 100),
             line("I was at the ATM at 10:42", 400, 200), line("14:33·Delivered", 600, 230)]
    assert message_text(lines) == "Do you take checks? I was at the ATM at 10:42"


def test_stock_text_with_words_glued_by_ocr_is_still_stock() -> None:
    """OCR may drop a space ("could notbe"); the stock sentence still goes, the note stays."""
    lines = [line("This action could notbe completed.", 100, 100),
             line("The exchange rate was wrong when I was abroad.", 100, 300)]
    assert message_text(lines, image_size=(900, 600)) == "The exchange rate was wrong when I was abroad."


def test_a_line_cut_in_two_boxes_is_no_title() -> None:
    """"Where can I locate my" + "PIN" on one row is one line: "PIN" is no title to drop."""
    lines = [line("Where can I locate my", 317, 315, 539, 339), line("PIN", 536, 316, 579, 338),
             line("at?", 318, 340, 358, 363)]
    assert message_text(lines, image_size=(903, 490)) == "Where can I locate my PIN at?"
