"""One error body for every refusal: ``{"error": {"code", "message", "field"}}``, with its status.

FastAPI's own 422 (and Starlette's 404/405) are rewritten into the same shape, so a client
parses one thing whatever went wrong.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from worker.errors import TicketfusionError


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorBody(BaseModel):
    """What every 4xx and 5xx answer holds."""

    error: ErrorDetail


class ApiError(TicketfusionError):
    """A refusal with its HTTP status; raised anywhere in a request, answered by one handler."""

    def __init__(self, status: int, code: str, message: str, *, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        self.status, self.code, self.field, self.headers = status, code, field, headers or {}
        super().__init__(message)

    def response(self) -> JSONResponse:
        body = ErrorBody(error=ErrorDetail(code=self.code, message=str(self), field=self.field))
        return JSONResponse(body.model_dump(), status_code=self.status, headers=self.headers)


def refusal(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    return ApiError(status, code, message, field=field).response()


_STARLETTE_CODES = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
                    413: "too_large", 415: "unsupported_media_type"}


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(part) for part in loc if part not in ("body", "path", "query", "header")]
    return ".".join(parts) or "body"


def install(app: FastAPI) -> None:
    """Register the handlers that give every refusal the one body."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": ("body",), "msg": "invalid request"}
        more = len(exc.errors()) - 1
        message = str(first.get("msg", "invalid")) + (f" (and {more} more problems)" if more > 0 else "")
        return refusal(422, "invalid_request", message, _field(tuple(first.get("loc", ()))))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STARLETTE_CODES.get(exc.status_code, "http_error")
        return ApiError(exc.status_code, code, str(exc.detail), headers=getattr(exc, "headers", None)).response()


def declared(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route: each refusal it can give, with the error body's schema."""
    texts = {400: "Malformed request", 401: "No valid key or signature", 403: "Key lacks the scope",
             404: "Not found", 409: "Conflict (a replayed signature, a ticket id taken by another ticket)",
             413: "Request, batch or attachment too large", 415: "Unsupported content type",
             422: "The ticket breaks the contract", 429: "Rate limit exceeded (see Retry-After)",
             503: "Redis or the database does not answer; nothing was accepted"}
    return {status: {"model": ErrorBody, "description": texts[status]} for status in statuses}
