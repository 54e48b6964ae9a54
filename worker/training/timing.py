"""Round-robin timing of several engines on one noisy machine: each repetition times every engine
once, in a rotating order, so speeds compare as ratios measured within one run.

Used by the ensemble selection (latency of a candidate against the served model) and by the
benchmarks.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

console = Console(stderr=True)


@dataclass
class Engine:
    """A callable that turns a list of texts into sentence vectors (or predictions)."""

    name: str
    run: Callable[[list[str]], Any]
    note: str = ""


@dataclass
class Timings:
    """Sentences/s per (engine, batch size) block, in repetition order."""

    rates: dict[tuple[str, int], list[float]] = field(default_factory=dict)

    def add(self, engine: str, batch: int, rate: float) -> None:
        self.rates.setdefault((engine, batch), []).append(rate)

    def summary(self, engine: str, batch: int) -> dict[str, float]:
        values = self.rates[(engine, batch)]
        return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}

    def ratio(self, engine: str, baseline: str, batch: int) -> dict[str, float]:
        """Median (and min–max) of per-repetition ratios: both timed within the same repetition."""
        pairs = [a / b for a, b in zip(self.rates[(engine, batch)], self.rates[(baseline, batch)])]
        return {"median": statistics.median(pairs), "min": min(pairs), "max": max(pairs)}


def round_robin(
    engines: list[Engine],
    sentences: list[str],
    batch_sizes: tuple[int, ...],
    *,
    reps: int,
    blocks: dict[int, int],
    label: str,
) -> Timings:
    """Warm every engine up, then time one block per (repetition, batch size, engine)."""
    timings = Timings()
    total = reps * len(batch_sizes) * len(engines)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as bar:
        task = bar.add_task(f"{label}: warm-up", total=total)
        for engine in engines:
            for batch in batch_sizes:
                for start in range(0, 3 * batch, batch):
                    engine.run(sentences[start : start + batch])
        bar.update(task, description=label)
        cursor = 0
        for rep in range(reps):
            for batch in batch_sizes:
                n_batches = blocks.get(batch, 3)
                width = n_batches * batch
                if cursor + width > len(sentences):
                    cursor = 0
                block = [sentences[cursor + i * batch : cursor + (i + 1) * batch] for i in range(n_batches)]
                cursor += width
                shift = rep % len(engines)
                for engine in engines[shift:] + engines[:shift]:  # rotate the order each repetition
                    gc.collect()
                    started = time.perf_counter()
                    for texts in block:
                        engine.run(texts)
                    timings.add(engine.name, batch, width / (time.perf_counter() - started))
                    bar.advance(task)
    return timings
