"""One declarative export spec per ONNX model: its interface, opset and parity tolerances.

The exporter (:func:`worker.training.export.convert.export_onnx`), the parity validator
(:mod:`worker.training.export.validate`) and the set-up build (:mod:`worker.training.export.build`)
read everything model-specific from here, so an input name, a dynamic axis or a tolerance is
written once. The values are the ones the models were always exported and checked with.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

#: ONNX opset of every exported graph.
OPSET = 17
TEXT_INPUTS = ("input_ids", "attention_mask")


@dataclass(frozen=True)
class ReferenceCheck:
    """Logits recorded at training time (``<name>/reference.json``) that the assembled model must
    reproduce at set-up: ``per="sentence"`` compares whole rows, ``per="token"`` the unpadded
    tokens of each sentence. ``atol`` applies when the file records no ``tolerance`` (training
    writes this value into it)."""

    output: str = "logits"
    per: Literal["sentence", "token"] = "sentence"
    atol: float = 1e-3


@dataclass(frozen=True)
class ExportSpec:
    """How one model is exported to ONNX and how the export is checked against torch.

    ``dynamic_axes`` maps an input or output name to ``{dimension: axis name}``; ``atol`` is the
    largest |torch - ONNX Runtime| difference allowed on any output; when ``argmax_output`` is set
    the argmax of that output must agree on at least ``min_argmax_agreement`` of the rows.
    ``example`` builds the tracing inputs for models whose inputs do not depend on data;
    ``int8`` says a dynamically quantised ``model.int8.onnx`` ships beside ``model.onnx``."""

    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    dynamic_axes: Mapping[str, Mapping[int, str]] = field(hash=False)
    opset: int = OPSET
    atol: float = 1e-4
    argmax_output: str | None = None
    min_argmax_agreement: float = 1.0
    example: Callable[[], tuple] | None = field(default=None, compare=False, hash=False, repr=False)
    int8: bool = False
    reference: ReferenceCheck | None = None

    def axes(self) -> dict[str, dict[int, str]]:
        """``dynamic_axes`` as the plain dicts ``torch.onnx.export`` takes (declaration order)."""
        return {name: dict(dims) for name, dims in self.dynamic_axes.items()}


def _axes(*pairs: tuple[str, Mapping[int, str]]) -> Mapping[str, Mapping[int, str]]:
    return MappingProxyType({name: MappingProxyType(dict(dims)) for name, dims in pairs})


BATCH = {0: "batch"}
BATCH_SEQUENCE = {0: "batch", 1: "sequence"}


def token_example() -> tuple:
    """Two short id rows (one padded) for tracing the text graphs."""
    import torch

    ids = torch.tensor([[101, 7592, 2088, 102, 0], [101, 2026, 4003, 2003, 102]], dtype=torch.long)
    return ids, (ids != 0).long()


def image_example() -> tuple:
    """Two blank canvases [2, 1, S, S]."""
    import torch

    from worker.media import features as mf

    return (torch.zeros(2, 1, mf.IMAGE_SIZE, mf.IMAGE_SIZE),)


def audio_example() -> tuple:
    """Two log-mel clips of different lengths, padded: ([2, 57, 64], lengths [57, 31])."""
    import torch

    from worker.media import features as mf

    return torch.randn(2, 57, mf.N_MELS), torch.tensor([57, 31], dtype=torch.int64)


def _fusion_inputs() -> tuple[str, ...]:
    from worker.fusion.model import MODALITIES

    return (*MODALITIES, "mask")


TEXT_ENCODER = ExportSpec(
    name="text_encoder",
    inputs=TEXT_INPUTS,
    outputs=("sentence_vector",),
    dynamic_axes=_axes(*((n, BATCH_SEQUENCE) for n in TEXT_INPUTS), ("sentence_vector", BATCH)),
    atol=1e-4,
    example=token_example,
)

INTENT = ExportSpec(
    name="intent",
    inputs=TEXT_INPUTS,
    outputs=("logits", "sentence_vector"),
    dynamic_axes=_axes(*((n, BATCH_SEQUENCE) for n in TEXT_INPUTS), ("logits", BATCH), ("sentence_vector", BATCH)),
    atol=1e-3,
    argmax_output="logits",
    example=token_example,
    int8=True,
    reference=ReferenceCheck(output="logits", per="sentence", atol=1e-3),
)

TAGGER = ExportSpec(
    name="tagger",
    inputs=TEXT_INPUTS,
    outputs=("logits",),
    # Unlike the intent graph's outputs, the tagger's logits vary by sequence too.
    dynamic_axes=_axes(*((n, BATCH_SEQUENCE) for n in (*TEXT_INPUTS, "logits"))),
    atol=1e-3,
    example=token_example,
    reference=ReferenceCheck(output="logits", per="token", atol=1e-3),
)

IMAGE_ENCODER = ExportSpec(
    name="image_encoder",
    inputs=("image",),
    outputs=("embedding", "intent_logits"),
    dynamic_axes=_axes(("image", BATCH), ("embedding", BATCH), ("intent_logits", BATCH)),
    atol=1e-4,
    argmax_output="intent_logits",
    example=image_example,
)

AUDIO_ENCODER = ExportSpec(
    name="audio_encoder",
    inputs=("features", "lengths"),
    outputs=("embedding", "intent_logits"),
    dynamic_axes=_axes(("features", {0: "batch", 1: "frames"}), ("lengths", BATCH),
                       ("embedding", BATCH), ("intent_logits", BATCH)),
    atol=1e-4,  # also the padded-batch vs one-clip-at-a-time check
    argmax_output="intent_logits",
    example=audio_example,
)

FUSION = ExportSpec(
    name="fusion",
    inputs=_fusion_inputs(),
    outputs=("logits",),
    dynamic_axes=_axes(*((n, BATCH) for n in (*_fusion_inputs(), "logits"))),
    atol=1e-4,
    example=None,  # traced on two rows of the validation data
)

SPECS: Mapping[str, ExportSpec] = MappingProxyType(
    {s.name: s for s in (TEXT_ENCODER, INTENT, TAGGER, IMAGE_ENCODER, AUDIO_ENCODER, FUSION)}
)
#: The models ``ticketfusion models build`` exports (in this order) from the committed artifacts.
BUILT = (TEXT_ENCODER, INTENT, TAGGER)
