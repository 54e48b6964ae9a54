"""Bearer API keys with scopes, and a per-key rate limit (a fixed one-minute window in Redis)."""

from __future__ import annotations

import time
from collections.abc import Callable

import redis
from fastapi import Request
from sqlalchemy.exc import SQLAlchemyError

from worker.api.errors import ApiError
from worker.crm.keys import KeyInfo


def context_of(request: Request):  # noqa: ANN201 - the app's ApiContext
    return request.app.state.context


def require(scope: str) -> Callable[[Request], KeyInfo]:
    """A dependency that admits keys holding ``scope``: 401 without a valid key, 403 without the scope."""

    def dependency(request: Request) -> KeyInfo:
        header = request.headers.get("authorization", "")
        kind, _, token = header.partition(" ")
        if kind.lower() != "bearer" or not token.strip():
            raise ApiError(401, "missing_key", "send `Authorization: Bearer <key>`; `ticketfusion keys create NAME` "
                           "makes one", field="Authorization", headers={"WWW-Authenticate": "Bearer"})
        context = context_of(request)
        try:
            context.ensure_schema()
            key = context.keys.authenticate(token)
        except SQLAlchemyError:
            raise ApiError(503, "database_unavailable", "the key store does not answer; retry shortly") from None
        if key is None:
            raise ApiError(401, "invalid_key", "the key is unknown, malformed or revoked", field="Authorization",
                           headers={"WWW-Authenticate": "Bearer"})
        if scope not in key.scopes:
            raise ApiError(403, "missing_scope", f"key {key.name!r} lacks the {scope!r} scope "
                           f"(it has: {', '.join(key.scopes)})", field="Authorization")
        _rate_limit(context, key)
        request.state.key = key
        return key

    return dependency


def _rate_limit(context, key: KeyInfo) -> None:  # noqa: ANN001
    limit = context.settings.api_rate_limit_per_minute
    if not limit:
        return
    window = int(time.time() // 60)
    name = f"ticketfusion:rate:{key.key_id}:{window}"
    try:
        pipe = context.redis.pipeline()
        pipe.incr(name)
        pipe.expire(name, 120)
        count = int(pipe.execute()[0])
    except redis.RedisError:
        raise ApiError(503, "redis_unavailable", "Redis does not answer; retry shortly") from None
    if count > limit:
        retry = 60 - int(time.time() % 60)
        raise ApiError(429, "rate_limited", f"key {key.name!r} made more than {limit} requests this minute",
                       headers={"Retry-After": str(max(1, retry))})
