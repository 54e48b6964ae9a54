"""One signed POST to a real HTTP receiver: headers, signature, and how each failure is judged."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest
from outbound_samples import SECRET, Receiver, ticket_with_card, triaged
from outbound_samples import subscription as make_subscription

from worker.outbound import DeliveryFailed, generic, post
from worker.signing import SignatureMismatch, verify

REPO = Path(__file__).resolve().parents[3]


def test_the_payload_arrives_signed_and_verifies(receiver: Receiver) -> None:
    """The receiver gets compact sorted JSON with our headers, and worker.signing.verify accepts it."""
    payload = generic(triaged(), ticket_with_card())
    post(make_subscription(receiver.url), payload, delivery_id="dlv_abc")
    (request,) = receiver.requests
    assert request.path == "/hooks/results"
    headers = {name.lower(): value for name, value in request.headers.items()}
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"] == "ticketfusion"
    assert headers["idempotency-key"] == headers["x-ticketfusion-delivery"] == "dlv_abc"
    assert request.body == json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    assert json.loads(request.body) == payload
    verified = verify(SECRET, request.body, request.headers)
    assert verified.signature.startswith("sha256=")
    with pytest.raises(SignatureMismatch):
        verify("another-secret-0123456789", request.body, request.headers)
    with pytest.raises(SignatureMismatch):
        verify(SECRET, request.body + b" ", request.headers)


def test_the_docs_snippet_verifies_a_real_delivery(receiver: Receiver) -> None:
    """The receiver-side Python snippet in docs/webhooks.md accepts a real delivery and refuses a forged one."""
    post(make_subscription(receiver.url), {"hello": "world"}, delivery_id="dlv_doc")
    (request,) = receiver.requests
    snippet = re.search(r"```python\n(.*?)```", (REPO / "docs" / "webhooks.md").read_text(), re.S)
    assert snippet, "docs/webhooks.md has a python block"
    namespace: dict = {}
    exec(snippet.group(1), namespace)  # noqa: S102 (our own documentation)
    assert namespace["verify_ticketfusion"](SECRET.encode(), request.body, request.headers) is True
    assert namespace["verify_ticketfusion"](SECRET.encode(), b'{"hello":"forged"}', request.headers) is False


@pytest.mark.parametrize(("status", "retryable"), [(500, True), (502, True), (503, True), (408, True), (429, True),
                                                   (400, False), (401, False), (404, False), (410, False),
                                                   (422, False)])
def test_each_status_is_judged_retryable_or_not(receiver: Receiver, status: int, retryable: bool) -> None:
    """5xx, 408 and 429 are retryable; other 4xx are not."""
    receiver.fail(1, status=status, body=b"nope")
    with pytest.raises(DeliveryFailed) as caught:
        post(make_subscription(receiver.url), {"a": 1}, delivery_id="dlv_x")
    assert caught.value.status == status and caught.value.retryable is retryable
    assert str(caught.value).startswith(f"HTTP {status}")


def test_retry_after_is_read(receiver: Receiver) -> None:
    """A 429's Retry-After (seconds) travels on the failure."""
    receiver.fail(1, status=429, headers={"Retry-After": "120"})
    with pytest.raises(DeliveryFailed) as caught:
        post(make_subscription(receiver.url), {"a": 1}, delivery_id="dlv_x")
    assert caught.value.retry_after == 120.0


def test_an_echoed_card_number_is_masked_in_the_reason(receiver: Receiver) -> None:
    """What a receiver answers is kept short and masked: no card number reaches last_error."""
    receiver.fail(1, status=400, body=b'{"error": "bad card 4111 1111 1111 1111"}' + b"x" * 5000)
    with pytest.raises(DeliveryFailed) as caught:
        post(make_subscription(receiver.url), {"a": 1}, delivery_id="dlv_x")
    assert "4111 1111 1111 1111" not in caught.value.reason and "[card ****1111]" in caught.value.reason
    assert len(caught.value.reason) < 300


def test_a_redirect_is_not_followed(receiver: Receiver) -> None:
    """A 3xx is not followed (the signed body is for the configured URL) and is not retryable."""
    receiver.fail(1, status=302, headers={"Location": receiver.url + "/elsewhere"})
    with pytest.raises(DeliveryFailed, match="not followed") as caught:
        post(make_subscription(receiver.url), {"a": 1}, delivery_id="dlv_x")
    assert caught.value.status == 302 and caught.value.retryable is False
    assert len(receiver.requests) == 1


def test_a_timeout_is_retryable(receiver: Receiver) -> None:
    """A receiver slower than timeout_s is a retryable failure with no status."""
    receiver.delay_s = 1.0
    with pytest.raises(DeliveryFailed, match=r"no answer within 0.2 s from 'crm'") as caught:
        post(make_subscription(receiver.url, timeout_s=0.2), {"a": 1}, delivery_id="dlv_x")
    assert caught.value.status is None and caught.value.retryable is True


def test_a_refused_connection_is_retryable() -> None:
    """Nothing listening on the port is a retryable network error."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DeliveryFailed, match="network error reaching 'crm'") as caught:
        post(make_subscription(f"http://127.0.0.1:{port}/h"), {"a": 1}, delivery_id="dlv_x")
    assert caught.value.retryable is True and caught.value.status is None
