"""Webhook subscriptions: who receives each result, read from the YAML file ``webhooks_file`` names.

The file is a list of entries (or a mapping with a ``subscriptions`` list)::

    - name: crm
      url: https://crm.example.com/hooks/ticketfusion
      secret_env: TICKETFUSION_WEBHOOK_OUT_SECRET_CRM
      template: generic            # or zendesk
      timeout_s: 10                # default: webhook_out_timeout_s
      max_attempts: 8              # default: webhook_out_max_attempts
      only: {actions: [escalate], min_priority: high}

A secret is never in the file: each entry names the environment variable that holds it. Every
problem (no file, bad YAML, an unknown key, a plain-http URL, a missing secret) is a
:class:`SubscriptionError` raised at load, naming the entry and what to change.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from worker.contract import Channel, ReplyAction
from worker.errors import TicketfusionError
from worker.settings import Settings, get_settings

__all__ = ["PRIORITY_ORDER", "Filter", "Subscription", "SubscriptionError", "load_subscriptions"]

PRIORITY_ORDER = ("low", "normal", "high", "urgent")
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
ENV_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
MIN_SECRET_CHARS = 16
_LOCAL_HOSTS = {"localhost"}
_SECRET_FIX = 'generate one with `python -c "import secrets; print(secrets.token_hex(32))"`'


class SubscriptionError(TicketfusionError, ValueError):
    """The subscriptions file cannot be used; the message names the file, the entry and the fix."""

    code = "bad_subscription"


class _FilterSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    actions: list[ReplyAction] | None = None
    min_priority: Literal["low", "normal", "high", "urgent"] | None = None
    intents: list[str] | None = None
    channels: list[Channel] | None = None
    out_of_scope: bool | None = None


class _EntrySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    url: str = Field(min_length=1, max_length=2048)
    secret_env: str = Field(pattern=ENV_PATTERN)
    template: Literal["generic", "zendesk"] = "generic"
    timeout_s: float | None = Field(default=None, gt=0, le=120)
    max_attempts: int | None = Field(default=None, ge=1, le=100)
    only: _FilterSpec | None = None


@dataclass(frozen=True)
class Filter:
    """Which results a subscription receives; an unset condition lets every result through.

    ``actions``: reply actions (auto_send, draft, escalate); ``min_priority``: this level or
    higher; ``intents``: intent labels; ``channels``: ticket channels; ``out_of_scope``: only
    flagged (true) or only unflagged (false) tickets.
    """

    actions: frozenset[str] | None = None
    min_priority: str | None = None
    intents: frozenset[str] | None = None
    channels: frozenset[str] | None = None
    out_of_scope: bool | None = None

    def accepts(self, *, action: str | None, priority: str | None, intent: str | None, channel: str,
                out_of_scope: bool) -> bool:
        """Whether a result with these values passes every condition."""
        if self.actions is not None and action not in self.actions:
            return False
        if self.min_priority is not None:
            if priority not in PRIORITY_ORDER:
                return False
            if PRIORITY_ORDER.index(priority) < PRIORITY_ORDER.index(self.min_priority):
                return False
        if self.intents is not None and intent not in self.intents:
            return False
        if self.channels is not None and channel not in self.channels:
            return False
        return self.out_of_scope is None or self.out_of_scope == out_of_scope


@dataclass(frozen=True)
class Subscription:
    """One receiver: where to POST, how to sign, which template, how hard to try."""

    name: str
    url: str
    secret: str = field(repr=False)
    secret_env: str = ""
    template: str = "generic"
    timeout_s: float = 10.0
    max_attempts: int = 8
    backoff_base_s: float = 15.0
    backoff_max_s: float = 1800.0
    only: Filter = field(default_factory=Filter)


def _where(path: Path, index: int, name: str | None) -> str:
    return f"{path}: subscription {index + 1}" + (f" ({name!r})" if name else "")


def _check_url(url: str, *, where: str, allow_http: bool) -> None:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("https", "http") or not host:
        raise SubscriptionError(f"{where}: url {url!r} is not an http(s) URL: write https://host/path")
    if parts.username or parts.password:
        raise SubscriptionError(
            f"{where}: the url carries a user name or password; receivers authenticate us by the "
            "signature, so leave credentials out of the URL"
        )
    if parts.scheme == "http" and not allow_http and not _is_local(host):
        raise SubscriptionError(
            f"{where}: url {url!r} is plain http: use https (http is allowed to localhost only, or "
            "anywhere with TICKETFUSION_WEBHOOK_OUT_ALLOW_HTTP=true, never in production)"
        )


def _is_local(host: str) -> bool:
    if host in _LOCAL_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _describe(error: ValidationError) -> str:
    problems = []
    for item in error.errors(include_url=False):
        location = ".".join(str(part) for part in item["loc"]) or "entry"
        if item["type"] == "extra_forbidden":
            hint = " (secrets go in the environment: name the variable with secret_env)" if "secret" in location else ""
            problems.append(f"{location}: unknown key{hint}")
        else:
            problems.append(f"{location}: {item['msg']}")
    return "; ".join(problems)


def _entries(path: Path) -> list[Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SubscriptionError(
            f"subscriptions file {path} does not exist: create it (see docs/webhooks.md) or unset "
            "TICKETFUSION_WEBHOOKS_FILE"
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise SubscriptionError(f"subscriptions file {path} cannot be read: {error}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or "invalid YAML"
        raise SubscriptionError(f"subscriptions file {path} is not valid YAML{at}: {problem}") from None
    if document is None:
        return []
    if isinstance(document, Mapping) and set(document) == {"subscriptions"}:
        document = document["subscriptions"] or []
    if not isinstance(document, list):
        raise SubscriptionError(
            f"subscriptions file {path} must hold a list of subscriptions (or a mapping with a "
            f"'subscriptions' list), not a {type(document).__name__}"
        )
    return document


def _as_set(values: Iterable[str] | None) -> frozenset[str] | None:
    return frozenset(values) if values is not None else None


def _build(spec: _EntrySpec, *, where: str, settings: Settings, environ: Mapping[str, str]) -> Subscription:
    _check_url(spec.url, where=where, allow_http=settings.webhook_out_allow_http)
    secret = environ.get(spec.secret_env, "")
    if not secret.strip():
        raise SubscriptionError(
            f"{where}: the environment variable {spec.secret_env} that holds its signing secret is "
            f"not set: set it to the secret shared with the receiver ({_SECRET_FIX})"
        )
    if len(secret) < MIN_SECRET_CHARS:
        raise SubscriptionError(
            f"{where}: the secret in {spec.secret_env} has {len(secret)} characters; use at least "
            f"{MIN_SECRET_CHARS} ({_SECRET_FIX})"
        )
    only = spec.only or _FilterSpec()
    return Subscription(
        name=spec.name,
        url=spec.url,
        secret=secret,
        secret_env=spec.secret_env,
        template=spec.template,
        timeout_s=spec.timeout_s or settings.webhook_out_timeout_s,
        max_attempts=spec.max_attempts or settings.webhook_out_max_attempts,
        backoff_base_s=settings.webhook_out_backoff_base_s,
        # A Celery retry waits in Redis as an unacknowledged message: were the wait longer than
        # the visibility timeout, Redis would hand the retry to a second worker.
        backoff_max_s=min(settings.webhook_out_backoff_max_s, settings.visibility_timeout_s / 2),
        only=Filter(
            actions=_as_set([action.value for action in only.actions] if only.actions is not None else None),
            min_priority=only.min_priority,
            intents=_as_set(only.intents),
            channels=_as_set([channel.value for channel in only.channels] if only.channels is not None else None),
            out_of_scope=only.out_of_scope,
        ),
    )


def load_subscriptions(path: Path | str | None = None, *, settings: Settings | None = None,
                       environ: Mapping[str, str] | None = None) -> list[Subscription]:
    """The subscriptions in ``path`` (default: the ``webhooks_file`` setting; unset: none).

    Secrets are read from ``environ`` (default: the process environment). Raises
    :class:`SubscriptionError` naming the entry and the fix for the first problem found.
    """
    settings = settings or get_settings()
    chosen = Path(path) if path is not None else settings.webhooks_file
    if chosen is None:
        return []
    chosen = chosen.expanduser()
    environ = os.environ if environ is None else environ
    loaded: list[Subscription] = []
    for index, raw in enumerate(_entries(chosen)):
        name = raw.get("name") if isinstance(raw, Mapping) and isinstance(raw.get("name"), str) else None
        where = _where(chosen, index, name)
        if not isinstance(raw, Mapping):
            raise SubscriptionError(f"{where} must be a mapping with name, url and secret_env")
        try:
            spec = _EntrySpec.model_validate(raw)
        except ValidationError as error:
            raise SubscriptionError(f"{where}: {_describe(error)}") from None
        if any(existing.name == spec.name for existing in loaded):
            raise SubscriptionError(f"{where}: the name {spec.name!r} is used twice; give each subscription its own")
        loaded.append(_build(spec, where=where, settings=settings, environ=environ))
    return loaded


def by_name(subscriptions: Iterable[Subscription] | Mapping[str, Subscription]) -> dict[str, Subscription]:
    """Subscriptions keyed by name (a mapping is returned as a dict)."""
    if isinstance(subscriptions, Mapping):
        return dict(subscriptions)
    return {subscription.name: subscription for subscription in subscriptions}

