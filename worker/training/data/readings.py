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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def load_readings(synth: Path) -> dict[str, dict[str, Any]]:
    """Cached readings by item id (later lines win)."""
    path = Path(synth) / READINGS_FILE
    readings: dict[str, dict[str, Any]] = {}
    if path.is_file():
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    row = json.loads(line)
                    readings[row["id"]] = row
    return readings


_READER = None


def refresh_messages(readings: dict[str, dict[str, Any]]) -> int:
    """Re-apply the OCR chrome filter and the voicemail trimming to cached readings (cheap), so
    changing either needs no new OCR or speech recognition."""
    from worker.media.ocr import OcrLine, message_text
    from worker.media.speech import spoken_request

    changed = 0
    for row in readings.values():
        if "speech_s" in row.get("detail", {}):
            request = spoken_request(row.get("raw_text", ""))
            changed += request != row["text"]
            row["text"] = request
            continue
        if row.get("lines") is None or "width" not in row.get("detail", {}):
            continue
        lines = [OcrLine(text, score, tuple(box)) for text, score, box in row["lines"]]
        size = (int(row["detail"]["width"]), int(row["detail"]["height"]))
        message = message_text(lines, image_size=size)
        if message != row["text"]:
            row["text"] = message
            changed += 1
    return changed


def _init_worker(settings_json: str) -> None:
    global _READER
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from worker.media.reader import MediaReader

    settings = Settings.model_validate_json(settings_json)
    _READER = MediaReader(settings, with_embeddings=False)


def _read_one(args: tuple[str, str, str]) -> dict[str, Any]:
    from worker.errors import MediaError

    item_id, kind, path = args
    assert _READER is not None
    try:
        reading = _READER.read(kind, Path(path).read_bytes())
    except MediaError as exc:
        return {"id": item_id, "text": "", "raw_text": "", "error": exc.code, "message": str(exc)[:300]}
    return {
        "id": item_id,
        "text": reading.text,
        "raw_text": reading.raw_text,
        "detail": reading.detail,
        "timings_ms": reading.timings_ms,
        "lines": [[text, round(score, 4), [round(v, 1) for v in box]] for text, score, box in reading.lines],
    }


def reading_threads(workers: int) -> int:
    """Threads per reading process; the live pipeline must use as many to give identical readings
    (speech recognition's beam search can take another path when sums are ordered differently)."""
    return max(1, (os.cpu_count() or 2) // max(1, workers))


def read_synth(synth: Path, settings: Settings, items: Sequence[SynthItem], *, workers: int = 2,
               progress: bool = True) -> dict[str, dict[str, Any]]:
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
            for row in _map(jobs, one_thread, workers):
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
                out.flush()
                done[row["id"]] = row
                bar.advance(task)
    return done


def _map(jobs: list[tuple[str, str, str]], settings: Settings, workers: int) -> Iterator[dict[str, Any]]:
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
