"""Benchmarks: the text encoder (torch eager, ONNX fp32, ONNX int8), the intent model (fp32, int8)
and tickets/s through the queue with one real worker. Writes ``docs/performance.md`` and a plot.

    python -m worker.benchmarks.bench --out docs/performance.md

It lives in ``worker/training`` because the eager baseline imports torch; the worker it starts for
the queue benchmark is a separate process that never does. Method, in short:

* Sentences are Banking77 texts (``settings.data_dir/banking77/train.csv``) when present, else the
  bodies of ``examples/tickets.jsonl`` repeated. Every engine tokenises with the same
  ``tokenizers`` tokenizer (the worker's) inside the timed region, pads each batch to its longest
  text, and uses the same number of threads.
* Engines are interleaved round-robin: each repetition times one block per (batch size, engine),
  the engine order rotating between repetitions, so a noisy neighbour slows all engines alike.
  Speeds are the median and min–max of the blocks; ratios are medians of per-repetition ratios
  (both engines timed within the same repetition).
* Queue: a Redis (``TICKETFUSION_REDIS_URL`` or an embedded one), one real worker process
  (``python -m worker.cli.main worker --concurrency 1``) and a fresh SQLite CRM in a temp folder.
  After a warm-up (the worker loads its models on the first task), N tickets are enqueued with
  ``producers.enqueue.enqueue_many``; throughput is N over the time from the first enqueue to the
  last CRM write (the CRM's ``updated_at``); latency is each ticket's CRM write minus its enqueue
  time, under that burst and, separately, one ticket at a time. Peak RSS is ``VmHWM`` from
  ``/proc`` for the worker and its pool children.

This module is the command line; the parts live beside it: ``inputs`` (sentences, machine),
``encoders`` (the engines timed), ``queue_bench`` (tickets through the queue) and ``report``
(the plot and the markdown).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from worker.benchmarks.encoders import (
    BATCHES_PER_BLOCK,
    ENCODER_BATCHES,
    ENGINE_LABELS,
    INTENT_BATCH,
    encoder_paths,
    intent_accuracy,
    intent_engines,
    ort_engine,
    padding_share,
    tokenise_engine,
    torch_eager_engine,
)
from worker.benchmarks.cleaning_bench import cleaning_bench, cleaning_markdown
from worker.benchmarks.inputs import console, load_sentences, machine
from worker.benchmarks.queue_bench import queue_bench
from worker.benchmarks.report import markdown, plot
from worker.settings import REPO_ROOT, get_settings
from worker.training.timing import round_robin


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m worker.benchmarks.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "performance.md")
    parser.add_argument("--plot", type=Path, default=None, help="PNG (default: perf_encoder.png beside --out)")
    parser.add_argument("--threads", type=int, default=0, help="threads for every engine (0: all cores)")
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--intent-reps", type=int, default=7)
    parser.add_argument("--tickets", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3, help="bursts of --tickets, one after another")
    parser.add_argument("--serial", type=int, default=30, help="tickets sent one at a time for latency")
    parser.add_argument("--chunk", type=int, default=50, help="tickets per enqueue_many call in the burst")
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--queue-precision", choices=["fp32", "int8"], default=None,
                        help="intent model precision in the worker (default: TICKETFUSION_INTENT_PRECISION)")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw figures as JSON here")
    parser.add_argument("--skip-encoder", action="store_true")
    parser.add_argument("--skip-intent", action="store_true")
    parser.add_argument("--skip-queue", action="store_true")
    parser.add_argument("--skip-cleaning", action="store_true")
    args = parser.parse_args(argv)
    raw_argv = list(argv if argv is not None else sys.argv[1:])

    settings = get_settings()
    threads = args.threads or os.cpu_count() or 1
    out = args.out.resolve()
    plot_path = (args.plot or out.with_name("perf_encoder.png")).resolve()
    sentences, source = load_sentences(settings)
    report: dict[str, Any] = {"machine": machine(), "threads": threads, "reps": args.reps, "sentences": source,
                              "argv": raw_argv, "notes": [], "encoder": {}}
    load = os.getloadavg()[0]
    report["load_at_start"] = round(load, 2)
    if load > 0.5 * (os.cpu_count() or 1):
        warning = (f"The 1-minute load average was {load:.2f} on {os.cpu_count()} cores when the bench started: "
                   "something else was running, so expect wide spreads (check `ps aux --sort=-%cpu`).")
        console.print(f"[yellow]{warning}[/yellow]")
        report["notes"].append(warning)
    console.print(f"[bold]bench[/bold]: {report['machine']['cores']} cores, {report['machine']['cpu_model']}; "
                  f"{threads} threads; {source}")
    made_plot = False
    with tempfile.TemporaryDirectory(prefix="tf-bench-models-") as scratch:
        from worker.runtime import load_tokenizer
        from worker.training.models.text import base_model_path

        tokenizer_path = base_model_path() / "tokenizer.json"
        tokenizer = load_tokenizer(tokenizer_path)
        if not args.skip_encoder:
            fp32, int8, notes = encoder_paths(Path(settings.models_dir), Path(scratch))
            report["notes"] += notes
            torch_engine = torch_eager_engine(tokenizer, threads)
            report["encoder"]["torch_note"] = torch_engine.note
            engines = [
                torch_engine,
                ort_engine("ort_fp32", fp32, tokenizer, threads),
                ort_engine("ort_int8", int8, tokenizer, threads),
                tokenise_engine(tokenizer),
            ]
            timings = round_robin(engines, sentences, ENCODER_BATCHES, reps=args.reps,
                                  blocks=BATCHES_PER_BLOCK, label="text encoder")
            names = [e.name for e in engines]
            report["encoder"]["padding_share"] = {
                str(b): round(padding_share(tokenizer, sentences, b), 3) for b in ENCODER_BATCHES
            }
            report["encoder"]["speed"] = {n: {str(b): timings.summary(n, b) for b in ENCODER_BATCHES} for n in names}
            report["encoder"]["ratio_vs_torch"] = {
                n: {str(b): timings.ratio(n, "torch_eager", b) for b in ENCODER_BATCHES}
                for n in ("ort_fp32", "ort_int8")
            }
            for n in ("ort_fp32", "ort_int8"):
                console.print(f"{ENGINE_LABELS[n]} vs torch eager: " + ", ".join(
                    f"batch {b}: {report['encoder']['ratio_vs_torch'][n][str(b)]['median']:.2f}×"
                    for b in ENCODER_BATCHES))
            made_plot = plot(timings, [n for n in names if n != "tokenise"], plot_path)
            del engines, torch_engine
            gc.collect()
        if not args.skip_intent:
            engines, missing = intent_engines(settings, tokenizer_path, threads)
            report["intent"] = {"missing": missing, "notes": {e.name: e.note for e in engines}}
            if engines:
                timings = round_robin(engines, sentences, (INTENT_BATCH,), reps=args.intent_reps,
                                      blocks={INTENT_BATCH: 4}, label="intent model")
                report["intent"]["speed"] = {e.name: timings.summary(e.name, INTENT_BATCH) for e in engines}
                report["intent"]["ratio_vs_fp32"] = {
                    e.name: timings.ratio(e.name, "intent_fp32", INTENT_BATCH)
                    for e in engines if e.name != "intent_fp32" and ("intent_fp32", INTENT_BATCH) in timings.rates
                }
                for name, ratio in report["intent"]["ratio_vs_fp32"].items():
                    console.print(f"{name} vs intent_fp32 at batch {INTENT_BATCH}: {ratio['median']:.2f}×")
            report["notes"] += missing
            report["intent"]["accuracy"] = intent_accuracy(Path(settings.models_dir))
            del engines
            gc.collect()
    if not args.skip_cleaning:
        report["cleaning"] = cleaning_bench(settings, sentences, reps=args.reps)
        ratio = report["cleaning"]["queries"]["ratio"]["median"]
        console.print(f"cleaning: {report['cleaning']['ms_per_email']['median']:.2f} ms per e-mail; "
                      f"queries at {ratio:.2f}× the speed without it")
    if not args.skip_queue:
        try:
            if args.queue_precision:
                os.environ["TICKETFUSION_INTENT_PRECISION"] = args.queue_precision
                settings = settings.model_copy(update={"intent_precision": args.queue_precision})
            report["queue"] = queue_bench(settings, sentences, n=args.tickets, serial=args.serial,
                                          chunk=args.chunk, timeout=args.timeout, rounds=args.rounds)
            q = report["queue"]
            console.print(f"queue: {q['tickets_per_s']} tickets/s; burst latency p50 {q['burst_latency_s']['p50']} s, "
                          f"p95 {q['burst_latency_s']['p95']} s; peak RSS {q['peak_rss']}")
        except Exception as exc:  # noqa: BLE001 - the rest of the report is still worth writing
            console.print(f"[red]queue benchmark failed: {exc}[/red]")
            report["queue"] = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
    report["load_at_end"] = round(os.getloadavg()[0], 2)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = markdown(report, plot_path if made_plot else None, out)
    if "cleaning" in report:
        text = text.rstrip("\n") + "\n" + "\n".join(cleaning_markdown(report["cleaning"]))
    out.write_text(text, encoding="utf-8")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1, default=str) + "\n", encoding="utf-8")
    console.print(f"wrote {out}" + (f" and {plot_path}" if made_plot else ""))
    return 1 if isinstance(report.get("queue"), dict) and "error" in report["queue"] else 0


if __name__ == "__main__":
    sys.exit(main())
