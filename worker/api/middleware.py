"""Two ASGI wrappers: a cap on request bodies, and Prometheus metrics per route and status.

Pure ASGI rather than ``BaseHTTPMiddleware``: neither buffers bodies, and a body over the cap
is refused as it streams in, before a handler holds it all in memory.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from worker.api.errors import ApiError


class BodyLimit:
    """413 for a body over ``max_bytes``: at once by Content-Length, else when it streams past."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            response = ApiError(413, "request_too_large", f"the body is {int(declared)} bytes; the limit is "
                                f"{self.max_bytes}", field="body").response()
            await response(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise ApiError(413, "request_too_large", f"the body passed the {self.max_bytes}-byte limit",
                                   field="body")
            return message

        await self.app(scope, limited, send)


class Metrics:
    """Counts and times every request by route template (never by raw path: ids are unbounded)."""

    def __init__(self, app: ASGIApp, *, registry: CollectorRegistry) -> None:
        self.app = app
        self.requests = Counter("ticketfusion_api_requests", "HTTP requests answered",
                                ["method", "route", "status"], registry=registry)
        self.seconds = Histogram("ticketfusion_api_request_seconds", "Time to answer a request", ["route"],
                                 registry=registry, buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: dict[str, Any] = {"code": 500}

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            name = getattr(route, "path", None) or "unmatched"
            self.requests.labels(scope.get("method", ""), name, str(status["code"])).inc()
            self.seconds.labels(name).observe(time.perf_counter() - started)
