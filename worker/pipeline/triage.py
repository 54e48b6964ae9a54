"""The one function that runs the stages, shared by the Celery task and ``ticketfusion triage``.

Each ticket walks one straight line; a failure in one stage becomes an entry in the result's
``errors`` and never stops the batch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from worker.contract import (
    ErrorEntry,
    Intent,
    Limits,
    Ticket,
    TriageResult,
    describe_validation_error,
)
from worker.pipeline.attachments import check_attachments
from worker.pipeline.intent import IntentModel
from worker.settings import Settings, get_settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Parsed:
    """A raw payload after validation: the ticket, or why there is none."""

    ticket: Ticket | None
    ticket_id: str
    customer_id: str | None
    errors: list[ErrorEntry]


def parse_ticket(raw: Any, *, limits: Limits, where_prefix: str = "") -> Parsed:
    """Validate one payload against the contract, keeping its ids for the error result."""
    if isinstance(raw, Ticket):
        return Parsed(raw, raw.ticket_id, raw.customer_id, [])
    ids = raw if isinstance(raw, dict) else {}
    ticket_id = str(ids.get("ticket_id") or "")
    customer_id = ids.get("customer_id")
    if not isinstance(raw, dict):
        error = ErrorEntry(
            where=where_prefix.rstrip(".") or "ticket",
            code="not_an_object",
            message=f"a ticket must be a JSON object, got {type(raw).__name__}",
        )
        return Parsed(None, ticket_id, None, [error])
    try:
        ticket = Ticket.model_validate(raw, context={"limits": limits})
    except ValidationError as exc:
        errors = describe_validation_error(exc, where_prefix=where_prefix)
        return Parsed(None, ticket_id, str(customer_id) if customer_id else None, errors)
    return Parsed(ticket, ticket.ticket_id, ticket.customer_id, [])


class Triager:
    """Holds the loaded models; load once per process, then call :meth:`triage_batch`."""

    def __init__(
        self, intent_model: IntentModel, *, settings: Settings, allow_local_files: bool = False
    ) -> None:
        self.intent_model = intent_model
        self.settings = settings
        self.allow_local_files = allow_local_files

    @classmethod
    def load(cls, settings: Settings | None = None, *, allow_local_files: bool = False) -> Triager:
        settings = settings or get_settings()
        model = IntentModel.load(
            Path(settings.models_dir),
            precision=settings.intent_precision,
            device=settings.device,
            threads=settings.intent_threads,
        )
        log.info("intent model %s loaded on %s", model.version, model.provider)
        return cls(model, settings=settings, allow_local_files=allow_local_files)

    @property
    def model_version(self) -> str:
        return f"intent:{self.intent_model.version}"

    def triage(self, raw: Any) -> TriageResult:
        """Triage one payload (a dict or a Ticket)."""
        return self.triage_batch([raw])[0]

    def triage_batch(self, raws: Sequence[Any], *, where_prefix: str = "") -> list[TriageResult]:
        """Triage many payloads; results come back in input order, one per payload."""
        started = time.perf_counter()
        limits = self.settings.limits()
        parsed = [parse_ticket(raw, limits=limits, where_prefix=where_prefix) for raw in raws]
        results = [
            TriageResult(
                ticket_id=item.ticket_id,
                customer_id=item.customer_id,
                errors=list(item.errors),
                model_version=self.model_version,
            )
            for item in parsed
        ]
        for item, result in zip(parsed, results):
            if item.ticket is not None:
                self._attachments(item.ticket, result)
        self._classify(parsed, results)
        elapsed = (time.perf_counter() - started) * 1000 / max(1, len(raws))
        for result in results:
            result.timings_ms["total"] = round(elapsed, 3)
        return results

    def _attachments(self, ticket: Ticket, result: TriageResult) -> None:
        result.errors.extend(
            check_attachments(
                ticket,
                blob_dir=Path(self.settings.blob_dir),
                limits=self.settings.limits(),
                allow_local_files=self.allow_local_files,
            )
        )

    def _classify(self, parsed: list[Parsed], results: list[TriageResult]) -> None:
        todo = [
            (index, item.ticket.text)
            for index, item in enumerate(parsed)
            if item.ticket is not None and item.ticket.text
        ]
        for index, item in enumerate(parsed):
            if item.ticket is not None and not item.ticket.text:
                results[index].errors.append(
                    ErrorEntry(
                        where="intent",
                        code="no_text",
                        message="the ticket has no subject or body text to classify",
                    )
                )
        if not todo:
            return
        started = time.perf_counter()
        try:
            predictions = self.intent_model.predict([text for _, text in todo])
        except Exception as exc:  # one failing batch must not lose the tickets
            log.exception("intent model failed on a batch of %d", len(todo))
            for index, _ in todo:
                results[index].errors.append(
                    ErrorEntry(where="intent", code="model_error", message=str(exc)[:500])
                )
            return
        per_ticket = (time.perf_counter() - started) * 1000 / len(todo)
        for (index, _), prediction in zip(todo, predictions):
            result = results[index]
            result.intent = Intent(
                label=prediction.label,
                confidence=round(float(prediction.confidence), 6),
                top=[(label, round(float(p), 6)) for label, p in prediction.top],
            )
            result.modalities.append("text")
            result.timings_ms["intent"] = round(per_ticket, 3)
