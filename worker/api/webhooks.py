"""``POST /v1/webhooks/{source}``: a help desk's webhook, proven by its signature instead of a key.

Zendesk is checked by Zendesk's scheme, every other source by ours (:mod:`worker.signing`); the
secret is ``TICKETFUSION_WEBHOOK_SECRET_<SOURCE>`` from the environment, and a source without one
is unknown. A signature is taken once: it is remembered in Redis for the replay window, so the
same request sent again inside the window is refused too. The payload becomes a ticket through
the source's mapping (``zendesk``, ``freshdesk``, the file named by
``TICKETFUSION_WEBHOOK_MAPPING_<SOURCE>``, or the contract itself for any other source).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from typing import Any

import redis
from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from producers.mappings import InvalidMapping, convert_payload, load_mapping
from worker.api.auth import context_of
from worker.api.errors import ApiError, declared
from worker.api.context import ApiContext
from worker.api.intake import Intake, accept, check
from worker.api.schemas import AcceptedTicket
from worker.api.tickets import status_url
from worker.signing import SignatureError, SignatureReplayed, verify, verify_zendesk

router = APIRouter(prefix="/v1")
SOURCE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
BUILT_IN = ("zendesk", "freshdesk")


def _env_name(prefix: str, source: str) -> str:
    return prefix + re.sub(r"[^A-Z0-9]", "_", source.upper())


def _secret(source: str) -> str:
    secret = os.environ.get(_env_name("TICKETFUSION_WEBHOOK_SECRET_", source), "")
    if not secret:
        raise ApiError(404, "unknown_source", f"no webhook source {source!r}: set "
                       f"{_env_name('TICKETFUSION_WEBHOOK_SECRET_', source)} to its signing secret", field="source")
    return secret


def _remember(request: Request, source: str, signature: str, window_s: int) -> None:
    key = f"ticketfusion:webhook-seen:{source}:{hashlib.sha256(signature.encode()).hexdigest()}"
    try:
        fresh = context_of(request).redis.set(key, b"1", nx=True, ex=2 * window_s)
    except redis.RedisError:
        raise ApiError(503, "redis_unavailable", "Redis does not answer; nothing was accepted, retry shortly") from None
    if not fresh:
        exc = SignatureReplayed("this signed request was taken already; a replay is refused")
        raise ApiError(409, exc.code, str(exc), field="signature")


def _mapping(source: str) -> Any | None:
    named = os.environ.get(_env_name("TICKETFUSION_WEBHOOK_MAPPING_", source), "") or (
        source if source in BUILT_IN else "")
    if not named:
        return None
    try:
        return load_mapping(named)
    except InvalidMapping as exc:  # our configuration, not the sender's input
        raise ApiError(503, "source_misconfigured", f"the mapping for {source!r} does not load: {exc}") from None


def _take(context: ApiContext, source: str, payload: Any) -> Intake:
    """Map (which may fetch allow-listed attachments), check and accept, off the event loop."""
    mapping = _mapping(source)
    if mapping is None:
        raw = payload
    else:
        converted = convert_payload(payload, mapping, settings=context.settings, blobs=context.blobs,
                                    source=f"webhook:{source}")
        if converted.ticket is None:
            code = "not_a_ticket" if converted.skipped else "mapping_failed"
            raise ApiError(422, code, converted.skipped or converted.error or "the payload gave no ticket", field="body")
        raw = converted.ticket.model_dump(mode="json")
    return accept(context, check(context, raw), source=f"webhook:{source}")


@router.post("/webhooks/{source}", status_code=202, response_model=AcceptedTicket, summary="A help-desk webhook",
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {
                 "type": "object", "description": "The help desk's payload (Zendesk, Freshdesk, a mapped source, "
                 "or a contract ticket)"}}}}},
             responses={200: {"model": AcceptedTicket, "description": "Accepted before under this ticket_id"},
                        **declared(400, 401, 404, 409, 413, 422, 503)})
async def post_webhook(request: Request, source: str = Path(max_length=32)) -> JSONResponse:
    """Verify the signature, map the payload to a ticket and queue it."""
    if not SOURCE.match(source):
        raise ApiError(404, "unknown_source", "a source is 1-32 lower-case letters, digits, '-' or '_'", field="source")
    context = context_of(request)
    secret = _secret(source)
    body = await request.body()
    window = context.settings.webhook_replay_window_s
    check_signature = verify_zendesk if source == "zendesk" else verify
    try:
        verified = check_signature(secret, body, request.headers, window_s=window)
    except SignatureError as exc:
        raise ApiError(401, exc.code, str(exc), field="signature") from None
    _remember(request, source, verified.signature, window)
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, huge numbers
        raise ApiError(400, "malformed_json", f"the body is not JSON: {str(exc)[:200]}", field="body") from None
    intake = await run_in_threadpool(_take, context, source, payload)
    answer = AcceptedTicket(ticket_id=intake.ticket_id, task_id=intake.task_id, status=intake.status,  # type: ignore[arg-type]
                            status_url=status_url(request, intake.ticket_id), duplicate=intake.duplicate)
    return JSONResponse(answer.model_dump(), status_code=200 if intake.duplicate else 202)

