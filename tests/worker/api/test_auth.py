"""Keys and scopes on the real API: missing, wrong, revoked and under-scoped keys are refused."""

from __future__ import annotations

import uuid

import httpx
from api_server import make_key, running_api, ticketfusion

TICKET = {"customer_id": "c-auth", "body": "How do I top up?"}


def _post(api: str, key: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(f"{api}/v1/tickets", json={**TICKET, "ticket_id": f"auth-{uuid.uuid4().hex[:8]}"}, headers=headers)


def test_no_key_or_unknown_key_is_401(api: str) -> None:
    """Without a key, or with a made-up one, the API answers 401 and names the header."""
    for key in (None, "tfk_0000000000000000_" + "a" * 43, "not-a-key"):
        answer = _post(api, key)
        assert answer.status_code == 401
        assert answer.json()["error"]["field"] == "Authorization"


def test_key_without_the_scope_is_403(api: str, api_env: dict) -> None:
    """A read-only key cannot post; an ingest-only key cannot read."""
    reader, writer = make_key(api_env, f"r-{uuid.uuid4().hex[:6]}", "read"), make_key(api_env, f"w-{uuid.uuid4().hex[:6]}", "ingest")
    assert _post(api, reader).status_code == 403
    assert _post(api, writer).status_code == 202
    answer = httpx.get(f"{api}/v1/tickets/anything", headers={"Authorization": f"Bearer {writer}"})
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "missing_scope"


def test_revoked_key_is_refused_without_a_restart(api: str, api_env: dict) -> None:
    """`ticketfusion keys revoke` takes effect on the running server's next request."""
    name = f"rev-{uuid.uuid4().hex[:6]}"
    key = make_key(api_env, name)
    assert _post(api, key).status_code == 202
    done = ticketfusion(api_env, "keys", "revoke", name)
    assert done.returncode == 0, done.stderr
    assert _post(api, key).status_code == 401
    listed = ticketfusion(api_env, "keys", "list", "--json").stdout
    assert key not in listed and name in listed


def test_rate_limit_answers_429(api_env: dict, tmp_path) -> None:
    """Past the per-key limit a key gets 429 with Retry-After."""
    env = {**api_env, "TICKETFUSION_API_RATE_LIMIT_PER_MINUTE": "3"}
    with running_api(env, tmp_path / "api.log") as api:
        key = make_key(env, f"rl-{uuid.uuid4().hex[:6]}")
        codes = [httpx.get(f"{api}/v1/tickets/x", headers={"Authorization": f"Bearer {key}"}).status_code
                 for _ in range(5)]
        assert codes[:3] == [404, 404, 404] and codes[3:] == [429, 429]
        answer = httpx.get(f"{api}/v1/tickets/x", headers={"Authorization": f"Bearer {key}"})
        assert int(answer.headers["Retry-After"]) >= 1
