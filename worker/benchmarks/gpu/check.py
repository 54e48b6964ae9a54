"""CUDA inference parity and throughput of the ONNX models, as one prepared script for a lent GPU.

Two steps, because the GPU machine cannot download anything and only 64 MiB of files travel:

``pack`` (here, with the ``train`` extra installed) writes two git-ignored folders: ``var/gpu_check``
holds the base all-MiniLM-L6-v2's frozen word embeddings as fp16, byte-shuffled and xz-compressed,
its config and tokenizer, and 500 Banking77 sentences: with the intent ensemble's committed fp16
members, which travel with the working tree anyway, that is all the intent model needs.
``var/gpu_check_encoder`` holds the rest of the base (fp16, compressed), needed only to check the
text encoder; carry it when the total stays under 64 MiB (``pack`` prints the sizes).

``run`` (there) unpacks, assembles the intent ensemble exactly as ``ticketfusion models build``
does (:func:`worker.training.export.build.assemble_members`, after checking every committed hash) and,
when the whole base travelled, the text encoder; exports them to ONNX fp32 and compares on the
sentences:

* ONNX Runtime CPU (the reference) with ONNX Runtime's CUDAExecutionProvider when the installed
  onnxruntime offers it (the GPU machine's is a CPU build, and no onnxruntime-gpu wheel fits the
  64 MiB that travel: the 1.30 wheel is 235 MiB), and always
* the same weights in torch on the CPU and on CUDA, fp32 and fp16: max abs difference of logits
  and sentence vectors, argmax agreement, and sentences/s at batch 1, 8, 32 and 128.

The base travels as fp16, so the rebuilt graphs differ from the shipped fp32 ones by the rounding
of the base weights (measured here: under 1e-3 in logits, same argmax); CUDA and CPU run the same
rebuilt graph, so the parity figures are unaffected. Without CUDA it still does the CPU half and
says that CUDA was absent. It writes ``gpu_check.json`` and ``gpu_check.md`` to ``--out`` (``$OUT``
on the GPU machine). It imports neither celery nor pydantic-settings: the GPU machine has torch,
transformers, tokenizers, onnx, onnxruntime, safetensors and numpy only.

Here:   python -m worker.benchmarks.gpu.check pack
There:  PYTHONUNBUFFERED=1 python3 -m worker.benchmarks.gpu.check run --out "$OUT"

This module is the command line, ``run`` and its report; ``pack`` makes and unpacks the pack,
``parity`` holds the engines, the parity and the throughput measures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from worker.benchmarks.gpu.pack import (
    DEFAULT_ENCODER_PACK,
    DEFAULT_PACK,
    ENCODER_BLOB,
    PACK_MANIFEST,
    REPO_ROOT,
    SENTENCES,
    MissingPiece,
    log,
    pack,
    sha256,
    unpack_base,
)
from worker.benchmarks.gpu.parity import (
    OrtEngine,
    TorchEngine,
    engine_outputs,
    environment,
    parity,
    throughput,
    tokenised_batches,
    try_ort_cuda,
)

DEFAULT_INTENT = REPO_ROOT / "onnx_models" / "intent"
BATCH_SIZES = (1, 8, 32, 128)


def run(pack_dir: Path, out_dir: Path, *, encoder_dir: Path, intent_dir: Path, work: Path, budget_s: float,
        threads: int) -> int:
    t0 = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    import torch

    from worker.training.export.build import assemble_members
    from worker.training.export.manifest import (
        ModelArtifactsCorrupt,
        intent_members,
    )
    from worker.training.export.manifest import (
        verify_intent_committed as _check_committed,
    )

    try:  # presence and SHA-256 of every committed intent file (members included), as the build checks
        entry = _check_committed(intent_dir.parent)
    except (ModelArtifactsCorrupt, FileNotFoundError, OSError) as exc:
        raise MissingPiece(f"the intent model's committed files are not all here: {exc}") from exc
    members = intent_members(entry)

    from worker.runtime import load_tokenizer
    from worker.training.export.convert import export_intent, export_text_encoder
    from worker.training.models.text import SentenceEncoder, load_encoder

    env = environment()
    log(f"environment: {json.dumps(env)}")
    report: dict = {"environment": env, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "notes": [], "models": {}}
    cuda = env["cuda_available"]
    if not cuda:
        report["notes"].append("CUDA is absent here (torch.cuda.is_available() is False): CPU half only.")
        log("CUDA is ABSENT: doing the CPU half only")
    ort_cuda, why = try_ort_cuda()
    report["ort_cuda_ep"] = {"available": ort_cuda, "why": why}
    if not ort_cuda:
        report["notes"].append("ONNX Runtime CUDAExecutionProvider was not run: " + why)
        log("ORT CUDA EP not available: " + why)

    base, whole_base = unpack_base(pack_dir, encoder_dir, work / "base")
    if not whole_base:
        report["notes"].append(
            f"text encoder not checked: {encoder_dir / ENCODER_BLOB} did not travel (only the word embeddings, "
            "which is all the intent ensemble needs, fit in the 64 MiB with its committed members)")
        log("text encoder NOT checked: the rest of the base did not travel")
    pack_manifest = json.loads((pack_dir / PACK_MANIFEST).read_text())
    sentences = json.loads((pack_dir / SENTENCES).read_text())
    labels = json.loads((intent_dir / "labels.json").read_text())
    report["inputs"] = {
        "base": pack_manifest["base_package"] + " (fp16 copy of its fp32 weights; pooler dropped)"
        + ("" if whole_base else "; word embeddings only"),
        "intent_members": len(members),
        "intent_weights_sha256": sha256(intent_dir / "weights.safetensors"),
        "intent_weights_match_manifest": True,  # _check_committed verified every committed hash
        "sentences": pack_manifest["sentence_source"],
        "labels": len(labels),
    }
    log(f"unpacked base in {time.perf_counter() - t0:.1f} s; {len(sentences)} sentences, {len(labels)} labels")

    modules = {"intent": assemble_members(intent_dir, members, labels, base).eval()}
    if whole_base:
        modules["text_encoder"] = SentenceEncoder(load_encoder(base)).eval()
    paths: dict[str, Path | None] = {}
    export_failed: list[str] = []
    for name, module in modules.items():
        started = time.perf_counter()
        path = work / name / "model.onnx"
        try:
            if name == "intent":
                export_intent(module, path)
            else:
                export_text_encoder(path, encoder=module.encoder)
        except Exception as exc:  # noqa: BLE001 - torch on CUDA vs CPU is still worth measuring
            paths[name] = None
            export_failed.append(name)
            report["notes"].append(f"{name}: ONNX export failed here ({type(exc).__name__}: {exc}); "
                                   "the reference is torch on the CPU instead of ONNX Runtime")
            log(f"EXPORT FAILED for {name}: {exc!r}")
            continue
        paths[name] = path
        log(f"exported {name} to ONNX fp32 in {time.perf_counter() - started:.1f} s ({path.stat().st_size / 2**20:.0f} MiB)")

    tokenizer = load_tokenizer(base / "tokenizer.json")
    batches = tokenised_batches(tokenizer, sentences, 32)
    threads = threads or (os.cpu_count() or 1)
    failed: list[str] = []
    for name, module in modules.items():
        entry: dict = {"parity": {}, "throughput": {}}
        report["models"][name] = entry
        torch.set_num_threads(threads)
        engines: dict = {}
        if paths[name] is not None:
            engines["ort_cpu_fp32"] = OrtEngine(paths[name], "CPUExecutionProvider", threads)
        engines["torch_cpu_fp32"] = TorchEngine(module, "cpu", torch.float32)
        ref_name = next(iter(engines))
        entry["reference"] = ref_name
        if ort_cuda and paths[name] is not None:
            try:
                engines["ort_cuda_fp32"] = OrtEngine(paths[name], "CUDAExecutionProvider", 0)
            except Exception as exc:  # noqa: BLE001 - reported, not fatal
                report["notes"].append(f"{name}: ORT CUDA session failed: {exc}")
                log(f"ORT CUDA session failed: {exc}")
        if cuda:
            engines["torch_cuda_fp32"] = TorchEngine(module, "cuda", torch.float32)
            engines["torch_cuda_fp16"] = TorchEngine(module, "cuda", torch.float16)
        reference = engine_outputs(engines[ref_name], batches)
        for engine_name, engine in engines.items():
            if engine_name == ref_name:
                continue
            entry["parity"][engine_name] = {k: round(v, 7) for k, v in parity(reference, engine_outputs(engine, batches)).items()}
            log(f"{name} {engine_name} vs {ref_name}: {entry['parity'][engine_name]}")
        for engine_name, result in entry["parity"].items():
            fp32 = engine_name.endswith("fp32")
            limit = 1e-3 if fp32 else 5e-2
            worst = max(result.get("logits_max_abs_diff", 0.0), result["vector_max_abs_diff"])
            agreement = result.get("argmax_agreement", 1.0)
            ok = worst <= limit and agreement >= (0.998 if fp32 else 0.99)
            result["verdict"] = "ok" if ok else f"FLAG (limit {limit:g} abs, argmax ≥ {0.998 if fp32 else 0.99})"
            if not ok and fp32:
                failed.append(f"{name}/{engine_name}")
        # Throughput: the remaining budget split over what is left to measure.
        for batch_size in BATCH_SIZES:
            for engine_name, engine in engines.items():
                left = budget_s - (time.perf_counter() - t0)
                if left < 20:
                    entry["throughput"].setdefault(engine_name, {})[str(batch_size)] = "skipped: time budget"
                    continue
                on_cpu = "cpu" in engine_name
                seconds = 1.5 if not on_cpu else (1.0 if cuda else 2.0)
                result = throughput(engine, sentences, tokenizer, batch_size, seconds=seconds)
                entry["throughput"].setdefault(engine_name, {})[str(batch_size)] = result
                log(f"{name} {engine_name} batch {batch_size}: {result['sentences_per_s']} sentences/s")
        del engines
        if cuda:
            torch.cuda.empty_cache()
    report["seconds"] = round(time.perf_counter() - t0, 1)
    problems = ([f"fp32 parity FLAGGED for {failed}"] if failed else []) + (
        [f"ONNX export FAILED for {export_failed}"] if export_failed else [])
    if not cuda:
        problems.append("CUDA absent: CPU half only")
    report["verdict"] = "; ".join(problems) or "ok"
    (out_dir / "gpu_check.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    (out_dir / "gpu_check.md").write_text(markdown(report), encoding="utf-8")
    log(f"wrote {out_dir / 'gpu_check.json'} and gpu_check.md in {report['seconds']} s; verdict: {report['verdict']}")
    return 0 if not (failed or export_failed) else 1


def markdown(report: dict) -> str:
    env = report["environment"]
    lines = [
        "# GPU check: CUDA inference parity and throughput",
        "",
        f"Run {report['started']}: {env.get('gpu', 'no GPU (CUDA absent)')}, {env['cpu_count']} CPU cores, "
        f"Python {env['python']}, torch {env['torch']} (CUDA {env.get('torch_cuda', '-')}), "
        f"transformers {env['transformers']}, onnxruntime {env['onnxruntime']} ({', '.join(env['ort_providers'])}).",
        "",
        f"Inputs: {report['inputs']['base']}; intent tensors sha256 {report['inputs']['intent_weights_sha256'][:16]}… "
        f"({'as' if report['inputs'].get('intent_weights_match_manifest') else 'NOT as'} in onnx_models/manifest.json); "
        f"{report['inputs']['sentences']}. Both models assembled and exported to ONNX fp32 on this machine "
        "with `worker.training.export.convert`; the reference is ONNX Runtime on the CPU (ratios in brackets are "
        "against it), torch on the CPU where the export failed.",
        "",
    ]
    lines += [f"- {note}" for note in report["notes"]]
    lines.append("")
    for name, entry in report["models"].items():
        lines += [f"## {name}", "", f"Parity against {entry['reference']} on the sentences (batches of 32):", "",
                  "| engine | logits max abs diff | argmax agreement | vector max abs diff | vector min cosine | verdict |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for engine, p in entry["parity"].items():
            lines.append(f"| {engine} | {p.get('logits_max_abs_diff', '-')} | {p.get('argmax_agreement', '-')} | "
                         f"{p['vector_max_abs_diff']} | {p['vector_min_cosine']} | {p['verdict']} |")
        lines += ["", "Sentences/s (median of 3 timed runs, pre-tokenised, inputs and outputs copied):", "",
                  "| engine | " + " | ".join(f"batch {b}" for b in BATCH_SIZES) + " |",
                  "| --- |" + " --- |" * len(BATCH_SIZES)]
        ref_name = entry["reference"]
        reference = entry["throughput"].get(ref_name, {})
        for engine, by_batch in entry["throughput"].items():
            cells = []
            for b in BATCH_SIZES:
                c, r = by_batch.get(str(b), "-"), reference.get(str(b))
                if not isinstance(c, dict):
                    cells.append(str(c))
                    continue
                ratio = (f" ({c['sentences_per_s'] / r['sentences_per_s']:.1f}×)"
                         if isinstance(r, dict) and engine != ref_name and r["sentences_per_s"] else "")
                cells.append(f"{c['sentences_per_s']:,.0f}{ratio}")
            lines.append(f"| {engine} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += [f"Verdict: {report['verdict']} ({report['seconds']} s).", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m worker.benchmarks.gpu.check", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("pack", help="here: write var/gpu_check (+ var/gpu_check_encoder) for the GPU machine")
    p.add_argument("--out", type=Path, default=DEFAULT_PACK)
    p.add_argument("--encoder-out", type=Path, default=DEFAULT_ENCODER_PACK)
    p.add_argument("--sentences", type=int, default=500)
    r = commands.add_parser("run", help="there: the check itself")
    r.add_argument("--pack", type=Path, default=DEFAULT_PACK)
    r.add_argument("--encoder-pack", type=Path, default=DEFAULT_ENCODER_PACK,
                   help="the rest of the base (text encoder check); skipped when absent")
    r.add_argument("--intent-dir", type=Path, default=DEFAULT_INTENT)
    r.add_argument("--out", type=Path, default=Path(os.environ.get("OUT") or "gpu_check_out"))
    r.add_argument("--work", type=Path, default=Path("/tmp/tf_gpu_check"))
    r.add_argument("--budget-s", type=float, default=240.0, help="stop timing once this much has passed")
    r.add_argument("--threads", type=int, default=0, help="CPU threads for ORT and torch on the CPU (0: all)")
    args = parser.parse_args(argv)
    try:
        if args.command == "pack":
            pack(args.out, args.encoder_out, n_sentences=args.sentences)
            return 0
        return run(args.pack, args.out, encoder_dir=args.encoder_pack, intent_dir=args.intent_dir, work=args.work,
                   budget_s=args.budget_s, threads=args.threads)
    except MissingPiece as exc:
        print(f"GPU CHECK FAILED: {exc}", file=sys.stderr, flush=True)
        return 2
    except ImportError as exc:
        print(f"GPU CHECK FAILED: a Python package is missing here: {exc}", file=sys.stderr, flush=True)
        return 2


if __name__ == "__main__":
    sys.exit(main())
