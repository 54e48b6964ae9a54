"""The FastAPI application: tickets in, statuses and histories out, webhooks, probes, metrics.

Built by :func:`create_app` so a test (or a second tenant) gets its own settings, Celery app and
metrics registry. The process never loads a model: it validates, stores attachments, claims ids
and publishes to Redis; the workers do the rest.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from prometheus_client import CollectorRegistry

from worker.api import ops, tickets, webhooks
from worker.api.context import ApiContext
from worker.api.errors import install
from worker.api.middleware import BodyLimit, Metrics
from worker.contract import Ticket
from worker.settings import Settings, get_settings

DESCRIPTION = """Triage customer-support tickets. Authenticate with `Authorization: Bearer <key>`
(`ticketfusion keys create NAME --scopes ingest,read`); help-desk webhooks are authenticated by
their HMAC signature instead. Every refusal is a JSON body `{"error": {"code", "message", "field"}}`."""


def create_app(settings: Settings | None = None, *, celery_app: Celery | None = None, migrate: bool = True) -> FastAPI:
    """A ready application; ``migrate`` brings the CRM schema up first (keys and statuses live there)."""
    settings = settings or get_settings()
    if celery_app is None:
        from worker.app import app as celery_app
    context = ApiContext.build(settings, celery_app)
    if migrate:
        context.try_schema()
    app = FastAPI(title="ticketfusion", version="1", description=DESCRIPTION)
    app.state.context = context
    app.state.registry = CollectorRegistry()
    install(app)
    for router in (tickets.router, webhooks.router, ops.router):
        app.include_router(router)
    app.add_middleware(BodyLimit, max_bytes=settings.api_max_request_bytes)
    app.add_middleware(Metrics, registry=app.state.registry)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document plus the contract's Ticket schema, which the request bodies refer to."""
    if app.openapi_schema:
        return app.openapi_schema
    document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    ticket = Ticket.model_json_schema(ref_template="#/components/schemas/{model}", mode="validation")
    for name, definition in ticket.pop("$defs", {}).items():
        schemas.setdefault(name, definition)
    schemas["Ticket"] = ticket
    app.openapi_schema = document
    return document
