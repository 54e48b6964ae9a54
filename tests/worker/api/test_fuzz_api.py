"""Hostile raw requests against the real API server: invalid UTF-8, 100k-deep JSON, huge headers,
wrong content types, broken multipart, a 10 MB ticket part, lying attachment types, chunked
bodies past the limit, many bad requests at once. Never a 5xx, always the JSON error body from
the application, and the server still answers /healthz afterwards."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import httpx
import pytest
from api_server import WEBHOOK_SECRETS, running_api, wait_done
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from worker.signing import sign

FUZZ = settings(database=None, derandomize=True, deadline=None, max_examples=60,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large])
SMALL_LIMIT = 64 * 1024
# Found by this file, in code outside it; each marker goes once its fix lands (strict: a fix shows).
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde\x00\x00"
       b"\x00\x0cIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82")
WAV = b"RIFF$\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x80>\x00\x00\x00}\x00\x00\x02\x00\x10\x00data\x00\x00\x00\x00"


def assert_refusal(response: httpx.Response, *statuses: int) -> dict:
    """A 4xx with the one error body (``{"error": {"code", "message", "field"}}``), never a 5xx."""
    assert response.status_code < 500, f"{response.status_code}: {response.text[:500]}"
    assert 400 <= response.status_code < 500, f"{response.status_code}: {response.text[:300]}"
    if statuses:
        assert response.status_code in statuses, f"{response.status_code}: {response.text[:300]}"
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] and isinstance(body["error"]["message"], str), body
    return body["error"]


def raw_exchange(url: str, request: bytes, *, read_timeout: float = 10) -> tuple[int | None, bytes]:
    """Send bytes as they are on one TCP connection; the status code (None if the server just closed)."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=read_timeout) as sock:
        try:
            sock.sendall(request)
        except OSError:  # the server may refuse before reading it all
            pass
        sock.settimeout(read_timeout)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
                if b"\r\n\r\n" in answer and _complete(answer):
                    break
        except (TimeoutError, ConnectionResetError):
            pass
    if not answer.startswith(b"HTTP/1."):
        return None, answer
    return int(answer.split(b" ", 2)[1]), answer


def _complete(answer: bytes) -> bool:
    head, _, body = answer.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":", 1)[1])
    return False


def _assert_alive(url: str) -> None:
    assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200


@pytest.fixture(scope="module")
def small_api(api_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second API process with a 64 KiB request limit, so that limits are crossed cheaply."""
    env = api_env | {"TICKETFUSION_API_MAX_REQUEST_BYTES": str(SMALL_LIMIT), "TICKETFUSION_MAX_LINE_BYTES": "65536"}
    with running_api(env, tmp_path_factory.mktemp("api-small-log") / "api.log") as url:
        yield url


# -- bodies ----------------------------------------------------------------------------------

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=20,
)
ticket_keys = st.sampled_from(["ticket_id", "customer_id", "body", "subject", "channel", "attachments", "metadata",
                               "created_at"])
ticketish = st.dictionaries(ticket_keys, json_values, max_size=6)
raw_bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    ticketish.map(lambda v: json.dumps(v).encode()),
    st.sampled_from([b"\xff\xfe\xfd", b"\xef\xbb\xbf{}", b'{"ticket_id": "\\ud800"}', b"[" * 100_000,
                     b"[" * 50_000 + b"]" * 50_000, b"NaN", b'{"ticket_id": "T-1", "customer_id": "C\\ud800"}',
                     b'{"tickets": ' + b"[" * 20_000 + b"]" * 20_000 + b"}", b'{"tickets": 5}', b'{"tickets": [1, null]}',
                     b"\x00" * 100, b'{"ticket_id": "T-1", "customer_id": "C", "body": "x\\u0000"}']),
)
content_types = st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain", "",
                                 "application/x-www-form-urlencoded", "multipart/form-data",
                                 "multipart/form-data; boundary=", "multipart/form-data; boundary=xyz",
                                 "application/json; charset=latin-1", "image/png", "APPLICATION/JSON",
                                 "*/*"])


@FUZZ
@given(body=raw_bodies, content_type=content_types, path=st.sampled_from(["/v1/tickets", "/v1/tickets/batch"]))
def test_hostile_bodies_are_refused_with_the_error_body(client: httpx.Client, body: bytes, content_type: str,
                                                        path: str) -> None:
    """Random and hostile bodies under any content type: never a 5xx, every refusal with the error body."""
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post(path, content=body, headers=headers)
    if response.status_code >= 300:
        assert_refusal(response)


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"\xff\xfe not utf-8", "application/json", 400),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", 400),
        (b'{"ticket": ' + b"{\"a\":" * 100_000 + b"1" + b"}" * 100_000 + b"}", "application/json", 400),
        (b"[" * 900 + b"]" * 900, "application/json", 422),
        (b'{"ticket_id": "T-1", "customer_id": "C", "body": "x", "metadata": {"d": ' + b"[" * 900 + b"]" * 900 + b"}}",
         "application/json", 422),
        (b'{"ticket_id": "T-1", "customer_id": "C", "body": "x", "channel": ' + b"[" * 5_000 + b"]" * 5_000 + b"}",
         "application/json", 400),
        (b'{"ticket_id": "T\\ud800", "customer_id": "C", "body": "x"}', "application/json", 422),
        (b"{}", "text/plain", 415),
        (b"{}", "", 415),
        (b"<ticket/>", "application/xml", 415),
        (b"ticket=1", "application/x-www-form-urlencoded", 415),
        (b'{"ticket_id": "T-1"}', "application/json; charset=latin-1", 422),
    ],
)
def test_named_hostile_bodies(client: httpx.Client, body: bytes, content_type: str, status: int) -> None:
    """Invalid UTF-8, 100k-deep JSON, deep metadata, deep enums, lone surrogates, wrong content types: the expected 4xx."""
    response = client.post("/v1/tickets", content=body, headers={"Content-Type": content_type} if content_type else {})
    assert_refusal(response, status, 400, 422)


@pytest.mark.parametrize("body", [b"1" * 5_000, b'{"ticket_id": ' + b"9" * 5_000 + b"}"])
def test_integers_past_pythons_digit_limit_are_malformed_json(client: httpx.Client, body: bytes) -> None:
    """A number of more than 4300 digits (json.loads raises ValueError, not JSONDecodeError) is a 400, not a 500."""
    for path in ("/v1/tickets", "/v1/tickets/batch"):
        assert_refusal(client.post(path, content=body, headers={"Content-Type": "application/json"}), 400, 422)


# -- multipart -------------------------------------------------------------------------------

def _multipart(boundary: bytes, parts: list[tuple[bytes, bytes]], *, close: bool = True) -> bytes:
    out = b""
    for headers, content in parts:
        out += b"--" + boundary + b"\r\n" + headers + b"\r\n\r\n" + content + b"\r\n"
    return out + (b"--" + boundary + b"--\r\n" if close else b"")


def _ticket_part(ticket: dict | bytes) -> tuple[bytes, bytes]:
    data = ticket if isinstance(ticket, bytes) else json.dumps(ticket).encode()
    return b'Content-Disposition: form-data; name="ticket"', data


def _file_part(name: bytes, content_type: bytes, data: bytes) -> tuple[bytes, bytes]:
    return (b'Content-Disposition: form-data; name="files"; filename="' + name + b'"\r\nContent-Type: ' + content_type,
            data)


TICKET = {"customer_id": "C-fuzz", "body": "my transfer failed"}


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data", _multipart(b"b", [_ticket_part(TICKET)])),  # no boundary parameter
        ("multipart/form-data; boundary=", _multipart(b"b", [_ticket_part(TICKET)])),
        ("multipart/form-data; boundary=other", _multipart(b"b", [_ticket_part(TICKET)])),  # the wrong boundary
        ("multipart/form-data; boundary=b", _multipart(b"b", [_ticket_part(TICKET)], close=False)),  # never closed
        ("multipart/form-data; boundary=b", b"--b\r\nContent-Disposition: form-data; name=\"ticket\"\r\n\r\n{\"a\""),
        ("multipart/form-data; boundary=b", b"--b\r\n\r\n\r\n--b--\r\n"),  # a part without headers
        ("multipart/form-data; boundary=b", b"--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--\r\n"),
        ("multipart/form-data; boundary=b", b"garbage before any boundary" * 100),
        ("multipart/form-data; boundary=b", _multipart(b"b", [_ticket_part(b"\xff\xfe")])),
        ("multipart/form-data; boundary=b", _multipart(b"b", [_ticket_part(b"[" * 100_000)])),
        ("multipart/form-data; boundary=b", _multipart(b"b", [_ticket_part(b"[1, 2]")])),
        ("multipart/form-data; boundary=b", _multipart(b"b", [_ticket_part({**TICKET, "ticket_id": "MP-1"})] * 20)),
        ("multipart/form-data; boundary=b", _multipart(b"b", [_file_part(b"a.png", b"image/png", PNG)])),  # no ticket
        ("multipart/form-data; boundary=b", _multipart(b"b", [_ticket_part({**TICKET, "ticket_id": "MP-2"}),
                                                             *[_file_part(b"a.png", b"image/png", PNG)] * 50])),
    ],
    ids=["no-boundary", "empty-boundary", "wrong-boundary", "unclosed", "cut-mid-part", "no-part-headers",
         "no-part-name", "garbage", "ticket-not-utf8", "ticket-100k-deep", "ticket-a-list", "ticket-20-times",
         "files-only", "50-files"],
)
def test_broken_multipart_is_refused_with_the_error_body(client: httpx.Client, content_type: str, body: bytes) -> None:
    """Multipart with no, empty or wrong boundaries, unclosed or cut parts, broken ticket parts, too many files."""
    assert_refusal(client.post("/v1/tickets", content=body, headers={"Content-Type": content_type}))


@pytest.mark.parametrize("attachments", [5, "x", {"a": 1}, [1, 2, 3], None,
                                         [[[[]]]]])
def test_multipart_ticket_with_odd_attachments_field(client: httpx.Client, attachments: object) -> None:
    """A multipart ticket part whose ``attachments`` is a number, a string, an object: refused by name, not a 500."""
    ticket = {**TICKET, "ticket_id": f"MPA-{abs(hash(json.dumps(attachments))) % 10**8}", "attachments": attachments}
    body = _multipart(b"b", [_ticket_part(ticket), _file_part(b"a.png", b"image/png", PNG)])
    response = client.post("/v1/tickets", content=body, headers={"Content-Type": "multipart/form-data; boundary=b"})
    if response.status_code >= 300:
        assert_refusal(response)


def test_a_10_mb_ticket_part_is_refused(client: httpx.Client) -> None:
    """A ``ticket`` part of 10 MB (past max_line_bytes): a 4xx with the error body, the server unharmed."""
    ticket = json.dumps({**TICKET, "ticket_id": "MP-big", "body": "x" * 10_000_000}).encode()
    body = _multipart(b"b", [_ticket_part(ticket)])
    assert_refusal(client.post("/v1/tickets", content=body, headers={"Content-Type": "multipart/form-data; boundary=b"}))


@pytest.mark.parametrize(
    ("declared", "data", "code"),
    [
        (b"audio/ogg", PNG, "unsupported_media_type"),  # PNG bytes declared audio
        (b"image/png", WAV, "unsupported_media_type"),  # WAV bytes declared an image
        (b"image/png", b"MZ\x90\x00 this is a windows program", "unsupported_media_type"),
        (b"image/png", b"", "empty_attachment"),
    ],
)
def test_attachments_with_lying_content_types_end_with_a_named_error(client: httpx.Client, declared: bytes,
                                                                     data: bytes, code: str) -> None:
    """A file whose declared type lies is taken in (the API does not decode) and refused by the worker by its bytes."""
    ticket_id = f"LIE-{declared.decode().replace('/', '-')}-{len(data)}-{int(time.time() * 1000) % 10**7}"
    body = _multipart(b"b", [_ticket_part({**TICKET, "ticket_id": ticket_id}), _file_part(b"f", declared, data)])
    response = client.post("/v1/tickets", content=body, headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert response.status_code == 202, response.text
    state = wait_done(client, ticket_id)
    assert {"where": "attachments.0", "code": code}.items() <= state["errors"][0].items(), state
    assert state["result"]["intent"] is not None


@pytest.mark.parametrize("content_type", [b"text/html", b"application/x-msdownload", b"", b"image", b"\xff\xfe"])
def test_attachments_that_are_neither_image_nor_audio_are_415(client: httpx.Client, content_type: bytes) -> None:
    """A file declared as neither image nor audio (or with a junk type): 415 with the error body."""
    body = _multipart(b"b", [_ticket_part({**TICKET, "ticket_id": "NT-1"}), _file_part(b"f.bin", content_type, b"x")])
    assert_refusal(client.post("/v1/tickets", content=body, headers={"Content-Type": "multipart/form-data; boundary=b"}),
                   415, 400)


# -- limits, headers, the protocol -----------------------------------------------------------

def test_a_chunked_body_past_the_limit_is_413(small_api: str, key: str) -> None:
    """A chunked body streaming past the request limit is refused with the error body (413; 400 from the form parser)."""
    def chunks(head: bytes, tail: bytes) -> Iterator[bytes]:
        yield head
        for _ in range(4 * SMALL_LIMIT // 1024):
            yield b"x" * 1024
        yield tail

    json_parts = (b'{"ticket_id": "CH-1", "customer_id": "C", "body": "', b'"}')
    form_parts = (b'--b\r\nContent-Disposition: form-data; name="ticket"\r\n\r\n{"body": "', b'"}\r\n--b--\r\n')
    for path, content_type, parts, statuses in (
            ("/v1/tickets", "application/json", json_parts, (413,)),
            ("/v1/tickets", "multipart/form-data; boundary=b", form_parts, (413, 400)),
            ("/v1/tickets/batch", "application/json", json_parts, (413,)),
            ("/v1/webhooks/acme", "application/json", json_parts, (413,))):
        response = httpx.post(small_api + path, content=chunks(*parts), timeout=30,
                              headers={"Authorization": f"Bearer {key}", "Content-Type": content_type})
        assert_refusal(response, *statuses)
    _assert_alive(small_api)


def test_a_declared_length_past_the_limit_is_413_before_the_body(small_api: str, key: str) -> None:
    """Content-Length over the limit is refused at once, without waiting for (or reading) the body."""
    request = (f"POST /v1/tickets HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json"
               f"\r\nContent-Length: {10**12}\r\n\r\n").encode()
    status, answer = raw_exchange(small_api, request)
    assert status == 413, answer[:300]
    assert b'"request_too_large"' in answer


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"POST /v1/tickets HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n{",  # a body shorter than declared
        b"POST /v1/tickets HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n{}",
        b"POST /v1/tickets HTTP/1.1\r\nHost: x\r\nContent-Length: 1e3\r\n\r\n{}",
        b"POST /v1/tickets HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
        b"POST /v1/tickets HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        b"POST /v1/tickets HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n",
        b"POST /v1/tickets HTTP/1.1\r\nHost: x\r\n" + b"X-Many: 1\r\n" * 20_000 + b"\r\n",
        b"POST /v1/tickets HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\xfd\r\nContent-Length: 2\r\n\r\n{}",
        b"POST /v1/tickets HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tfk_" + b"a" * 8_000 + b"\r\nContent-Length: 2\r\n\r\n{}",
        b"POST /v1/tickets HTTP/1.1\r\nHost: x\r\nBad Header Name: 1\r\n\r\n",
        b"POST /v1/tickets HTTP/9.9\r\nHost: x\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 200,  # a TLS hello on the plain port
        b"GET /v1/tickets/" + b"%00" * 1_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /v1/tickets/%ff%fe HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
    ids=["short-body", "negative-length", "float-length", "bad-chunk", "chunked-and-length", "200k-header",
         "20k-headers", "non-ascii-key", "8k-key", "bad-header-name", "http-9.9", "tls-hello", "nul-path",
         "bad-utf8-path", "100k-path"],
)
def test_protocol_level_junk_never_gets_a_5xx(api: str, request_bytes: bytes) -> None:
    """Lying lengths, broken chunking, huge headers, TLS on the plain port, junk paths: never a 5xx, server alive."""
    # The HTTP parser (h11) refuses malformed requests with its own plain-text 400 (or closes the connection)
    # before the application sees them; what reaches the application gets the JSON error body.
    status, answer = raw_exchange(api, request_bytes, read_timeout=5)
    assert status is None or status < 500, answer[:300]
    if status is not None and b"application/json" in answer.split(b"\r\n\r\n", 1)[0].lower():
        body = json.loads(answer.split(b"\r\n\r\n", 1)[1].decode())
        assert set(body) == {"error"}, body
    _assert_alive(api)


@pytest.mark.parametrize("authorization", [b"", b"Bearer", b"Basic eA==", b"Bearer tfk_x_y", b"bearer " + b"k" * 10_000,
                                           "Bearer tfk_\u00e9_\u00e9".encode(), b"Bearer \xff\xfe",
                                           b"Bearer tfk_" + b"0" * 64 + b"_" + b"0" * 64])
def test_junk_keys_are_401_with_the_error_body(api: str, authorization: bytes) -> None:
    """Missing, empty, wrong-scheme, malformed, huge and non-ASCII keys: 401 with the error body."""
    headers: dict[str, str | bytes] = {"Content-Type": "application/json"}
    if authorization:
        headers["Authorization"] = authorization
    assert_refusal(httpx.post(f"{api}/v1/tickets", content=b"{}", headers=headers, timeout=10), 401)


@pytest.mark.parametrize("path", ["/v1/tickets/%00", "/v1/tickets/" + "a" * 5_000, "/v1/customers/%ff/history",
                                  "/v1/customers/" + "x" * 200 + "/history?limit=-1", "/v1/tickets/..%2f..%2fetc",
                                  "/v1/customers/C/history?limit=" + "9" * 5_000, "/v1/nothing", "/%00"])
def test_junk_paths_are_4xx_with_the_error_body(client: httpx.Client, path: str) -> None:
    """NUL bytes, invalid UTF-8, overlong ids, huge query numbers, unknown routes: 404 or 422 with the error body."""
    assert_refusal(client.get(path), 404, 422)


def test_a_batch_item_with_a_lone_surrogate_id_is_rejected_by_name(client: httpx.Client) -> None:
    """A batch whose item's ticket_id holds a lone surrogate: that item rejected by name, the answer valid JSON."""
    response = client.post("/v1/tickets/batch", content=b'{"tickets": [{"ticket_id": "\\ud800", "customer_id": "C"}]}',
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    assert response.json()["rejected"] == 1


# -- webhooks --------------------------------------------------------------------------------

@pytest.mark.parametrize("source", ["acme", "zendesk", "freshdesk"])
@pytest.mark.parametrize(
    "body",
    [b"\xff\xfe", b"[" * 100_000, b"1" * 5_000, b"[1, 2]", b"null", b'"x"', b"{}", b'{"ticket": {"id": []}}',
     b'{"ticket": ' + b"[" * 900 + b"]" * 900 + b"}", b'{"description": {"a": [1]}, "subject": 5, "id": {}}',
     json.dumps({"ticket_id": "WH-\ud800", "customer_id": "C", "body": "x"}).encode()],
)
def test_signed_hostile_webhook_payloads_are_refused_by_name(api: str, source: str, body: bytes) -> None:
    """Correctly signed payloads that are not JSON, nest 100k deep, hold huge ints or the wrong shapes: a 4xx."""
    if source == "zendesk":
        from datetime import datetime, timezone

        from worker.signing import sign_zendesk

        headers = sign_zendesk(WEBHOOK_SECRETS[source], body, timestamp=datetime.now(timezone.utc).isoformat())
    else:
        headers = sign(WEBHOOK_SECRETS[source], body)
    response = httpx.post(f"{api}/v1/webhooks/{source}", content=body, timeout=30,
                          headers={**headers, "Content-Type": "application/json"})
    assert_refusal(response)


@pytest.mark.parametrize("headers", [{}, {"X-Ticketfusion-Timestamp": "x", "X-Ticketfusion-Signature": "sha256=zz"},
                                     pytest.param({"X-Ticketfusion-Timestamp": "9" * 400, "X-Ticketfusion-Signature": "sha256="}),
                                     {"X-Ticketfusion-Timestamp": "-1e308", "X-Ticketfusion-Signature": "x" * 10_000},
                                     {"X-Ticketfusion-Timestamp": "nan", "X-Ticketfusion-Signature": "sha256=" + "0" * 64},
                                     {"X-Ticketfusion-Timestamp": "١٢٣".encode(), "X-Ticketfusion-Signature": "sha256=" + "0" * 64}])
def test_junk_webhook_signatures_are_401(api: str, headers: dict[str, str | bytes]) -> None:
    """Missing, malformed, huge and non-numeric signatures and timestamps: 401 with the error body."""
    response = httpx.post(f"{api}/v1/webhooks/acme", content=b"{}", timeout=10,
                          headers={**headers, "Content-Type": "application/json"})
    assert_refusal(response, 401)


# -- many at once ----------------------------------------------------------------------------

def test_many_concurrent_bad_requests_leave_the_server_answering(api: str, key: str) -> None:
    """400 hostile requests from 16 threads: no 5xx, and /healthz and a real ticket still go through afterwards."""
    auth = {"Authorization": f"Bearer {key}"}
    requests = [
        ("/v1/tickets", b"\xff" * 100, {**auth, "Content-Type": "application/json"}),
        ("/v1/tickets", b"[" * 100_000, {**auth, "Content-Type": "application/json"}),
        ("/v1/tickets", _multipart(b"b", [_ticket_part(b"{")], close=False),
         {**auth, "Content-Type": "multipart/form-data; boundary=b"}),
        ("/v1/tickets/batch", b'{"tickets": ' + b"[" * 30_000 + b"]" * 30_000 + b"}",
         {**auth, "Content-Type": "application/json"}),
        ("/v1/tickets", b"{}", {"Authorization": "Bearer tfk_nope_nope", "Content-Type": "application/json"}),
        ("/v1/tickets", b'{"ticket_id": "T-1"}', {**auth, "Content-Type": "text/plain"}),
        ("/v1/webhooks/acme", b"{}", {"Content-Type": "application/json"}),
        ("/v1/tickets", b'{"customer_id": "C", "ticket_id": "a@b.co", "body": "x"}',
         {**auth, "Content-Type": "application/json"}),
    ]

    def send(index: int) -> tuple[int, str]:
        path, body, headers = requests[index % len(requests)]
        with httpx.Client(base_url=api, timeout=60) as http:
            response = http.post(path, content=body, headers=headers)
        return response.status_code, response.text[:200]

    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(send, range(400)))
    assert not [answer for answer in answers if answer[0] >= 500], answers[:5]
    assert all(400 <= status < 500 for status, _ in answers)
    _assert_alive(api)
    ok = httpx.post(f"{api}/v1/tickets", headers=auth, timeout=30,
                    json={"ticket_id": f"AFTER-{int(time.time())}", "customer_id": "C-fuzz", "body": "my card was declined"})
    assert ok.status_code in (200, 202), ok.text

