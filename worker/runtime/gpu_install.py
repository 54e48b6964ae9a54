"""Whether the installed ONNX Runtime can use the GPU, said once per process when it cannot.

``onnxruntime`` and ``onnxruntime-gpu`` are two distributions of one ``onnxruntime`` module.
Installed together, the files of whichever came last overwrite the other's (a CPU build that
pip lists as onnxruntime-gpu, or a mix of two versions), and uninstalling either one breaks
``import onnxruntime``. Nothing fails: inference quietly runs on the CPU. Likewise a GPU build
whose CUDA libraries are missing falls back to the CPU per session. These checks turn both into
one warning each, with the fix (docs/gpu.md).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from importlib import metadata

log = logging.getLogger(__name__)

CPU_DIST = "onnxruntime"
GPU_DIST = "onnxruntime-gpu"
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
GPU_DOC = "docs/gpu.md"

_warned: set[str] = set()


def installed_versions(path: Sequence[str] | None = None) -> dict[str, str]:
    """Versions of the ``onnxruntime`` and ``onnxruntime-gpu`` distributions found on ``path``
    (``sys.path`` when None), by their metadata: the module cannot tell which wheel it came from."""
    found: dict[str, str] = {}
    for name in (CPU_DIST, GPU_DIST):
        kwargs = {"name": name} if path is None else {"name": name, "path": list(path)}
        for dist in metadata.distributions(**kwargs):
            found.setdefault(name, dist.version)
    return found


def install_problem(available: Sequence[str], *, path: Sequence[str] | None = None) -> str | None:
    """What is wrong with this ONNX Runtime install for the GPU, as one warning, or None.

    ``available`` is ``onnxruntime.get_available_providers()``. Two cases: both distributions
    installed (whatever the module now is, the next install or uninstall breaks it), and
    onnxruntime-gpu installed alone but CUDA not offered (the module is not the GPU build, or its
    CUDA plugin could not load CUDA/cuDNN): either way, inference runs on the CPU.
    """
    versions = installed_versions(path)
    gpu, cpu = versions.get(GPU_DIST), versions.get(CPU_DIST)
    if gpu and cpu:
        return (
            f"both onnxruntime {cpu} and onnxruntime-gpu {gpu} are installed: they are one `onnxruntime` "
            f"module, so the one installed last has overwritten the other's files (it now offers "
            f"{', '.join(available)}) and uninstalling either breaks `import onnxruntime`. Keep exactly one: "
            f"on a GPU machine `make install-gpu`, or `pip uninstall -y onnxruntime onnxruntime-gpu && "
            f"pip install --no-deps onnxruntime-gpu=={gpu}`; for the CPU only, the same with "
            f"onnxruntime=={cpu} ({GPU_DOC})"
        )
    if gpu and CUDA not in available:
        return (
            f"onnxruntime-gpu {gpu} is installed but ONNX Runtime offers only {', '.join(available)}: "
            f"the CUDA/cuDNN libraries it needs were most likely not found (ONNX Runtime's warning at import "
            f"names the missing one), or the `onnxruntime` module holds a CPU build's files "
            f"(`pip install --force-reinstall --no-deps onnxruntime-gpu=={gpu}`); inference runs on the CPU ({GPU_DOC})"
        )
    return None


def cuda_fallback(requested: Sequence[str], provider: str, model: str) -> str | None:
    """The warning for a session that asked for CUDA and got the CPU, or None.

    A GPU build of ONNX Runtime always offers CUDAExecutionProvider (it is compiled in); only
    opening a session loads the CUDA libraries, and when they are missing ORT falls back to the
    CPU with an error line of its own and carries on."""
    if CUDA not in requested or provider == CUDA:
        return None
    return (
        f"ONNX Runtime offers CUDA but could not start it, so {model} runs on {provider}: the CUDA and "
        f"cuDNN libraries this onnxruntime-gpu{_built_for()} was built for were most likely not found "
        f"(ONNX Runtime's error above names the missing library; install them or put them on "
        f"LD_LIBRARY_PATH), or no GPU is visible to this process ({GPU_DOC})"
    )


def warn_once(key: str, message: str | None) -> bool:
    """Log ``message`` as a warning the first time ``key`` comes with one in this process."""
    if message is None or key in _warned:
        return False
    _warned.add(key)
    log.warning(message)
    return True


def _built_for() -> str:
    """`` (CUDA 13.0)``: the CUDA version the installed GPU build names, when it names one."""
    try:
        from onnxruntime.capi import build_and_package_info
    except ImportError:
        return ""
    version = getattr(build_and_package_info, "cuda_version", None)
    return f" (CUDA {version})" if version else ""
