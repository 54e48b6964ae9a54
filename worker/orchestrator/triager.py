"""The one function that runs the stages, shared by the Celery task and ``ticketfusion triage``.

Each ticket walks one straight line: validate, clean its text (quoted thread, signature, footers,
greeting; see :mod:`worker.text.cleaning`), read its attachments (OCR for screenshots, speech
recognition for voice notes), classify, fuse, then understand (entities, sentiment, out-of-scope
detection, priority) and reply. A failure in one stage or one attachment becomes an
entry in the result's ``errors`` and never stops the ticket or the batch.

Text-only tickets are classified by the intent model alone (the fusion classifier is trained to
agree with it there, but the text model is the one measured on real text); tickets with readable
attachments go through the fusion classifier, or, when it is not built, the intent model's
distributions over their texts are averaged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from worker.contract import (
    Cleaning,
    ErrorEntry,
    Intent,
    Limits,
    Ticket,
    TriageResult,
    describe_validation_error,
)
from worker.errors import MediaError, MediaModelMissing
from worker.fusion.model import FusionModel, ModalityInputs
from worker.media.attachments import load_attachments
from worker.media.reader import MediaReader, Reading
from worker.orchestrator.understand import ContextLookup, Texts, Understanding
from worker.pii.redaction import mask_numbers_in_place
from worker.runtime import top_k
from worker.settings import Settings, get_settings
from worker.text.cleaning import clean_ticket
from worker.text.intent import IntentModel, IntentPrediction

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Parsed:
    """A raw payload after validation: the ticket, or why there is none."""

    ticket: Ticket | None
    ticket_id: str
    customer_id: str | None
    errors: list[ErrorEntry]


@dataclass(frozen=True)
class AttachmentReading:
    """What one attachment of a ticket yielded; ``index`` is its place in ``ticket.attachments``."""

    index: int
    reading: Reading

    def transcript(self) -> dict[str, Any]:
        """The entry of ``TriageResult.transcripts`` for this attachment (the contract's form)."""
        detail = self.reading.detail.as_dict() if self.reading.detail is not None else {}
        return {"source": self.reading.kind, "attachment": self.index, "text": self.reading.text, **detail}


@dataclass(frozen=True)
class ReadText:
    """A ticket's own words as the models read them (unmasked; the result shows them masked)."""

    text: str
    signature: str


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
        self,
        intent_model: IntentModel,
        *,
        settings: Settings,
        allow_local_files: bool = False,
        media: MediaReader | None = None,
        understanding: Understanding | None = None,
        context: ContextLookup | None = None,
    ) -> None:
        self.intent_model = intent_model
        self.settings = settings
        self.allow_local_files = allow_local_files
        self.media = media or MediaReader(settings)
        self.context = context
        self._understanding = understanding

    @classmethod
    def load(cls, settings: Settings | None = None, *, allow_local_files: bool = False,
             context: ContextLookup | None = None) -> Triager:
        """Load every text model now, so that a missing model or a broken knowledge file fails at
        start-up rather than on the first ticket."""
        settings = settings or get_settings()
        model = IntentModel.load(
            Path(settings.models_dir),
            precision=settings.intent_precision,
            device=settings.device,
            threads=settings.intent_threads,
        )
        log.info("intent model %s loaded on %s", model.version, model.provider)
        understanding = Understanding.load(settings, labels=model.labels)
        return cls(model, settings=settings, allow_local_files=allow_local_files, understanding=understanding,
                   context=context)

    @property
    def understanding(self) -> Understanding:
        """Entities, scope, priority and reply models; loaded on first use when not given."""
        if self._understanding is None:
            self._understanding = Understanding.load(self.settings, labels=self.intent_model.labels)
        return self._understanding

    @cached_property
    def fusion(self) -> FusionModel | None:
        """The fusion classifier, loaded once, on the first ticket with media; None when not built.

        Only a missing model is remembered; any other failure propagates and the next ticket
        tries again."""
        try:
            fusion = FusionModel.load(
                Path(self.settings.models_dir),
                method=self.settings.fusion_method,
                device=self.settings.device,
                threads=max(1, self.settings.media_threads),
            )
        except MediaModelMissing as exc:
            log.warning("no fusion model; media tickets use the intent model on joined text: %s", exc)
            return None
        log.info("fusion model %s loaded on %s", fusion.version, fusion.provider)
        return fusion

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
        read = [self._clean(item.ticket, result) if item.ticket is not None else ReadText("", "")
                for item, result in zip(parsed, results)]
        readings = [
            self._read_attachments(item.ticket, result) if item.ticket is not None else []
            for item, result in zip(parsed, results)
        ]
        self._classify(parsed, read, [[r.reading for r in ticket_readings] for ticket_readings in readings], results)
        self._understand(parsed, read, readings, results)
        elapsed = (time.perf_counter() - started) * 1000 / max(1, len(raws))
        for result in results:
            result.timings_ms["total"] = round(elapsed, 3)
        return results

    def _clean(self, ticket: Ticket, result: TriageResult) -> ReadText:
        """What the models read (the ticket as written when cleaning is off or fails); the result
        shows it with card numbers and IBANs hidden, at the same offsets."""
        cleaning = Cleaning(text=ticket.text, original_chars=len(ticket.subject) + len(ticket.body))
        if self.settings.clean_text:
            started = time.perf_counter()
            try:
                cleaning = clean_ticket(ticket.subject, ticket.body)
            except Exception as exc:  # a parser bug costs the cleaning, not the ticket
                log.exception("cleaning %s failed; the models read it as written", ticket.ticket_id)
                result.errors.append(ErrorEntry(where="cleaning", code="cleaning_error",
                                                message=f"{type(exc).__name__}: {str(exc)[:400]}"))
            result.timings_ms["cleaning"] = round((time.perf_counter() - started) * 1000, 3)
        result.cleaning = cleaning.model_copy(update={"text": mask_numbers_in_place(cleaning.text),
                                                      "signature": mask_numbers_in_place(cleaning.signature)})
        return ReadText(cleaning.text, cleaning.signature)

    def _understand(
        self, parsed: list[Parsed], read: list[ReadText], readings: list[list[AttachmentReading]], results: list[TriageResult]
    ) -> None:
        chosen = [i for i, item in enumerate(parsed) if item.ticket is not None]
        limit = self.settings.max_body_chars  # a transcript gets no more room than a body

        def of(kind: str, ticket_readings: list[AttachmentReading]) -> list[tuple[int, str]]:
            return [(read.index, read.reading.text[:limit]) for read in ticket_readings if read.reading.kind == kind]

        texts = [
            Texts(
                text=read[i].text,
                signature=read[i].signature,
                image=of("image", readings[i]),
                audio=of("audio", readings[i]),
            )
            for i in chosen
        ]
        self.understanding.apply(
            [parsed[i].ticket for i in chosen],  # type: ignore[misc]
            texts,
            [results[i] for i in chosen],
            context=self.context,
        )

    def _read_attachments(self, ticket: Ticket, result: TriageResult) -> list[AttachmentReading]:
        loaded, errors = load_attachments(
            ticket,
            blob_dir=Path(self.settings.blob_dir),
            limits=self.settings.limits(),
            allow_local_files=self.allow_local_files,
        )
        result.errors.extend(errors)
        readings: list[AttachmentReading] = []
        for item in loaded:
            kind = item.attachment.kind.value
            try:
                reading = self.media.read(kind, item.data)
            except MediaError as exc:
                result.errors.append(ErrorEntry(where=item.where, code=exc.code, message=str(exc)[:500]))
                continue
            except Exception as exc:  # a decoder bug must cost one attachment, not the worker
                log.exception("reading %s attachment %d of %s failed", kind, item.index, ticket.ticket_id)
                result.errors.append(
                    ErrorEntry(where=item.where, code="media_error", message=f"{type(exc).__name__}: {str(exc)[:400]}")
                )
                continue
            read = AttachmentReading(item.index, reading)
            readings.append(read)
            if getattr(reading.detail, "complete", True) is False:
                budget = self.settings.asr_seconds_per_attachment
                result.errors.append(ErrorEntry(where=item.where, code="asr_time_budget", message=(
                    f"speech recognition stopped after its {budget:.0f} s budget; the ticket is triaged on the "
                    "start of the note (TICKETFUSION_ASR_SECONDS_PER_ATTACHMENT)")))
            if not reading.text:
                result.errors.append(
                    ErrorEntry(
                        where=item.where,
                        code="no_text_found" if kind == "image" else "no_speech_recognised",
                        message=f"the {kind} attachment decoded but yielded no text",
                    )
                )
            result.transcripts.append(read.transcript())
            for stage, ms in reading.timings_ms.items():
                result.timings_ms[stage] = round(result.timings_ms.get(stage, 0.0) + ms, 3)
        return readings

    def _classify(self, parsed: list[Parsed], read: list[ReadText], readings: list[list[Reading]],
                  results: list[TriageResult]) -> None:
        texts: list[str] = []
        slots: list[dict[str, int]] = []  # per ticket: modality -> index into texts
        for item, own, ticket_readings, result in zip(parsed, read, readings, results):
            slot: dict[str, int] = {}
            if item.ticket is not None:
                joined = {
                    "text": own.text,
                    "ocr": " ".join(r.text for r in ticket_readings if r.kind == "image" and r.text),
                    "transcript": " ".join(r.text for r in ticket_readings if r.kind == "audio" and r.text),
                }
                for name, text in joined.items():
                    if text:
                        slot[name] = len(texts)
                        texts.append(text)
                if not slot:
                    result.errors.append(
                        ErrorEntry(
                            where="intent",
                            code="no_text",
                            message="the ticket has no subject or body text, and no attachment yielded text",
                        )
                    )
            slots.append(slot)
        if not texts:
            return
        started = time.perf_counter()
        try:
            predictions = self.intent_model.predict(texts)
        except Exception as exc:  # one failing batch must not lose the tickets
            log.exception("intent model failed on a batch of %d", len(texts))
            for slot, result in zip(slots, results):
                if slot:
                    result.errors.append(ErrorEntry(where="intent", code="model_error", message=str(exc)[:500]))
            return
        per_text = (time.perf_counter() - started) * 1000 / len(texts)
        silent = self._bodies_saying_nothing(slots, texts, predictions)
        for number, (slot, ticket_readings, result) in enumerate(zip(slots, readings, results)):
            if not slot and not ticket_readings:
                continue
            by_modality = {name: predictions[index] for name, index in slot.items()
                           if not (name == "text" and number in silent)}
            started = time.perf_counter()
            chosen = self._decide(by_modality, ticket_readings, result)
            decided_ms = (time.perf_counter() - started) * 1000 - result.timings_ms.get("fusion", 0.0)  # fusion apart
            result.timings_ms["intent"] = round(per_text * len(slot) + decided_ms, 3)
            if chosen is None:
                continue
            label, confidence, top = chosen
            result.intent = Intent(
                label=label,
                confidence=round(float(confidence), 6),
                top=[(name, round(float(p), 6)) for name, p in top],
            )

    def _bodies_saying_nothing(self, slots: list[dict[str, int]], texts: list[str],
                               predictions: list[IntentPrediction]) -> set[int]:
        """Tickets whose body is off topic while an attachment gave text: the body stays out of the
        intent (it still counts for entities, sentiment and the reply)."""
        chosen = [i for i, slot in enumerate(slots) if "text" in slot and ("ocr" in slot or "transcript" in slot)]
        if not chosen:
            return set()
        try:
            flags = self.understanding.off_topic([texts[slots[i]["text"]] for i in chosen],
                                                 [predictions[slots[i]["text"]].confidence for i in chosen])
        except Exception:  # the gate is an improvement, not a stage: without it the fusion reads the body
            log.exception("scoring bodies for the attachment gate failed")
            return set()
        return {i for i, flag in zip(chosen, flags) if flag}

    def _decide(
        self, by_modality: dict[str, IntentPrediction], ticket_readings: list[Reading], result: TriageResult
    ) -> tuple[str, float, list[tuple[str, float]]] | None:
        """The intent from the modalities present: the text model alone, or the fusion."""
        images = [r.embedding for r in ticket_readings if r.kind == "image" and r.embedding is not None]
        audios = [r.embedding for r in ticket_readings if r.kind == "audio" and r.embedding is not None]
        inputs = ModalityInputs(
            text=by_modality.get("text"),
            ocr=by_modality.get("ocr"),
            transcript=by_modality.get("transcript"),
            image=np.mean(images, axis=0) if images else None,
            audio=np.mean(audios, axis=0) if audios else None,
        )
        result.modalities.extend(inputs.present())
        if not by_modality and not (images or audios):
            return None
        if set(inputs.present()) == {"text"}:
            prediction = by_modality["text"]
            return prediction.label, prediction.confidence, prediction.top
        fusion = self.fusion
        if fusion is not None:
            try:
                started = time.perf_counter()
                probs = fusion.predict([inputs])[0]
                result.timings_ms["fusion"] = round((time.perf_counter() - started) * 1000, 3)
                result.model_version = f"{self.model_version};{fusion.version}"
                top = top_k(probs, fusion.labels)
                return top[0][0], top[0][1], top
            except Exception as exc:  # fall back to the text model rather than lose the ticket
                log.exception("fusion failed")
                result.errors.append(ErrorEntry(where="fusion", code="model_error", message=str(exc)[:500]))
        if not by_modality:
            return None
        return self._joined_fallback(by_modality)

    def _joined_fallback(
        self, by_modality: dict[str, IntentPrediction]
    ) -> tuple[str, float, list[tuple[str, float]]]:
        """Without fusion: average the calibrated distributions of the texts present."""
        probs = np.mean([p.probs for p in by_modality.values()], axis=0)
        top = top_k(probs, self.intent_model.labels)
        return top[0][0], top[0][1], top
