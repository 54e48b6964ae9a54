"""ONNX Runtime's install checks: the distributions are looked up for real, in folders of fake
``*.dist-info`` made here, and the warnings are the ones a worker logs."""

from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path

import onnxruntime
import pytest

from worker.runtime import CPU, CUDA, choose_providers, make_session
from worker.runtime import gpu_install
from worker.runtime.gpu_install import install_problem, installed_versions

CHECK_LOGGER = "worker.runtime.gpu_install"


def _site(folder: Path, **versions: str) -> Path:
    """A site-packages folder holding only the metadata of the given distributions."""
    folder.mkdir(parents=True, exist_ok=True)
    for key, version in versions.items():
        name = key.replace("_", "-")
        info = folder / f"{key}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return folder


@pytest.fixture
def fresh_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in a new process: nothing warned yet."""
    monkeypatch.setattr(gpu_install, "_warned", set())


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == CHECK_LOGGER and r.levelno == logging.WARNING]


def test_both_distributions_are_found_and_named_with_the_fix(tmp_path: Path) -> None:
    """onnxruntime and onnxruntime-gpu side by side: one warning with both versions and the commands that fix it."""
    site = _site(tmp_path, onnxruntime="1.32.0", onnxruntime_gpu="1.31.1")
    assert installed_versions([str(site)]) == {"onnxruntime": "1.32.0", "onnxruntime-gpu": "1.31.1"}
    message = install_problem([CUDA, CPU], path=[str(site)])
    assert message is not None
    assert "both onnxruntime 1.32.0 and onnxruntime-gpu 1.31.1 are installed" in message
    assert "make install-gpu" in message
    assert "pip uninstall -y onnxruntime onnxruntime-gpu && pip install --no-deps onnxruntime-gpu==1.31.1" in message
    assert "onnxruntime==1.32.0" in message and "docs/gpu.md" in message


def test_a_clean_install_is_no_problem(tmp_path: Path) -> None:
    """Either distribution alone, the GPU one offering CUDA, or neither: nothing to say."""
    assert install_problem([CUDA, CPU], path=[str(_site(tmp_path / "gpu", onnxruntime_gpu="1.31.1"))]) is None
    assert install_problem([CPU], path=[str(_site(tmp_path / "cpu", onnxruntime="1.32.0"))]) is None
    assert install_problem([CPU], path=[str(_site(tmp_path / "none"))]) is None


def test_the_gpu_build_without_cuda_says_why_and_that_it_runs_on_the_cpu(tmp_path: Path) -> None:
    """onnxruntime-gpu alone but CUDA not offered: missing CUDA/cuDNN libraries named, the CPU said."""
    message = install_problem([CPU], path=[str(_site(tmp_path, onnxruntime_gpu="1.31.1"))])
    assert message is not None
    assert message.startswith("onnxruntime-gpu 1.31.1 is installed but ONNX Runtime offers only CPUExecutionProvider")
    assert "CUDA/cuDNN libraries" in message and "inference runs on the CPU" in message
    assert "pip install --force-reinstall --no-deps onnxruntime-gpu==1.31.1" in message


def test_this_environment_holds_one_onnxruntime() -> None:
    """The project's own environment has exactly one of the two distributions, and nothing to warn about."""
    found = installed_versions()
    assert len(found) == 1, found
    assert install_problem(onnxruntime.get_available_providers()) is None


def test_a_worker_warns_about_both_once_per_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, fresh_process: None
) -> None:
    """onnxruntime-gpu's metadata beside the installed onnxruntime: choosing providers warns once, not per model."""
    monkeypatch.setattr(sys, "path", [str(_site(tmp_path, onnxruntime_gpu="1.31.1")), *sys.path])
    with caplog.at_level(logging.WARNING, logger=CHECK_LOGGER):
        assert choose_providers("cpu") == [CPU]
        assert choose_providers("auto")[-1] == CPU
    (message,) = _warnings(caplog)
    assert f"both onnxruntime {onnxruntime.__version__} and onnxruntime-gpu 1.31.1 are installed" in message


def test_a_session_that_falls_back_from_cuda_says_why_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, fresh_process: None
) -> None:
    """CUDA offered (as a GPU build does without its libraries) but the session opens on the CPU: one warning."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])], "relu",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = tmp_path / "relu.onnx"
    onnx.save(model, path)

    with caplog.at_level(logging.WARNING, logger=CHECK_LOGGER):
        assert make_session(path, device="cpu").provider == CPU  # CPU asked for: nothing to say
        assert _warnings(caplog) == []
        monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: [CUDA, CPU])
        with warnings.catch_warnings():  # this CPU build's own "not in available provider names"
            warnings.simplefilter("ignore")
            assert make_session(path, device="auto").provider == CPU
            assert make_session(path, device="auto").provider == CPU
    (message,) = _warnings(caplog)
    assert message.startswith("ONNX Runtime offers CUDA but could not start it, so relu.onnx runs on CPUExecution")
    assert "CUDA and cuDNN libraries" in message and "LD_LIBRARY_PATH" in message
