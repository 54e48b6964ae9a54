"""Turn the synthetic set's cached readings into fusion inputs: training examples and the five
validation conditions that ``docs/models.md`` and ``ticketfusion eval`` report.

Vectors come from the worker's own models (intent model, image and audio encoders) through
:func:`worker.fusion.model.assemble`, so training sees what serving sees.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from worker.fusion.model import ModalityInputs
from worker.settings import Settings
from worker.text.intent import IntentModel, IntentPrediction
from worker.training.data.readings import SynthItem, SynthReading

log = logging.getLogger(__name__)

CONDITIONS = (
    "text only",
    "screenshot only",
    "screenshot + vague text",
    "voice only",
    "voice + vague text",
)


@dataclass
class Dataset:
    """Fusion inputs with their label indices; ``ids`` say where each came from."""

    inputs: list[ModalityInputs]
    targets: np.ndarray
    ids: list[str]


def predict_texts(model: IntentModel, texts: Sequence[str]) -> dict[str, IntentPrediction]:
    """The intent model's view of each distinct non-empty text."""
    unique = sorted({text for text in texts if text})
    return dict(zip(unique, model.predict(unique))) if unique else {}


def media_embeddings(synth: Path, items: Sequence[SynthItem], settings: Settings, *,
                     progress: bool = True) -> dict[str, np.ndarray]:
    """Image and audio encoder vectors per item id, cached beside the synthetic set.

    The cache name carries the encoders' file hashes, so retrained encoders are never served
    stale vectors. Items whose file cannot be read get no vector (the modality is then absent).
    """
    from worker.errors import MediaError
    from worker.media.reader import MediaReader

    models = Path(settings.models_dir)
    key = hashlib.sha256()
    for name in ("image_encoder", "audio_encoder"):
        path = models / name / "model.onnx"
        key.update(path.read_bytes() if path.is_file() else b"-")
    cache = Path(synth) / f"embeddings-{key.hexdigest()[:12]}.npz"
    found: dict[str, np.ndarray] = {}
    if cache.is_file():
        with np.load(cache) as stored:
            found = {name: stored[name] for name in stored.files}
    todo = [item for item in items if item.id not in found]
    if not todo:
        return found
    reader = MediaReader(settings)
    encoders = {
        "image": reader.optional("image_encoder"),
        "audio": reader.optional("audio_encoder"),
    }
    from worker.training.data.readings import _progress

    with _progress(progress) as bar:
        task = bar.add_task("media embeddings", total=len(todo))
        for item in todo:
            bar.advance(task)
            encoder = encoders[item.media_kind]
            if encoder is None:
                continue
            data = (Path(synth) / item.file).read_bytes()
            try:
                if item.media_kind == "image":
                    from worker.media.images import decode_image

                    found[item.id] = encoder.embed([decode_image(data, max_pixels=settings.max_image_pixels)])[0]
                else:
                    from worker.media.audio import decode_audio

                    audio = decode_audio(data, max_seconds=settings.max_audio_seconds)
                    speech = reader.model("vad").trim(audio)
                    found[item.id] = encoder.embed([speech.samples])[0]
            except MediaError as exc:
                log.info("no embedding for %s: %s", item.id, exc)
    np.savez(cache, **found)
    return found


def build_dataset(
    items: Sequence[SynthItem],
    readings: Mapping[str, SynthReading],
    predictions: dict[str, IntentPrediction],
    embeddings: dict[str, np.ndarray],
    labels: Sequence[str],
    *,
    vague: bool,
    silent: frozenset[str] = frozenset(),
) -> Dataset:
    """One example per item: the attachment's text and vector, with or without a vague body.

    Bodies in ``silent`` are the ones serving leaves out of the intent (off topic, beside an
    attachment that gave text: ``Triager._bodies_saying_nothing``), so they are left out here too."""
    index = {label: i for i, label in enumerate(labels)}
    inputs, targets, ids = [], [], []
    for item in items:
        reading = readings.get(item.id)
        text = (reading.text or "") if reading is not None else ""
        body = vague and not (text and item.vague_text in silent)
        example = ModalityInputs(text=predictions.get(item.vague_text) if body else None)
        if item.kind == "screenshot":
            example.ocr = predictions.get(text)
            example.image = embeddings.get(item.id)
        else:
            example.transcript = predictions.get(text)
            example.audio = embeddings.get(item.id)
        inputs.append(example)
        targets.append(index[item.label])
        ids.append(item.id)
    return Dataset(inputs, np.asarray(targets, dtype=np.int64), ids)


def text_dataset(texts: Sequence[str], targets: Sequence[str], predictions: dict[str, IntentPrediction],
                 labels: Sequence[str]) -> Dataset:
    """Text-only examples (the ticket body alone)."""
    index = {label: i for i, label in enumerate(labels)}
    inputs = [ModalityInputs(text=predictions[text]) for text in texts]
    return Dataset(inputs, np.asarray([index[t] for t in targets], dtype=np.int64),
                   [f"text-{i}" for i in range(len(texts))])


def conditions(items: Sequence[SynthItem], readings: Mapping[str, SynthReading],
               predictions: dict[str, IntentPrediction], embeddings: dict[str, np.ndarray],
               labels: Sequence[str], text_only: Dataset, *, silent: frozenset[str] = frozenset()) -> dict[str, Dataset]:
    """The five validation conditions, in :data:`CONDITIONS` order, as serving reads them."""
    screens = [item for item in items if item.kind == "screenshot"]
    voices = [item for item in items if item.kind == "voice"]
    return {
        "text only": text_only,
        "screenshot only": build_dataset(screens, readings, predictions, embeddings, labels, vague=False),
        "screenshot + vague text": build_dataset(screens, readings, predictions, embeddings, labels, vague=True,
                                                 silent=silent),
        "voice only": build_dataset(voices, readings, predictions, embeddings, labels, vague=False),
        "voice + vague text": build_dataset(voices, readings, predictions, embeddings, labels, vague=True,
                                            silent=silent),
    }


def silent_bodies(settings: Settings, labels: Sequence[str], bodies: Sequence[str],
                  predictions: Mapping[str, IntentPrediction]) -> frozenset[str]:
    """The bodies serving leaves out of the intent beside an attachment (off topic by the scope model)."""
    from worker.orchestrator.understand import Understanding

    unique = sorted({body for body in bodies if body in predictions})
    flags = Understanding.load(settings, labels=labels).off_topic(unique, [predictions[b].confidence for b in unique])
    return frozenset(body for body, flag in zip(unique, flags) if flag)
