"""The one ONNX exporter: a torch module + its :class:`~worker.training.export.specs.ExportSpec`
→ a checked ``.onnx`` file, moved into place atomically; plus int8 quantisation and metadata.

Every graph is traced with the legacy (TorchScript) exporter, constant folding on, at the spec's
opset, with the spec's input/output names and dynamic axes. The spec per model lives in
:mod:`worker.training.export.specs`; parity with torch is checked by
:mod:`worker.training.export.validate`.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from worker.training.export.specs import INTENT, TEXT_ENCODER, ExportSpec
from worker.training.models.text import SentenceEncoder, load_encoder

log = logging.getLogger(__name__)


def export_onnx(module: nn.Module, spec: ExportSpec, example_inputs: tuple | None, out_path: Path, *,
                metadata: dict[str, str] | None = None,
                check: Callable[[Path], object] | None = None) -> Path:
    """Export ``module`` (eval mode, no grad) as ``spec`` declares, traced on ``example_inputs``
    (default: ``spec.example()``), then move it to ``out_path``.

    With ``metadata`` the entries are stamped into the graph (which is then checked and saved
    again); without, the file is checked and kept as torch wrote it. ``check(tmp_path)`` runs on
    the finished temporary file before the move (e.g. a parity check), so ``out_path`` never holds
    a half-written, unchecked or failing model."""
    import onnx

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    if example_inputs is None:
        if spec.example is None:
            raise ValueError(f"{spec.name}: the spec has no example inputs; pass some")
        example_inputs = spec.example()
    module = module.eval()
    tmp = out_path.with_name(out_path.stem + ".tmp.onnx")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the legacy exporter, on purpose
        # "GRU with a batch size other than 1": the audio encoder builds h0 from the input's batch
        # size, and its padding check runs the graph at batch 1 and 8 to prove it.
        warnings.filterwarnings("ignore", message="Exporting a model to ONNX with a batch_size other than 1")
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # nn.GRU's own input-size checks
        torch.onnx.export(
            module,
            tuple(example_inputs),
            str(tmp),
            input_names=list(spec.inputs),
            output_names=list(spec.outputs),
            dynamic_axes=spec.axes(),
            opset_version=spec.opset,
            do_constant_folding=True,
            dynamo=False,
        )
    if metadata is None:
        onnx.checker.check_model(onnx.load(str(tmp)))
    else:
        _stamp(tmp, metadata)
    if check is not None:
        check(tmp)
    tmp.replace(out_path)
    return out_path


def _stamp(path: Path, metadata: dict[str, str]) -> None:
    """Add ``metadata`` to the graph's ``metadata_props``, check the model and save it in place."""
    import onnx

    model = onnx.load(str(path))
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, str(value)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def export_text_encoder(out_path: Path, *, metadata: dict[str, str] | None = None,
                        encoder: nn.Module | None = None) -> Path:
    """The base all-MiniLM-L6-v2 (mean-pooled, normalised) as ONNX, output ``sentence_vector``."""
    module = SentenceEncoder(encoder if encoder is not None else load_encoder())
    return export_onnx(module, TEXT_ENCODER, None, out_path, metadata=metadata or {})


def export_intent(model: nn.Module, out_path: Path, *, metadata: dict[str, str] | None = None) -> Path:
    """An intent model (or ensemble) as ONNX, outputs ``logits`` and ``sentence_vector``."""
    return export_onnx(model, INTENT, None, out_path, metadata=metadata or {})


def quantize_int8(src: Path, dst: Path) -> Path:
    """Dynamic int8 quantisation (QInt8 weights) of an exported model; keeps its metadata."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    dst = Path(dst)
    tmp = dst.with_suffix(".tmp.onnx")
    quantize_dynamic(str(src), str(tmp), weight_type=QuantType.QInt8)
    source_meta = {p.key: p.value for p in onnx.load(str(src), load_external_data=False).metadata_props}
    model = onnx.load(str(tmp))
    present = {p.key for p in model.metadata_props}
    for key, value in source_meta.items():
        if key not in present:
            entry = model.metadata_props.add()
            entry.key, entry.value = key, value
    onnx.save(model, str(tmp))
    tmp.replace(dst)
    return dst


def onnx_metadata(path: Path) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX file ({} when it cannot be read)."""
    import onnx

    try:
        return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    except Exception:  # noqa: BLE001 - an unreadable file is rebuilt
        return {}


def write_json(path: Path, obj) -> None:
    """Write JSON, sorted and indented, with a trailing newline."""
    Path(path).write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n", encoding="utf-8")
