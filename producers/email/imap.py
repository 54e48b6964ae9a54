"""Read new messages from an IMAP folder without losing one between fetch and enqueue.

Two steps: :meth:`ImapInbox.fetch` reads messages with ``BODY.PEEK[]`` (which leaves them
unseen) and converts each; the caller enqueues them, then calls :meth:`ImapInbox.mark_done`,
which sets ``\\Seen`` and moves the saved UID position. A crash in between leaves the messages
unseen and the position where it was, so the next poll fetches them again, and the ticket id
(from the Message-ID) makes that second enqueue harmless.

The first poll of a folder reads its UNSEEN messages; later polls read every UID above the saved
position, seen or not (a person who opened a message in a mail client must not make us miss it).
"""

from __future__ import annotations

import base64
import imaplib
import ipaddress
import logging
import re
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from producers.conversion import Converted
from producers.email.imap_state import FolderState, load_state, save_state, state_path
from producers.email.message import convert_message
from worker.blobs import BlobStore
from worker.errors import TicketfusionError
from worker.settings import Settings

log = logging.getLogger(__name__)
_SIZE = re.compile(rb"UID (\d+)[^)]*?RFC822\.SIZE (\d+)|RFC822\.SIZE (\d+)[^)]*?UID (\d+)")
_UID = re.compile(rb"UID (\d+)")


class ImapError(TicketfusionError):
    """The IMAP server could not be reached, refused us, or answered a command with an error."""

    code = "imap_error"


class ImapConfigError(ImapError, ValueError):
    """A required IMAP setting is missing or unsafe; the message names the variable to set."""

    code = "imap_config"


@dataclass(frozen=True)
class ImapConfig:
    """Where and how to connect; the password comes from ``TICKETFUSION_IMAP_PASSWORD`` only."""

    host: str
    user: str
    password: str
    port: int = 0
    folder: str = "INBOX"
    ssl: bool = True
    starttls: bool = False
    ca_file: Path | None = None
    timeout_s: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> ImapConfig:
        missing = [
            f"TICKETFUSION_IMAP_{name.upper()}"
            for name in ("host", "user", "password")
            if not getattr(settings, f"imap_{name}")
        ]
        if missing:
            raise ImapConfigError(f"IMAP ingest needs {', '.join(missing)} set")
        return cls(
            host=str(settings.imap_host), user=str(settings.imap_user), password=str(settings.imap_password),
            port=settings.imap_port, folder=settings.imap_folder, ssl=settings.imap_ssl,
            starttls=settings.imap_starttls, ca_file=settings.imap_ca_file, timeout_s=settings.imap_timeout_s,
        )

    @property
    def effective_port(self) -> int:
        return self.port or (993 if self.ssl else 143)

    def check_safe(self) -> None:
        """Refuse to send a password in clear text anywhere but this machine."""
        if self.ssl or self.starttls:
            return
        try:
            local = ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            local = self.host.lower() == "localhost"
        if not local:
            raise ImapConfigError(
                f"refusing to log in to {self.host} without TLS: set TICKETFUSION_IMAP_SSL=true "
                "or TICKETFUSION_IMAP_STARTTLS=true"
            )


@dataclass(frozen=True)
class Fetched:
    """One fetched message: its UID (to pass to ``mark_done``) and its conversion."""

    uid: int
    converted: Converted


def imap_utf7(name: str) -> str:
    """A folder name in IMAP's modified UTF-7 (RFC 3501 §5.1.3): "Réclamations" -> "R&AOk-clamations"."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            encoded = base64.b64encode("".join(pending).encode("utf-16-be")).decode("ascii")
            out.append("&" + encoded.rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return "".join(out)


def _quote(folder: str) -> str:
    return '"' + imap_utf7(folder).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _check(response: tuple[str, Sequence[object]], what: str) -> Sequence[object]:
    status, data = response
    if status != "OK":
        detail = b" ".join(item for item in data if isinstance(item, bytes)).decode("utf-8", "replace")
        raise ImapError(f"IMAP {what} failed: {status} {detail[:200]}")
    return data


class ImapInbox:
    """One logged-in connection to one folder; use as a context manager."""

    def __init__(
        self, config: ImapConfig, *, settings: Settings, blobs: BlobStore, state_file: Path | None = None
    ) -> None:
        self.config, self.settings, self.blobs = config, settings, blobs
        self.state_file = state_file or state_path(
            settings.state_dir, host=config.host, port=config.effective_port, user=config.user, folder=config.folder
        )
        self._conn: imaplib.IMAP4 | None = None
        self._state = FolderState()
        self._fetched: set[int] = set()
        self._done: set[int] = set()

    # -- connection --------------------------------------------------------------------------
    def open(self) -> ImapInbox:
        config = self.config
        config.check_safe()
        try:
            context = ssl.create_default_context(cafile=str(config.ca_file) if config.ca_file else None)
        except (OSError, ssl.SSLError) as exc:
            raise ImapConfigError(
                f"TICKETFUSION_IMAP_CA_FILE {config.ca_file} is not a readable CA bundle: {exc}"
            ) from exc
        try:
            conn: imaplib.IMAP4
            if config.ssl:
                self._conn = conn = imaplib.IMAP4_SSL(
                    config.host, config.effective_port, ssl_context=context, timeout=config.timeout_s
                )
            else:
                self._conn = conn = imaplib.IMAP4(config.host, config.effective_port, timeout=config.timeout_s)
                if config.starttls:
                    conn.starttls(ssl_context=context)
            _check(conn.login(config.user, config.password), "LOGIN")
            _check(conn.select(_quote(config.folder)), f"SELECT {config.folder}")
        except (imaplib.IMAP4.error, OSError) as exc:
            self.close()
            raise ImapError(f"IMAP {config.host}:{config.effective_port}: {exc}") from exc
        self._load_position()
        return self

    def _load_position(self) -> None:
        assert self._conn is not None
        uidvalidity = int((self._conn.response("UIDVALIDITY")[1] or [b"0"])[0] or 0)
        state = load_state(self.state_file)
        if state.uidvalidity != uidvalidity:
            if state.uidvalidity:
                log.warning("IMAP folder %s has a new UIDVALIDITY: reading its unseen messages afresh",
                            self.config.folder)
            state = FolderState(uidvalidity=uidvalidity, last_uid=0)
        self._state = state

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.logout()  # not CLOSE: that would expunge messages someone else marked \Deleted
        except (imaplib.IMAP4.error, OSError):
            pass

    def __enter__(self) -> ImapInbox:
        return self.open()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    @property
    def conn(self) -> imaplib.IMAP4:
        if self._conn is None:
            raise ImapError("the IMAP inbox is not open")
        return self._conn

    # -- reading -----------------------------------------------------------------------------
    def _new_uids(self) -> list[int]:
        last = self._state.last_uid
        criterion = ("UID", f"{last + 1}:*") if last else ("UNSEEN",)
        data = _check(self.conn.uid("SEARCH", *criterion), "UID SEARCH")
        found = {int(token) for item in data if isinstance(item, bytes) for token in item.split()}
        return sorted(uid for uid in found if uid > last and uid not in self._done)  # n:* always holds the last

    def _sizes(self, uids: list[int]) -> dict[int, int]:
        data = _check(self.conn.uid("FETCH", ",".join(map(str, uids)), "(RFC822.SIZE)"), "UID FETCH RFC822.SIZE")
        sizes: dict[int, int] = {}
        for item in data:
            line = item[0] if isinstance(item, tuple) else item
            if isinstance(line, bytes) and (match := _SIZE.search(line)):
                uid, size = (match.group(1), match.group(2)) if match.group(1) else (match.group(4), match.group(3))
                sizes[int(uid)] = int(size)
        return sizes

    def _body(self, uid: int) -> bytes | None:
        data = _check(self.conn.uid("FETCH", str(uid), "(BODY.PEEK[])"), "UID FETCH BODY.PEEK[]")
        for item in data:
            if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes):
                match = _UID.search(item[0])
                if match is None or int(match.group(1)) == uid:
                    return item[1]
        return None

    def source(self, uid: int) -> str:
        """An RFC 5092-style name for a message (no login name in it)."""
        return f"imap://{self.config.host}/{self.config.folder};UID={uid}"

    def fetch(self, limit: int | None = None) -> list[Fetched]:
        """Convert up to ``limit`` new messages (default ``imap_batch_size``), oldest first; none is marked."""
        limit = limit or self.settings.imap_batch_size
        try:
            uids = self._new_uids()[:limit]
            if not uids:
                return []
            sizes = self._sizes(uids)
            fetched = []
            for uid in uids:
                size = sizes.get(uid)
                if size is not None and size > self.settings.max_email_bytes:
                    converted = Converted(
                        source=self.source(uid),
                        error=f"too_large: {size} bytes; the limit is {self.settings.max_email_bytes}",
                    )
                else:
                    body = self._body(uid)
                    converted = (
                        Converted(source=self.source(uid), error="unreadable_message: the server sent no body")
                        if body is None
                        else convert_message(body, source=self.source(uid), settings=self.settings, blobs=self.blobs)
                    )
                fetched.append(Fetched(uid, converted))
                self._fetched.add(uid)
        except (imaplib.IMAP4.error, OSError) as exc:
            raise ImapError(f"IMAP fetch from {self.config.host}: {exc}") from exc
        return fetched

    def mark_done(self, uids: list[int] | set[int] | tuple[int, ...]) -> None:
        """Set ``\\Seen`` on messages the caller has enqueued (or recorded), and save the position."""
        uids = sorted(set(uids))
        if not uids:
            return
        try:
            _check(self.conn.uid("STORE", ",".join(map(str, uids)), "+FLAGS.SILENT", "(\\Seen)"), "UID STORE")
        except (imaplib.IMAP4.error, OSError) as exc:
            raise ImapError(f"IMAP mark seen on {self.config.host}: {exc}") from exc
        self._done.update(uids)
        self._fetched.update(uids)
        pending = self._fetched - self._done
        reached = (min(pending) - 1) if pending else max(self._fetched)
        if reached > self._state.last_uid:
            self._state.last_uid = reached
            save_state(self.state_file, self._state)
