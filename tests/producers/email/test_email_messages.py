"""What one message becomes: text choice, charsets, attachments, ids, skips and limits."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from producers.conversion import Converted
from producers.email import convert_message
from worker.blobs import BlobStore
from worker.contract import AttachmentKind, Ticket
from worker.settings import Settings


def _convert(path: Path, settings: Settings, store: BlobStore) -> Converted:
    return convert_message(path.read_bytes(), source=path.name, settings=settings, blobs=store)


def _ticket(path: Path, settings: Settings, store: BlobStore) -> Ticket:
    item = _convert(path, settings, store)
    assert item.ticket is not None, item
    return item.ticket


def _stored_files(store: BlobStore) -> list[Path]:
    return [p for p in store.root.rglob("*") if p.is_file() and ".tmp" not in p.parts] if store.root.exists() else []


def _simple(headers: str, body: str = "Hello, my card is blocked.") -> bytes:
    return (headers.strip() + "\n\n" + body + "\n").encode("utf-8")


def test_plain_text_is_preferred_over_html(corpus: Path, settings: Settings, store: BlobStore) -> None:
    """In multipart/alternative the plain part is the body, not the HTML one."""
    ticket = _ticket(corpus / "01_alternative_plain_preferred.eml", settings, store)
    assert "PLAIN-VERSION" in ticket.body and "HTML-VERSION" not in ticket.body
    assert ticket.metadata["body_format"] == "text/plain"


def test_html_only_mail_becomes_text_without_markup(corpus: Path, settings: Settings, store: BlobStore) -> None:
    """An HTML-only body is converted to text: entities decoded, no tags, scripts or styles, rows kept."""
    ticket = _ticket(corpus / "02_html_only.eml", settings, store)
    assert "£250 failed twice" in ticket.body
    assert "<" not in ticket.body and "var x" not in ticket.body and "color" not in ticket.body
    assert "first try" in ticket.body and "second try" in ticket.body
    assert ticket.metadata["body_format"] == "text/html"


def test_trivial_plain_alternative_loses_to_rich_html(settings: Settings, store: BlobStore) -> None:
    """A placeholder plain part ("view this in HTML") does not hide the real HTML text."""
    raw = _simple(
        'From: a@example.com\nSubject: S\nMessage-ID: <t1@x>\nContent-Type: multipart/alternative; boundary="b"',
        "--b\nContent-Type: text/plain\n\nPlease view in HTML.\n--b\nContent-Type: text/html\n\n<p>"
        + "My transfer to the landlord was returned and I was charged a fee for it. " * 8
        + "</p>\n--b--",
    )
    ticket = convert_message(raw, source="t", settings=settings, blobs=store).ticket
    assert ticket is not None and "landlord" in ticket.body and ticket.metadata["body_format"] == "text/html"


@pytest.mark.parametrize(
    ("name", "subject", "phrase"),
    [
        ("03_gb2312.eml", "银行卡没有收到", "我的银行卡还没有收到"),
        ("04_koi8r.eml", "Карта не пришла", "Моя карта не пришла"),
        ("05_windows1251_html.eml", "Перевод", "Мой перевод не дошёл"),
        ("06_shift_jis.eml", "カードが届かない", "①番の住所"),
        ("07_iso2022jp.eml", "振込について", "振込がまだ反映されていません"),
        ("08_latin1_label_utf8_bytes.eml", "Double débit", "même achat à Zürich"),
        ("09_utf8_label_cp1251_bytes.eml", "Card", "моя карта не пришла"),
        ("10_unknown_charset.eml", "Problème de carte", "même achat à Zürich"),
        ("24_encoded_words_and_raw_utf8.eml", "Karte gesperrt für München", "in München gesperrt"),
    ],
)
def test_charsets_are_decoded_to_the_right_text(
    corpus: Path, settings: Settings, store: BlobStore, name: str, subject: str, phrase: str
) -> None:
    """Legacy, mislabelled and unknown charsets in body and subject decode to the words written."""
    ticket = _ticket(corpus / name, settings, store)
    assert ticket.subject.startswith(subject)
    assert phrase in ticket.body
    assert "\ufffd" not in ticket.body + ticket.subject


def test_a_mislabelled_charset_is_noted_in_metadata(corpus: Path, settings: Settings, store: BlobStore) -> None:
    """When the declared charset was wrong the metadata says which codec was used instead."""
    ticket = _ticket(corpus / "09_utf8_label_cp1251_bytes.eml", settings, store)
    assert any("cp1251" in note for note in ticket.metadata["parse_notes"])


def test_encoded_crlf_in_a_subject_cannot_inject_a_header(corpus: Path, settings: Settings, store: BlobStore) -> None:
    """An RFC 2047 word hiding CRLF + "Bcc:" decodes to one line of text."""
    ticket = _ticket(corpus / "24_encoded_words_and_raw_utf8.eml", settings, store)
    assert "\n" not in ticket.subject and "\r" not in ticket.subject
    assert ticket.metadata["display_name"] == "Jörg Müller"


def test_image_and_audio_are_stored_and_readable_by_uri(corpus: Path, settings: Settings, store: BlobStore) -> None:
    """The PNG and the WAV go to the blob store with their bytes intact; the PDF is listed, not stored."""
    path = corpus / "21_attachments_png_wav_pdf.eml"
    ticket = _ticket(path, settings, store)
    kinds = {attachment.kind: attachment for attachment in ticket.attachments}
    assert set(kinds) == {AttachmentKind.image, AttachmentKind.audio}
    image, audio = kinds[AttachmentKind.image], kinds[AttachmentKind.audio]
    assert (image.content_type, audio.content_type) == ("image/png", "audio/wav")
    png = store.resolve(image.uri).read_bytes()
    assert png.startswith(b"\x89PNG") and hashlib.sha256(png).hexdigest() == image.sha256 == image.uri[7:]
    assert store.resolve(audio.uri).read_bytes()[8:12] == b"WAVE"
    skipped = {entry["filename"] or entry["content_type"]: entry for entry in ticket.metadata["skipped_attachments"]}
    assert skipped["letter.pdf"]["reason"] == "unsupported_type"
    assert skipped["letter.pdf"]["content_type"] == "application/pdf" and skipped["letter.pdf"]["size_bytes"] > 0
    assert skipped["text/calendar"]["reason"] == "unsupported_type"
    assert sorted(p.name for p in _stored_files(store)) == sorted([image.sha256, audio.sha256])


def test_an_attachment_over_the_limit_is_skipped_not_the_message(corpus: Path, settings: Settings, store: BlobStore) -> None:
    """A 150 KB image under a 64 KiB limit is listed as too_large and the ticket still comes."""
    ticket = _ticket(corpus / "22_huge_attachment.eml", settings, store)
    assert ticket.attachments == []
    (entry,) = ticket.metadata["skipped_attachments"]
    assert entry["filename"] == "scan.png" and entry["reason"].startswith("too_large")
    assert _stored_files(store) == []


def test_attachments_beyond_the_count_limit_are_listed(corpus: Path, settings: Settings, store: BlobStore) -> None:
    """Twelve screenshots under a limit of ten: ten stored, two listed as too_many."""
    ticket = _ticket(corpus / "34_too_many_attachments.eml", settings, store)
    assert len(ticket.attachments) == settings.max_attachments == 10
    reasons = [entry["reason"] for entry in ticket.metadata["skipped_attachments"]]
    assert len(reasons) == 2 and all(reason.startswith("too_many") for reason in reasons)


def test_screenshot_in_outlook_html_branch_is_kept_and_pixel_dropped(corpus: Path, settings: Settings, store: BlobStore) -> None:
    """An inline image of the HTML alternative is stored though the plain text is read; a 1x1 GIF is not."""
    ticket = _ticket(corpus / "26_outlook_related_screenshot.eml", settings, store)
    assert [a.content_type for a in ticket.attachments] == ["image/png"]
    assert [entry["reason"] for entry in ticket.metadata["skipped_attachments"]] == ["too_small"]


def test_attachment_kind_comes_from_bytes_not_label(corpus: Path, settings: Settings, store: BlobStore) -> None:
    """An application/octet-stream file without an extension that is a PNG is stored as an image."""
    ticket = _ticket(corpus / "33_octet_stream_screenshot.eml", settings, store)
    assert [(a.kind, a.content_type) for a in ticket.attachments] == [(AttachmentKind.image, "image/png")]


def test_forwarded_message_text_and_attachment_are_kept(corpus: Path, settings: Settings, store: BlobStore) -> None:
    """A message/rfc822 part contributes its headers, its plain text and its image."""
    ticket = _ticket(corpus / "14_forwarded_rfc822.eml", settings, store)
    assert "Forwarded message" in ticket.body and "Subject: Your statement" in ticket.body
    assert "99.00 EUR on 2 Feb was declined" in ticket.body and "<b>" not in ticket.body
    assert [a.content_type for a in ticket.attachments] == ["image/png"]
    assert ticket.metadata["forwarded_messages"] == 1
    base64_forward = _ticket(corpus / "31_base64_rfc822_forward.eml", settings, store)
    assert "Order 5521 shipped." in base64_forward.body


def test_broken_mime_is_survived(corpus: Path, settings: Settings, store: BlobStore) -> None:
    """A lost boundary is recovered, bad base64 keeps its good prefix, bad QP keeps its text."""
    missing = _ticket(corpus / "11_missing_boundary.eml", settings, store)
    assert missing.body == "The boundary parameter is missing but the body is fine: refund please."
    assert missing.metadata["skipped_attachments"][0]["filename"] == "statement.pdf"
    bad = _ticket(corpus / "13_bad_base64_and_qp.eml", settings, store)
    assert bad.body.startswith("Hello, my account is blocked.\n")
    assert "Soft break at the end of a line" in bad.body and "good one é" in bad.body
    truncated = _ticket(corpus / "12_unclosed_boundary_truncated.eml", settings, store)
    assert truncated.body == "My screenshot is attached but the upload was cut off."


def test_format_flowed_lines_are_joined(corpus: Path, settings: Settings, store: BlobStore) -> None:
    """format=flowed; delsp=yes soft breaks are undone (RFC 3676)."""
    ticket = _ticket(corpus / "32_format_flowed.eml", settings, store)
    assert ticket.body.startswith("This line is soft-wrapped by the client and should be one line.\n")


def test_ticket_id_is_stable_across_parses(corpus: Path, settings: Settings, store: BlobStore) -> None:
    """The same bytes give the same ticket id twice, with or without a Message-ID."""
    for name in ("01_alternative_plain_preferred.eml", "23_no_message_id_no_date.eml"):
        first, second = (_ticket(corpus / name, settings, store) for _ in range(2))
        assert first.ticket_id == second.ticket_id and first.customer_id == second.customer_id


def test_ticket_id_comes_from_the_normalised_message_id(settings: Settings, store: BlobStore) -> None:
    """Angle brackets, case and surrounding space do not change the id; another id does."""
    def tid(message_id: str) -> str:
        raw = _simple(f"From: a@example.com\nSubject: S\nMessage-ID: {message_id}")
        ticket = convert_message(raw, source="t", settings=settings, blobs=store).ticket
        assert ticket is not None
        return ticket.ticket_id

    expected = "email-" + hashlib.sha256(b"message-id:abc@example.com").hexdigest()[:32]
    assert tid("<abc@example.com>") == tid("  <ABC@Example.com> ") == tid("abc@example.com") == expected
    assert tid("<other@example.com>") != expected


def test_replies_share_the_thread_of_their_first_reference(corpus: Path, settings: Settings, store: BlobStore) -> None:
    """A reply's thread id is the id of the message its References start with."""
    root = _ticket(corpus / "01_alternative_plain_preferred.eml", settings, store)
    reply = _ticket(corpus / "35_reply_in_thread.eml", settings, store)
    assert reply.metadata["thread_id"] == root.metadata["thread_id"] == root.ticket_id
    assert reply.metadata["is_reply"] is True and root.metadata["is_reply"] is False


def test_customer_id_is_a_keyed_hash_without_the_address(settings: Settings, store: BlobStore) -> None:
    """The customer id holds no part of the address, ignores its case, and depends on the key."""
    def cid(sender: str, key: str = "test-hash-key") -> str:
        raw = _simple(f"From: {sender}\nSubject: S\nMessage-ID: <c@x>")
        ticket = convert_message(raw, source="t", settings=settings.model_copy(update={"customer_hash_key": key}),
                                 blobs=store).ticket
        assert ticket is not None
        return ticket.customer_id

    first = cid("Ada <Ada.Lovelace@Example.com>")
    assert "ada" not in first.lower() and "example" not in first and "@" not in first
    assert first == cid("ada.lovelace@example.com")
    assert first != cid("ada.lovelace@example.com", key="another-key")
    assert first != cid("bob@example.com")


def test_created_at_comes_from_the_date_header_in_utc(corpus: Path, settings: Settings, store: BlobStore) -> None:
    """Date: Tue, 4 Feb 2025 10:01:00 +0100 becomes 09:01 UTC; no Date header means now."""
    ticket = _ticket(corpus / "01_alternative_plain_preferred.eml", settings, store)
    assert ticket.created_at == datetime(2025, 2, 4, 9, 1, tzinfo=timezone.utc)
    undated = _ticket(corpus / "23_no_message_id_no_date.eml", settings, store)
    assert abs((datetime.now(timezone.utc) - undated.created_at).total_seconds()) < 60
    far = _simple("From: a@example.com\nSubject: S\nDate: Mon, 1 Jan 2199 00:00:00 +0000")
    ticket2 = convert_message(far, source="t", settings=settings, blobs=store).ticket
    assert ticket2 is not None and ticket2.created_at.year < 2100


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ("Auto-Submitted: auto-generated", "auto_generated"),
        ("Auto-Submitted: auto-replied; owner-email=x@example.com", "auto_reply"),
        ("X-Autoreply: yes", "auto_reply"),
        ("Precedence: bulk", "bulk"),
        ("Precedence: auto_reply", "auto_reply"),
        ("X-Failed-Recipients: gone@example.org", "bounce"),
        ("Return-Path: <>", "auto_generated"),
    ],
)
def test_automated_headers_skip_the_message(settings: Settings, store: BlobStore, headers: str, code: str) -> None:
    """RFC 3834 and vendor auto-reply headers, bounces and null senders are skipped with their code."""
    raw = _simple(f"From: a@example.com\nSubject: Re: your ticket\nMessage-ID: <h@x>\n{headers}")
    item = convert_message(raw, source="t", settings=settings, blobs=store)
    assert item.skipped is not None and item.skipped.split(":", 1)[0] == code, item


@pytest.mark.parametrize(
    "subject",
    ["Out of Office: Card", "Automatic reply: Card", "Autosvar: Kort", "Abwesenheitsnotiz: Karte",
     "Réponse automatique : Carte", "Respuesta automática: Tarjeta", "Automatisch antwoord: kaart",
     "自动回复: 银行卡", "AUTO: Jane Doe is out of the office (returning 10/02/2025)"],
)
def test_out_of_office_subjects_are_skipped(settings: Settings, store: BlobStore, subject: str) -> None:
    """Out-of-office subjects in several languages are skipped as out_of_office."""
    raw = _simple(f"From: a@example.com\nSubject: {subject}\nMessage-ID: <o@x>\nContent-Type: text/plain; charset=utf-8")
    item = convert_message(raw, source="t", settings=settings, blobs=store)
    assert item.skipped == "out_of_office: subject says so"


@pytest.mark.parametrize("subject", ["Out of office hours fee on my card", "Automatic replies never answer me",
                                     "Auto top-up failed"])
def test_customer_subjects_that_mention_absence_are_not_skipped(settings: Settings, store: BlobStore, subject: str) -> None:
    """Subjects that merely contain such words are still triaged."""
    raw = _simple(f"From: a@example.com\nSubject: {subject}\nMessage-ID: <n@x>")
    assert convert_message(raw, source="t", settings=settings, blobs=store).ticket is not None


def test_bounces_and_reports_are_skipped_before_anything_is_stored(corpus: Path, settings: Settings, store: BlobStore) -> None:
    """A DSN, a qmail bounce (found by flufl.bounce) and a read receipt are skipped; nothing is stored."""
    reasons = [_convert(corpus / name, settings, store).skipped for name in
               ("15_bounce_dsn.eml", "16_bounce_qmail_text.eml", "25_read_receipt_mdn.eml")]
    assert reasons == ["bounce: multipart/report (delivery-status)",
                       "bounce: permanent delivery failure (flufl.bounce)",
                       "read_receipt: multipart/report (disposition-notification)"]
    assert _stored_files(store) == []


def test_long_body_is_cut_with_a_note_not_refused(corpus: Path, settings: Settings, store: BlobStore) -> None:
    """A 54,000-character body under a 2,000 limit is cut at a word and the metadata says so."""
    ticket = _ticket(corpus / "29_long_body.eml", settings, store)
    assert len(ticket.body) <= 2000 and ticket.body.endswith("[…]")
    assert ticket.metadata["truncated"]["body"] == {"chars": 54089, "kept": 2000}


def test_long_subject_is_cut_too(settings: Settings, store: BlobStore) -> None:
    """A subject over max_subject_chars is cut and noted."""
    raw = _simple("From: a@example.com\nMessage-ID: <s@x>\nSubject: " + "word " * 400)
    ticket = convert_message(raw, source="t", settings=settings, blobs=store).ticket
    assert ticket is not None and len(ticket.subject) <= settings.max_subject_chars
    assert ticket.metadata["truncated"]["subject"]["kept"] == settings.max_subject_chars


def test_metadata_is_trimmed_to_its_limit(settings: Settings, store: BlobStore) -> None:
    """Hundreds of listed attachments are trimmed so the metadata fits max_metadata_bytes."""
    parts = "".join(
        f'--m\nContent-Type: application/pdf\nContent-Disposition: attachment; filename="doc-{i:03d}-{"x" * 60}.pdf"\n\n%PDF-{i}\n'
        for i in range(400)
    )
    raw = _simple('From: a@example.com\nSubject: Many\nMessage-ID: <m@x>\nContent-Type: multipart/mixed; boundary="m"',
                  "--m\nContent-Type: text/plain\n\nDocuments.\n" + parts + "--m--")
    ticket = convert_message(raw, source="t", settings=settings, blobs=store).ticket
    assert ticket is not None
    assert len(json.dumps(ticket.metadata, ensure_ascii=False).encode()) <= settings.max_metadata_bytes
    assert ticket.metadata["skipped_attachments_total"] == 400 > len(ticket.metadata["skipped_attachments"]) > 0


def test_a_message_over_the_size_limit_is_refused_before_parsing(settings: Settings, store: BlobStore) -> None:
    """max_email_bytes is checked first and the error names both sizes."""
    small = settings.model_copy(update={"max_email_bytes": 100})
    item = convert_message(_simple("From: a@example.com\nSubject: S", "x" * 200), source="t", settings=small, blobs=store)
    assert item.error is not None and item.error.startswith("too_large:") and "100" in item.error


def test_no_usable_content_is_a_skip_and_garbage_an_error(corpus: Path, settings: Settings, store: BlobStore) -> None:
    """Headers only give skipped 'empty'; random bytes give error 'not_an_email'; empty bytes an error."""
    assert (_convert(corpus / "27_empty.eml", settings, store).skipped or "").startswith("empty:")
    assert (_convert(corpus / "28_not_an_email.eml", settings, store).error or "").startswith("not_an_email:")
    assert (convert_message(b"  \n", source="t", settings=settings, blobs=store).error or "").startswith("empty_file:")


def test_help_desk_mappings_hash_an_address_to_the_same_customer(settings: Settings, store: BlobStore) -> None:
    """A requester known by address in a help-desk payload is the same customer as their e-mails."""
    customers = pytest.importorskip("producers.mappings.customers")
    raw = _simple("From: Ada <Ada@Example.com>\nSubject: S\nMessage-ID: <same@x>")
    ticket = convert_message(raw, source="t", settings=settings, blobs=store).ticket
    assert ticket is not None
    assert customers.hash_customer(" ada@example.com ", key=settings.customer_hash_key) == ticket.customer_id
