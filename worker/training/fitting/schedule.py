"""The fine-tuning optimiser shared by the intent model and the entity tagger, and the epoch's batches.

AdamW with no weight decay on biases and norms, a higher rate for the freshly initialised head,
the frozen word embeddings left out, and linear warm-up then linear decay: the recipe both models
were tuned with.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def fine_tuning_optimiser(model: nn.Module, *, lr: float, head_lr: float, weight_decay: float, warmup: float,
                          total_steps: int) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """Optimiser and per-step scheduler for a model with ``encoder`` and ``head`` submodules."""
    decay, no_decay = [], []
    for p in model.encoder.parameters():
        if p.requires_grad:
            (no_decay if p.ndim == 1 else decay).append(p)
    optimiser = torch.optim.AdamW([
        {"params": decay, "lr": lr, "weight_decay": weight_decay},
        {"params": no_decay, "lr": lr, "weight_decay": 0.0},
        {"params": list(model.head.parameters()), "lr": head_lr, "weight_decay": weight_decay},
    ])
    warm = max(1, int(warmup * total_steps))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimiser,
        lambda s: (s + 1) / warm if s < warm else max(0.0, (total_steps - s) / max(1, total_steps - warm)),
    )
    return optimiser, scheduler


def epoch_batches(generator: np.random.Generator, lengths: list[int], batch_size: int, *,
                  sortish: bool) -> list[np.ndarray]:
    """One epoch's batches in random order. ``sortish``: texts of similar length share a batch
    (sorted within random chunks of 50 batches), so that a few long e-mails do not pad every
    batch of short queries to their length."""
    order = generator.permutation(len(lengths))
    if sortish:
        chunk = batch_size * 50
        order = np.concatenate([sorted(order[i:i + chunk], key=lambda j: lengths[j])
                                for i in range(0, len(order), chunk)])
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if sortish:
        batches = [batches[i] for i in generator.permutation(len(batches))]
    return batches
