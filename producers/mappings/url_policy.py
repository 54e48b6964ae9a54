"""Which attachment URLs may be fetched: an allow-list of hosts, https only.

A webhook's payload is written by whoever can reach the webhook, so a URL in it is untrusted:
fetched blindly it would let a caller make this service read internal addresses (SSRF). Only
hosts the operator lists in ``TICKETFUSION_ATTACHMENT_HOSTS`` are fetched, over https; plain
http is allowed for the loopback interface alone, for tests and local tools.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

__all__ = ["LOOPBACK_HOSTS", "HostPolicy", "public_url"]

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True)
class HostPolicy:
    """Allowed host patterns: ``help.example.com`` (that host) or ``*.zendesk.com`` (its subdomains)."""

    patterns: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> HostPolicy:
        """From the setting's comma-separated list; blanks are ignored, case does not matter."""
        return cls(tuple(dict.fromkeys(item.strip().lower().rstrip(".") for item in text.split(",") if item.strip())))

    def host_allowed(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        for pattern in self.patterns:
            if pattern.startswith("*."):
                if host.endswith(pattern[1:]) and len(host) > len(pattern) - 1:
                    return True
            elif host == pattern:
                return True
        return False

    def refusal(self, url: str) -> tuple[str, str] | None:
        """None when ``url`` may be fetched, else ``(reason code, message)``."""
        try:
            parts = urlsplit(url)
            host = parts.hostname or ""
        except ValueError:
            return "invalid_url", "the URL cannot be parsed"
        scheme = parts.scheme.lower()
        if scheme not in ("https", "http"):
            return "unsupported_scheme", f"only https URLs are fetched, not {scheme or 'a URL without a scheme'}"
        if not host:
            return "invalid_url", "the URL names no host"
        if not self.host_allowed(host):
            return "host_not_allowed", f"host {host} is not in TICKETFUSION_ATTACHMENT_HOSTS"
        if scheme == "http" and host not in LOOPBACK_HOSTS:
            return "insecure_scheme", f"http is allowed for the loopback interface only; use https for {host}"
        return None


def public_url(url: str) -> str:
    """The URL without credentials, query or fragment, which may hold tokens (signed S3 links)."""
    try:
        parts = urlsplit(url)
        netloc = parts.hostname or ""
        netloc = f"[{netloc}]" if ":" in netloc else netloc
        if parts.port:
            netloc = f"{netloc}:{parts.port}"
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))[:500]
    except ValueError:
        return "(unparseable URL)"
