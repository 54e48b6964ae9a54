"""The one parity validator: an exported ONNX graph must compute what its torch module computes.

Every output is compared (max absolute difference, against the spec's ``atol``) and, for the
spec's ``argmax_output``, the argmax per row. A mismatch raises a named error, a
:class:`ParityError` carrying the model, the output, the difference and the tolerance:

- :class:`ParityError` itself when an output differs by more than the tolerance;
- :class:`ArgmaxMismatch` when the classes disagree on too many rows;
- :class:`PaddingMismatch` when a padded batch differs from its rows run alone;
- :class:`ReferenceMismatch` (not a parity error: torch is not the reference) when an assembled
  model or its graph does not reproduce the logits recorded at training time.

Text models are checked on a fixed list of sentences (:func:`check_parity`), the others on the
input arrays given (:func:`check_tensor_parity`, :func:`compare_outputs`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from worker.errors import TicketfusionError
from worker.runtime import encode_batch, load_tokenizer, make_session
from worker.training.export.specs import TEXT_INPUTS, ExportSpec

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
#: Tolerance of a check named by a string that is no spec's name.
DEFAULT_ATOL = 1e-4


class ParityError(TicketfusionError, AssertionError):
    """ONNX Runtime and torch disagree beyond the tolerance (``output``: where, when known)."""

    def __init__(self, model: str, max_abs_diff: float, tolerance: float, detail: str = "", *,
                 output: str | None = None) -> None:
        self.model, self.max_abs_diff, self.tolerance, self.output = model, max_abs_diff, tolerance, output
        super().__init__(
            f"{model}: ONNX Runtime differs from torch by {max_abs_diff:.3g} (tolerance {tolerance:.3g})"
            + (f"; {detail}" if detail else "")
        )


class ArgmaxMismatch(ParityError):
    """The graph's classes (argmax of an output) differ from torch's on too many rows."""

    def __init__(self, model: str, max_abs_diff: float, tolerance: float, *, output: str,
                 agreement: float, rows: str = "rows") -> None:
        self.agreement = agreement
        super().__init__(model, max_abs_diff, tolerance,
                         f"argmax of {output!r} agrees on only {agreement:.1%} of {rows}", output=output)


class PaddingMismatch(ParityError):
    """A padded batch through the graph differs from its rows run one at a time."""


class ReferenceMismatch(TicketfusionError, AssertionError):
    """An assembled model (torch or ONNX) does not reproduce the logits recorded at training time."""

    def __init__(self, where: str, max_abs_diff: float, tolerance: float, *,
                 reference: str = "intent/reference.json") -> None:
        self.where, self.max_abs_diff, self.tolerance, self.reference = where, max_abs_diff, tolerance, reference
        super().__init__(
            f"{where}: logits differ from {reference} by {max_abs_diff:.3g} "
            f"(tolerance {tolerance:.3g}); the committed weights or the base package changed"
        )


@dataclass(frozen=True)
class ParityReport:
    model: str
    max_abs_diff: dict[str, float]
    argmax_agreement: float | None
    sentences: int


def _spec(spec: ExportSpec | str, *, tolerance: float | None, argmax_output: str | None | bool,
          min_argmax_agreement: float | None) -> tuple[str, float, str | None, float]:
    """(label, tolerance, argmax output, min agreement): the spec's, overridden where given; a
    name that is no spec's checks with :data:`DEFAULT_ATOL` and no argmax unless told."""
    label = spec if isinstance(spec, str) else spec.name
    declared = spec if isinstance(spec, ExportSpec) else None
    atol = tolerance if tolerance is not None else (declared.atol if declared else DEFAULT_ATOL)
    if isinstance(argmax_output, str):
        argmax = argmax_output
    elif argmax_output is False or declared is None:
        argmax = None
    else:
        argmax = declared.argmax_output
    agreement = min_argmax_agreement if min_argmax_agreement is not None else (
        declared.min_argmax_agreement if declared else 1.0)
    return label, atol, argmax, agreement


def compare_outputs(spec: ExportSpec | str, want: Mapping[str, np.ndarray], got: Mapping[str, np.ndarray], *,
                    label: str | None = None, tolerance: float | None = None,
                    argmax_output: str | None | bool = None, min_argmax_agreement: float | None = None,
                    rows: str = "rows") -> tuple[dict[str, float], float | None]:
    """Max |torch - ONNX| per output of ``got`` (and the argmax agreement, when checked); raises
    :class:`ParityError` / :class:`ArgmaxMismatch` beyond the spec's tolerances."""
    name, atol, argmax, min_agreement = _spec(spec, tolerance=tolerance, argmax_output=argmax_output,
                                              min_argmax_agreement=min_argmax_agreement)
    name = label or name
    diffs = {n: float(np.max(np.abs(np.asarray(got[n]) - np.asarray(want[n])))) for n in got}
    agreement = None
    if argmax:
        agreement = float(np.mean(np.asarray(got[argmax]).argmax(1) == np.asarray(want[argmax]).argmax(1)))
    worst = max(diffs, key=diffs.get)
    log.info("parity %s: max |diff| %s, argmax agreement %s", name, diffs, agreement)
    if diffs[worst] > atol:
        raise ParityError(name, diffs[worst], atol, f"output {worst!r}", output=worst)
    if agreement is not None and agreement < min_agreement:
        raise ArgmaxMismatch(name, diffs[worst], atol, output=argmax, agreement=agreement, rows=rows)
    return diffs, agreement


def _torch_outputs(module: torch.nn.Module, names: Sequence[str], args: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    with torch.no_grad():
        out = module.eval()(*(torch.from_numpy(a) for a in args))
    if isinstance(out, torch.Tensor):
        out = (out,)
    return dict(zip(names, (t.numpy() for t in out)))


def check_parity(
    spec: ExportSpec | str,
    module: torch.nn.Module,
    onnx_path: Path,
    tokenizer_path: Path,
    *,
    sentences: list[str] | None = None,
    tolerance: float | None = None,
    min_argmax_agreement: float | None = None,
    argmax_output: str | None | bool = None,
) -> ParityReport:
    """Compare a text model (``module`` in torch vs ``onnx_path`` in ONNX Runtime, both on the CPU)
    output by output on :data:`PARITY_SENTENCES`, with the tolerances of ``spec`` (or, given a
    bare name, :data:`DEFAULT_ATOL` and no argmax check), unless overridden here.

    The batch is padded to its longest sentence, so padding handling is checked too."""
    sentences = list(sentences if sentences is not None else PARITY_SENTENCES)
    ids, mask = encode_batch(load_tokenizer(tokenizer_path), sentences)
    session = make_session(onnx_path, device="cpu").session
    names = [o.name for o in session.get_outputs()]
    got = dict(zip(names, session.run(names, dict(zip(TEXT_INPUTS, (ids, mask))))))
    want = _torch_outputs(module, names, (ids, mask))
    diffs, agreement = compare_outputs(spec, want, got, tolerance=tolerance, argmax_output=argmax_output,
                                       min_argmax_agreement=min_argmax_agreement, rows="sentences")
    return ParityReport(spec if isinstance(spec, str) else spec.name, diffs, agreement, len(sentences))


def check_tensor_parity(spec: ExportSpec, module: torch.nn.Module, onnx_path: Path,
                        inputs: Mapping[str, np.ndarray], *, label: str | None = None,
                        tolerance: float | None = None) -> dict[str, float]:
    """Compare ``module`` with ``onnx_path`` on ``inputs`` (named as ``spec.inputs``, passed to
    torch in that order); returns max |diff| per output, raises as :func:`compare_outputs`."""
    session = make_session(onnx_path, device="cpu").session
    names = list(spec.outputs)
    got = dict(zip(names, session.run(names, dict(inputs))))
    want = _torch_outputs(module, names, [inputs[n] for n in spec.inputs])
    diffs, _ = compare_outputs(spec, want, got, label=label, tolerance=tolerance)
    return diffs


def check_padding(spec: ExportSpec, onnx_path: Path, batch: Mapping[str, np.ndarray],
                  singles: Sequence[Mapping[str, np.ndarray]], *, output: str, label: str | None = None,
                  tolerance: float | None = None) -> float:
    """Max |batched - one at a time| of ``output`` over the rows of ``batch`` (``singles[i]`` is
    row i alone, unpadded); raises :class:`PaddingMismatch` beyond the spec's tolerance."""
    atol = spec.atol if tolerance is None else tolerance
    session = make_session(onnx_path, device="cpu").session
    batched = session.run([output], dict(batch))[0]
    worst = 0.0
    for row, single in enumerate(singles):
        alone = session.run([output], dict(single))[0]
        worst = max(worst, float(np.max(np.abs(alone[0] - batched[row]))))
    if worst > atol:
        raise PaddingMismatch(label or spec.name, worst, atol, "a padded batch differs from the clips run alone",
                              output=output)
    return worst


def reference_diff(spec: ExportSpec, logits: np.ndarray, mask: np.ndarray, recorded: list) -> float:
    """Largest |difference| between ``logits`` and the recorded ones: whole rows, or (per token)
    each sentence's unpadded tokens (infinite when the token counts differ: the tokenizer changed)."""
    if spec.reference.per == "sentence":
        return float(np.max(np.abs(logits - np.asarray(recorded, dtype=np.float32))))
    worst = 0.0
    for row, expected in enumerate(recorded):
        n = int(mask[row].sum())
        expected = np.asarray(expected, dtype=np.float32)
        if expected.shape != logits[row, :n].shape:
            return float("inf")
        worst = max(worst, float(np.max(np.abs(logits[row, :n] - expected))))
    return worst


def check_reference(spec: ExportSpec, model: torch.nn.Module | Path, reference: Mapping, tokenizer_path: Path, *,
                    where: str) -> float:
    """Run ``model`` (a torch module, or the path of its graph) on ``reference["sentences"]`` and
    compare ``spec.reference.output`` with ``reference["logits"]``; raises :class:`ReferenceMismatch`
    beyond ``reference["tolerance"]`` (default: the spec's)."""
    check = spec.reference
    atol = float(reference.get("tolerance", check.atol))
    ids, mask = encode_batch(load_tokenizer(tokenizer_path), reference["sentences"])
    if isinstance(model, torch.nn.Module):
        torch.set_num_threads(max(1, min(4, torch.get_num_threads())))
        logits = _torch_outputs(model, spec.outputs, (ids, mask))[check.output]
    else:
        (logits,) = make_session(model, device="cpu").session.run([check.output], dict(zip(TEXT_INPUTS, (ids, mask))))
    diff = reference_diff(spec, logits, mask, reference["logits"])
    if diff > atol:
        raise ReferenceMismatch(where, diff, atol, reference=f"{spec.name}/reference.json")
    return diff
