"""Reading messages from disk: one .eml, a folder, a Maildir, an mbox; each failure named."""

from __future__ import annotations

import shutil
from pathlib import Path

from producers.email import convert_path, convert_paths
from worker.blobs import BlobStore
from worker.settings import Settings


def test_mbox_messages_are_named_by_position(corpus: Path, settings: Settings, store: BlobStore) -> None:
    """An mbox yields path#1, path#2, ... in file order, with >From lines unquoted or kept as text."""
    results = list(convert_path(corpus / "mailbox.mbox", settings=settings, blobs=store))
    assert [item.source for item in results] == [f"{corpus / 'mailbox.mbox'}#{n}" for n in (1, 2, 3)]
    first, bounce, third = results
    assert first.ticket is not None and "From the statement" in first.ticket.body
    assert bounce.skipped == "bounce: sender mailer-daemon"
    assert third.ticket is not None and third.ticket.subject == "Third message ✓"


def test_maildir_reads_new_and_cur_but_not_tmp(corpus: Path, settings: Settings, store: BlobStore) -> None:
    """A Maildir gives its new/ and cur/ messages; a delivery still in tmp/ is not read."""
    results = list(convert_path(corpus / "maildir", settings=settings, blobs=store))
    subjects = sorted(item.ticket.subject for item in results if item.ticket)
    assert subjects == ["New in Maildir", "Seen in Maildir"] and len(results) == 2
    assert all("maildir/tmp/" not in item.source for item in results)


def test_a_folder_reads_eml_and_mbox_files_and_nested_maildirs(tmp_path: Path, corpus: Path, settings: Settings,
                                                               store: BlobStore) -> None:
    """Inside a folder: .eml and .mbox files and Maildirs are read, other files ignored."""
    shutil.copy(corpus / "01_alternative_plain_preferred.eml", tmp_path / "a.EML")
    shutil.copy(corpus / "mailbox.mbox", tmp_path / "b.mbox")
    shutil.copytree(corpus / "maildir", tmp_path / "sub" / "box")
    (tmp_path / "notes.txt").write_text("not mail")
    (tmp_path / ".hidden.eml").write_text("From: x@example.com\n\nhidden")
    results = list(convert_paths([tmp_path], settings=settings, blobs=store))
    assert len(results) == 1 + 3 + 2
    assert not any("notes.txt" in item.source or ".hidden" in item.source for item in results)


def test_a_file_named_alone_is_read_whatever_its_name(tmp_path: Path, corpus: Path, settings: Settings,
                                                      store: BlobStore) -> None:
    """A message file without .eml, and an mbox without .mbox, are recognised by their content."""
    shutil.copy(corpus / "01_alternative_plain_preferred.eml", tmp_path / "message")
    shutil.copy(corpus / "mailbox.mbox", tmp_path / "export")
    results = list(convert_paths([tmp_path / "message", tmp_path / "export"], settings=settings, blobs=store))
    assert [item.source.rsplit("/", 1)[-1] for item in results] == ["message", "export#1", "export#2", "export#3"]


def test_missing_and_unreadable_inputs_are_errors_not_exceptions(tmp_path: Path, settings: Settings,
                                                                 store: BlobStore) -> None:
    """A missing path and a dangling symlink each give one named error; the iteration goes on."""
    (tmp_path / "dangling.eml").symlink_to(tmp_path / "nowhere")
    good = tmp_path / "good.eml"
    good.write_bytes(b"From: a@example.com\nSubject: Hi\nMessage-ID: <g@x>\n\nMy card is blocked.\n")
    results = list(convert_paths([tmp_path / "missing.eml", tmp_path / "dangling.eml", good],
                                 settings=settings, blobs=store))
    assert [item.error.split(":", 1)[0] if item.error else "ticket" for item in results] == \
        ["not_found", "not_found", "ticket"]


def test_an_oversized_file_is_refused_before_it_is_read(tmp_path: Path, settings: Settings, store: BlobStore) -> None:
    """A message over max_email_bytes is an error from its size alone, in a file and in an mbox."""
    small = settings.model_copy(update={"max_email_bytes": 1000})
    big = tmp_path / "big.eml"
    big.write_bytes(b"From: a@example.com\nSubject: Big\n\n" + b"x" * 5000)
    mbox = tmp_path / "box.mbox"
    mbox.write_bytes(b"From a@example.com Tue Feb  4 10:00:00 2025\nFrom: a@example.com\nSubject: Big\n\n"
                     + b"y" * 5000 + b"\n\nFrom b@example.com Tue Feb  4 10:00:00 2025\nFrom: b@example.com\n"
                     b"Subject: Small\nMessage-ID: <s@x>\n\nsmall one\n")
    (file_item,) = convert_paths([big], settings=small, blobs=store)
    assert file_item.error == "too_large: 5034 bytes; the limit is 1000"
    first, second = convert_paths([mbox], settings=small, blobs=store)
    assert (first.error or "").startswith("too_large:") and second.ticket is not None


def test_a_broken_mbox_message_does_not_stop_the_rest(tmp_path: Path, settings: Settings, store: BlobStore) -> None:
    """Garbage between two good mbox messages is one named outcome, and the next message still comes."""
    mbox = tmp_path / "mixed.mbox"
    mbox.write_bytes(b"From a Tue Feb  4 10:00:00 2025\nFrom: a@example.com\nSubject: One\nMessage-ID: <1@x>\n\nfirst\n\n"
                     b"From b Tue Feb  4 10:00:00 2025\n\x00\x01\x02\xff\xfe garbage\n\n"
                     b"From c Tue Feb  4 10:00:00 2025\nFrom: c@example.com\nSubject: Three\nMessage-ID: <3@x>\n\nthird\n")
    results = list(convert_paths([mbox], settings=settings, blobs=store))
    assert [item.ok for item in results] == [True, False, True]
    assert results[1].error is not None or results[1].skipped is not None
