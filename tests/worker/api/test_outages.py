"""With Redis or the database down the API answers 503 with the reason, never a 5xx of its own,
and accepts nothing it could not keep."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
from api_server import make_key, running_api

from worker.cli.processes import free_port


def test_redis_down_is_503_and_not_ready(api_env: dict, tmp_path: Path) -> None:
    """An API whose Redis does not answer refuses posts with 503 and says so in /readyz."""
    key = make_key(api_env, f"down-{uuid.uuid4().hex[:6]}")
    env = {**api_env, "TICKETFUSION_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    with running_api(env, tmp_path / "api.log") as api:
        answer = httpx.post(f"{api}/v1/tickets", headers={"Authorization": f"Bearer {key}"}, timeout=30,
                            json={"ticket_id": f"down-{uuid.uuid4().hex[:6]}", "customer_id": "c", "body": "hi"})
        assert answer.status_code == 503
        assert answer.json()["error"]["code"] in ("redis_unavailable", "broker_unavailable")
        ready = httpx.get(f"{api}/readyz", timeout=30)
        assert ready.status_code == 503 and ready.json()["checks"]["redis"] != "ok"
        assert ready.json()["checks"]["database"] == "ok"


def test_broker_down_releases_the_claim(api_env: dict, tmp_path: Path) -> None:
    """With rate limits off, a post that cannot be published is 503 and its id stays free for the retry."""
    key = make_key(api_env, f"pub-{uuid.uuid4().hex[:6]}")
    ticket = {"ticket_id": f"pub-{uuid.uuid4().hex[:6]}", "customer_id": "c", "body": "my card is lost"}
    env = {**api_env, "TICKETFUSION_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
           "TICKETFUSION_API_RATE_LIMIT_PER_MINUTE": "0"}
    with running_api(env, tmp_path / "down.log") as api:
        answer = httpx.post(f"{api}/v1/tickets", headers={"Authorization": f"Bearer {key}"}, json=ticket, timeout=60)
        assert answer.status_code == 503 and answer.json()["error"]["code"] == "broker_unavailable"
    with running_api(api_env, tmp_path / "up.log") as api:
        retry = httpx.post(f"{api}/v1/tickets", headers={"Authorization": f"Bearer {key}"}, json=ticket, timeout=60)
        assert retry.status_code == 202 and retry.json()["duplicate"] is False


def test_database_down_is_503(api_env: dict, tmp_path: Path) -> None:
    """An API whose database does not answer refuses keyed requests with 503, not 500."""
    env = {**api_env, "TICKETFUSION_DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none"}
    with running_api(env, tmp_path / "api.log") as api:
        answer = httpx.get(f"{api}/v1/tickets/x", headers={"Authorization": "Bearer tfk_0123456789abcdef_" + "a" * 43},
                           timeout=30)
        assert answer.status_code == 503 and answer.json()["error"]["code"] == "database_unavailable"
        assert httpx.get(f"{api}/readyz", timeout=30).json()["checks"]["database"] != "ok"
