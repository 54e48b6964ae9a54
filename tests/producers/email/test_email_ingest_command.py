"""`ticketfusion ingest imap --once` as an operator runs it: a real Dovecot mailbox, the real command,
the session's real worker; each message is enqueued once and ends in the CRM."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

from dovecot_server import Dovecot

from worker.crm.statuses import StatusStore
from worker.crm.store import CrmStore


def _mail(n: int, token: str) -> bytes:
    return (f"From: Ada {n} <ada{n}@example.com>\r\nTo: support@bank.example\r\nSubject: Card not arrived\r\n"
            f"Date: Tue, 4 Feb 2025 10:{n:02d}:00 +0000\r\nMessage-ID: <{token}-{n}@example.com>\r\n\r\n"
            "Hello, I ordered a new card two weeks ago and it still has not arrived.\r\n").encode()


def _ingest(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "worker.cli.main", "ingest", "imap", "--once"],
                          env=os.environ | env, capture_output=True, text=True, timeout=120)


def test_ingest_imap_once_enqueues_each_message_once(dovecot: Dovecot, worker_env: dict,
                                                     celery_worker_process: dict) -> None:
    """Two new messages and a bounce: two tickets triaged, the bounce skipped, all marked seen; a second
    run finds nothing new."""
    folder = dovecot.new_folder()
    token = uuid.uuid4().hex[:8]
    bounce = (b"From: MAILER-DAEMON@mx.example.net\r\nSubject: Undelivered Mail Returned to Sender\r\n"
              b"Message-ID: <bounce-" + token.encode() + b"@mx>\r\n\r\nThis is the mail system.\r\n")
    dovecot.deliver(folder, _mail(1, token), bounce, _mail(2, token))
    env = {**worker_env, "TICKETFUSION_IMAP_HOST": "127.0.0.1", "TICKETFUSION_IMAP_PORT": str(dovecot.port),
           "TICKETFUSION_IMAP_USER": dovecot.user, "TICKETFUSION_IMAP_PASSWORD": dovecot.password,
           "TICKETFUSION_IMAP_FOLDER": folder, "TICKETFUSION_IMAP_SSL": "false", "TICKETFUSION_LOG_LEVEL": "WARNING",
           "COLUMNS": "200"}
    first = _ingest(env)
    assert first.returncode == 0, first.stderr
    assert "enqueued 2 ticket(s)" in first.stderr and "skipped 1" in first.stderr
    assert dovecot.unseen(folder) == 0
    second = _ingest(env)
    assert "enqueued 0 ticket(s)" in second.stderr
    crm = CrmStore(env["TICKETFUSION_DATABASE_URL"])
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and crm.count_tickets() < 1:
        time.sleep(0.3)
    history_ids = set()
    while time.monotonic() < deadline and len(history_ids) < 2:
        statuses = StatusStore(crm)
        rows = [row for row in (statuses.get(t) for t in statuses.known_ids()) if row and row["source"] == "ingest:imap"]
        history_ids = {row["ticket_id"] for row in rows if row["status"] == "done"}
        time.sleep(0.3)
    crm.dispose()
    assert len(history_ids) >= 2
