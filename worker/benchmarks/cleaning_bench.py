"""What the cleaning stage costs: tickets/s through the Triager with cleaning on and off.

    python -m worker.benchmarks.cleaning_bench --out docs/performance.md

(``make bench`` runs it as part of ``worker.benchmarks.bench``; alone, it replaces only its own
section of the report.)

Two inputs, each timed round-robin (one block per engine and repetition, the order rotating):
one-line queries, where cleaning finds nothing to remove and its cost is pure overhead, and the
same requests wrapped in validation-part e-mails, where cleaning also shortens what the models
read. Plus the cleaning function alone, in milliseconds per e-mail.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from collections.abc import Sequence
from typing import Any

from worker.settings import Settings
from worker.training.timing import Engine, round_robin

BATCH = 32
SEED = 5


def _tickets(subjects_bodies: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    return [{"ticket_id": f"bench-clean-{i}", "customer_id": "bench", "subject": subject, "body": body}
            for i, (subject, body) in enumerate(subjects_bodies)]


def cleaning_bench(settings: Settings, sentences: Sequence[str], *, n: int = 256, reps: int = 5) -> dict[str, Any]:
    """Tickets/s with cleaning on and off, on queries and on e-mails, and ms per e-mail cleaned."""
    from worker.orchestrator.triager import Triager
    from worker.text.cleaning import clean_ticket
    from worker.training.data.synthetic.emails import email_tickets

    requests = list(sentences[:n])
    emails = email_tickets(requests, seed=SEED, part="val")
    inputs = {"queries": _tickets([("", text) for text in requests]),
              "emails": _tickets([(e.subject, e.body) for e in emails])}
    cleaned = Triager.load(settings.model_copy(update={"clean_text": True}))
    as_written = Triager.load(settings.model_copy(update={"clean_text": False}))
    engines = [Engine("cleaned", cleaned.triage_batch), Engine("as_written", as_written.triage_batch)]
    out: dict[str, Any] = {"n": len(requests), "reps": reps, "batch": BATCH}
    for name, tickets in inputs.items():
        timings = round_robin(engines, tickets, (BATCH,), reps=reps, blocks={BATCH: max(1, len(tickets) // BATCH)},
                              label=f"cleaning, {name}")
        out[name] = {engine.name: timings.summary(engine.name, BATCH) for engine in engines}
        out[name]["ratio"] = timings.ratio("cleaned", "as_written", BATCH)
    per_email = []
    for _ in range(reps):
        started = time.perf_counter()
        for e in emails:
            clean_ticket(e.subject, e.body)
        per_email.append((time.perf_counter() - started) * 1000 / len(emails))
    out["ms_per_email"] = {"median": statistics.median(per_email), "min": min(per_email), "max": max(per_email)}
    return out


def cleaning_markdown(result: dict[str, Any]) -> list[str]:
    """The report's section on the cleaning stage."""
    lines = ["", "## The cleaning stage (Triager, text only, batch 32)", "",
             f"{result['n']} Banking77 requests as one-line queries and wrapped in validation-part e-mails "
             "(`worker/training/data/synthetic/emails.py`); tickets/s with `TICKETFUSION_CLEAN_TEXT` on and off, "
             f"{result['reps']} interleaved repetitions (median, min–max).", "",
             "| input | cleaned | as written | cleaned vs as written |", "| --- | --- | --- | --- |"]
    for name in ("queries", "emails"):
        row = result[name]
        c, w, r = row["cleaned"], row["as_written"], row["ratio"]
        lines.append(f"| {name} | {c['median']:.1f} ({c['min']:.1f}–{c['max']:.1f}) | {w['median']:.1f} "
                     f"({w['min']:.1f}–{w['max']:.1f}) | {r['median']:.2f}× ({r['min']:.2f}–{r['max']:.2f}) |")
    ms = result["ms_per_email"]
    lines += ["", f"Cleaning alone: {ms['median']:.2f} ms per e-mail ({ms['min']:.2f}–{ms['max']:.2f}). On e-mails the "
              "models then read less text, which can make the cleaned run the faster one.", ""]
    return lines


def main(argv: list[str] | None = None) -> int:
    from worker.benchmarks.inputs import console, load_sentences
    from worker.benchmarks.report import replace_section
    from worker.settings import REPO_ROOT, get_settings

    parser = argparse.ArgumentParser(prog="python -m worker.benchmarks.cleaning_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "performance.md")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--n", type=int, default=256)
    args = parser.parse_args(argv)
    settings = get_settings()
    sentences, _ = load_sentences(settings)
    result = cleaning_bench(settings, sentences, n=args.n, reps=args.reps)
    report = args.out.read_text(encoding="utf-8") if args.out.is_file() else ""
    args.out.write_text(replace_section(report, cleaning_markdown(result)), encoding="utf-8")
    console.print(f"cleaning: {result['ms_per_email']['median']:.2f} ms per e-mail; queries "
                  f"{result['queries']['ratio']['median']:.2f}×, e-mails {result['emails']['ratio']['median']:.2f}× "
                  f"the speed without it; wrote {args.out}")
    return 0


__all__ = ["cleaning_bench", "cleaning_markdown"]

if __name__ == "__main__":
    sys.exit(main())
