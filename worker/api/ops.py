"""Probes and metrics: ``/healthz`` (the process answers), ``/readyz`` (Redis and the database
answer), ``/metrics`` (Prometheus text)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from worker.api.auth import context_of
from worker.api.schemas import Health, Readiness

router = APIRouter()


@router.get("/healthz", response_model=Health, summary="Liveness")
def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", response_model=Readiness, summary="Readiness: Redis and the database answer",
            responses={503: {"model": Readiness, "description": "A dependency does not answer"}})
def readyz(request: Request) -> JSONResponse:
    context = context_of(request)
    checks: dict[str, str] = {}
    try:
        context.redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready, and says which
        checks["redis"] = f"{type(exc).__name__}: {str(exc)[:200]}"
    try:
        with context.crm.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["database"] = f"{type(exc).__name__}: {str(exc)[:200]}"
    ready = all(value == "ok" for value in checks.values())
    body = Readiness(status="ready" if ready else "not_ready", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}},
                             "description": "Prometheus text format"}})
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.registry), media_type=CONTENT_TYPE_LATEST)
