"""IMAP polling against a real Dovecot: fetch converts, only mark_done marks, nothing is lost."""

from __future__ import annotations

import socket
import threading
import uuid
from pathlib import Path

import pytest
from dovecot_server import Dovecot

from producers.conversion import Converted
from producers.email import ImapConfig, ImapConfigError, ImapError, ImapInbox, poll_imap
from producers.email.imap import imap_utf7
from worker.blobs import BlobStore
from worker.settings import Settings


def _message(n: int, subject: str = "Card not arrived", extra: str = "") -> bytes:
    return (
        f"From: Customer {n} <customer{n}@example.com>\r\nTo: support@bank.example\r\nSubject: {subject} {n}\r\n"
        f"Date: Tue, 4 Feb 2025 10:{n:02d}:00 +0000\r\nMessage-ID: <imap-{n}@example.com>\r\n{extra}\r\n"
        f"My card number {n} has not arrived yet.\r\n"
    ).encode()


BOUNCE = (
    b"From: MAILER-DAEMON@mx.example.net\r\nSubject: Undelivered Mail Returned to Sender\r\n"
    b"Message-ID: <bounce@mx.example.net>\r\n\r\nThis is the mail system.\r\n"
)


def _config(dovecot: Dovecot, folder: str, **changes: object) -> ImapConfig:
    base = ImapConfig(host="127.0.0.1", port=dovecot.port, user=dovecot.user, password=dovecot.password,
                      folder=folder, ssl=False)
    return ImapConfig(**{**base.__dict__, **changes})


def test_fetch_converts_and_only_mark_done_marks_seen(dovecot: Dovecot, settings: Settings, store: BlobStore) -> None:
    """Fetched messages stay unseen until mark_done; then they are seen and a new poll yields nothing."""
    folder = dovecot.new_folder()
    dovecot.deliver(folder, _message(1), BOUNCE, _message(2))
    with ImapInbox(_config(dovecot, folder), settings=settings, blobs=store) as inbox:
        fetched = inbox.fetch()
        assert [item.uid for item in fetched] == [1, 2, 3]
        assert [bool(item.converted.ticket) for item in fetched] == [True, False, True]
        assert fetched[1].converted.skipped == "bounce: sender mailer-daemon"
        assert fetched[0].converted.source == f"imap://127.0.0.1/{folder};UID=1"
        assert dovecot.unseen(folder) == 3  # BODY.PEEK: fetching marked nothing
        inbox.mark_done([item.uid for item in fetched])
        assert dovecot.unseen(folder) == 0
        assert inbox.fetch() == []
    with ImapInbox(_config(dovecot, folder), settings=settings, blobs=store) as again:
        assert again.fetch() == []


def test_a_crash_before_mark_done_loses_nothing(dovecot: Dovecot, settings: Settings, store: BlobStore) -> None:
    """Closing without mark_done (a crash before enqueue) gives the same messages, same ids, next time."""
    folder = dovecot.new_folder()
    dovecot.deliver(folder, _message(3), _message(4))
    with ImapInbox(_config(dovecot, folder), settings=settings, blobs=store) as inbox:
        first = [item.converted.ticket.ticket_id for item in inbox.fetch() if item.converted.ticket]
    with ImapInbox(_config(dovecot, folder), settings=settings, blobs=store) as inbox:
        second = inbox.fetch()
        assert [item.converted.ticket.ticket_id for item in second if item.converted.ticket] == first
        assert len(first) == 2
        inbox.mark_done([second[0].uid])  # only the first was enqueued
    with ImapInbox(_config(dovecot, folder), settings=settings, blobs=store) as inbox:
        assert [item.uid for item in inbox.fetch()] == [2]
    assert dovecot.unseen(folder) == 1


def test_poll_imap_once_hands_over_then_marks(dovecot: Dovecot, settings: Settings, store: BlobStore) -> None:
    """poll_imap(once=True) calls handle for each message, marks them, and a second poll finds nothing."""
    folder = dovecot.new_folder()
    dovecot.deliver(folder, _message(5), BOUNCE, _message(6))
    handled: list[Converted] = []
    unseen_when_handled: list[int] = []

    def handle(item: Converted) -> None:
        unseen_when_handled.append(dovecot.unseen(folder))
        handled.append(item)

    report = poll_imap(handle, settings=settings, blobs=store, once=True, config=_config(dovecot, folder))
    assert (report.tickets, report.skipped, report.errors, report.polls) == (2, 1, 0, 1)
    assert unseen_when_handled == [3, 2, 1]  # each message was still unseen while being handled
    assert dovecot.unseen(folder) == 0
    again = poll_imap(handle, settings=settings, blobs=store, once=True, config=_config(dovecot, folder))
    assert again.messages == 0 and len(handled) == 3


def test_a_failing_handler_leaves_its_message_unseen(dovecot: Dovecot, settings: Settings, store: BlobStore) -> None:
    """When enqueueing raises, that message and the rest stay unseen and come back on the next poll."""
    folder = dovecot.new_folder()
    dovecot.deliver(folder, _message(7), _message(8), _message(9))
    calls: list[str] = []

    def flaky(item: Converted) -> None:
        calls.append(item.source)
        if len(calls) == 2:
            raise ConnectionError("Redis is down")

    with pytest.raises(ConnectionError):
        poll_imap(flaky, settings=settings, blobs=store, once=True, config=_config(dovecot, folder))
    assert dovecot.unseen(folder) == 2
    retried: list[Converted] = []
    poll_imap(retried.append, settings=settings, blobs=store, once=True, config=_config(dovecot, folder))
    assert [item.source.rsplit("=", 1)[1] for item in retried] == ["2", "3"]


def test_new_messages_are_read_even_if_a_person_saw_them_first(dovecot: Dovecot, settings: Settings,
                                                              store: BlobStore) -> None:
    """After the first poll the UID position decides: a new message opened in a mail client is still read."""
    folder = dovecot.new_folder()
    dovecot.deliver(folder, _message(10))
    poll_imap(lambda item: None, settings=settings, blobs=store, once=True, config=_config(dovecot, folder))
    dovecot.deliver(folder, _message(11), seen=True)
    dovecot.deliver(folder, _message(12))
    got: list[Converted] = []
    poll_imap(got.append, settings=settings, blobs=store, once=True, config=_config(dovecot, folder))
    assert [item.ticket.subject for item in got if item.ticket] == ["Card not arrived 11", "Card not arrived 12"]
    state = list((Path(settings.state_dir) / "imap").glob("*.json"))
    assert len(state) == 1 and '"last_uid": 3' in state[0].read_text()


def test_batches_drain_the_folder(dovecot: Dovecot, settings: Settings, store: BlobStore) -> None:
    """With a batch size of 2, one --once poll still reads all five waiting messages."""
    folder = dovecot.new_folder()
    dovecot.deliver(folder, *(_message(n) for n in range(20, 25)))
    got: list[Converted] = []
    small = settings.model_copy(update={"imap_batch_size": 2})
    report = poll_imap(got.append, settings=small, blobs=store, once=True, config=_config(dovecot, folder))
    assert report.tickets == 5 and dovecot.unseen(folder) == 0


def test_attachments_from_imap_land_in_the_blob_store(dovecot: Dovecot, corpus: Path, settings: Settings,
                                                      store: BlobStore) -> None:
    """A message with a screenshot and a voicemail, fetched over IMAP, has both readable from the store."""
    folder = dovecot.new_folder()
    dovecot.deliver(folder, (corpus / "21_attachments_png_wav_pdf.eml").read_bytes())
    got: list[Converted] = []
    poll_imap(got.append, settings=settings, blobs=store, once=True, config=_config(dovecot, folder))
    (item,) = got
    assert item.ticket is not None and len(item.ticket.attachments) == 2
    assert all(store.resolve(a.uri).stat().st_size == a.size_bytes for a in item.ticket.attachments)


def test_an_oversized_message_is_an_error_without_download(dovecot: Dovecot, settings: Settings,
                                                           store: BlobStore) -> None:
    """RFC822.SIZE over max_email_bytes gives a too_large error, and the message can be marked done."""
    folder = dovecot.new_folder()
    dovecot.deliver(folder, _message(30, extra="X-Padding: " + "p" * 3000 + "\r\n"))
    small = settings.model_copy(update={"max_email_bytes": 1000})
    got: list[Converted] = []
    report = poll_imap(got.append, settings=small, blobs=store, once=True, config=_config(dovecot, folder))
    assert report.errors == 1 and (got[0].error or "").startswith("too_large:")


def test_loop_mode_polls_every_interval_until_stopped(dovecot: Dovecot, settings: Settings, store: BlobStore) -> None:
    """Without once, poll_imap polls at its interval, picking up mail delivered between polls."""
    folder = dovecot.new_folder()
    got: list[Converted] = []
    stop = threading.Event()

    def handle(item: Converted) -> None:
        got.append(item)
        if len(got) == 2:
            stop.set()

    dovecot.deliver(folder, _message(40))
    timer = threading.Timer(0.5, lambda: dovecot.deliver(folder, _message(41)))
    timer.start()
    try:
        report = poll_imap(handle, settings=settings, blobs=store, interval_s=0.1, stop=stop, max_polls=200,
                           config=_config(dovecot, folder))
    finally:
        timer.cancel()
    assert report.tickets == 2 and report.polls >= 2


def test_imaps_and_starttls_verify_the_server_certificate(dovecot: Dovecot, settings: Settings, store: BlobStore) -> None:
    """IMAPS and STARTTLS work with the server's CA; without it the certificate is refused."""
    if dovecot.tls_port is None:
        pytest.skip("openssl is not installed, so the test server has no certificate")
    folder = dovecot.new_folder()
    dovecot.deliver(folder, _message(50))
    for config in (_config(dovecot, folder, ssl=True, port=dovecot.tls_port, ca_file=dovecot.ca_file),
                   _config(dovecot, folder, starttls=True, ca_file=dovecot.ca_file)):
        with ImapInbox(config, settings=settings, blobs=store) as inbox:
            assert [item.uid for item in inbox.fetch()] == [1]
    with pytest.raises(ImapError, match="CERTIFICATE_VERIFY_FAILED|certificate"):
        ImapInbox(_config(dovecot, folder, ssl=True, port=dovecot.tls_port), settings=settings, blobs=store).open()


def test_password_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """ImapConfig.from_settings takes TICKETFUSION_IMAP_* and names what is missing."""
    for name, value in {"HOST": "imap.example.com", "USER": "support", "FOLDER": "Support"}.items():
        monkeypatch.setenv(f"TICKETFUSION_IMAP_{name}", value)
    monkeypatch.delenv("TICKETFUSION_IMAP_PASSWORD", raising=False)
    with pytest.raises(ImapConfigError, match="TICKETFUSION_IMAP_PASSWORD"):
        ImapConfig.from_settings(Settings())
    monkeypatch.setenv("TICKETFUSION_IMAP_PASSWORD", "from-env")
    config = ImapConfig.from_settings(Settings())
    assert (config.host, config.password, config.folder, config.effective_port) == ("imap.example.com", "from-env",
                                                                                    "Support", 993)
    assert "from-env" not in repr(Settings())


def test_clear_text_login_to_a_remote_host_is_refused(settings: Settings, store: BlobStore) -> None:
    """Without SSL or STARTTLS only a loopback server may receive the password."""
    config = ImapConfig(host="imap.example.com", user="u", password="p", ssl=False)
    with pytest.raises(ImapConfigError, match="without TLS"):
        ImapInbox(config, settings=settings, blobs=store).open()
    with pytest.raises(ImapConfigError):
        poll_imap(lambda item: None, settings=settings, blobs=store, config=config, max_polls=1)


def test_folder_names_are_sent_in_modified_utf7() -> None:
    """Non-ASCII folder names use IMAP's modified UTF-7 (the RFC 3501 example, and '&')."""
    assert imap_utf7("~peter/mail/台北/日本語") == "~peter/mail/&U,BTFw-/&ZeVnLIqe-"
    assert imap_utf7("Réclamations & co") == "R&AOk-clamations &- co"


def test_a_non_ascii_folder_is_polled(dovecot: Dovecot, settings: Settings, store: BlobStore) -> None:
    """A folder named "Réclamations" on the server is selected and read."""
    conn = dovecot.connect()
    try:
        name = f"Réclamations-{uuid.uuid4().hex[:6]}"
        assert conn.create(imap_utf7(name))[0] == "OK"
    finally:
        conn.logout()
    dovecot.deliver(imap_utf7(name), _message(60))
    got: list[Converted] = []
    poll_imap(got.append, settings=settings, blobs=store, once=True, config=_config(dovecot, name))
    assert [item.ticket.subject for item in got if item.ticket] == ["Card not arrived 60"]


def test_a_blob_store_failure_leaves_the_message_for_the_next_poll(dovecot: Dovecot, corpus: Path, tmp_path: Path,
                                                                   settings: Settings) -> None:
    """When attachments cannot be stored the message is reported but stays unseen, and comes back."""
    folder = dovecot.new_folder()
    dovecot.deliver(folder, (corpus / "21_attachments_png_wav_pdf.eml").read_bytes())
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the store should be")
    got: list[Converted] = []
    report = poll_imap(got.append, settings=settings, blobs=BlobStore(blocked), once=True,
                       config=_config(dovecot, folder))
    assert report.deferred == 1 and (got[0].error or "").startswith("blob_store:")
    assert dovecot.unseen(folder) == 1
    report = poll_imap(got.append, settings=settings, blobs=BlobStore(tmp_path / "blobs"), once=True,
                       config=_config(dovecot, folder))
    assert report.tickets == 1 and dovecot.unseen(folder) == 0


def test_polling_never_expunges_what_someone_else_deleted(dovecot: Dovecot, settings: Settings,
                                                          store: BlobStore) -> None:
    """A message flagged \\Deleted by a person is still in the folder after a poll (no CLOSE, no EXPUNGE)."""
    folder = dovecot.new_folder()
    conn = dovecot.connect()
    try:
        assert conn.append(folder, "(\\Deleted)", None, _message(70))[0] == "OK"
    finally:
        conn.logout()
    dovecot.deliver(folder, _message(71))
    poll_imap(lambda item: None, settings=settings, blobs=store, once=True, config=_config(dovecot, folder))
    conn = dovecot.connect()
    try:
        assert conn.select(folder, readonly=True)[1] == [b"2"]
    finally:
        conn.logout()


def test_a_refused_login_is_named_and_the_loop_retries_an_unreachable_server(
    dovecot: Dovecot, settings: Settings, store: BlobStore
) -> None:
    """A wrong password is a named ImapError in --once mode; in the loop a dead server is retried."""
    # Last in this file: Dovecot slows further logins from an address after a failed one.
    bad = _config(dovecot, "INBOX", password="wrong")
    with pytest.raises(ImapError, match="AUTHENTICATIONFAILED|Authentication failed"):
        poll_imap(lambda item: None, settings=settings, blobs=store, once=True, config=bad)
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    dead = _config(dovecot, "INBOX", port=closed)
    report = poll_imap(lambda item: None, settings=settings, blobs=store, interval_s=0.01, max_polls=3, config=dead)
    assert (report.failures, report.polls, report.messages) == (3, 3, 0)
