"""The learned media encoders' torch modules: a CNN over screenshots and a conv + bidirectional
GRU over voice-note log-mel frames, each with a 128-d unit ``embedding`` and linear heads (intent,
exported; auxiliary, training only). Their ONNX interfaces are in
:mod:`worker.training.export.specs` (``image_encoder``, ``audio_encoder``)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from worker.media import features as mf

EMBED_DIM = 128
#: Heads read the unit-length embedding times this (a cosine classifier with a fixed temperature).
HEAD_SCALE = 16.0


def normalise(vector: torch.Tensor) -> torch.Tensor:
    """Scale each row to unit L2 length."""
    return vector / vector.norm(p=2, dim=1, keepdim=True).clamp(min=1e-12)


class Heads(nn.Module):
    """Intent and auxiliary linear heads over the scaled unit embedding (training only, except intent)."""

    def __init__(self, n_intents: int, aux: dict[str, int], *, dropout: float) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.intent = nn.Linear(EMBED_DIM, n_intents)
        self.aux = nn.ModuleDict({name: nn.Linear(EMBED_DIM, n) for name, n in aux.items()})

    def intent_logits(self, embedding: torch.Tensor) -> torch.Tensor:
        """[N, 77] (exported)."""
        return self.intent(self.dropout(embedding * HEAD_SCALE))

    def aux_logits(self, embedding: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per auxiliary head, [N, classes] (training only)."""
        x = self.dropout(embedding * HEAD_SCALE)
        return {name: head(x) for name, head in self.aux.items()}


def conv_block(c_in: int, c_out: int, *, stride: int = 1, pool: bool = True) -> nn.Sequential:
    """conv3x3 - BN - ReLU (- 2x2 max pool)."""
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
                               nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
    if pool:
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class ImageEncoderNet(nn.Module):
    """5 conv blocks (192 px → 48 after the strided, pooled stem → 6), global average pool,
    projection to the 128-d unit embedding. Layout, dark mode and paper are coarse cues, so the
    stem drops resolution early (a 192 px screenshot's text is not legible to it anyway).

    ``forward(image [N,1,S,S]) -> (embedding [N,128], intent_logits [N,77])`` is what is exported.
    """

    def __init__(self, n_intents: int, aux: dict[str, int], *, channels: Sequence[int] = (16, 32, 64, 128, 160),
                 dropout: float = 0.2) -> None:
        super().__init__()
        c = list(channels)
        self.features = nn.Sequential(
            conv_block(1, c[0], stride=2),  # 48
            conv_block(c[0], c[1]),  # 24
            conv_block(c[1], c[2]),  # 12
            conv_block(c[2], c[3]),  # 6
            conv_block(c[3], c[4], pool=False),  # 6
        )
        self.project = nn.Linear(c[4], EMBED_DIM)
        self.heads = Heads(n_intents, aux, dropout=dropout)

    def embed(self, image: torch.Tensor) -> torch.Tensor:
        """[N, 128] unit vectors."""
        pooled = self.features(image).mean(dim=(2, 3))
        return normalise(self.project(pooled))

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        embedding = self.embed(image)
        return embedding, self.heads.intent_logits(embedding)


def _conv_lengths(lengths: torch.Tensor, conv: nn.Conv1d) -> torch.Tensor:
    """Valid frames after ``conv``: floor((L + 2p - k) / s) + 1, as for a lone clip of length L."""
    (k,), (s,), (p,) = conv.kernel_size, conv.stride, conv.padding
    return torch.div(lengths + 2 * p - k, s, rounding_mode="floor") + 1


def _mask(lengths: torch.Tensor, steps: int | torch.Tensor) -> torch.Tensor:
    """[N, T] boolean, True at valid time steps."""
    return torch.arange(steps, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)


def reverse_valid(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each sequence of ``x`` [N,T,C] within its own length (padding stays at the end),
    so a forward GRU over the result is the backward direction, unaffected by padding."""
    steps = torch.arange(x.shape[1], device=x.device).unsqueeze(0)
    last = (lengths - 1).unsqueeze(1)
    index = torch.where(steps <= last, last - steps, steps)
    return torch.gather(x, 1, index.unsqueeze(-1).expand(-1, -1, x.shape[2]))


class AudioEncoderNet(nn.Module):
    """Conv front-end (strides 2 and 4: 80 ms steps, half the GRU steps of 40 ms), 2-layer bidirectional GRU, masked mean+max pool,
    projection to the 128-d unit embedding.

    ``forward(features [N,T,64], lengths [N]) -> (embedding, intent_logits)``; frames at or after
    ``lengths`` are ignored, so a padded batch gives what each clip gives alone.
    """

    def __init__(self, n_intents: int, aux: dict[str, int], *, conv: int = 96, hidden: int = 96,
                 layers: int = 2, dropout: float = 0.2) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(mf.N_MELS, conv, 5, stride=2, padding=2, bias=False)
        self.bn1 = nn.BatchNorm1d(conv)
        self.conv2 = nn.Conv1d(conv, conv, 7, stride=4, padding=3, bias=False)
        self.bn2 = nn.BatchNorm1d(conv)
        self.forward_grus = nn.ModuleList()
        self.backward_grus = nn.ModuleList()
        for layer in range(layers):
            size = conv if layer == 0 else 2 * hidden
            self.forward_grus.append(nn.GRU(size, hidden, batch_first=True))
            self.backward_grus.append(nn.GRU(size, hidden, batch_first=True))
        self.between = nn.Dropout(dropout)
        self.project = nn.Linear(4 * hidden, EMBED_DIM)
        self.heads = Heads(n_intents, aux, dropout=dropout)

    def _front(self, features: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Two masked conv layers; padded frames are zeroed before each so they act as the
        convolution's own zero padding would for a lone clip."""
        x = features * _mask(lengths, features.shape[1]).unsqueeze(-1).to(features.dtype)
        x = x.transpose(1, 2)  # [N, 64, T]
        for conv, bn in ((self.conv1, self.bn1), (self.conv2, self.bn2)):
            lengths = _conv_lengths(lengths, conv)
            x = F.relu(bn(conv(x)))
            x = x * _mask(lengths, x.shape[2]).unsqueeze(1).to(x.dtype)
        return x.transpose(1, 2), lengths  # [N, T/4, C]

    def embed(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """[N, 128] unit vectors; frames at or after ``lengths`` do not count."""
        lengths = lengths.clamp(min=1)
        x, lengths = self._front(features, lengths)
        for index, (fwd, bwd) in enumerate(zip(self.forward_grus, self.backward_grus)):
            if index:
                x = self.between(x)
            h0 = x.new_zeros(1, x.shape[0], fwd.hidden_size)  # explicit: keeps the batch axis dynamic in ONNX
            ahead, _ = fwd(x, h0)
            behind, _ = bwd(reverse_valid(x, lengths), h0)
            x = torch.cat([ahead, reverse_valid(behind, lengths)], dim=2)
        valid = _mask(lengths, x.shape[1]).unsqueeze(-1)
        weights = valid.to(x.dtype)
        mean = (x * weights).sum(dim=1) / weights.sum(dim=1)
        peak = x.masked_fill(~valid, -1e4).max(dim=1).values
        return normalise(self.project(torch.cat([mean, peak], dim=1)))

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        embedding = self.embed(features, lengths)
        return embedding, self.heads.intent_logits(embedding)


def parameter_count(module: nn.Module, *, exported_only: bool = False) -> int:
    """Number of parameters (``exported_only``: without the auxiliary heads)."""
    return sum(p.numel() for n, p in module.named_parameters() if not (exported_only and n.startswith("heads.aux")))
