"""``ticketfusion triage``: the worker's pipeline, in-process and batched, one result line per input."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from tempfile import NamedTemporaryFile

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)

from producers.sources import SourceLine, read_tickets
from worker.contract import ErrorEntry, TriageResult, is_id
from worker.orchestrator.triager import Triager
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
                ticket_id=_line_id(raw, line.line_no),
                customer_id=str(raw["customer_id"]) if raw.get("customer_id") else None,
                errors=line.errors,
                model_version=triager.model_version,
            )
        )
    return results


@dataclass
class TriageReport:
    """What ``triage_file`` wrote: results, and the input lines that were not valid tickets."""

    results: int = 0
    bad_lines: dict[int, list[ErrorEntry]] = field(default_factory=dict)


def triage_file(
    source: Path,
    output: Path,
    *,
    settings: Settings,
    fmt: str | None = None,
    mapping: str | None = None,
    batch_size: int = 32,
    progress: bool = True,
) -> TriageReport:
    """Triage every line of ``source`` into ``output``, one result per line, in order.

    The output appears whole or not at all (written beside it, then renamed), and never replaces
    the input.
    """
    if not source.is_file():
        raise FileNotFoundError(f"no such input file: {source}")
    if output.resolve() == source.resolve():
        raise ValueError(f"the output {output} is the input file: choose another path")
    lines = read_tickets(source, fmt=fmt, mapping=mapping, settings=settings, lenient=True)
    triager = Triager.load(settings, allow_local_files=True)
    output.parent.mkdir(parents=True, exist_ok=True)
    report = TriageReport()
    columns = (TextColumn("triage"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with NamedTemporaryFile("w", encoding="utf-8", dir=output.parent, prefix=f".{output.name}.", delete=False) as out:
        try:
            with Progress(*columns, disable=not progress) as bar:
                task = bar.add_task("triage", total=_count_lines(source))
                for batch in _batches(lines, batch_size):
                    for line, result in zip(batch, triage_batch(triager, batch)):
                        if line.ticket is None:
                            report.bad_lines[line.line_no] = line.errors
                        out.write(result.model_dump_json() + "\n")
                        report.results += 1
                    bar.advance(task, len(batch))
        except BaseException:
            Path(out.name).unlink(missing_ok=True)
            raise
    os.replace(out.name, output)
    return report


def _line_id(raw: object, line_no: int) -> str:
    """The bad line's own ticket id when it is one, else ``line-N`` (never a list or a megabyte)."""
    candidate = raw.get("ticket_id") if isinstance(raw, dict) else None
    return candidate if is_id(candidate) else f"line-{line_no}"
