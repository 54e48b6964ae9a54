"""Help-desk webhooks over real HTTP: signatures checked, replays refused, payloads mapped to tickets."""

from __future__ import annotations

import json
import random
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
from api_server import WEBHOOK_SECRETS, wait_done

from worker.signing import sign, sign_zendesk

PAYLOADS = Path(__file__).resolve().parents[2] / "producers" / "mappings" / "payloads"


def _zendesk_event() -> tuple[bytes, str]:
    payload = json.loads((PAYLOADS / "zendesk_event_ticket_created.json").read_text())
    number = str(random.randrange(10**8, 10**9))
    payload["detail"]["id"] = number
    return json.dumps(payload).encode(), number


def _now_iso(shift: float = 0.0) -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=shift)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _post(api: str, source: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{api}/v1/webhooks/{source}", content=body,
                      headers={"content-type": "application/json", **headers})


def test_signed_zendesk_webhook_ends_in_the_history(api: str, client: httpx.Client) -> None:
    """A ticket.created event signed the Zendesk way is mapped, triaged and recorded."""
    body, number = _zendesk_event()
    answer = _post(api, "zendesk", body, sign_zendesk(WEBHOOK_SECRETS["zendesk"], body, timestamp=_now_iso()))
    assert answer.status_code == 202, answer.text
    ticket_id = answer.json()["ticket_id"]
    assert number in ticket_id
    state = wait_done(client, ticket_id)
    assert state["status"] == "done"
    assert state["result"]["intent"]["label"]
    customer = state["result"]["customer_id"]
    assert ticket_id in [entry["ticket_id"] for entry in client.get(f"/v1/customers/{customer}/history").json()["tickets"]]


def test_freshdesk_ticket_json_ends_in_the_history(api: str, client: httpx.Client) -> None:
    """A Freshdesk ticket JSON signed with the generic scheme becomes a ticket with its HTML made text."""
    payload = json.loads((PAYLOADS / "freshdesk_ticket.json").read_text())
    payload["id"] = random.randrange(10**6, 10**7)
    body = json.dumps(payload).encode()
    answer = _post(api, "freshdesk", body, sign(WEBHOOK_SECRETS["freshdesk"], body))
    assert answer.status_code == 202, answer.text
    state = wait_done(client, answer.json()["ticket_id"])
    assert state["status"] == "done"
    assert "<" not in state["result"]["cleaning"]["text"]


def test_wrong_expired_and_missing_signatures_are_401(api: str) -> None:
    """A wrong secret, an old timestamp and no signature at all are each refused, by name."""
    body, _ = _zendesk_event()
    wrong = _post(api, "zendesk", body, sign_zendesk("not-the-secret", body, timestamp=_now_iso()))
    expired = _post(api, "zendesk", body, sign_zendesk(WEBHOOK_SECRETS["zendesk"], body, timestamp=_now_iso(-3600)))
    missing = _post(api, "zendesk", body, {})
    generic = _post(api, "acme", b"{}", sign(WEBHOOK_SECRETS["acme"], b"{}", timestamp=int(time.time()) - 3600))
    codes = [r.json()["error"]["code"] for r in (wrong, expired, missing, generic)]
    assert [r.status_code for r in (wrong, expired, missing, generic)] == [401] * 4
    assert codes == ["signature_mismatch", "signature_expired", "signature_missing", "signature_expired"]


def test_replayed_signature_is_refused(api: str) -> None:
    """The same signed request sent twice inside the window is taken once, then refused with 409."""
    body, _ = _zendesk_event()
    headers = sign_zendesk(WEBHOOK_SECRETS["zendesk"], body, timestamp=_now_iso())
    assert _post(api, "zendesk", body, headers).status_code == 202
    again = _post(api, "zendesk", body, headers)
    assert again.status_code == 409 and again.json()["error"]["code"] == "signature_replayed"


def test_unknown_source_and_unmappable_payload(api: str) -> None:
    """A source without a secret is 404; a signed payload that is no ticket is 422, naming why."""
    assert _post(api, "nobody", b"{}", sign("x", b"{}")).status_code == 404
    body = json.dumps({"hello": "world"}).encode()
    answer = _post(api, "zendesk", body, sign_zendesk(WEBHOOK_SECRETS["zendesk"], body, timestamp=_now_iso()))
    assert answer.status_code == 422
    assert answer.json()["error"]["message"]
