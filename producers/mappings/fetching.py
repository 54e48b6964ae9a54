"""Fetch the attachments a help-desk payload names by URL into the blob store, within limits.

Each URL is checked against the host allow-list (:mod:`.url_policy`) before it is requested and
again at every redirect; the body is streamed into the store and abandoned past
``max_attachment_bytes`` or the time limit. Only images and audio are fetched (the worker reads
nothing else). Whatever is not fetched is reported as a skip with its reason, never as a
failure of the ticket: a ticket whose screenshot cannot be had is still a ticket.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import httpx

from producers.mappings.extraction import RemoteAttachment
from producers.mappings.url_policy import HostPolicy, public_url
from producers.ticket_checks import guess_kind
from worker.blobs import AttachmentTooLarge, BlobStore
from worker.contract import Attachment
from worker.settings import Settings

__all__ = ["AttachmentFetcher", "Skip", "media_kind"]

_GENERIC_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream", "application/binary"})


@dataclass(frozen=True)
class Skip:
    """An attachment left out, as ``metadata["skipped_attachments"]`` lists it."""

    name: str
    reason: str
    message: str
    url: str | None = None

    def entry(self) -> dict[str, Any]:
        item = {"name": self.name, "reason": self.reason, "message": self.message}
        return item if self.url is None else {**item, "url": self.url}


class _Abort(Exception):
    """Stops a fetch with a reason code and message."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


def media_kind(content_type: str | None, *names: str | None) -> str | None:
    """``image`` or ``audio`` from a content type (``image/png``, or Zendesk's bare ``jpeg``), else
    from a file name's extension; None when neither says image or audio."""
    essence = (content_type or "").split(";")[0].strip().lower()
    if essence.startswith("image/"):
        return "image"
    if essence.startswith("audio/") or essence == "application/ogg":
        return "audio"
    if essence and "/" not in essence:  # "jpeg", "png", "mp3"
        found = guess_kind(f"x.{essence}")
        if found:
            return found
    if essence in _GENERIC_TYPES or "/" not in essence:
        for name in names:
            found = guess_kind(name) if name else None
            if found:
                return found
    return None


def _declared_media(essence: str) -> bool:
    """True when a content type is specific enough to decide by: not empty, not octet-stream."""
    return essence not in _GENERIC_TYPES


class _Body:
    """A file-like view of a streamed response that stops at the deadline."""

    def __init__(self, chunks: Iterator[bytes], deadline: float, timeout: float) -> None:
        self._chunks, self._deadline, self._timeout = chunks, deadline, timeout
        self._buffer = b""

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            if time.monotonic() > self._deadline:
                raise _Abort("timed_out", f"the download took longer than {self._timeout:g} s")
            chunk = next(self._chunks, b"")
            if not chunk:
                break
            self._buffer += chunk
        data, self._buffer = (self._buffer, b"") if size < 0 else (self._buffer[:size], self._buffer[size:])
        return data


class AttachmentFetcher:
    """Fetches remote attachments for one ticket at a time under the settings' limits."""

    def __init__(self, settings: Settings, blobs: BlobStore, *, transport: httpx.BaseTransport | None = None) -> None:
        self.settings, self.blobs = settings, blobs
        self.policy = HostPolicy.parse(settings.attachment_hosts)
        self._transport = transport

    def fetch_all(self, remotes: list[RemoteAttachment]) -> tuple[list[Attachment], list[Skip]]:
        """The attachments fetched, and a skip for each one that was not, in payload order."""
        fetched: list[Attachment] = []
        skipped: list[Skip] = []
        for remote in remotes:
            name = remote.filename or _name_from_url(remote.url)
            if len(fetched) >= self.settings.max_attachments:
                skipped.append(Skip(name, "too_many_attachments",
                                    f"a ticket holds at most {self.settings.max_attachments} attachments",
                                    public_url(remote.url)))
                continue
            result = self.fetch(remote)
            (fetched if isinstance(result, Attachment) else skipped).append(result)  # type: ignore[arg-type]
        return fetched, skipped

    def fetch(self, remote: RemoteAttachment) -> Attachment | Skip:
        """One attachment into the blob store, or the reason it was not fetched."""
        name = remote.filename or _name_from_url(remote.url)
        try:
            self._precheck(remote, name)
            return self._download(remote, name)
        except _Abort as abort:
            return Skip(name, abort.reason, abort.message, public_url(remote.url))

    def _precheck(self, remote: RemoteAttachment, name: str) -> None:
        """Refuse before any request what the payload itself shows we would not keep."""
        essence = (remote.content_type or "").split(";")[0].strip().lower()
        declared = media_kind(remote.content_type, name, urlsplit(remote.url).path)
        if declared is None and (_declared_media(essence) or guess_kind(name) is None and "." in name):
            shown = essence or PurePosixPath(name).suffix or "no type"
            raise _Abort("unsupported_media_type", f"only images and audio are read, not {shown}")
        limit = self.settings.max_attachment_bytes
        if remote.size is not None and remote.size > limit:
            raise _Abort("too_large", f"the payload says {remote.size} bytes; the limit is {limit}")
        refusal = self.policy.refusal(remote.url)
        if refusal:
            raise _Abort(*refusal)

    def _download(self, remote: RemoteAttachment, name: str) -> Attachment:
        timeout_s = self.settings.attachment_fetch_timeout_s
        deadline = time.monotonic() + timeout_s
        url = remote.url
        client = httpx.Client(
            follow_redirects=False, timeout=httpx.Timeout(timeout_s), trust_env=False, transport=self._transport
        )
        try:
            for _hop in range(self.settings.attachment_max_redirects + 1):
                with client.stream("GET", url, headers={"Accept": "image/*, audio/*"}) as response:
                    if response.is_redirect:
                        url = urljoin(url, response.headers.get("location", ""))
                        refusal = self.policy.refusal(url)
                        if refusal:
                            raise _Abort("redirect_not_allowed", f"redirected off the allow-list: {refusal[1]}")
                        continue
                    return self._store(response, remote, name, deadline, timeout_s)
            raise _Abort("too_many_redirects", f"more than {self.settings.attachment_max_redirects} redirects")
        except httpx.TimeoutException:
            raise _Abort("timed_out", f"no answer within {timeout_s:g} s") from None
        except httpx.HTTPError as exc:
            raise _Abort("fetch_failed", f"the request failed: {type(exc).__name__}") from None
        finally:
            client.close()

    def _store(
        self, response: httpx.Response, remote: RemoteAttachment, name: str, deadline: float, timeout_s: float
    ) -> Attachment:
        if response.status_code != 200:
            raise _Abort("http_error", f"the server answered {response.status_code}")
        served = response.headers.get("content-type", "")
        essence = served.split(";")[0].strip().lower()
        kind = media_kind(served, None) if _declared_media(essence) else None
        if kind is None and _declared_media(essence):
            raise _Abort("unsupported_media_type", f"the server sent {essence}, not an image or audio")
        kind = kind or media_kind(remote.content_type, name, urlsplit(str(response.url)).path)
        if kind is None:
            raise _Abort("unsupported_media_type", "neither the server nor the payload says image or audio")
        limit = self.settings.max_attachment_bytes
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) > limit:
            raise _Abort("too_large", f"the server says {length} bytes; the limit is {limit}")
        body = _Body(response.iter_bytes(), deadline, timeout_s)  # chunks as they arrive
        try:
            ref = self.blobs.put_stream(body, max_bytes=limit, name=name)  # type: ignore[arg-type]
        except AttachmentTooLarge as exc:
            raise _Abort("too_large", f"more than {exc.limit} bytes (the limit) were sent") from None
        content_type = essence if _declared_media(essence) else (remote.content_type or None)
        return Attachment(
            kind=kind, uri=ref.uri, sha256=ref.sha256, size_bytes=ref.size_bytes,
            content_type=content_type if content_type and "/" in content_type else None,
        )


def _name_from_url(url: str) -> str:
    try:
        name = PurePosixPath(unquote(urlsplit(url).path)).name
    except ValueError:
        name = ""
    return name or "attachment"
