"""Learned entity tagger: finds dates, date ranges, times, amounts, person and company names in
ticket text, as character spans.

Loads ``<models_dir>/tagger/model.onnx`` (a BIO token classifier fine-tuned from
all-MiniLM-L6-v2 on NLU++ slot spans, built by ``ticketfusion models build``), ``tokenizer.json``
and ``labels.json``. Texts longer than one window are cut into overlapping windows of tokens, and
each token takes its labels from the window where it sits furthest from an edge, so nothing past
the model's 128 tokens is lost. Predicted token labels become character spans: a span is a B
followed by Is of the same type (an I without a B starts one too), its edges snapped out to whole
words and trimmed of spaces and punctuation. Value normalisation is someone else's job.

No torch: ONNX Runtime and the ``tokenizers`` library only.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from worker.errors import ModelNotBuilt
from worker.runtime import load_tokenizer, make_session, softmax

log = logging.getLogger(__name__)

TYPES = ("date", "date_range", "time", "amount", "person", "company")
#: Label order of the model's output (``labels.json`` repeats it).
LABELS = ("O",) + tuple(f"{prefix}-{t}" for t in TYPES for prefix in ("B", "I"))
#: Tokens per window, [CLS] and [SEP] included (the length the model was trained at).
WINDOW = 128
#: Tokens between window starts: consecutive windows share WINDOW - 2 - STRIDE tokens of context.
STRIDE = 64
BATCH_SIZE = 32
#: Trimmed from span edges; "." only when it does not end an abbreviation such as "p.m.".
_TRIM = " \t\r\n,;:!?\"'`()[]{}<>*_|/\\-–—"


@dataclass(frozen=True)
class TaggedSpan:
    """An entity found in a text: ``text == source[start:end]``; ``score`` is the mean
    probability the model gave the span's token labels."""

    type: str
    start: int
    end: int
    text: str
    score: float


def _snap(text: str, start: int, end: int) -> tuple[int, int]:
    """Grow the span to whole words, then trim spaces and punctuation off both edges."""
    while 0 < start < len(text) and text[start - 1].isalnum() and text[start].isalnum():
        start -= 1
    while 0 < end < len(text) and text[end].isalnum() and text[end - 1].isalnum():
        end += 1
    while start < end and text[start] in _TRIM + ".":
        start += 1
    while start < end and (text[end - 1] in _TRIM or (text[end - 1] == "." and not _abbreviation(text, end))):
        end -= 1
    return start, end


def _abbreviation(text: str, end: int) -> bool:
    """``text[:end]`` ends with a dotted single letter ("a.m.", "p.m.", "U.K."), dot kept."""
    return end >= 2 and text[end - 2].isalpha() and (end == 2 or not text[end - 3].isalnum())


def decode_spans(text: str, offsets: Sequence[tuple[int, int]], label_ids: Sequence[int],
                 scores: Sequence[float], labels: Sequence[str] = LABELS) -> list[TaggedSpan]:
    """Character spans from per-token labels (``offsets`` and labels of the text's tokens, no
    special tokens). Same-type spans that meet inside a word are merged; of two overlapping spans
    of different types the higher-scoring one is kept."""
    raw: list[tuple[str, int, int, list[float]]] = []
    current: list | None = None
    for (start, end), label_id, score in zip(offsets, label_ids, scores):
        if end <= start:
            continue
        label = labels[int(label_id)]
        if label == "O":
            current = None
            continue
        prefix, kind = label.split("-", 1)
        if prefix == "I" and current is not None and current[0] == kind:
            current[2] = end
            current[3].append(float(score))
            continue
        current = [kind, start, end, [float(score)]]
        raw.append(current)

    spans: list[TaggedSpan] = []
    for kind, start, end, token_scores in raw:
        start, end = _snap(text, start, end)
        if start >= end:
            continue
        score = float(np.mean(token_scores))
        if spans and start < spans[-1].end:
            last = spans[-1]
            if last.type == kind:
                end = max(end, last.end)
                spans[-1] = TaggedSpan(kind, last.start, end, text[last.start:end], max(score, last.score))
                continue
            if last.score >= score:
                continue
            spans.pop()
        spans.append(TaggedSpan(kind, start, end, text[start:end], score))
    return spans


def windows(n_tokens: int, *, size: int = WINDOW - 2, stride: int = STRIDE) -> list[tuple[int, int]]:
    """``[start, end)`` token ranges of at most ``size`` covering ``n_tokens``, ``stride`` apart
    (the last one ends at ``n_tokens``)."""
    if n_tokens <= size:
        return [(0, n_tokens)]
    starts = list(range(0, n_tokens - size, stride)) + [n_tokens - size]
    return [(s, s + size) for s in starts]


class EntityTagger:
    """A loaded entity tagger; create with :meth:`load`, then call :meth:`tag`."""

    def __init__(self, session, tokenizer, labels: list[str], *, provider: str, version: str,
                 window: int = WINDOW, stride: int = STRIDE) -> None:
        self._session = session
        self._tokenizer = tokenizer
        self.labels = labels
        self.provider = provider
        self.version = version
        self.window = window
        self.stride = stride
        self._cls = tokenizer.token_to_id("[CLS]")
        self._sep = tokenizer.token_to_id("[SEP]")

    @classmethod
    def load(cls, models_dir: Path, *, device: str = "auto", threads: int = 0) -> EntityTagger:
        """Open the built tagger under ``models_dir/tagger``; raises :class:`~worker.errors.ModelNotBuilt` when absent."""
        folder = Path(models_dir) / "tagger"
        model_path = folder / "model.onnx"
        for path in (model_path, folder / "tokenizer.json", folder / "labels.json"):
            if not path.is_file():
                raise ModelNotBuilt(path, what="tagger model file")
        labels = json.loads((folder / "labels.json").read_text(encoding="utf-8"))
        opened = make_session(model_path, device=device, threads=threads)
        n_out = opened.session.get_outputs()[0].shape[-1]
        if isinstance(n_out, int) and n_out != len(labels):
            raise ValueError(f"{model_path} has {n_out} outputs but labels.json lists {len(labels)} labels")
        tokenizer = load_tokenizer(folder / "tokenizer.json")
        tokenizer.no_truncation()  # long texts are windowed here, never cut
        return cls(opened.session, tokenizer, labels, provider=opened.provider,
                   version=_version(Path(models_dir), folder))

    def tag(self, texts: list[str], *, batch_size: int = BATCH_SIZE) -> list[list[TaggedSpan]]:
        """The entities of each text (order kept), sorted by start."""
        texts = list(texts)
        if not texts:
            return []
        encodings = self._tokenizer.encode_batch(texts, add_special_tokens=False)
        pieces = []  # (text index, token start, token end)
        for t, encoding in enumerate(encodings):
            for start, end in windows(len(encoding.ids), size=self.window - 2, stride=self.stride):
                pieces.append((t, start, end))
        probs = [np.zeros((len(e.ids), len(self.labels))) for e in encodings]
        centrality = [np.full(len(e.ids), -1) for e in encodings]
        order = sorted(range(len(pieces)), key=lambda p: pieces[p][2] - pieces[p][1])
        for b in range(0, len(order), batch_size):
            batch = [pieces[p] for p in order[b:b + batch_size]]
            width = max(end - start for _, start, end in batch) + 2
            ids = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros_like(ids)
            for row, (t, start, end) in enumerate(batch):
                ids[row, : end - start + 2] = [self._cls, *encodings[t].ids[start:end], self._sep]
                mask[row, : end - start + 2] = 1
            (logits,) = self._session.run(["logits"], {"input_ids": ids, "attention_mask": mask})
            for row, (t, start, end) in enumerate(batch):
                n = len(encodings[t].ids)
                position = np.arange(start, end)
                # distance to the nearest window edge, the text's own ends excepted
                left = np.where(start == 0, n, position - start)
                right = np.where(end == n, n, end - 1 - position)
                better = np.minimum(left, right) > centrality[t][start:end]
                keep = position[better]
                probs[t][keep] = softmax(logits[row, 1 + keep - start])
                centrality[t][keep] = np.minimum(left, right)[better]
        results = []
        for text, encoding, p in zip(texts, encodings, probs):
            chosen = p.argmax(axis=1) if len(p) else np.zeros(0, dtype=np.int64)
            scores = p[np.arange(len(p)), chosen] if len(p) else np.zeros(0)
            results.append(decode_spans(text, encoding.offsets, chosen, scores, self.labels))
        return results


def _version(models_dir: Path, folder: Path) -> str:
    """``tagger-<12 hex>``: the weights' SHA-256 from the manifest (else of the labels)."""
    try:
        entry = json.loads((models_dir / "manifest.json").read_text())["models"]["tagger"]
        return f"tagger-{entry['files']['weights.safetensors'][:12]}"
    except (OSError, ValueError, KeyError, TypeError):
        return f"tagger-{hashlib.sha256((folder / 'labels.json').read_bytes()).hexdigest()[:12]}"
