"""E-mail test fixtures: roomy settings, the committed corpus, and a real Dovecot IMAP server.

The server (see ``dovecot_server.py``) is Debian's Dovecot, installed when missing and started
once per session as a private instance on free loopback ports.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dovecot_server import Dovecot, running_dovecot

from worker.blobs import BlobStore
from worker.settings import Settings

CORPUS = Path(__file__).resolve().parent / "corpus"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with limits the corpus crosses on purpose (a 64 KiB attachment, 2,000-char body)."""
    return Settings(
        blob_dir=tmp_path / "blobs",
        state_dir=tmp_path / "state",
        max_attachment_bytes=64 * 1024,
        max_body_chars=2000,
        customer_hash_key="test-hash-key",
    )


@pytest.fixture
def store(settings: Settings) -> BlobStore:
    """The blob store the settings name."""
    return BlobStore(settings.blob_dir)


@pytest.fixture
def corpus() -> Path:
    """The committed corpus folder (written by build_corpus.py)."""
    return CORPUS


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    """A private Dovecot for the session (installed from Debian when missing)."""
    with running_dovecot() as server:
        yield server
