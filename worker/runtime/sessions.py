"""ONNX Runtime sessions and the choice of execution provider: CUDA when offered, else the CPU.

No torch here: the worker runs ONNX models only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from worker.errors import UnknownDevice
from worker.runtime.gpu_install import CPU, CUDA, cuda_fallback, install_problem, warn_once

if TYPE_CHECKING:
    import onnxruntime as ort

log = logging.getLogger(__name__)


def choose_providers(device: str = "auto") -> list[str]:
    """Execution providers to ask for: CUDA first when ONNX Runtime offers it (auto/cuda), else CPU.

    Warns once per process when the install itself stands in the GPU's way (both onnxruntime and
    onnxruntime-gpu installed, or onnxruntime-gpu without CUDA): :mod:`worker.runtime.gpu_install`."""
    import onnxruntime as ort

    device = (device or "auto").lower()
    if device not in ("auto", "cuda", "cpu"):
        raise UnknownDevice(device)
    available = ort.get_available_providers()
    warn_once("install", install_problem(available))
    if device in ("auto", "cuda") and CUDA in available:
        return [CUDA, CPU]
    if device == "cuda":
        log.warning("device=cuda asked for but ONNX Runtime offers %s; using the CPU", available)
    return [CPU]


@dataclass(frozen=True)
class Session:
    """An ONNX Runtime session and the provider it actually runs on."""

    session: ort.InferenceSession
    provider: str
    path: Path


def make_session(path: Path, *, device: str = "auto", threads: int = 0) -> Session:
    """Open ``path`` with the chosen providers; ``threads`` = intra-op threads (0: ORT's default)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads and threads > 0:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    options.log_severity_level = 3
    providers = choose_providers(device)
    session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
    provider = session.get_providers()[0]
    log.info("%s runs on %s", Path(path).name, provider)
    warn_once("cuda_fallback", cuda_fallback(providers, provider, Path(path).name))
    return Session(session=session, provider=provider, path=Path(path))
