"""How far an IMAP folder has been read: its UIDVALIDITY and the last UID confirmed enqueued.

A small JSON file per (host, port, user, folder) under ``settings.state_dir/imap``, written
atomically. UIDs only mean something under one UIDVALIDITY (RFC 3501 §2.3.1.1): when the server
reports another, the saved position is void and the folder is read afresh (its unseen messages).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass
class FolderState:
    """The folder's UIDVALIDITY when last read and the highest UID done with, everything below it too."""

    uidvalidity: int = 0
    last_uid: int = 0


def state_path(state_dir: Path, *, host: str, port: int, user: str, folder: str) -> Path:
    """The file for one folder; named by a hash so no login name lands in a file name."""
    key = hashlib.sha256(f"{host.lower()}\x1f{port}\x1f{user}\x1f{folder}".encode()).hexdigest()[:24]
    return Path(state_dir) / "imap" / f"{key}.json"


def load_state(path: Path) -> FolderState:
    """The saved position, or a fresh one when the file is absent or unreadable."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return FolderState(uidvalidity=int(raw["uidvalidity"]), last_uid=int(raw["last_uid"]))
    except (OSError, ValueError, KeyError, TypeError):
        return FolderState()


def save_state(path: Path, state: FolderState) -> None:
    """Write the position atomically (a crash leaves the old file or the new one, never half)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".state-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"uidvalidity": state.uidvalidity, "last_uid": state.last_uid}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
