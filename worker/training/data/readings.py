"""Read every synthetic screenshot and voice note once, with the worker's own media reader.

OCR and speech recognition are the slow part of training the fusion classifier and of
``ticketfusion eval``; their outputs are cached in ``<synth>/readings.jsonl`` (one line per item,
appended as items finish, so an interrupted run resumes where it stopped). Delete that file after
changing the OCR or speech configuration, so that it is read again.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from worker.media.reader import AudioDetail, Box, ImageDetail, Reading
from worker.settings import Settings

log = logging.getLogger(__name__)

READINGS_FILE = "readings.jsonl"


@dataclass(frozen=True)
class SynthItem:
    """One line of ``manifest.jsonl`` written by ``ticketfusion data synth``."""

    id: str
    split: str
    kind: str
    label: str
    text: str
    vague_text: str
    file: str
    params: dict[str, Any]

    @property
    def media_kind(self) -> str:
        """The attachment kind of the contract: image or audio."""
        return "image" if self.kind == "screenshot" else "audio"


def load_manifest(synth: Path, *, split: str | None = None, kinds: Sequence[str] | None = None,
                  limit: int | None = None) -> list[SynthItem]:
    """The manifest's items, filtered; ``limit`` keeps at most that many per kind (in file order)."""
    path = Path(synth) / "manifest.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"no synthetic data at {path}: run `ticketfusion data synth` first")
    items: list[SynthItem] = []
    per_kind: dict[str, int] = {}
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            row = json.loads(line)
            item = SynthItem(**{name: row.get(name, {} if name == "params" else "") for name in SynthItem.__dataclass_fields__})
            if split is not None and item.split != split:
                continue
            if kinds is not None and item.kind not in kinds:
                continue
            if limit is not None and per_kind.get(item.kind, 0) >= limit:
                continue
            per_kind[item.kind] = per_kind.get(item.kind, 0) + 1
            items.append(item)
    return items


@dataclass(frozen=True)
class SynthReading:
    """One line of ``readings.jsonl``: what the media reader made of one synthetic item, or why it
    could not read it (``error``, a :class:`MediaError` code, and ``message``).

    :meth:`to_dict` and :meth:`from_dict` keep the file's format, so caches written before this
    type existed still load."""

    id: str
    text: str = ""
    raw_text: str = ""
    detail: ImageDetail | AudioDetail | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    lines: list[tuple[str, float, Box]] | None = None
    error: str | None = None
    message: str | None = None

    @classmethod
    def of(cls, item_id: str, reading: Reading) -> SynthReading:
        """A successful reading, its OCR scores and boxes rounded as the cache stores them."""
        lines = [(text, round(score, 4), _box(round(v, 1) for v in box)) for text, score, box in reading.lines]
        return cls(item_id, reading.text, reading.raw_text, reading.detail, dict(reading.timings_ms), lines)

    @classmethod
    def failed(cls, item_id: str, code: str, message: str) -> SynthReading:
        return cls(item_id, error=code, message=message)

    def to_dict(self) -> dict[str, Any]:
        """The JSON line for the cache."""
        if self.error is not None:
            return {"id": self.id, "text": self.text, "raw_text": self.raw_text, "error": self.error,
                    "message": self.message}
        return {
            "id": self.id,
            "text": self.text,
            "raw_text": self.raw_text,
            "detail": self.detail.as_dict() if self.detail is not None else {},
            "timings_ms": self.timings_ms,
            "lines": [[text, score, list(box)] for text, score, box in self.lines or []],
        }

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> SynthReading:
        """A cached line; a detail that is neither a voice note's nor a screenshot's is dropped."""
        detail = row.get("detail") or {}
        typed: ImageDetail | AudioDetail | None = None
        if "speech_s" in detail:
            typed = AudioDetail(
                duration_s=detail.get("duration_s", 0.0), speech_s=detail["speech_s"],
                language=detail.get("language", ""), avg_logprob=detail.get("avg_logprob", 0.0),
            )
        elif "width" in detail and "height" in detail:
            typed = ImageDetail(width=detail["width"], height=detail["height"], lines=detail.get("lines", 0))
        lines = row.get("lines")
        return cls(
            id=row["id"],
            text=row.get("text", ""),
            raw_text=row.get("raw_text", ""),
            detail=typed,
            timings_ms=dict(row.get("timings_ms") or {}),
            lines=None if lines is None else [(text, score, _box(box)) for text, score, box in lines],
            error=row.get("error"),
            message=row.get("message"),
        )



def _box(values: Any) -> Box:
    x0, y0, x1, y1 = values
    return (x0, y0, x1, y1)


def load_readings(synth: Path) -> dict[str, SynthReading]:
    """Cached readings by item id (later lines win)."""
    path = Path(synth) / READINGS_FILE
    readings: dict[str, SynthReading] = {}
    if path.is_file():
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    reading = SynthReading.from_dict(json.loads(line))
                    readings[reading.id] = reading
    return readings


_READER = None


def refresh_messages(readings: dict[str, SynthReading]) -> int:
    """Re-apply the OCR chrome filter and the voicemail trimming to cached readings (cheap), so
    changing either needs no new OCR or speech recognition."""
    from worker.media.screenshots.message import message_text
    from worker.media.screenshots.ocr import OcrLine
    from worker.media.speech import spoken_request

    changed = 0
    for item_id, reading in readings.items():
        detail = reading.detail
        if isinstance(detail, AudioDetail):
            request = spoken_request(reading.raw_text)
            changed += request != reading.text
            readings[item_id] = replace(reading, text=request)
            continue
        if reading.lines is None or not isinstance(detail, ImageDetail):
            continue
        lines = [OcrLine(text, score, box) for text, score, box in reading.lines]
        message = message_text(lines, image_size=(int(detail.width), int(detail.height)))
        if message != reading.text:
            readings[item_id] = replace(reading, text=message)
            changed += 1
    return changed


def _init_worker(settings_json: str) -> None:
    global _READER
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from worker.media.reader import MediaReader

    settings = Settings.model_validate_json(settings_json)
    _READER = MediaReader(settings, with_embeddings=False)


def _read_one(args: tuple[str, str, str]) -> SynthReading:
    from worker.errors import MediaError

    item_id, kind, path = args
    assert _READER is not None
    try:
        reading = _READER.read(kind, Path(path).read_bytes())
    except MediaError as exc:
        return SynthReading.failed(item_id, exc.code, str(exc)[:300])
    return SynthReading.of(item_id, reading)


def reading_threads(workers: int) -> int:
    """Threads per reading process; the live pipeline must use as many to give identical readings
    (speech recognition's beam search can take another path when sums are ordered differently)."""
    return max(1, (os.cpu_count() or 2) // max(1, workers))


def read_synth(synth: Path, settings: Settings, items: Sequence[SynthItem], *, workers: int = 2,
               progress: bool = True) -> dict[str, SynthReading]:
    """Readings for ``items``, computing only those not cached yet; returns all cached readings."""
    synth = Path(synth)
    done = load_readings(synth)
    refresh_messages(done)
    todo = [item for item in items if item.id not in done]
    if todo:
        one_thread = settings.model_copy(update={"media_threads": reading_threads(workers)})
        jobs = [(item.id, item.media_kind, str(synth / item.file)) for item in todo]
        # Grouped by kind so each process keeps one model hot at a time.
        jobs.sort(key=lambda job: job[1])
        with (synth / READINGS_FILE).open("a", encoding="utf-8") as out, _progress(progress) as bar:
            task = bar.add_task("reading attachments (OCR / speech)", total=len(jobs))
            for reading in _map(jobs, one_thread, workers):
                out.write(json.dumps(reading.to_dict(), ensure_ascii=False) + "\n")
                out.flush()
                done[reading.id] = reading
                bar.advance(task)
    return done


def _map(jobs: list[tuple[str, str, str]], settings: Settings, workers: int) -> Iterator[SynthReading]:
    if workers <= 1:
        _init_worker(settings.model_dump_json())
        yield from map(_read_one, jobs)
        return
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, initializer=_init_worker, initargs=(settings.model_dump_json(),)) as pool:
        yield from pool.imap_unordered(_read_one, jobs, chunksize=4)


def _progress(enabled: bool):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TimeRemainingColumn,
    )

    return Progress(
        "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
        TimeRemainingColumn(), disable=not enabled,
    )
