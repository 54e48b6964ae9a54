"""The entity tagger's torch module: the base encoder + a per-token linear head (BIO labels)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from worker.text.tagger import LABELS
from worker.training.models.text import FROZEN_TENSORS, committed_state, load_encoder


class TaggerNet(nn.Module):
    """Encoder + dropout + linear head on every token → ``logits`` (batch, sequence, labels)."""

    def __init__(self, encoder: nn.Module, num_labels: int = len(LABELS), *, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.config.hidden_size, num_labels)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.head(self.dropout(hidden))


def assemble_tagger(weights_path: Path, labels: Sequence[str], base_path: Path | None = None) -> TaggerNet:
    """Base encoder from the package + committed fine-tuned tensors (fp16 → fp32), in eval mode."""
    from safetensors.torch import load_file

    tensors = load_file(str(weights_path))
    model = TaggerNet(load_encoder(base_path), len(labels))
    expected = set(committed_state(model))
    missing, unexpected = expected - set(tensors), set(tensors) - expected
    if missing or unexpected:
        raise ValueError(f"{weights_path}: tensors do not match the tagger "
                         f"(missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]})")
    result = model.load_state_dict({k: v.float() for k, v in tensors.items()}, strict=False)
    assert all(k in FROZEN_TENSORS or k.endswith(("position_ids", "token_type_ids"))
               for k in result.missing_keys), result.missing_keys
    return model.eval()
