"""The synthetic media set for the media encoders: manifest items, decoded features (cached in
``<synth>/.media_cache/``, keyed by the manifest's SHA-256, the feature configuration and the
decoder), and the batches the encoders train on."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from worker.errors import MediaError, TicketfusionError
from worker.media import features as mf
from worker.training.data.splits import sha256_file

log = logging.getLogger(__name__)

MAX_IMAGE_PIXELS = 40_000_000
CACHE_DIR = ".media_cache"
Kind = Literal["screenshot", "voice"]


class ManifestError(TicketfusionError, ValueError):
    """The synth folder's manifest is missing, empty for a kind, or names an unknown intent."""


# ----------------------------------------------------------------------------------- data
@dataclass(frozen=True)
class Item:
    """One manifest row of the synthetic set."""

    id: str
    split: str
    kind: str
    label: str
    file: str
    params: dict = field(default_factory=dict, hash=False, compare=False)


def read_manifest(synth: Path, kind: Kind) -> list[Item]:
    """The manifest's items of ``kind``, in file order."""
    path = Path(synth) / "manifest.jsonl"
    if not path.is_file():
        raise ManifestError(f"{path} not found: run `ticketfusion data synth --out {synth}` first")
    items = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            if row.get("kind") == kind:
                items.append(Item(str(row["id"]), row["split"], row["kind"], row["label"], row["file"],
                                  dict(row.get("params") or {})))
    if not any(i.split == "train" for i in items) or not any(i.split == "val" for i in items):
        raise ManifestError(f"{path}: no {kind} items in both the train and val splits")
    return items


def load_labels(path: Path) -> list[str]:
    """The 77 intents, in the intent model's order."""
    return list(json.loads(Path(path).read_text(encoding="utf-8")))


# ---------------------------------------------------------------------------- decoding
def decode_item_image(path: Path):
    """A screenshot as the worker decodes it (``images.decode_image``)."""
    from worker.media.images import decode_image

    return decode_image(path.read_bytes(), max_pixels=MAX_IMAGE_PIXELS)


def decode_item_audio(path: Path) -> np.ndarray:
    """A voice note as the worker hands it to the encoder: ``audio.decode_audio`` then the VAD's
    speech trim (``media.MediaReader.read_audio``); PyAV and no trim where those are absent."""
    try:
        from worker.media.audio import decode_audio
    except ImportError:
        return _decode_audio_av(path)
    audio = decode_audio(path.read_bytes(), max_seconds=mf.MAX_SECONDS * 4)
    vad = _vad()
    if vad is None:
        return np.asarray(audio.samples, dtype=np.float32)
    from worker.errors import SilentAudio

    try:
        return np.asarray(vad.trim(audio).samples, dtype=np.float32)
    except SilentAudio:
        return np.asarray(audio.samples, dtype=np.float32)


_VAD: list = []


def _vad():
    """The worker's Silero VAD (loaded once), or None when it is not installed."""
    if not _VAD:
        try:
            from worker.media.vad import VoiceActivity

            _VAD.append(VoiceActivity.load(threads=1))
        except (ImportError, MediaError) as exc:
            log.warning("no VAD (%s): voice features are computed on the untrimmed audio", exc)
            _VAD.append(None)
    return _VAD[0]


def _decode_audio_av(path: Path) -> np.ndarray:
    """Fallback decoder (any container PyAV reads), resampled to 16 kHz mono float32."""
    import av

    chunks = []
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=mf.SAMPLE_RATE)
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
    return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)


def decoder_route(kind: Kind) -> str:
    """Which decoder produced the cached features (part of the cache key and training.json)."""
    if kind == "screenshot":
        return "worker.media.images.decode_image"
    try:
        import worker.media.audio  # noqa: F401
    except ImportError:
        return "pyav-fallback"
    try:
        from worker.media.vad import silero_model_path

        vad = "+vad.trim" if silero_model_path().is_file() else ""
    except ImportError:
        vad = ""
    return "worker.media.audio.decode_audio" + vad


@dataclass
class Features:
    """Cached inputs of one kind: images as uint8 canvases [N,S,S]; audio as log-mel frames
    concatenated [sum T, 64] with ``offsets`` [N+1]."""

    ids: list[str]
    pixels: np.ndarray | None = None
    frames: np.ndarray | None = None
    offsets: np.ndarray | None = None

    def audio(self, i: int) -> np.ndarray:
        """Log-mel frames [T, 64] of item ``i``."""
        return self.frames[self.offsets[i]: self.offsets[i + 1]]

    def lengths(self) -> np.ndarray:
        """Frames per item."""
        return np.diff(self.offsets)


def cache_path(synth: Path, kind: Kind) -> Path:
    """``<synth>/.media_cache/<kind>-<key>.npz``; the key covers manifest, features and decoder."""
    key = json.dumps({"manifest": sha256_file(Path(synth) / "manifest.jsonl"),
                      "features": mf.FEATURE_CONFIG["image" if kind == "screenshot" else "audio"],
                      "decoder": decoder_route(kind)}, sort_keys=True)
    return Path(synth) / CACHE_DIR / f"{kind}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"


def load_features(synth: Path, items: Sequence[Item], kind: Kind, *, progress: bool = True,
                  decode: Callable[[Path], object] | None = None) -> Features:
    """Decoded features of ``items``, from the cache when it matches, else decoded (``decode``:
    default :func:`decode_item_image` / :func:`decode_item_audio`) and cached.

    Items the worker's decoders refuse are left out (``Features.ids`` says which remain).
    """
    path = cache_path(synth, kind)
    if path.is_file():
        with np.load(path, allow_pickle=False) as z:
            ids = [str(i) for i in z["ids"]]
            if set(ids) <= {i.id for i in items}:
                log.info("features from cache %s", path)
                if kind == "screenshot":
                    return Features(ids, pixels=z["pixels"])
                return Features(ids, frames=z["frames"], offsets=z["offsets"])
    started = time.perf_counter()
    outputs: list[np.ndarray] = []
    kept: list[str] = []
    for item in _progress(items, f"decoding {kind}s", enabled=progress):
        file = Path(synth) / item.file
        try:
            if kind == "screenshot":
                outputs.append(mf.image_pixels((decode or decode_item_image)(file)))
            else:
                outputs.append(mf.log_mel((decode or decode_item_audio)(file)))
        except MediaError as exc:  # the worker would refuse it too: leave it out
            log.warning("%s left out: %s", item.file, exc)
            continue
        kept.append(item.id)
    ids = kept
    if not ids:
        raise ManifestError(f"none of the {len(items)} {kind} files in {synth} could be decoded")
    log.info("decoded %d %ss in %.1f s", len(items), kind, time.perf_counter() - started)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.npz")
    if kind == "screenshot":
        feats = Features(ids, pixels=np.stack(outputs))
        np.savez_compressed(tmp, ids=np.array(ids), pixels=feats.pixels)
    else:
        offsets = np.concatenate([[0], np.cumsum([len(o) for o in outputs])]).astype(np.int64)
        feats = Features(ids, frames=np.concatenate(outputs).astype(np.float32), offsets=offsets)
        np.savez(tmp, ids=np.array(ids), frames=feats.frames, offsets=offsets)
    tmp.replace(path)
    return feats


def _progress(items: Sequence, description: str, *, enabled: bool) -> Iterator:
    """Iterate with a rich progress bar when ``enabled`` (and rich is installed)."""
    if not enabled:
        yield from items
        return
    from rich.progress import track

    yield from track(items, description=description, total=len(items))


# ------------------------------------------------------------------------------ batches
def pad_frames(clips: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Zero-padded [N, T_max, 64] float32 and int64 lengths."""
    lengths = np.array([len(c) for c in clips], dtype=np.int64)
    out = np.zeros((len(clips), max(int(lengths.max(initial=1)), 1), mf.N_MELS), dtype=np.float32)
    for row, clip in enumerate(clips):
        out[row, : len(clip)] = clip
    return out, lengths


def model_inputs(kind: Kind, feats: Features, index: Sequence[int]) -> tuple[torch.Tensor, ...]:
    """Tensors the model's ``forward`` takes for items ``index``."""
    if kind == "screenshot":
        return (torch.from_numpy(mf.normalise_pixels(feats.pixels[np.asarray(index)])),)
    frames, lengths = pad_frames([feats.audio(i) for i in index])
    return torch.from_numpy(frames), torch.from_numpy(lengths)


def batches(kind: Kind, feats: Features, index: np.ndarray, batch_size: int, rng: np.random.Generator | None) -> list[np.ndarray]:
    """Mini-batches of ``index``; audio grouped by length (little padding), order shuffled by ``rng``."""
    index = np.asarray(index)
    if kind == "voice":
        lengths = feats.lengths()[index]
        if rng is not None:  # sort within noise so batches differ a little between epochs
            lengths = lengths + rng.uniform(0, 30, size=len(lengths))
        index = index[np.argsort(lengths, kind="stable")]
    elif rng is not None:
        index = rng.permutation(index)
    groups = [index[i: i + batch_size] for i in range(0, len(index), batch_size)]
    if rng is not None:
        groups = [groups[i] for i in rng.permutation(len(groups))]
    return groups


def augment_pixels(pixels: np.ndarray, rng: np.random.Generator, *, shift: int = 6) -> np.ndarray:
    """Random translation by up to ``shift`` px, filled with the padding level (training only)."""
    out = np.full_like(pixels, mf.PAD_LEVEL)
    size = pixels.shape[-1]
    for row in range(len(pixels)):
        dy, dx = rng.integers(-shift, shift + 1, size=2)
        src = pixels[row, max(0, -dy): size - max(0, dy), max(0, -dx): size - max(0, dx)]
        out[row, max(0, dy): max(0, dy) + src.shape[0], max(0, dx): max(0, dx) + src.shape[1]] = src
    return out
