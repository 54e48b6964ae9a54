"""Tickets in and their state out: ``POST /v1/tickets`` (JSON or multipart), the batch, the status,
and a customer's history."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from worker.api.auth import context_of, require
from worker.api.context import ApiContext
from worker.api.errors import ApiError, declared
from worker.api.intake import Intake, accept, check, store_upload
from worker.api.schemas import (
    AcceptedTicket,
    BatchAnswer,
    BatchItem,
    History,
    Resolution,
    ResolutionRequest,
    TicketState,
)
from worker.contract import ID_PATTERN, ErrorEntry, is_id
from worker.crm.enrichment import Enricher, UnknownTicket
from worker.pii.redaction import redact_text
from worker.state import enricher_for

router = APIRouter(prefix="/v1")
TICKET_ID = Path(pattern=ID_PATTERN, max_length=128, description="The ticket's id, as posted.")
MULTIPART = "multipart/form-data"
TICKET_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/Ticket"}},
        MULTIPART: {"schema": {
            "type": "object", "required": ["ticket"],
            "properties": {
                "ticket": {"type": "string", "description": "The ticket as JSON (the contract); its attachments "
                           "are the files below."},
                "files": {"type": "array", "items": {"type": "string", "format": "binary"},
                          "description": "Images and voice notes."},
            },
        }},
    },
}


def status_url(request: Request, ticket_id: str) -> str:
    return str(request.url_for("ticket_status", ticket_id=ticket_id))


def _answer(request: Request, intake: Intake) -> JSONResponse:
    body = AcceptedTicket(ticket_id=intake.ticket_id, task_id=intake.task_id, status=intake.status,  # type: ignore[arg-type]
                          status_url=status_url(request, intake.ticket_id), duplicate=intake.duplicate)
    return JSONResponse(body.model_dump(), status_code=200 if intake.duplicate else 202)


async def _json(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, a number past Python's digit limit
        raise ApiError(400, "malformed_json", f"the body is not JSON: {str(exc)[:200]}", field="body") from None
    except RecursionError:
        raise ApiError(400, "malformed_json", "the body nests too deeply", field="body") from None


def _take(context: ApiContext, raw: Any, source: str) -> Intake:
    """Check and accept, off the event loop (the database and the broker block)."""
    return accept(context, check(context, raw), source=source)


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def _multipart(request: Request) -> dict[str, Any]:
    context = context_of(request)
    limits = context.settings
    form = await request.form(max_files=limits.max_attachments + 1, max_fields=8, max_part_size=limits.max_line_bytes)
    try:
        part = form.get("ticket")
        if not isinstance(part, str):
            raise ApiError(422, "missing_ticket_part", "a multipart post needs a `ticket` field holding the ticket "
                           "as JSON", field="ticket")
        try:
            raw = json.loads(part)
        except (ValueError, RecursionError) as exc:
            raise ApiError(400, "malformed_json", f"the ticket part is not JSON: {str(exc)[:200]}",
                           field="ticket") from None
        if not isinstance(raw, dict):
            raise ApiError(422, "not_an_object", "the ticket part must be a JSON object", field="ticket")
        files = [value for _, value in form.multi_items() if not isinstance(value, str)]
        if not isinstance(raw.get("attachments") or [], list):
            raise ApiError(422, "invalid_attachments", "attachments must be a list", field="attachments")
        if len(files) + len(raw.get("attachments") or []) > limits.max_attachments:
            raise ApiError(413, "too_many_attachments", f"at most {limits.max_attachments} attachments per ticket",
                           field="files")
        stored = [await run_in_threadpool(store_upload, context, upload.file, index=index,
                                          content_type=upload.content_type, filename=upload.filename)
                  for index, upload in enumerate(files)]
        raw["attachments"] = [*(raw.get("attachments") or []), *stored]
        return raw
    finally:
        await form.close()


@router.post("/tickets", status_code=202, response_model=AcceptedTicket, openapi_extra={"requestBody": TICKET_BODY},
             summary="Submit one ticket",
             responses={200: {"model": AcceptedTicket, "description": "Accepted before under this ticket_id"},
                        **declared(400, 401, 403, 413, 415, 422, 429, 503)})
async def post_ticket(request: Request, _: Any = Depends(require("ingest"))) -> JSONResponse:
    """Queue a ticket for triage; the same ``ticket_id`` again answers its existing status."""
    kind = _media_type(request)
    if kind == "application/json":
        raw = await _json(request)
    elif kind == MULTIPART:
        raw = await _multipart(request)
    else:
        raise ApiError(415, "unsupported_media_type", f"send application/json or {MULTIPART}, not {kind or 'nothing'}",
                       field="Content-Type")
    context = context_of(request)
    return _answer(request, await run_in_threadpool(_take, context, raw, f"api:{request.state.key.name}"))


BATCH_BODY = {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["tickets"],
    "properties": {"tickets": {"type": "array", "items": {"$ref": "#/components/schemas/Ticket"}}}}}}}


@router.post("/tickets/batch", response_model=BatchAnswer, openapi_extra={"requestBody": BATCH_BODY},
             summary="Submit many tickets", responses=declared(400, 401, 403, 413, 415, 422, 429, 503))
async def post_batch(request: Request, _: Any = Depends(require("ingest"))) -> BatchAnswer:
    """Queue up to ``TICKETFUSION_API_MAX_BATCH`` tickets; one bad ticket is one rejected item."""
    if _media_type(request) != "application/json":
        raise ApiError(415, "unsupported_media_type", "a batch is application/json", field="Content-Type")
    body = await _json(request)
    tickets = body.get("tickets") if isinstance(body, dict) else None
    if not isinstance(tickets, list):
        raise ApiError(422, "missing_tickets", 'send {"tickets": [ticket, ...]}', field="tickets")
    context = context_of(request)
    if len(tickets) > context.settings.api_max_batch:
        raise ApiError(413, "batch_too_large", f"{len(tickets)} tickets; at most {context.settings.api_max_batch} "
                       "per batch", field="tickets")
    items: list[BatchItem] = []
    for index, raw in enumerate(tickets):
        candidate = raw.get("ticket_id") if isinstance(raw, dict) else None
        ticket_id = candidate if is_id(candidate) else None
        try:
            intake = await run_in_threadpool(_take, context, raw, f"api:{request.state.key.name}")
        except ApiError as exc:
            error = {"code": exc.code, "message": str(exc), "field": f"tickets.{index}.{exc.field or ''}".rstrip(".")}
            items.append(BatchItem(index=index, ticket_id=ticket_id, outcome="rejected", error=error))
            if exc.status == 503:  # a service is down: the rest are not tried, and each says so
                items += [BatchItem(index=later, outcome="rejected", error={**error, "field": f"tickets.{later}"})
                          for later in range(index + 1, len(tickets))]
                break
            continue
        items.append(BatchItem(index=index, ticket_id=intake.ticket_id, task_id=intake.task_id,
                               outcome="duplicate" if intake.duplicate else "accepted",
                               status_url=status_url(request, intake.ticket_id)))
    count = {outcome: sum(item.outcome == outcome for item in items) for outcome in ("accepted", "duplicate", "rejected")}
    return BatchAnswer(accepted=count["accepted"], duplicates=count["duplicate"], rejected=count["rejected"], items=items)


@router.get("/tickets/{ticket_id:path}", name="ticket_status", response_model=TicketState, summary="A ticket's status",
            responses=declared(401, 403, 404, 422, 429, 503))
def get_ticket(request: Request, ticket_id: str = TICKET_ID, _: Any = Depends(require("read"))) -> TicketState:
    """queued, processing, done or failed; with the redacted result once there is one."""
    context = context_of(request)
    try:
        row = context.statuses.get(ticket_id)
        result = context.crm.triage_result(ticket_id)
    except SQLAlchemyError:
        raise ApiError(503, "database_unavailable", "the database does not answer; retry shortly") from None
    if row is None and result is None:
        raise ApiError(404, "unknown_ticket", f"no ticket {ticket_id!r} was accepted", field="ticket_id")
    status = row["status"] if row is not None else "done"
    errors = [ErrorEntry.model_validate(e) for e in (row or {}).get("errors", [])]
    if result is not None and status in ("queued", "processing"):
        status = "done"  # recorded by a redelivery before the status caught up
    return TicketState(ticket_id=ticket_id, status=status, result=result, errors=errors)


@router.get("/customers/{customer_id:path}/history", response_model=History, summary="A customer's timeline",
            responses=declared(401, 403, 404, 422, 429, 503))
def get_history(request: Request, customer_id: str = Path(pattern=ID_PATTERN, max_length=128),
                limit: int = Query(default=100, ge=1, le=1000), _: Any = Depends(require("read"))) -> History:
    """The customer's tickets with their triage, oldest first."""
    context = context_of(request)
    try:
        history = context.crm.history(customer_id, limit=limit)
    except SQLAlchemyError:
        raise ApiError(503, "database_unavailable", "the database does not answer; retry shortly") from None
    if not history["tickets"]:
        raise ApiError(404, "unknown_customer", f"no tickets for customer {customer_id!r}", field="customer_id")
    try:
        history["profile"] = _enricher(context).profile(customer_id)
    except SQLAlchemyError:
        raise ApiError(503, "database_unavailable", "the database does not answer; retry shortly") from None
    return History.model_validate(json.loads(json.dumps(history, default=str)))


def _enricher(context: ApiContext) -> Enricher:
    return enricher_for(context.crm, context.settings)


@router.post("/tickets/{ticket_id:path}/resolution", response_model=Resolution, summary="Record a ticket's resolution",
             responses=declared(401, 403, 404, 422, 429, 503))
def post_resolution(request: Request, body: ResolutionRequest | None = None, ticket_id: str = TICKET_ID,
                    _: Any = Depends(require("ingest"))) -> Resolution:
    """Closes the ticket's open issue (its intent, up to this ticket) in the customer's profile; idempotent."""
    context = context_of(request)
    enricher = _enricher(context)
    try:
        customer_id, new = enricher.resolve(ticket_id, note=redact_text((body or ResolutionRequest()).note))
        enricher.enrich(customer_id)
        profile = enricher.profile(customer_id)
    except UnknownTicket:
        raise ApiError(404, "unknown_ticket", f"no ticket {ticket_id!r} is recorded yet; resolve it once its status "
                       "is done", field="ticket_id") from None
    except SQLAlchemyError:
        raise ApiError(503, "database_unavailable", "the database does not answer; retry shortly") from None
    return Resolution(ticket_id=ticket_id, customer_id=customer_id, new=new, profile=profile)
