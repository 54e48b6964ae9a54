"""The five fusion methods as one torch module, exported to ONNX for the worker.

Every modality is first projected to a shared width; the methods differ in how the projections
meet: a masked mean (add), a product (mul), a concatenation with the mask (concat), a gated
multimodal unit (gmu; Arevalo et al., 2017, generalised from two to n modalities by a softmax
over the modalities' gates) or self-attention over modality tokens with a summary token
(attention). Absent modalities are masked out in every method, never fed as zeros alone.

Every method ends with the same skip connection: the text modalities' calibrated log-probabilities
(the last ``n_labels`` features of each), weighted by a learned factor per modality, are added to
the method's logits. The fused representation thus corrects a product of experts instead of
re-learning the intent model from its sentence vectors, which overfit to the training texts.
"""

from __future__ import annotations

import torch
from torch import nn

from worker.fusion.model import (
    FUSION_METHODS,
    MEDIA_MODALITIES,
    MODALITIES,
    TEXT_MODALITIES,
)

NEG = -1e4


class ModalityAttention(nn.Module):
    """One pre-norm self-attention block over modality tokens; hand-written so it exports to ONNX
    with a padding mask and no fused kernels."""

    def __init__(self, width: int, heads: int = 4, dropout: float = 0.1) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        self.ff = nn.Sequential(nn.Linear(width, 2 * width), nn.GELU(), nn.Linear(2 * width, width))
        self.drop = nn.Dropout(dropout)

    def forward(self, tokens: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        n, t, width = tokens.shape
        q, k, v = self.qkv(self.norm1(tokens)).chunk(3, dim=-1)
        shape = (n, t, self.heads, width // self.heads)
        q, k, v = (x.reshape(shape).transpose(1, 2) for x in (q, k, v))
        scores = q @ k.transpose(-1, -2) / (width // self.heads) ** 0.5
        scores = scores + (1.0 - present)[:, None, None, :] * NEG
        attended = (scores.softmax(dim=-1) @ v).transpose(1, 2).reshape(n, t, width)
        tokens = tokens + self.drop(self.out(attended))
        return tokens + self.drop(self.ff(self.norm2(tokens)))


class FusionNet(nn.Module):
    """Inputs named as in :func:`worker.fusion.model.assemble`; output: intent logits."""

    def __init__(self, method: str, *, text_dim: int, media_dim: int, n_labels: int,
                 width: int = 256, dropout: float = 0.2) -> None:
        super().__init__()
        if method not in FUSION_METHODS:
            raise ValueError(f"unknown fusion method {method!r}; use one of {FUSION_METHODS}")
        self.method = method
        # The three text modalities are the same intent model's view of different texts, so they
        # share one projection (plus a learned offset each): a transcript seen rarely in training
        # still lands where the same words typed would.
        shared = nn.Sequential(nn.Dropout(dropout), nn.Linear(text_dim, width), nn.LayerNorm(width))
        self.project = nn.ModuleDict(
            {name: shared for name in TEXT_MODALITIES}
            | {
                name: nn.Sequential(nn.Dropout(dropout), nn.Linear(media_dim, width), nn.LayerNorm(width))
                for name in MEDIA_MODALITIES
            }
        )
        self.offset = nn.ParameterDict({name: nn.Parameter(torch.zeros(width)) for name in TEXT_MODALITIES})
        k = len(MODALITIES)
        if method == "concat":
            self.mix = nn.Sequential(nn.Linear(k * width + k, width), nn.GELU(), nn.Dropout(dropout))
        elif method == "gmu":
            self.gate = nn.Linear(k * width, k * width)
        elif method == "attention":
            self.summary = nn.Parameter(torch.zeros(1, 1, width))
            self.position = nn.Parameter(torch.randn(1, k, width) * 0.02)
            self.block = ModalityAttention(width, dropout=dropout)
            self.final_norm = nn.LayerNorm(width)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(width, n_labels))
        # Late-fusion skip: each present text modality adds its calibrated log-probabilities, so
        # an untrained network is a product of the intent model's experts, and training learns
        # corrections (and how much to trust each modality) on top of it.
        nn.init.zeros_(self.head[1].weight)
        nn.init.zeros_(self.head[1].bias)
        self.n_labels = n_labels
        self.skip = nn.Parameter(torch.ones(len(TEXT_MODALITIES)))

    def forward(self, text: torch.Tensor, ocr: torch.Tensor, transcript: torch.Tensor,
                image: torch.Tensor, audio: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        inputs = {"text": text, "ocr": ocr, "transcript": transcript, "image": image, "audio": audio}
        h = torch.stack(
            [self.project[name](inputs[name]) + (self.offset[name] if name in self.offset else 0.0)
             for name in MODALITIES],
            dim=1,
        )  # n, k, width
        present = mask
        m = present.unsqueeze(-1)
        if self.method == "add":
            fused = torch.relu((h * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0))
        elif self.method == "mul":
            # Absent modalities contribute the identity (1); present ones a factor in (0, 2).
            factors = 1.0 + torch.tanh(h)
            fused = torch.log((factors * m + (1.0 - m)).prod(dim=1).clamp(min=1e-6))
        elif self.method == "concat":
            fused = self.mix(torch.cat([(torch.relu(h) * m).flatten(1), present], dim=1))
        elif self.method == "gmu":
            hidden = torch.tanh(h)
            gates = self.gate((h * m).flatten(1)).reshape(h.shape)
            gates = (gates + (1.0 - m) * NEG).softmax(dim=1)
            fused = (gates * hidden * m).sum(dim=1)
        else:
            tokens = torch.cat([self.summary.expand(h.shape[0], -1, -1), h + self.position], dim=1)
            flags = torch.cat([torch.ones_like(present[:, :1]), present], dim=1)
            fused = self.final_norm(self.block(tokens, flags)[:, 0])
        experts = sum(
            self.skip[i] * present[:, i : i + 1] * inputs[name][:, -self.n_labels :]
            for i, name in enumerate(TEXT_MODALITIES)
        )
        return self.head(fused) + experts
