"""Parity checks: the exported ONNX graph must compute what the torch module computes.

Run on a fixed list of sentences; compares every output (max absolute difference) and, for
outputs with classes, the argmax. A mismatch raises :class:`ParityError`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from worker.errors import TicketfusionError
from worker.runtime import encode_batch, load_tokenizer, make_session

log = logging.getLogger(__name__)

#: Sentences of mixed length and topic, some long enough to be truncated.
PARITY_SENTENCES = [
    "I lost my card",
    "My card has not arrived yet, it has been two weeks.",
    "Why was I charged a fee for a transfer to my friend?",
    "How do I change my PIN?",
    "The exchange rate applied to my payment in euros looks wrong.",
    "hi",
    "Can I top up with cash at a shop, and if so, which shops accept it and is there a limit?",
    "my phone was stolen and someone used my app",
    "Refund not showing up on my statement after the merchant confirmed it a week ago. "
    "I have contacted them twice and they insist the money was sent back to my account. "
    "What should I do next, and how long can it take for a refund to appear? " * 3,
    "Je voudrais fermer mon compte.",
    "",
    "💳 declined at the ATM?!",
]


class ParityError(TicketfusionError, AssertionError):
    """ONNX Runtime and torch disagree beyond the tolerance."""

    def __init__(self, model: str, max_abs_diff: float, tolerance: float, detail: str = "") -> None:
        self.model, self.max_abs_diff, self.tolerance = model, max_abs_diff, tolerance
        super().__init__(
            f"{model}: ONNX Runtime differs from torch by {max_abs_diff:.3g} (tolerance {tolerance:.3g})"
            + (f"; {detail}" if detail else "")
        )


@dataclass(frozen=True)
class ParityReport:
    model: str
    max_abs_diff: dict[str, float]
    argmax_agreement: float | None
    sentences: int


def check_parity(
    model_name: str,
    module: torch.nn.Module,
    onnx_path: Path,
    tokenizer_path: Path,
    *,
    sentences: list[str] | None = None,
    tolerance: float = 1e-4,
    min_argmax_agreement: float = 1.0,
    argmax_output: str | None = None,
) -> ParityReport:
    """Compare ``module`` (torch, CPU) with ``onnx_path`` (ONNX Runtime, CPU) output by output.

    The batch is padded to its longest sentence, so padding handling is checked too. Raises
    :class:`ParityError` when an output differs by more than ``tolerance`` or when the argmax of
    ``argmax_output`` agrees on fewer than ``min_argmax_agreement`` of the sentences.
    """
    sentences = list(sentences if sentences is not None else PARITY_SENTENCES)
    tokenizer = load_tokenizer(tokenizer_path)
    ids, mask = encode_batch(tokenizer, sentences)
    session = make_session(onnx_path, device="cpu").session
    names = [o.name for o in session.get_outputs()]
    onnx_out = dict(zip(names, session.run(names, {"input_ids": ids, "attention_mask": mask})))
    module = module.eval()
    with torch.no_grad():
        torch_out = module(torch.from_numpy(ids), torch.from_numpy(mask))
    if isinstance(torch_out, torch.Tensor):
        torch_out = (torch_out,)
    torch_out = dict(zip(names, (t.numpy() for t in torch_out)))
    diffs = {n: float(np.max(np.abs(onnx_out[n] - torch_out[n]))) for n in names}
    agreement = None
    if argmax_output:
        agreement = float(np.mean(onnx_out[argmax_output].argmax(1) == torch_out[argmax_output].argmax(1)))
    worst = max(diffs, key=diffs.get)
    log.info("parity %s: max |diff| %s, argmax agreement %s", model_name, diffs, agreement)
    if diffs[worst] > tolerance:
        raise ParityError(model_name, diffs[worst], tolerance, f"output {worst!r}")
    if agreement is not None and agreement < min_argmax_agreement:
        raise ParityError(
            model_name, diffs[worst], tolerance, f"argmax agrees on only {agreement:.1%} of sentences"
        )
    return ParityReport(model_name, diffs, agreement, len(sentences))
