"""The whole corpus converts without a crash: every message gives a ticket or a named reason."""

from __future__ import annotations

import re
from pathlib import Path

from producers.conversion import Converted
from producers.email import convert_paths
from worker.blobs import BlobStore
from worker.settings import Settings

# What each corpus item must give: "ticket", or the reason's code ("skipped:<code>", "error:<code>").
EXPECTED = {
    "01_alternative_plain_preferred.eml": "ticket",
    "02_html_only.eml": "ticket",
    "03_gb2312.eml": "ticket",
    "04_koi8r.eml": "ticket",
    "05_windows1251_html.eml": "ticket",
    "06_shift_jis.eml": "ticket",
    "07_iso2022jp.eml": "ticket",
    "08_latin1_label_utf8_bytes.eml": "ticket",
    "09_utf8_label_cp1251_bytes.eml": "ticket",
    "10_unknown_charset.eml": "ticket",
    "11_missing_boundary.eml": "ticket",
    "12_unclosed_boundary_truncated.eml": "ticket",
    "13_bad_base64_and_qp.eml": "ticket",
    "14_forwarded_rfc822.eml": "ticket",
    "15_bounce_dsn.eml": "skipped:bounce",
    "16_bounce_qmail_text.eml": "skipped:bounce",
    "17_auto_submitted.eml": "skipped:auto_reply",
    "18_out_of_office_de.eml": "skipped:out_of_office",
    "19_out_of_office_en.eml": "skipped:out_of_office",
    "20_x_autorespond.eml": "skipped:auto_reply",
    "21_attachments_png_wav_pdf.eml": "ticket",
    "22_huge_attachment.eml": "ticket",
    "23_no_message_id_no_date.eml": "ticket",
    "24_encoded_words_and_raw_utf8.eml": "ticket",
    "25_read_receipt_mdn.eml": "skipped:read_receipt",
    "26_outlook_related_screenshot.eml": "ticket",
    "27_empty.eml": "skipped:empty",
    "28_not_an_email.eml": "error:not_an_email",
    "29_long_body.eml": "ticket",
    "30_mixed_inside_alternative.eml": "ticket",
    "31_base64_rfc822_forward.eml": "ticket",
    "32_format_flowed.eml": "ticket",
    "33_octet_stream_screenshot.eml": "ticket",
    "34_too_many_attachments.eml": "ticket",
    "35_reply_in_thread.eml": "ticket",
    "mailbox.mbox#1": "ticket",
    "mailbox.mbox#2": "skipped:bounce",
    "mailbox.mbox#3": "ticket",
    "maildir/new/1738663200.M1P1.host": "ticket",
    "maildir/cur/1738663100.M2P2.host:2,S": "ticket",
}
_CODE = re.compile(r"^[a-z_]+: \S")


def _outcome(item: Converted) -> str:
    if item.ticket is not None:
        return "ticket"
    reason = item.skipped or item.error or ""
    assert _CODE.match(reason), f"{item.source}: reason {reason!r} is not 'code: detail'"
    return f"{'skipped' if item.skipped else 'error'}:{reason.split(':', 1)[0]}"


def test_every_corpus_message_gives_a_ticket_or_a_named_reason(corpus: Path, settings: Settings, store: BlobStore) -> None:
    """Converting the whole corpus folder yields exactly the expected ticket or reason per message."""
    results = list(convert_paths([corpus], settings=settings, blobs=store))
    got = {str(Path(item.source).relative_to(corpus)) if "#" not in item.source
           else Path(item.source).name: _outcome(item) for item in results}
    assert got == EXPECTED


def test_every_corpus_ticket_respects_the_contract_limits(corpus: Path, settings: Settings, store: BlobStore) -> None:
    """No ticket from the corpus exceeds a limit, holds a raw address as an id, or lacks a thread id."""
    limits = settings.limits()
    for item in convert_paths([corpus], settings=settings, blobs=store):
        if item.ticket is None:
            continue
        ticket = item.ticket
        assert len(ticket.body) <= limits.max_body_chars and len(ticket.subject) <= limits.max_subject_chars
        assert len(ticket.attachments) <= limits.max_attachments
        assert "@" not in ticket.customer_id and ticket.customer_id.startswith("email-")
        assert ticket.ticket_id.startswith("email-") and ticket.metadata["thread_id"].startswith("email-")
        assert "\x00" not in ticket.body and "\r" not in ticket.subject and "\n" not in ticket.subject
        for attachment in ticket.attachments:
            assert store.resolve(attachment.uri).stat().st_size == attachment.size_bytes


def test_each_corpus_file_converts_on_its_own_too(corpus: Path, settings: Settings, store: BlobStore) -> None:
    """A file named on the command line gives the same outcome as when found in its folder."""
    for name, expected in EXPECTED.items():
        if "#" in name or "/" in name:
            continue
        (item,) = convert_paths([corpus / name], settings=settings, blobs=store)
        assert _outcome(item) == expected, name
