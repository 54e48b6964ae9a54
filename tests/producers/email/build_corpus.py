"""Writes the e-mail corpus under ``corpus/`` (run once; the files are committed, this says how).

Every message is written here by hand, byte for byte where the point is a broken or legacy
encoding, so the corpus holds no one's real mail. ``python tests/producers/email/build_corpus.py``
rewrites it; the tests read the committed files and never run this.
"""

from __future__ import annotations

import base64
import io
import math
import quopri
import random
import shutil
import struct
import wave
import zlib
from pathlib import Path

CORPUS = Path(__file__).resolve().parent / "corpus"
RNG = random.Random(11)


def png(width: int = 48, height: int = 32, seed: int = 0) -> bytes:
    """A small valid PNG with noisy pixels (so it is larger than a tracking pixel)."""
    rng = random.Random(seed)
    rows = b"".join(b"\x00" + bytes(rng.randrange(256) for _ in range(width * 3)) for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def wav(seconds: float = 0.25, rate: int = 8000) -> bytes:
    """A short mono sine tone."""
    out = io.BytesIO()
    with wave.open(out, "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        frames = (int(8000 * math.sin(2 * math.pi * 440 * i / rate)) for i in range(int(seconds * rate)))
        handle.writeframes(b"".join(struct.pack("<h", value) for value in frames))
    return out.getvalue()


PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)
GIF_PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def b64(data: bytes) -> str:
    return base64.encodebytes(data).decode("ascii")


def qp(text: str, charset: str) -> str:
    return quopri.encodestring(text.encode(charset)).decode("ascii")


def word(text: str, charset: str) -> str:
    """An RFC 2047 B-encoded word."""
    return f"=?{charset}?B?{base64.b64encode(text.encode(charset)).decode('ascii')}?="


def head(n: int, subject: str, *, sender: str = "Ada Lovelace <ada@example.com>", extra: str = "") -> str:
    return (
        f"From: {sender}\nTo: support@bank.example\nSubject: {subject}\n"
        f"Date: Tue, 4 Feb 2025 10:{n:02d}:00 +0100\nMessage-ID: <corpus-{n:02d}@mail.example.com>\n"
        f"MIME-Version: 1.0\n{extra}"
    )


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("ascii")


def messages() -> dict[str, bytes]:
    m: dict[str, bytes] = {}
    m["01_alternative_plain_preferred.eml"] = crlf(head(1, "Card not arrived", extra='Content-Type: multipart/alternative; boundary="alt1"\n') + """
--alt1
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 7bit

Hello, I ordered a new card two weeks ago and it has not arrived yet.
PLAIN-VERSION
--alt1
Content-Type: text/html; charset=utf-8

<html><body><p>Hello, I ordered a new card two weeks ago and it has not arrived yet.</p><p>HTML-VERSION</p></body></html>
--alt1--
""")
    html = ("<html><head><style>p {color: red}</style><script>var x = 1;</script></head><body>"
            "<p>My transfer of &pound;250 failed twice.</p><table><tr><td>Date</td><td>3 Feb</td></tr></table>"
            "<ul><li>first try</li><li>second try</li></ul></body></html>")
    m["02_html_only.eml"] = (head(2, "Transfer failed", extra="Content-Type: text/html; charset=utf-8\n"
                                  "Content-Transfer-Encoding: quoted-printable\n") + "\n" + qp(html, "utf-8")).encode()
    zh = "你好，我的银行卡还没有收到，已经两个星期了。请帮我查一下。"
    m["03_gb2312.eml"] = (head(3, word("银行卡没有收到", "gb2312"), extra="Content-Type: text/plain; charset=gb2312\n"
                                 "Content-Transfer-Encoding: base64\n") + "\n" + b64(zh.encode("gb2312"))).encode()
    ru = "Здравствуйте! Моя карта не пришла уже две недели. Пожалуйста, помогите."
    m["04_koi8r.eml"] = (head(4, word("Карта не пришла", "koi8-r"), extra="Content-Type: text/plain; charset=koi8-r\n"
                                "Content-Transfer-Encoding: 8bit\n") + "\n").encode() + ru.encode("koi8-r") + b"\n"
    ru_html = "<p>Добрый день. Мой перевод не дошёл до получателя.</p>"
    m["05_windows1251_html.eml"] = (head(5, "=?windows-1251?Q?=CF=E5=F0=E5=E2=EE=E4?=",
                                         extra="Content-Type: text/html; charset=windows-1251\n"
                                         "Content-Transfer-Encoding: quoted-printable\n") + "\n" + qp(ru_html, "cp1251")).encode()
    ja = "こんにちは。カードがまだ届いていません。①番の住所に送ってください。"
    m["06_shift_jis.eml"] = (head(6, word("カードが届かない", "shift_jis"), extra="Content-Type: text/plain; charset=Shift_JIS\n"
                                    "Content-Transfer-Encoding: base64\n") + "\n" + b64(ja.encode("cp932"))).encode()
    ja2 = "お世話になっております。振込がまだ反映されていません。"
    m["07_iso2022jp.eml"] = (head(7, word("振込について", "iso-2022-jp"), extra="Content-Type: text/plain; charset=ISO-2022-JP\n"
                                    "Content-Transfer-Encoding: 7bit\n") + "\n").encode() + ja2.encode("iso2022_jp") + b"\n"
    fr = "Bonjour, ma carte a été débitée deux fois pour le même achat à Zürich."
    m["08_latin1_label_utf8_bytes.eml"] = (head(8, "Double débit", extra="Content-Type: text/plain; charset=iso-8859-1\n"
                                                "Content-Transfer-Encoding: 8bit\n") + "\n").encode() + fr.encode("utf-8") + b"\n"
    ru2 = ("Здравствуйте, моя карта не пришла уже две недели. Пожалуйста, помогите мне разобраться "
           "с этой проблемой как можно скорее, потому что мне нужно оплатить счета.")
    m["09_utf8_label_cp1251_bytes.eml"] = (head(9, "Card", extra="Content-Type: text/plain; charset=utf-8\n"
                                                "Content-Transfer-Encoding: 8bit\n") + "\n").encode() + ru2.encode("cp1251") + b"\n"
    m["10_unknown_charset.eml"] = (head(10, "=?x-unknown?Q?Probl=E8me_de_carte?=", extra="Content-Type: text/plain; charset=x-unknown\n"
                                        "Content-Transfer-Encoding: 8bit\n") + "\n").encode() + fr.encode("cp1252") + b"\n"
    m["11_missing_boundary.eml"] = (head(11, "Missing boundary", extra="Content-Type: multipart/mixed\n") + """
--frontier
Content-Type: text/plain

The boundary parameter is missing but the body is fine: refund please.
--frontier
Content-Type: application/pdf; name="statement.pdf"
Content-Disposition: attachment; filename="statement.pdf"
Content-Transfer-Encoding: base64

""" + b64(PDF) + "--frontier--\n").encode()
    m["12_unclosed_boundary_truncated.eml"] = (head(12, "Truncated", extra='Content-Type: multipart/mixed; boundary="cut"\n') + """
--cut
Content-Type: text/plain

My screenshot is attached but the upload was cut off.
--cut
Content-Type: image/png; name="screen.png"
Content-Disposition: attachment; filename="screen.png"
Content-Transfer-Encoding: base64

""" + b64(png(seed=12))[:3000]).encode()
    m["13_bad_base64_and_qp.eml"] = (head(13, "Bad encodings", extra='Content-Type: multipart/mixed; boundary="bad"\n') + """
--bad
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: base64

SGVsbG8sIG15IGFjY291bnQgaXMgYmxvY2tlZC4*** not base64 ***
--bad
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Soft break at the end =
of a line, a bad escape =ZZ and a good one =C3=A9.
--bad--
""").encode()
    inner = ("From: Bob Builder <bob@example.org>\nTo: ada@example.com\nSubject: Your statement\n"
             "Date: Mon, 3 Feb 2025 08:00:00 +0000\nMessage-ID: <inner-14@example.org>\nMIME-Version: 1.0\n"
             'Content-Type: multipart/mixed; boundary="in"\n\n--in\nContent-Type: multipart/alternative; boundary="inalt"\n\n'
             "--inalt\nContent-Type: text/plain\n\nThe charge of 99.00 EUR on 2 Feb was declined.\n--inalt\n"
             "Content-Type: text/html\n\n<p>The charge of 99.00 EUR on 2 Feb was <b>declined</b>.</p>\n--inalt--\n"
             '--in\nContent-Type: image/png; name="declined.png"\nContent-Disposition: attachment; filename="declined.png"\n'
             "Content-Transfer-Encoding: base64\n\n" + b64(png(seed=14)) + "--in--\n")
    m["14_forwarded_rfc822.eml"] = (head(14, "Fwd: Your statement", extra='Content-Type: multipart/mixed; boundary="out"\n') + """
--out
Content-Type: text/plain

Please see the forwarded message below, why was this declined?
--out
Content-Type: message/rfc822
Content-Disposition: inline

""" + inner + "--out--\n").encode()
    m["15_bounce_dsn.eml"] = ("""From: Mail Delivery Subsystem <mailer-daemon@mx.example.net>
To: support@bank.example
Subject: Delivery Status Notification (Failure)
Date: Tue, 4 Feb 2025 10:15:00 +0000
Message-ID: <dsn-15@mx.example.net>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="dsn"

--dsn
Content-Type: text/plain

Delivery to the following recipient failed permanently: nobody@example.org
--dsn
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; nobody@example.org
Action: failed
Status: 5.1.1
--dsn
Content-Type: text/rfc822-headers

From: support@bank.example
Subject: Your ticket
--dsn--
""").encode()
    m["16_bounce_qmail_text.eml"] = ("""From: bounces@relay.example.net
To: support@bank.example
Subject: failure notice
Date: Tue, 4 Feb 2025 10:16:00 +0000
Message-ID: <qmail-16@relay.example.net>

Hi. This is the qmail-send program at relay.example.net.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<gone@example.org>:
Sorry, no mailbox here by that name. (#5.1.1)

--- Below this line is a copy of the message.

Subject: Your ticket
""").encode()
    m["17_auto_submitted.eml"] = (head(17, "Re: Your ticket", extra="Auto-Submitted: auto-replied\nContent-Type: text/plain\n")
                                  + "\nThank you for your message. I will answer as soon as possible.\n").encode()
    m["18_out_of_office_de.eml"] = (head(18, "Abwesenheitsnotiz: Ihre Anfrage", extra="X-Auto-Response-Suppress: All\n"
                                         "Content-Type: text/plain; charset=utf-8\n")
                                    + "\nIch bin bis zum 10. Februar nicht im Büro.\n").encode()
    m["19_out_of_office_en.eml"] = (head(19, "Automatic reply: Card not arrived", extra="Content-Type: text/plain\n")
                                    + "\nI am out of the office until Monday.\n").encode()
    m["20_x_autorespond.eml"] = (head(20, "Thanks for writing", extra="X-Autorespond: yes\nContent-Type: text/plain\n")
                                 + "\nWe received your e-mail.\n").encode()
    m["21_attachments_png_wav_pdf.eml"] = (head(21, "Voicemail and screenshot", extra='Content-Type: multipart/mixed; boundary="att"\n') + f"""
--att
Content-Type: text/plain

I left a voicemail and took a screenshot of the error.
--att
Content-Type: image/png; name="error.png"
Content-Disposition: attachment; filename="error.png"
Content-Transfer-Encoding: base64

{b64(png(seed=21))}--att
Content-Type: audio/wav; name="voicemail.wav"
Content-Disposition: attachment; filename="voicemail.wav"
Content-Transfer-Encoding: base64

{b64(wav())}--att
Content-Type: application/pdf; name="letter.pdf"
Content-Disposition: attachment; filename="letter.pdf"
Content-Transfer-Encoding: base64

{b64(PDF)}--att
Content-Type: text/calendar; method=REQUEST
Content-Transfer-Encoding: 7bit

BEGIN:VCALENDAR
END:VCALENDAR
--att--
""").encode()
    big = b"\x89PNG\r\n\x1a\n" + bytes(RNG.randrange(256) for _ in range(150_000))
    m["22_huge_attachment.eml"] = (head(22, "Huge scan", extra='Content-Type: multipart/mixed; boundary="big"\n') + f"""
--big
Content-Type: text/plain

Here is a very large scan of my letter.
--big
Content-Type: image/png; name="scan.png"
Content-Disposition: attachment; filename="scan.png"
Content-Transfer-Encoding: base64

{b64(big)}--big--
""").encode()
    m["23_no_message_id_no_date.eml"] = b"From: carol@example.net\nSubject: Where is my refund?\n\nI returned the item a month ago.\n"
    m["24_encoded_words_and_raw_utf8.eml"] = (
        "From: Jörg Müller <joerg@example.de>\nTo: support@bank.example\n"
        "Subject: =?utf-8?B?S2FydGUgZ2VzcGVycnQ=?= =?iso-8859-1?Q?_f=FCr_M=FCnchen?= =?utf-8?Q?=0D=0ABcc:_evil@example.com?=\n"
        "Date: Tue, 4 Feb 2025 10:24:00 +0100\nMessage-ID: <corpus-24@mail.example.com>\nMIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
        "Meine Karte wurde in München gesperrt.\n"
    ).encode("utf-8")
    m["25_read_receipt_mdn.eml"] = (head(25, "Read: Your ticket", extra='Content-Type: multipart/report; report-type=disposition-notification; boundary="mdn"\n') + """
--mdn
Content-Type: text/plain

Your message was displayed.
--mdn
Content-Type: message/disposition-notification

Final-Recipient: rfc822; ada@example.com
Disposition: manual-action/MDN-sent-manually; displayed
--mdn--
""").encode()
    m["26_outlook_related_screenshot.eml"] = (head(26, "Error on login", extra='Content-Type: multipart/alternative; boundary="o1"\n') + f"""
--o1
Content-Type: text/plain; charset=us-ascii

The app shows this error when I log in: [cid:image001.png@01DB]
--o1
Content-Type: multipart/related; boundary="o2"; type="text/html"

--o2
Content-Type: text/html; charset=us-ascii

<p>The app shows this error when I log in: <img src="cid:image001.png@01DB"><img src="cid:pixel"></p>
--o2
Content-Type: image/png; name="image001.png"
Content-ID: <image001.png@01DB>
Content-Disposition: inline; filename="image001.png"
Content-Transfer-Encoding: base64

{b64(png(seed=26))}--o2
Content-Type: image/gif
Content-ID: <pixel>
Content-Transfer-Encoding: base64

{b64(GIF_PIXEL)}--o2--
--o1--
""").encode()
    m["27_empty.eml"] = b"From: dave@example.net\nTo: support@bank.example\nMessage-ID: <empty-27@example.net>\n\n\n"
    m["28_not_an_email.eml"] = bytes(RNG.randrange(256) for _ in range(600))
    m["29_long_body.eml"] = (head(29, "Long story", extra="Content-Type: text/plain\n") + "\n"
                             + " ".join(f"Sentence {i} of a long complaint about fees." for i in range(1200)) + "\n").encode()
    jpeg = b"\xff\xd8\xff\xe0" + bytes(RNG.randrange(256) for _ in range(600)) + b"\xff\xd9"
    m["30_mixed_inside_alternative.eml"] = (head(30, "Nested parts", extra='Content-Type: multipart/alternative; boundary="n1"\n') + f"""
--n1
Content-Type: multipart/mixed; boundary="n2"

--n2
Content-Type: text/plain

The plain branch holds text and a photo of the card reader.
--n2
Content-Type: image/jpeg; name="reader.jpg"
Content-Disposition: attachment; filename="reader.jpg"
Content-Transfer-Encoding: base64

{b64(jpeg)}--n2--
--n1
Content-Type: text/html

<p>The HTML branch holds text.</p>
--n1--
""").encode()
    inner31 = crlf("From: shop@example.org\nSubject: Order 5521\nDate: Mon, 3 Feb 2025 08:00:00 +0000\n\nOrder 5521 shipped.\n")
    m["31_base64_rfc822_forward.eml"] = (head(31, "Fwd: Order 5521", extra='Content-Type: multipart/mixed; boundary="f"\n') + f"""
--f
Content-Type: text/plain

The order never came, see attached.
--f
Content-Type: message/rfc822
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename="order.eml"

{b64(inner31)}--f--
""").encode()
    m["32_format_flowed.eml"] = (head(32, "Flowed text", extra="Content-Type: text/plain; charset=utf-8; format=flowed; delsp=yes\n")
                                 + "\nThis line is soft-wrap \nped by the client and should be one line.\n\nSecond paragraph.\n").encode()
    m["33_octet_stream_screenshot.eml"] = (head(33, "Screenshot", extra='Content-Type: multipart/mixed; boundary="oc"\n') + f"""
--oc
Content-Type: text/plain

Screenshot attached (my phone calls it a file).
--oc
Content-Type: application/octet-stream; name="IMG_2041"
Content-Disposition: attachment; filename="IMG_2041"
Content-Transfer-Encoding: base64

{b64(png(seed=33))}--oc--
""").encode()
    many = "".join(
        f"--mn\nContent-Type: image/png; name=\"shot{i}.png\"\nContent-Disposition: attachment; filename=\"shot{i}.png\"\n"
        f"Content-Transfer-Encoding: base64\n\n{b64(png(seed=100 + i))}"
        for i in range(12)
    )
    m["34_too_many_attachments.eml"] = (head(34, "Twelve screenshots", extra='Content-Type: multipart/mixed; boundary="mn"\n')
                                        + "\n--mn\nContent-Type: text/plain\n\nAll my screenshots.\n" + many + "--mn--\n").encode()
    m["35_reply_in_thread.eml"] = (head(35, "Re: Card not arrived", extra="In-Reply-To: <corpus-01@mail.example.com>\n"
                                        "References: <corpus-01@mail.example.com> <agent-reply@bank.example>\n"
                                        "Content-Type: text/plain\n") + "\nStill nothing, any news?\n").encode()
    return m


MBOX = b"""From ada@example.com Tue Feb  4 10:00:00 2025
From: Ada Lovelace <ada@example.com>
Subject: First in the mbox
Date: Tue, 4 Feb 2025 10:00:00 +0000
Message-ID: <mbox-1@example.com>

My card was charged twice.
>From the statement it looks like a duplicate.

From MAILER-DAEMON Tue Feb  4 10:05:00 2025
From: Mail Delivery System <MAILER-DAEMON@mx.example.net>
Subject: Undelivered Mail Returned to Sender
Date: Tue, 4 Feb 2025 10:05:00 +0000
Message-ID: <mbox-2@mx.example.net>

This is the mail system at host mx.example.net.

From bob@example.org Tue Feb  4 10:10:00 2025
From: bob@example.org
Subject: =?utf-8?q?Third_message_=E2=9C=93?=
Date: Tue, 4 Feb 2025 10:10:00 +0000
Message-ID: <mbox-3@example.org>

Please close my account.
"""


def maildir(root: Path) -> None:
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "new" / "1738663200.M1P1.host").write_bytes(
        b"From: erin@example.net\nSubject: New in Maildir\nMessage-ID: <md-1@example.net>\n\nMy PIN is locked.\n"
    )
    (root / "cur" / "1738663100.M2P2.host:2,S").write_bytes(
        b"From: frank@example.net\nSubject: Seen in Maildir\nMessage-ID: <md-2@example.net>\n\nThe app crashes.\n"
    )
    (root / "tmp" / "1738663300.M3P3.host").write_bytes(b"From: half@example.net\nSubject: still being deliv")


def main() -> None:
    if CORPUS.exists():
        shutil.rmtree(CORPUS)
    CORPUS.mkdir(parents=True)
    for name, data in messages().items():
        (CORPUS / name).write_bytes(data)
    (CORPUS / "mailbox.mbox").write_bytes(MBOX)
    maildir(CORPUS / "maildir")


if __name__ == "__main__":
    main()
