"""Remote attachment URLs: fetched into the blob store only from allow-listed hosts, within the
size and time limits, against a real HTTP server on 127.0.0.1; everything else is skipped with
its reason, and the ticket goes on without it."""

from __future__ import annotations

import time

import pytest

from mapping_samples import PNG, load
from producers.mappings import AttachmentFetcher, HostPolicy, RemoteAttachment, convert_payload
from worker.contract import Ticket
from worker.settings import Settings


def _allowing(settings, hosts: str = "127.0.0.1"):
    return settings.model_copy(update={"attachment_hosts": hosts})


def _trigger_with(urls: list[str], names: list[str] | None = None) -> dict:
    payload = load("zendesk_trigger.json")
    names = names or [url.rsplit("/", 1)[-1] for url in urls]
    payload["ticket"]["attachments"] = [{"url": url, "filename": name} for url, name in zip(urls, names)]
    return payload


def _convert(payload, settings, blobs, mapping="zendesk"):
    result = convert_payload(payload, mapping, settings=settings, blobs=blobs, source="hook")
    assert result.ok, result.error
    return Ticket.model_validate(result.ticket.model_dump(mode="json"))


def test_allowed_host_is_fetched_into_the_blob_store(settings, blobs, media_server, url):
    """An image on an allow-listed host becomes an image attachment stored as blob://, readable back."""
    ticket = _convert(_trigger_with([url(media_server, "/screen.png")]), _allowing(settings), blobs)
    assert media_server.requests == ["/screen.png"]
    (attachment,) = ticket.attachments
    assert attachment.kind.value == "image" and attachment.uri.startswith("blob://")
    assert attachment.content_type == "image/png" and attachment.size_bytes == len(PNG)
    assert blobs.resolve(attachment.uri).read_bytes() == PNG
    assert "skipped_attachments" not in ticket.metadata


def test_audio_by_content_type_and_redirect_on_the_same_host(settings, blobs, media_server, url):
    """Audio is kept as audio, and a redirect to an allowed host is followed."""
    payload = _trigger_with([url(media_server, "/voice.ogg"), url(media_server, "/hop")], ["voicemail", "shot"])
    ticket = _convert(payload, _allowing(settings), blobs)
    assert [a.kind.value for a in ticket.attachments] == ["audio", "image"]
    assert media_server.requests == ["/voice.ogg", "/hop", "/screen.png"]


def test_host_not_allowed_is_skipped_without_a_request(settings, blobs, media_server, url):
    """A host off the allow-list is listed as skipped with its reason and never contacted."""
    ticket = _convert(_trigger_with([url(media_server, "/screen.png")]), _allowing(settings, "*.zendesk.com"), blobs)
    assert ticket.attachments == []
    (skipped,) = ticket.metadata["skipped_attachments"]
    assert skipped["reason"] == "host_not_allowed" and "127.0.0.1" in skipped["message"]
    assert media_server.requests == []


def test_redirect_off_the_list_is_skipped(settings, blobs, media_server, url):
    """A redirect to a host not on the list is not followed."""
    ticket = _convert(_trigger_with([url(media_server, "/away")], ["x.png"]), _allowing(settings), blobs)
    assert ticket.metadata["skipped_attachments"][0]["reason"] == "redirect_not_allowed"
    assert media_server.requests == ["/away"]


def test_too_large_is_skipped(settings, blobs, media_server, url):
    """Over max_attachment_bytes, by the payload's size, the server's length or the bytes streamed."""
    fetcher = AttachmentFetcher(_allowing(settings), blobs)
    declared = fetcher.fetch(RemoteAttachment(url(media_server, "/screen.png"), "a.png", "image/png", 10**9))
    assert declared.reason == "too_large" and media_server.requests == []
    by_length = fetcher.fetch(RemoteAttachment(url(media_server, "/big.png"), "b.png"))
    assert by_length.reason == "too_large" and "10004 bytes" in by_length.message
    streamed = fetcher.fetch(RemoteAttachment(url(media_server, "/endless.png"), "c.png"))
    assert streamed.reason == "too_large" and "were sent" in streamed.message
    assert not any(p.is_file() for p in blobs.root.rglob("*") if ".tmp" not in p.parts)


@pytest.mark.parametrize("path", ["/slow.png", "/dribble.png"])
def test_slow_server_is_skipped_past_the_time_limit(settings, blobs, media_server, url, path):
    """A server that answers late, or sends a byte at a time, is abandoned after the time limit."""
    started = time.monotonic()
    ticket = _convert(_trigger_with([url(media_server, path)]), _allowing(settings), blobs)
    elapsed = time.monotonic() - started
    assert ticket.attachments == []
    assert ticket.metadata["skipped_attachments"][0]["reason"] == "timed_out"
    assert elapsed < 2.6  # the limit is 1 s; the server would take 3 s or 6 s


def test_not_image_or_audio_is_skipped(settings, blobs, media_server, url):
    """A PDF named in the payload is skipped unfetched; an HTML page served instead of an image too."""
    payload = load("freshdesk_ticket.json")
    payload["attachments"][0]["attachment_url"] = url(media_server, "/page.html")
    payload["attachments"][0]["content_type"] = None
    payload["attachments"][1]["attachment_url"] = url(media_server, "/statement.pdf")
    ticket = _convert(payload, _allowing(settings), blobs, mapping="freshdesk")
    reasons = [(s["name"], s["reason"]) for s in ticket.metadata["skipped_attachments"]]
    assert reasons == [("transfer_failed.png", "unsupported_media_type"), ("statement.pdf", "unsupported_media_type")]
    assert media_server.requests == ["/page.html"]


def test_missing_url_and_too_many(settings, blobs, media_server, url):
    """An attachment without a URL, or past max_attachments, is skipped; the rest are kept."""
    payload = _trigger_with([url(media_server, "/screen.png")] * 3)
    payload["ticket"]["attachments"].append({"filename": "lost.png"})
    ticket = _convert(payload, _allowing(settings).model_copy(update={"max_attachments": 2}), blobs)
    assert len(ticket.attachments) == 2
    reasons = sorted(s["reason"] for s in ticket.metadata["skipped_attachments"])
    assert reasons == ["no_url", "too_many_attachments"]


def test_http_error_is_skipped(settings, blobs, media_server, url):
    """A 404 is a skip with the status, not a failed ticket."""
    ticket = _convert(_trigger_with([url(media_server, "/gone.png")]), _allowing(settings), blobs)
    skipped = ticket.metadata["skipped_attachments"][0]
    assert skipped["reason"] == "http_error" and "404" in skipped["message"]


def test_host_policy():
    """Wildcards match subdomains only; https is required except on loopback; other schemes never."""
    policy = HostPolicy.parse(" *.Zendesk.com, files.example.org ,127.0.0.1")
    assert policy.refusal("https://acme.zendesk.com/attachments/token/x") is None
    assert policy.refusal("https://files.example.org/a.png") is None
    assert policy.refusal("http://127.0.0.1:8000/a.png") is None
    assert policy.refusal("https://zendesk.com/a.png")[0] == "host_not_allowed"
    assert policy.refusal("https://evilzendesk.com/a.png")[0] == "host_not_allowed"
    assert policy.refusal("https://acme.zendesk.com.evil.io/a.png")[0] == "host_not_allowed"
    assert policy.refusal("http://files.example.org/a.png")[0] == "insecure_scheme"
    assert policy.refusal("file:///etc/passwd")[0] == "unsupported_scheme"
    assert policy.refusal("ftp://files.example.org/a.png")[0] == "unsupported_scheme"
    assert HostPolicy.parse("").refusal("https://acme.zendesk.com/a.png")[0] == "host_not_allowed"


def test_allow_list_comes_from_the_environment(monkeypatch, tmp_path):
    """TICKETFUSION_ATTACHMENT_HOSTS and the fetch limits are read from the environment."""
    monkeypatch.setenv("TICKETFUSION_ATTACHMENT_HOSTS", "*.zendesk.com,files.example.org")
    monkeypatch.setenv("TICKETFUSION_ATTACHMENT_FETCH_TIMEOUT_S", "2.5")
    settings = Settings(blob_dir=tmp_path)
    policy = AttachmentFetcher(settings, None).policy  # type: ignore[arg-type]
    assert policy.patterns == ("*.zendesk.com", "files.example.org")
    assert settings.attachment_fetch_timeout_s == 2.5
