"""The learned media encoders at serving time: ONNX Runtime only, no torch.

``<models_dir>/image_encoder/model.onnx`` (screenshots) and ``<models_dir>/audio_encoder/model.onnx``
(voice notes) are built by ``python -m worker.training.fitting.train_media``. Each gives a 128-d unit
vector per item (``embedding``, the visual / paralinguistic modality the fusion classifier reads)
and the intent logits of its own small intent head (``intent_logits``, 77 intents in the order of
``intent/labels.json``). Inputs come from :mod:`worker.media.features`, the same
functions training used; the feature configuration stored in each model is checked on load.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from worker.errors import MediaModelMissing
from worker.media import features as mf
from worker.runtime import Session, make_session

log = logging.getLogger(__name__)

IMAGE_FOLDER = "image_encoder"
AUDIO_FOLDER = "audio_encoder"
MODEL_FILE = "model.onnx"
EMBED_DIM = 128
BATCH_SIZE = 16
BUILD_HINT = "python -m worker.training.fitting.train_media --synth var/synth --kind {kind} --out onnx_models"


class EncoderFeatureMismatch(MediaModelMissing):
    """The encoder on disk was trained on other input features than this code computes: rebuild it."""

    code = "media_model_mismatch"


@dataclass(frozen=True)
class Encoded:
    """Per item: the unit ``embedding`` [n,128] and the encoder's own ``intent_logits`` [n,77]."""

    embedding: np.ndarray
    intent_logits: np.ndarray


def _open(models_dir: Path, folder: str, *, feature_key: str, kind: str, device: str, threads: int) -> tuple[Session, str]:
    """Session of ``models_dir/folder/model.onnx`` and its version; named errors when unusable."""
    path = Path(models_dir) / folder / MODEL_FILE
    if not path.is_file():
        raise MediaModelMissing(f"{path} not found: build it with `{BUILD_HINT.format(kind=kind)}`")
    try:
        opened = make_session(path, device=device, threads=threads)
    except Exception as exc:  # ORT raises its own untyped errors for a damaged file
        raise MediaModelMissing(f"{path} cannot be loaded ({exc}): rebuild it with "
                                f"`{BUILD_HINT.format(kind=kind)}`") from exc
    meta = opened.session.get_modelmeta().custom_metadata_map
    stored = json.loads(meta.get("features", "null"))
    if stored != json.loads(json.dumps(mf.FEATURE_CONFIG[feature_key])):
        raise EncoderFeatureMismatch(
            f"{path} was trained on features {stored} but worker.media.features computes "
            f"{mf.FEATURE_CONFIG[feature_key]}: rebuild it with `{BUILD_HINT.format(kind=kind)}`"
        )
    version = f"{folder}-{hashlib.sha256(path.read_bytes()).hexdigest()[:12]}"
    return opened, version


def _empty() -> Encoded:
    """The result for no items."""
    return Encoded(np.zeros((0, EMBED_DIM), np.float32), np.zeros((0, 0), np.float32))


class _Encoder:
    """An open encoder session, its device and the version of the file it came from."""

    def __init__(self, session, *, provider: str, version: str) -> None:
        self._session = session
        self.provider = provider
        self.version = version


class ImageEncoder(_Encoder):
    """Screenshot encoder; create with :meth:`load`, then call :meth:`embed` or :meth:`encode`."""

    @classmethod
    def load(cls, models_dir: Path, *, device: str = "auto", threads: int = 0) -> ImageEncoder:
        """Open ``models_dir/image_encoder/model.onnx``; :class:`MediaModelMissing` when absent."""
        opened, version = _open(models_dir, IMAGE_FOLDER, feature_key="image", kind="screenshot",
                                device=device, threads=threads)
        return cls(opened.session, provider=opened.provider, version=version)

    def encode(self, images: Sequence[Image.Image], *, batch_size: int = BATCH_SIZE) -> Encoded:
        """Embeddings and intent logits of ``images`` (any mode/size), in order."""
        images = list(images)
        if not images:
            return _empty()
        parts: list[list[np.ndarray]] = []
        for start in range(0, len(images), batch_size):
            batch = np.stack([mf.image_input(im) for im in images[start: start + batch_size]])
            parts.append(self._session.run(["embedding", "intent_logits"], {"image": batch}))
        return Encoded(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))

    def embed(self, images: Sequence[Image.Image]) -> np.ndarray:
        """[n,128] float32 unit vectors, one per image."""
        return self.encode(images).embedding


class AudioEncoder(_Encoder):
    """Voice-note encoder; create with :meth:`load`, then call :meth:`embed` or :meth:`encode`."""

    @classmethod
    def load(cls, models_dir: Path, *, device: str = "auto", threads: int = 0) -> AudioEncoder:
        """Open ``models_dir/audio_encoder/model.onnx``; :class:`MediaModelMissing` when absent."""
        opened, version = _open(models_dir, AUDIO_FOLDER, feature_key="audio", kind="voice",
                                device=device, threads=threads)
        return cls(opened.session, provider=opened.provider, version=version)

    def encode(self, clips: Sequence[np.ndarray], *, sample_rate: int = mf.SAMPLE_RATE,
               batch_size: int = BATCH_SIZE) -> Encoded:
        """Embeddings and intent logits of mono ``clips``, in order (clips over 30 s are truncated).

        Batches group clips of similar length; the graph ignores padding, so grouping does not
        change any result.
        """
        features = [mf.log_mel(clip, sample_rate=sample_rate) for clip in clips]
        if not features:
            return _empty()
        order = sorted(range(len(features)), key=lambda i: len(features[i]))
        embedding = np.zeros((len(features), EMBED_DIM), np.float32)
        logits: np.ndarray | None = None
        for start in range(0, len(order), batch_size):
            idx = order[start: start + batch_size]
            lengths = np.array([len(features[i]) for i in idx], dtype=np.int64)
            batch = np.zeros((len(idx), int(lengths.max()), mf.N_MELS), np.float32)
            for row, i in enumerate(idx):
                batch[row, : lengths[row]] = features[i]
            emb, lg = self._session.run(["embedding", "intent_logits"], {"features": batch, "lengths": lengths})
            if logits is None:
                logits = np.zeros((len(features), lg.shape[1]), np.float32)
            embedding[idx], logits[idx] = emb, lg
        return Encoded(embedding, logits)

    def embed(self, clips: Sequence[np.ndarray]) -> np.ndarray:
        """[n,128] float32 unit vectors, one per 16 kHz mono clip."""
        return self.encode(clips).embedding
