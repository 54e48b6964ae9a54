"""The API's response bodies (requests are the contract's :class:`~worker.contract.Ticket`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from worker.contract import ErrorEntry, TriageResult

StatusName = Literal["queued", "processing", "done", "failed"]


class AcceptedTicket(BaseModel):
    """A ticket taken in (202), or one taken in before under the same id (200)."""

    ticket_id: str
    task_id: str | None = Field(description="The chain's crm_update task id (Celery).")
    status: StatusName
    status_url: str
    duplicate: bool = Field(default=False, description="True when this ticket_id was accepted before.")


class BatchItem(BaseModel):
    index: int
    ticket_id: str | None = None
    outcome: Literal["accepted", "duplicate", "rejected"]
    task_id: str | None = None
    status_url: str | None = None
    error: dict[str, Any] | None = Field(default=None, description="For rejected items: code, message, field.")


class BatchAnswer(BaseModel):
    accepted: int
    duplicates: int
    rejected: int
    items: list[BatchItem]


class TicketState(BaseModel):
    """Where a ticket stands; ``result`` is the redacted result as the CRM stores it, once done."""

    ticket_id: str
    status: StatusName
    result: TriageResult | None = None
    errors: list[ErrorEntry] = Field(default_factory=list)


class History(BaseModel):
    """A customer's timeline, as ``ticketfusion history --json`` prints it."""

    model_config = {"extra": "allow"}

    customer_id: str
    display_name: str | None = None
    tickets: list[dict[str, Any]]


class ResolutionRequest(BaseModel):
    """What the help desk says about how the ticket ended (kept redacted)."""

    model_config = {"extra": "forbid"}

    note: str = Field(default="", max_length=500)


class Resolution(BaseModel):
    """A ticket's resolution recorded; ``new`` is False when it had been recorded before."""

    ticket_id: str
    customer_id: str
    new: bool
    profile: dict[str, Any] | None = Field(default=None, description="The customer's profile after the resolution.")


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, str]
