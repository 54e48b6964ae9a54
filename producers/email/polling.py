"""``ticketfusion ingest imap [--once]``: poll a folder, hand each message over, then mark it.

The caller's ``handle`` enqueues a ticket (or counts a skip, or reports an error); only when it
returns is the message marked ``\\Seen``. If it raises, that message stays unseen and the
exception goes to the caller: nothing it did not confirm is ever marked. A blob-store failure says
nothing about the message, so that message is handed over but left unseen and the poll ends, to
retry later. ``once`` drains what is waiting now and returns; otherwise the loop polls every
``interval_s`` until ``stop`` is set (or ``max_polls`` polls), reconnecting after a server or
network failure.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from producers.conversion import Converted
from producers.email.imap import ImapConfig, ImapConfigError, ImapError, ImapInbox
from producers.email.message import TRANSIENT_ERRORS
from worker.blobs import BlobStore
from worker.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class PollReport:
    """What the polling did, for the command's closing line."""

    polls: int = 0
    tickets: int = 0
    skipped: int = 0
    errors: int = 0
    failures: int = 0  # polls that failed to reach or read the server (loop mode retries them)
    deferred: int = 0  # messages left unseen after a blob-store failure, for the next poll

    @property
    def messages(self) -> int:
        return self.tickets + self.skipped + self.errors


def _transient(converted: Converted) -> bool:
    return converted.error is not None and converted.error.split(":", 1)[0] in TRANSIENT_ERRORS


def _poll_once(inbox: ImapInbox, handle: Callable[[Converted], object], report: PollReport) -> None:
    """Drain the folder: fetch batches until one comes back short."""
    while True:
        batch = inbox.fetch()
        for item in batch:
            handle(item.converted)  # raises: this message stays unseen
            if _transient(item.converted):  # the store failed, not the message: leave it for the next poll
                report.deferred += 1
                return
            inbox.mark_done([item.uid])
            if item.converted.ticket is not None:
                report.tickets += 1
            elif item.converted.skipped is not None:
                report.skipped += 1
            else:
                report.errors += 1
        if len(batch) < inbox.settings.imap_batch_size:
            return


def poll_imap(
    handle: Callable[[Converted], object],
    *,
    settings: Settings,
    blobs: BlobStore,
    once: bool = False,
    interval_s: float | None = None,
    config: ImapConfig | None = None,
    stop: threading.Event | None = None,
    max_polls: int | None = None,
) -> PollReport:
    """Poll the configured folder (``settings.imap_*``), calling ``handle`` for every message."""
    config = config or ImapConfig.from_settings(settings)
    interval = settings.imap_poll_interval_s if interval_s is None else interval_s
    stop = stop or threading.Event()
    report = PollReport()
    while not stop.is_set():
        try:
            with ImapInbox(config, settings=settings, blobs=blobs) as inbox:
                _poll_once(inbox, handle, report)
        except ImapConfigError:
            raise  # retrying cannot fix a setting
        except ImapError as exc:
            if once:
                raise
            report.failures += 1
            log.warning("IMAP poll failed (%s); next try in %.0f s", exc, interval)
        report.polls += 1
        if once or (max_polls is not None and report.polls >= max_polls):
            break
        stop.wait(interval)
    return report
