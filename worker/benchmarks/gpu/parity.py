"""The GPU check's engines and measures: ONNX Runtime and torch sessions over the same inputs,
parity between their outputs and sentences/s; the environment and whether ORT offers CUDA."""

from __future__ import annotations

import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

from worker.benchmarks.gpu.pack import log

ORT_CUDA_NOTE = (
    "onnxruntime-gpu cannot travel to the GPU machine: the onnxruntime-gpu 1.30.0 wheel for "
    "CPython 3.12 (CUDA 13 build, matching the machine's nvidia-*-cu13 libraries) is 235 MiB, its "
    "libonnxruntime_providers_cuda.so alone 260 MiB, and at most 64 MiB travel; nothing can be "
    "downloaded there. Parity and speed on CUDA are therefore measured with torch on the same weights."
)


def tokenised_batches(tokenizer, texts: list[str], batch_size: int) -> list[tuple[np.ndarray, np.ndarray]]:
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


def engine_outputs(engine, batches) -> dict[str, np.ndarray]:
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
    batches = tokenised_batches(tokenizer, pool, batch_size)
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


def environment() -> dict:
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


def try_ort_cuda() -> tuple[bool, str]:
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return False, f"the installed onnxruntime {ort.__version__} offers {ort.get_available_providers()}. " + ORT_CUDA_NOTE
    try:
        if hasattr(ort, "preload_dlls"):
            ort.preload_dlls()  # the nvidia-* pip packages' CUDA and cuDNN libraries
    except Exception as exc:  # noqa: BLE001 - reported, the session below is the real test
        log(f"onnxruntime.preload_dlls failed: {exc}")
    return True, "onnxruntime offers CUDAExecutionProvider"
