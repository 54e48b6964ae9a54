"""A real `ticketfusion api` process (uvicorn) beside the session's real worker, on real Redis and
PostgreSQL; keys are made with the real `ticketfusion keys` command."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from api_server import WEBHOOK_SECRETS, make_key, running_api


@pytest.fixture(scope="session")
def api_env(worker_env: dict[str, str], celery_worker_process: dict) -> dict[str, str]:
    """The worker's environment plus the webhook secrets; the worker runs alongside."""
    secrets = {f"TICKETFUSION_WEBHOOK_SECRET_{name.upper()}": value for name, value in WEBHOOK_SECRETS.items()}
    return {**worker_env, **secrets, "TICKETFUSION_API_RATE_LIMIT_PER_MINUTE": "100000"}


@pytest.fixture(scope="session")
def api(api_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of the session's API server."""
    with running_api(api_env, tmp_path_factory.mktemp("api-log") / "api.log") as url:
        yield url


@pytest.fixture(scope="session")
def key(api_env: dict[str, str]) -> str:
    """A key with both scopes."""
    return make_key(api_env, "tests-all")


@pytest.fixture
def client(api: str, key: str) -> Iterator[httpx.Client]:
    """An HTTP client on the API with the all-scopes key."""
    with httpx.Client(base_url=api, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
        yield http
