"""Tickets over real HTTP to a real API process, triaged by the session's real worker."""

from __future__ import annotations

import json
import uuid

import httpx
from api_server import wait_done
from samples import screenshot_png


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_posted_ticket_ends_in_the_history(client: httpx.Client) -> None:
    """A JSON ticket is accepted (202), triaged, readable by its status URL and in the customer's history."""
    ticket_id, customer = _id("api"), _id("cust")
    answer = client.post("/v1/tickets", json={"ticket_id": ticket_id, "customer_id": customer,
                                              "body": "I lost my card on the bus, please block it"})
    assert answer.status_code == 202
    body = answer.json()
    assert body["ticket_id"] == ticket_id and body["status"] == "queued" and body["task_id"]
    state = wait_done(client, ticket_id)
    assert state["status"] == "done"
    assert state["result"]["intent"]["label"] == "lost_or_stolen_card"
    history = client.get(f"/v1/customers/{customer}/history").json()
    assert [entry["ticket_id"] for entry in history["tickets"]] == [ticket_id]


def test_same_ticket_id_is_triaged_once(client: httpx.Client) -> None:
    """Posting an id again answers 200 with the first post's task, and the CRM holds one ticket."""
    ticket_id, customer = _id("dup"), _id("cust")
    ticket = {"ticket_id": ticket_id, "customer_id": customer, "body": "How do I change my PIN?"}
    first = client.post("/v1/tickets", json=ticket)
    second = client.post("/v1/tickets", json=ticket)
    assert (first.status_code, second.status_code) == (202, 200)
    assert second.json()["duplicate"] is True and second.json()["task_id"] == first.json()["task_id"]
    wait_done(client, ticket_id)
    assert len(client.get(f"/v1/customers/{customer}/history").json()["tickets"]) == 1


def test_multipart_screenshot_is_stored_and_read(client: httpx.Client) -> None:
    """A multipart post stores the screenshot in the blob store and the worker reads it by OCR."""
    ticket_id = _id("mp")
    png = screenshot_png(["Your card payment was declined", "Please contact your bank"])
    answer = client.post("/v1/tickets", data={"ticket": json.dumps({"ticket_id": ticket_id, "customer_id": _id("c"),
                                                                    "body": "See attached."})},
                         files={"files": ("declined.png", png, "image/png")})
    assert answer.status_code == 202, answer.text
    state = wait_done(client, ticket_id, timeout=180)
    assert "ocr" in state["result"]["modalities"]
    assert "declin" in json.dumps(state["result"]["transcripts"]).lower()


def test_ticket_with_nothing_readable_ends_failed_with_its_reason(client: httpx.Client) -> None:
    """A ticket whose only content is a corrupt image ends failed, not pending, and says why."""
    ticket_id = _id("empty")
    answer = client.post("/v1/tickets", data={"ticket": json.dumps({"ticket_id": ticket_id, "customer_id": _id("c")})},
                         files={"files": ("broken.png", b"\x89PNG\r\n\x1a\n not really", "image/png")})
    assert answer.status_code == 202, answer.text
    state = wait_done(client, ticket_id)
    assert state["status"] == "failed"
    codes = {error["code"] for error in state["errors"]}
    assert "no_text" in codes and len(codes) >= 2  # the image's own error too


def test_batch_answers_per_item(client: httpx.Client) -> None:
    """A batch accepts the good tickets and names the field of the bad one."""
    good, customer = _id("b"), _id("c")
    answer = client.post("/v1/tickets/batch", json={"tickets": [
        {"ticket_id": good, "customer_id": customer, "body": "my card has not arrived"},
        {"ticket_id": _id("b"), "body": "no customer"},
        {"ticket_id": good, "customer_id": customer, "body": "my card has not arrived"},
    ]})
    assert answer.status_code == 200
    body = answer.json()
    assert [item["outcome"] for item in body["items"]] == ["accepted", "rejected", "duplicate"]
    assert body["items"][1]["error"]["field"] == "tickets.1.customer_id"
    assert wait_done(client, good)["status"] == "done"


def test_bad_requests_get_named_4xx(client: httpx.Client, api: str) -> None:
    """Malformed JSON, a wrong content type, a contract breach, server paths and unknown ids are named 4xx."""
    cases = [
        (client.post("/v1/tickets", content=b"{not json", headers={"content-type": "application/json"}), 400,
         "malformed_json"),
        (client.post("/v1/tickets", content=b"hello", headers={"content-type": "text/plain"}), 415,
         "unsupported_media_type"),
        (client.post("/v1/tickets", json={"ticket_id": "x y", "customer_id": "c"}), 422, None),
        (client.post("/v1/tickets", json={"ticket_id": _id("p"), "customer_id": "c", "body": "hi", "attachments": [
            {"kind": "image", "uri": "/etc/passwd"}]}), 422, "attachment_not_uploaded"),
        (client.get("/v1/tickets/never-posted"), 404, "unknown_ticket"),
        (client.get("/v1/customers/nobody-at-all/history"), 404, "unknown_customer"),
    ]
    for response, status, code in cases:
        assert response.status_code == status, response.text
        error = response.json()["error"]
        assert error["message"]
        if code:
            assert error["code"] == code
    assert cases[2][0].json()["error"]["field"] == "ticket_id"


def test_oversize_attachment_and_body_are_413(client: httpx.Client, api_env: dict) -> None:
    """An attachment over the attachment limit is refused with 413 and its field."""
    limit = int(api_env.get("TICKETFUSION_MAX_ATTACHMENT_BYTES", 20 * 1024 * 1024))
    answer = client.post("/v1/tickets", data={"ticket": json.dumps({"ticket_id": _id("big"), "customer_id": "c"})},
                         files={"files": ("big.png", b"\x89PNG" + b"0" * limit, "image/png")})
    assert answer.status_code == 413
    assert answer.json()["error"]["field"] == "attachments.0"


def test_probes_and_metrics(api: str) -> None:
    """healthz and readyz answer without a key; metrics count requests by route."""
    assert httpx.get(f"{api}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{api}/readyz").json()
    assert ready == {"status": "ready", "checks": {"redis": "ok", "database": "ok"}}
    text = httpx.get(f"{api}/metrics").text
    assert 'ticketfusion_api_requests_total{method="GET",route="/healthz",status="200"}' in text
