"""Outbound webhook fixtures: a live HTTP receiver and a migrated SQLite delivery store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from outbound_samples import Receiver, running_receiver

from worker.crm.deliveries import DeliveryStore
from worker.crm.store import CrmStore


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP receiver on 127.0.0.1 that records requests and fails when told to."""
    with running_receiver() as live:
        yield live


@pytest.fixture
def delivery_store(tmp_path: Path) -> Iterator[DeliveryStore]:
    """A migrated SQLite CRM with its webhook_deliveries table."""
    crm = CrmStore(f"sqlite:///{tmp_path / 'crm.db'}")
    crm.migrate()
    store = DeliveryStore(crm)
    yield store
    store.dispose()
