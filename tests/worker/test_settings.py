"""Settings come from TICKETFUSION_* variables and refuse unsafe combinations."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from worker.settings import Settings


def test_environment_variables_override_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each field reads its TICKETFUSION_ variable."""
    monkeypatch.setenv("TICKETFUSION_REDIS_URL", "redis://example:6379/3")
    monkeypatch.setenv("TICKETFUSION_MAX_BODY_CHARS", "123")
    settings = Settings()
    assert settings.redis_url == "redis://example:6379/3"
    assert settings.limits().max_body_chars == 123


def test_visibility_timeout_must_outlast_the_task_limit() -> None:
    """A visibility timeout shorter than a task would redeliver running tasks: refused."""
    with pytest.raises(ValidationError, match="must exceed"):
        Settings(task_time_limit_s=600, visibility_timeout_s=300)


def test_bad_numbers_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """A malformed variable is reported with the field it feeds."""
    monkeypatch.setenv("TICKETFUSION_BATCH_SIZE", "many")
    with pytest.raises(ValidationError, match="batch_size"):
        Settings()
