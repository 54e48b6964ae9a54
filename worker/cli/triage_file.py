"""``ticketfusion triage``: the worker's pipeline, in-process and batched, one result line per input."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from producers.sources import SourceLine, read_tickets
from worker.contract import TriageResult
from worker.pipeline.triage import Triager
from worker.settings import Settings


def _batches(lines: Iterable[SourceLine], size: int) -> Iterator[list[SourceLine]]:
    iterator = iter(lines)
    while batch := list(islice(iterator, size)):
        yield batch


def _count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.strip())


def triage_batch(triager: Triager, batch: list[SourceLine]) -> list[TriageResult]:
    """Results for a batch of source lines, in order; bad lines become error results."""
    good = [line.ticket for line in batch if line.ticket is not None]
    triaged = iter(triager.triage_batch(good))
    results = []
    for line in batch:
        if line.ticket is not None:
            results.append(next(triaged))
            continue
        raw = line.raw if isinstance(line.raw, dict) else {}
        results.append(
            TriageResult(
                ticket_id=str(raw.get("ticket_id") or f"line-{line.line_no}"),
                customer_id=str(raw["customer_id"]) if raw.get("customer_id") else None,
                errors=line.errors,
                model_version=triager.model_version,
            )
        )
    return results


def triage_file(
    source: Path,
    output: Path,
    *,
    settings: Settings,
    fmt: str | None = None,
    mapping: str | None = None,
    batch_size: int = 32,
    progress: bool = True,
) -> int:
    """Triage every line of ``source`` into ``output``; returns how many results carry errors."""
    triager = Triager.load(settings)
    output.parent.mkdir(parents=True, exist_ok=True)
    with_errors = 0
    columns = (TextColumn("triage"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, disable=not progress) as bar, output.open("w", encoding="utf-8") as out:
        task = bar.add_task("triage", total=_count_lines(source))
        lines = read_tickets(source, fmt=fmt, mapping=mapping, settings=settings, lenient=True)
        for batch in _batches(lines, batch_size):
            for result in triage_batch(triager, batch):
                with_errors += bool(result.errors)
                out.write(result.model_dump_json() + "\n")
            bar.advance(task, len(batch))
    return with_errors
