"""Profiles kept in the background while tickets flow through the real API and worker: identities
that link two customer ids, and a resolution posted over HTTP."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
from api_server import wait_done

PHONE = "+44 20 7946 0{:03d}"


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _profile_when(client: httpx.Client, customer: str, ready: Any, *, timeout: float = 60.0) -> dict[str, Any]:
    """The customer's profile once ``ready(profile)`` holds (the on-update task runs after the CRM write)."""
    deadline = time.monotonic() + timeout
    profile: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        profile = client.get(f"/v1/customers/{customer}/history").json().get("profile")
        if profile and ready(profile):
            return profile
        time.sleep(0.3)
    raise AssertionError(f"profile of {customer} never got ready: {profile}")


def test_two_channels_that_share_a_phone_number_become_one_profile(client: httpx.Client) -> None:
    """A chat and a web customer who both give one phone number are linked; the profile counts both."""
    phone = PHONE.format(uuid.uuid4().int % 1000)
    chat, web = _id("chat"), _id("web")
    first, second = _id("t"), _id("t")
    client.post("/v1/tickets", json={"ticket_id": first, "customer_id": chat, "channel": "chat",
                                     "body": f"My new card has not arrived yet. Call me on {phone}"})
    wait_done(client, first)
    client.post("/v1/tickets", json={"ticket_id": second, "customer_id": web, "channel": "web",
                                     "body": f"Still no card in the post after two weeks, my number is {phone}"})
    wait_done(client, second)
    profile = _profile_when(client, web, lambda p: p["tickets"] == 2)
    assert [link["customer_id"] for link in profile["linked_customers"]] == [chat]
    assert profile["linked_customers"][0]["via"] == "phone"
    assert profile["channels"] == {"chat": 1, "web": 1}
    assert phone.replace(" ", "") not in str(profile) and phone not in str(profile)


def test_a_posted_resolution_closes_the_open_issue(client: httpx.Client) -> None:
    """POST /v1/tickets/{id}/resolution closes the issue in the profile; again, it changes nothing."""
    customer, ticket_id = _id("cust"), _id("res")
    client.post("/v1/tickets", json={"ticket_id": ticket_id, "customer_id": customer,
                                     "body": "I lost my card on the bus, please block it"})
    wait_done(client, ticket_id)
    opened = _profile_when(client, customer, lambda p: p["tickets"] == 1)
    assert [issue["intent"] for issue in opened["open_issues"]] == ["lost_or_stolen_card"]
    answer = client.post(f"/v1/tickets/{ticket_id}/resolution", json={"note": "card blocked, new one sent"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["new"] is True and body["customer_id"] == customer and body["profile"]["open_issues"] == []
    assert client.post(f"/v1/tickets/{ticket_id}/resolution").json()["new"] is False
    missing = client.post(f"/v1/tickets/{_id('nope')}/resolution")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "unknown_ticket"
