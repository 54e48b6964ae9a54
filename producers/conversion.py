"""What converting one foreign input (an e-mail, a help-desk payload) into a contract ticket gives.

Every converter yields one :class:`Converted` per input item, so ``ticketfusion convert`` and
``ticketfusion ingest`` report each one by name: a ticket, a skip with its reason (a bounce, an
auto-reply), or a failure with its reason. A converter never raises for one bad item.
"""

from __future__ import annotations

from dataclasses import dataclass

from worker.contract import Ticket


@dataclass(frozen=True)
class Converted:
    """One input item's outcome; exactly one of ``ticket``, ``skipped`` and ``error`` is set."""

    source: str
    ticket: Ticket | None = None
    skipped: str | None = None
    error: str | None = None

    def __post_init__(self) -> None:
        if sum(value is not None for value in (self.ticket, self.skipped, self.error)) != 1:
            raise ValueError("a Converted holds exactly one of ticket, skipped and error")

    @property
    def ok(self) -> bool:
        return self.ticket is not None
