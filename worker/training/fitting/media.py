"""Train the learned media encoders on `ticketfusion data synth` output and export them to ONNX.

Two small models, trained multi-task on the synthetic set's manifest:

* screenshots: a CNN over the greyscale 192x192 canvas of :func:`media_features.image_input`;
* voice notes: a conv front-end and a 2-layer bidirectional GRU over
  :func:`media_features.log_mel`, with masked mean+max pooling, so a padded batch gives what
  each clip gives alone.

Each model has a 128-d L2-normalised ``embedding`` (the "visual" / "paralinguistic" vector the
fusion classifier reads), an intent head (77 Banking77 intents, order of
``onnx_models/intent/labels.json``) and auxiliary heads for what the signal does show (layout,
dark mode, photographed paper; telephone band, noise level, speaking speed, voice). Only the
encoder and the intent head are exported: outputs ``embedding`` [N,128] and ``intent_logits``
[N,77]. The export is checked against torch (max |diff| <= 1e-4) and raises
:class:`~worker.training.export.validate.ParityError` otherwise.

Decoded features are cached in ``<synth>/.media_cache/`` (keyed by the manifest's SHA-256 and
the feature configuration), so a second run does not decode again.

    python -m worker.training.fitting.media --synth var/synth --kind both --epochs 12 --out onnx_models
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import shlex
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from worker.errors import MediaError, TicketfusionError
from worker.media import features as mf
from worker.training.data.splits import sha256_file
from worker.training.export.validate import ParityError

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_LABELS = REPO_ROOT / "onnx_models" / "intent" / "labels.json"
OPSET = 17
EMBED_DIM = 128
#: Heads read the unit-length embedding times this (a cosine classifier with a fixed temperature).
HEAD_SCALE = 16.0
PARITY_TOLERANCE = 1e-4
MAX_IMAGE_PIXELS = 40_000_000
CACHE_DIR = ".media_cache"
FOLDERS = {"screenshot": "image_encoder", "voice": "audio_encoder"}
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


# ------------------------------------------------------------------------- auxiliary heads
def _num(params: dict, *keys: str) -> float | None:
    """The first of ``keys`` present in ``params`` as a number, else None."""
    for key in keys:
        value = params.get(key)
        if isinstance(value, bool):
            return float(value)
        if isinstance(value, (int, float)) and math.isfinite(value):
            return float(value)
    return None


def _bucket(value: float | None, edges: Sequence[float], names: Sequence[str]) -> str | None:
    """``names[i]`` for the first edge ``value`` is below, the last name above all edges."""
    if value is None:
        return None
    for edge, name in zip(edges, names):
        if value < edge:
            return name
    return names[len(edges)]


def aux_layout(p: dict) -> str | None:
    """Screenshot layout (chat app, e-mail, web form ...): visible from the page structure."""
    value = p.get("layout")
    return None if value is None else str(value)


def aux_dark(p: dict) -> str | None:
    """Dark mode: light text on a dark background."""
    value = p.get("dark", p.get("dark_mode"))
    return None if value is None else ("dark" if value else "light")


def aux_paper(p: dict) -> str | None:
    """A photograph of paper (a letter, a receipt) rather than a screen capture."""
    for key in ("photo", "photographed", "paper", "photo_of_paper"):
        if key in p:
            return "paper" if p[key] else "screen"
    if "layout" in p:
        return "paper" if any(w in str(p["layout"]).lower() for w in ("paper", "photo", "letter")) else "screen"
    return None


def aux_device(p: dict) -> str | None:
    """Phone, desktop or camera: aspect ratio and chrome differ."""
    value = p.get("device")
    return None if value is None else str(value)


def aux_telephone(p: dict) -> str | None:
    """Telephone band (300-3400 Hz) or full band: visible in the mel spectrum's top bands."""
    value = p.get("telephone")
    return None if value is None else ("telephone" if value else "wideband")


def aux_noise(p: dict) -> str | None:
    """Background noise level from the mixing SNR; no noise counts as clean."""
    if "noise_snr_db" not in p:
        return None
    snr = _num(p, "noise_snr_db")
    if snr is None:  # null: no noise mixed in
        return "clean"
    return _bucket(snr, (10.0, 20.0), ("snr<10", "snr10-20", "snr>=20"))


def aux_noise_type(p: dict) -> str | None:
    """Kind of background noise (none, white, pink, babble): different spectral shapes."""
    value = p.get("noise")
    return None if value is None else str(value)


def aux_speed(p: dict) -> str | None:
    """Speaking rate as heard: words of ``spoken_text`` per minute of synthesised speech
    (``speech_s``, silence padding excluded), in thirds of the synthetic set's range. Where those
    are absent: the synthesiser's speed setting (words/min, or a factor around 1.0)."""
    speech_s, text = _num(p, "speech_s"), p.get("spoken_text")
    if speech_s and isinstance(text, str) and text.split():
        return _bucket(len(text.split()) / speech_s * 60.0, (150.0, 182.0), ("slow", "normal", "fast"))
    speed = _num(p, "speed", "rate", "tempo")
    if speed is None:
        return None
    if speed > 20:  # words per minute (espeak-ng -s 130..200)
        return _bucket(speed, (154.0, 177.0), ("slow", "normal", "fast"))
    return _bucket(speed, (0.9, 1.1), ("slow", "normal", "fast"))


#: espeak-ng variants whose voice file says ``gender female`` (the others are male or unmarked,
#: which espeak-ng voices as male).
FEMALE_VARIANTS = frozenset({"f1", "f2", "f3", "f4", "f5", "annie", "anika", "aunty", "belinda", "grandma",
                             "linda", "steph", "alicia", "andrea"})


def _variant(p: dict) -> str | None:
    voice = p.get("voice")
    if voice is None:
        return None
    return str(voice).split("+", 1)[1] if "+" in str(voice) else ""


def aux_voice(p: dict) -> str | None:
    """The synthetic voice's variant (espeak-ng ``+variant``: pitch, formants, breathiness)."""
    variant = _variant(p)
    return None if variant is None else (variant or "default")


def aux_gender(p: dict) -> str | None:
    """Female or male voice variant."""
    variant = _variant(p)
    return None if variant is None else ("female" if variant.lower() in FEMALE_VARIANTS else "male")


#: Auxiliary heads per kind: name → function of the manifest's ``params`` giving a class (or None).
AUX_HEADS: dict[str, dict[str, Callable[[dict], str | None]]] = {
    "screenshot": {"layout": aux_layout, "dark": aux_dark, "paper": aux_paper, "device": aux_device},
    "voice": {"telephone": aux_telephone, "noise": aux_noise, "noise_type": aux_noise_type, "speed": aux_speed,
              "gender": aux_gender, "voice": aux_voice},
}


def aux_targets(items: Sequence[Item], kind: Kind, *, train_split: str = "train") -> tuple[dict[str, list[str]], dict[str, np.ndarray]]:
    """Class names per auxiliary head (from the train split; heads with one class are dropped)
    and int64 targets per head for every item (-100 where the param is absent or unseen)."""
    vocab: dict[str, list[str]] = {}
    targets: dict[str, np.ndarray] = {}
    for name, derive in AUX_HEADS[kind].items():
        values = [derive(item.params) for item in items]
        classes = sorted({v for v, item in zip(values, items) if v is not None and item.split == train_split})
        if len(classes) < 2:
            log.info("auxiliary head %s dropped: %d class(es) in the train split", name, len(classes))
            continue
        index = {c: i for i, c in enumerate(classes)}
        vocab[name] = classes
        targets[name] = np.array([index.get(v, -100) if v is not None else -100 for v in values], dtype=np.int64)
    return vocab, targets


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


def load_features(synth: Path, items: Sequence[Item], kind: Kind, *, progress: bool = True) -> Features:
    """Decoded features of ``items``, from the cache when it matches, else decoded and cached.

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
                outputs.append(mf.image_pixels(decode_item_image(file)))
            else:
                outputs.append(mf.log_mel(decode_item_audio(file)))
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


# ------------------------------------------------------------------------------ models
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


# ------------------------------------------------------------------------------ training
@dataclass(frozen=True)
class HyperParameters:
    epochs: int = 12
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-4
    label_smoothing: float = 0.1
    aux_weight: float = 0.5
    # The intent head is a probe: trained on a detached embedding, it reports how much intent the
    # pixels or sound carry without letting the embedding memorise the training items' labels,
    # which the fusion classifier (trained on the same items) would then learn to trust.
    probe_intent: bool = True
    dropout: float = 0.2
    seed: int = 11
    threads: int = 1  # 2 intra-op threads ran 5-20x slower on the shared 2-core box (OpenMP waits)


def evaluate(model: nn.Module, kind: Kind, feats: Features, index: np.ndarray, intents: np.ndarray,
             aux: dict[str, np.ndarray], *, batch_size: int = 64) -> dict:
    """Accuracy of every head on ``index`` (intent also top-5); aux heads count only labelled items."""
    model.eval()
    intent_logits, aux_logits = [], {name: [] for name in aux}
    with torch.no_grad():
        for group in batches(kind, feats, index, batch_size, rng=None):
            embedding = model.embed(*model_inputs(kind, feats, group))
            intent_logits.append((group, model.heads.intent_logits(embedding).numpy()))
            for name, logits in model.heads.aux_logits(embedding).items():
                aux_logits[name].append((group, logits.numpy()))

    def gather(parts: list) -> tuple[np.ndarray, np.ndarray]:
        rows = np.concatenate([g for g, _ in parts])
        return rows, np.concatenate([v for _, v in parts])

    rows, logits = gather(intent_logits)
    target = intents[rows]
    top5 = np.argsort(-logits, axis=1)[:, :5]
    result = {"intent_accuracy": float(np.mean(logits.argmax(1) == target)),
              "intent_top5": float(np.mean((top5 == target[:, None]).any(1))),
              "intent_chance": 1.0 / logits.shape[1], "items": int(len(rows)), "aux": {}}
    for name, parts in aux_logits.items():
        rows, logits = gather(parts)
        target = aux[name][rows]
        known = target >= 0
        majority = float(np.bincount(target[known]).max() / known.sum()) if known.any() else float("nan")
        result["aux"][name] = {
            "accuracy": float(np.mean(logits[known].argmax(1) == target[known])) if known.any() else float("nan"),
            "majority_baseline": majority, "items": int(known.sum()),
        }
    return result


def _selection_score(metrics: dict) -> float:
    """Best-epoch criterion: mean of intent top-5 and the auxiliary accuracies (all in [0, 1])."""
    values = [metrics["intent_top5"]] + [a["accuracy"] for a in metrics["aux"].values() if a["accuracy"] == a["accuracy"]]
    return float(np.mean(values))


def train_encoder(kind: Kind, *, synth: Path, labels: list[str], hp: HyperParameters,
                  progress: bool = True) -> tuple[nn.Module, dict]:
    """Train one encoder; returns the best epoch's model (eval mode) and its training record."""
    torch.manual_seed(hp.seed)
    torch.set_num_threads(hp.threads)
    rng = np.random.default_rng(hp.seed)
    items = read_manifest(synth, kind)
    label_index = {label: i for i, label in enumerate(labels)}
    unknown = sorted({i.label for i in items} - set(label_index))
    if unknown:
        raise ManifestError(f"{len(unknown)} labels in the manifest are not intents: {unknown[:5]}")
    feats = load_features(synth, items, kind, progress=progress)
    by_id = {i.id: i for i in items}
    items = [by_id[i] for i in feats.ids]
    intents = np.array([label_index[i.label] for i in items], dtype=np.int64)
    vocab, aux = aux_targets(items, kind)
    train_idx = np.array([k for k, i in enumerate(items) if i.split == "train"])
    val_idx = np.array([k for k, i in enumerate(items) if i.split == "val"])
    sizes = {name: len(classes) for name, classes in vocab.items()}
    model = (ImageEncoderNet(len(labels), sizes, dropout=hp.dropout) if kind == "screenshot"
             else AudioEncoderNet(len(labels), sizes, dropout=hp.dropout))
    optimiser = torch.optim.AdamW(model.parameters(), lr=hp.lr, weight_decay=hp.weight_decay)
    steps = hp.epochs * math.ceil(len(train_idx) / hp.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=hp.lr, total_steps=max(steps, 1), pct_start=0.15)
    intent_t, aux_t = torch.from_numpy(intents), {n: torch.from_numpy(v) for n, v in aux.items()}
    history, best, best_score, best_state = [], None, -1.0, None
    started, cpu_started = time.perf_counter(), time.process_time()
    for epoch in range(1, hp.epochs + 1):
        model.train()
        total, count = 0.0, 0
        for group in batches(kind, feats, train_idx, hp.batch_size, rng):
            if kind == "screenshot":
                inputs = (torch.from_numpy(mf.normalise_pixels(augment_pixels(feats.pixels[group], rng))),)
            else:
                inputs = model_inputs(kind, feats, group)
            embedding = model.embed(*inputs)
            probe_input = embedding.detach() if hp.probe_intent else embedding
            loss = F.cross_entropy(model.heads.intent_logits(probe_input), intent_t[group], label_smoothing=hp.label_smoothing)
            for name, logits in model.heads.aux_logits(embedding).items():
                target = aux_t[name][group]
                if (target >= 0).any():
                    loss = loss + hp.aux_weight * F.cross_entropy(logits, target, ignore_index=-100)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimiser.step()
            schedule.step()
            total += float(loss.detach()) * len(group)
            count += len(group)
        metrics = evaluate(model, kind, feats, val_idx, intents, aux)
        score = _selection_score(metrics)
        row = {"epoch": epoch, "train_loss": round(total / max(count, 1), 5), "val": _rounded(metrics),
               "elapsed_s": round(time.perf_counter() - started, 1)}
        history.append(row)
        aux_text = " ".join(f"{n}={a['accuracy']:.3f}" for n, a in metrics["aux"].items())
        print(f"[{kind}] epoch {epoch}/{hp.epochs} loss {row['train_loss']:.4f} intent acc "
              f"{metrics['intent_accuracy']:.3f} top5 {metrics['intent_top5']:.3f} {aux_text} "
              f"({row['elapsed_s']:.0f} s)", flush=True)
        if score > best_score:
            best_score, best = score, row
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    model.eval()
    record = {
        "kind": kind, "items": {"train": int(len(train_idx)), "val": int(len(val_idx))},
        "aux_classes": vocab, "history": history, "best_epoch": best["epoch"],
        "validation": best["val"], "train_seconds": round(time.perf_counter() - started, 1),
        # CPU time of all threads: comparable between runs on a machine shared with other jobs.
        "train_cpu_seconds": round(time.process_time() - cpu_started, 1),
        "selection": "best epoch by mean of val intent top-5 and auxiliary accuracies",
        "decoder": decoder_route(kind),
        "parameters": {"total": parameter_count(model), "exported": parameter_count(model, exported_only=True)},
    }
    if kind == "voice":
        seconds = feats.lengths() * mf.HOP_LENGTH / mf.SAMPLE_RATE
        record["clip_seconds"] = {"mean": round(float(seconds.mean()), 2), "max": round(float(seconds.max()), 2)}
    return model, {"record": record, "feats": feats, "val_idx": val_idx}


def _rounded(metrics: dict) -> dict:
    """Metrics with floats rounded for training.json."""
    if isinstance(metrics, dict):
        return {k: _rounded(v) for k, v in metrics.items()}
    return round(metrics, 4) if isinstance(metrics, float) else metrics


# ------------------------------------------------------------------------------ export
def export_encoder(model: nn.Module, kind: Kind, out_path: Path, *, metadata: dict[str, str]) -> Path:
    """Write ``model``'s encoder + intent head as ONNX (opset 17, dynamic batch, and time for audio)."""
    from worker.training.export.convert import finish_onnx

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    if kind == "screenshot":
        example: tuple[torch.Tensor, ...] = (torch.zeros(2, 1, mf.IMAGE_SIZE, mf.IMAGE_SIZE),)
        names = ["image"]
        axes = {"image": {0: "batch"}}
    else:
        example = (torch.randn(2, 57, mf.N_MELS), torch.tensor([57, 31], dtype=torch.int64))
        names = ["features", "lengths"]
        axes = {"features": {0: "batch", 1: "frames"}, "lengths": {0: "batch"}}
    axes.update({"embedding": {0: "batch"}, "intent_logits": {0: "batch"}})
    tmp = out_path.with_name(out_path.stem + ".tmp.onnx")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the legacy exporter, as export.py uses
        # "GRU with a batch size other than 1": h0 is built from the input's batch size, and
        # padding_parity() runs the graph at batch 1 and 8 to prove it.
        warnings.filterwarnings("ignore", message="Exporting a model to ONNX with a batch_size other than 1")
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # nn.GRU's own input-size checks
        torch.onnx.export(model, example, str(tmp), input_names=names, output_names=["embedding", "intent_logits"],
                          dynamic_axes=axes, opset_version=OPSET, do_constant_folding=True, dynamo=False)
    return finish_onnx(tmp, out_path, metadata)


def check_media_parity(name: str, model: nn.Module, onnx_path: Path, inputs: dict[str, np.ndarray], *,
                       tolerance: float = PARITY_TOLERANCE) -> dict[str, float]:
    """Max |torch - ORT| per output on ``inputs``; raises :class:`ParityError` over ``tolerance``
    (or when the intent argmax differs)."""
    from worker.runtime import make_session

    session = make_session(onnx_path, device="cpu").session
    got = dict(zip(["embedding", "intent_logits"], session.run(["embedding", "intent_logits"], inputs)))
    with torch.no_grad():
        want = model.eval()(*(torch.from_numpy(v) for v in inputs.values()))
    diffs = {key: float(np.max(np.abs(got[key] - w.numpy()))) for key, w in zip(got, want)}
    worst = max(diffs, key=diffs.get)
    if diffs[worst] > tolerance:
        raise ParityError(name, diffs[worst], tolerance, f"output {worst!r}")
    if not np.array_equal(got["intent_logits"].argmax(1), want[1].numpy().argmax(1)):
        raise ParityError(name, diffs[worst], tolerance, "intent argmax differs")
    return diffs


def padding_parity(name: str, onnx_path: Path, clips: Sequence[np.ndarray], *,
                   tolerance: float = PARITY_TOLERANCE) -> float:
    """Max |batched - one at a time| embedding difference of the audio graph over ``clips``
    of different lengths; raises :class:`ParityError` over ``tolerance``."""
    from worker.runtime import make_session

    session = make_session(onnx_path, device="cpu").session
    frames, lengths = pad_frames(clips)
    batched = session.run(["embedding"], {"features": frames, "lengths": lengths})[0]
    worst = 0.0
    for row, clip in enumerate(clips):
        single = session.run(["embedding"], {"features": clip[None], "lengths": np.array([len(clip)], np.int64)})[0]
        worst = max(worst, float(np.max(np.abs(single[0] - batched[row]))))
    if worst > tolerance:
        raise ParityError(name, worst, tolerance, "a padded batch differs from the clips run alone")
    return worst


def parity_inputs(kind: Kind, feats: Features, index: np.ndarray) -> dict[str, np.ndarray]:
    """Up to 8 validation items as ONNX inputs (audio: different lengths, padded)."""
    chosen = np.asarray(index)[:8]
    if kind == "screenshot":
        return {"image": mf.normalise_pixels(feats.pixels[chosen])}
    frames, lengths = pad_frames([feats.audio(i) for i in chosen])
    return {"features": frames, "lengths": lengths}


def finalise(model: nn.Module, kind: Kind, *, trained: dict, out: Path, synth: Path, labels: list[str],
             hp: HyperParameters, command: str) -> dict:
    """Export, check parity (torch vs ORT; audio also batch vs single) and write training.json."""
    folder = Path(out) / FOLDERS[kind]
    folder.mkdir(parents=True, exist_ok=True)
    record = trained["record"]
    feature_key = "image" if kind == "screenshot" else "audio"
    labels_sha = hashlib.sha256(json.dumps(labels).encode()).hexdigest()
    metadata = {
        "model": FOLDERS[kind], "features": json.dumps(mf.FEATURE_CONFIG[feature_key], sort_keys=True),
        "embedding_dim": str(EMBED_DIM), "labels_sha256": labels_sha,
        "manifest_sha256": sha256_file(Path(synth) / "manifest.jsonl"),
    }
    onnx_path = export_encoder(model, kind, folder / "model.onnx", metadata=metadata)
    feats, val_idx = trained["feats"], trained["val_idx"]
    parity = {"max_abs_diff": check_media_parity(FOLDERS[kind], model, onnx_path, parity_inputs(kind, feats, val_idx)),
              "tolerance": PARITY_TOLERANCE}
    if kind == "voice":
        clips = [feats.audio(i) for i in np.asarray(val_idx)[:8]]
        parity["batch_vs_single_max_abs_diff"] = padding_parity(FOLDERS[kind], onnx_path, clips)
    record.update({
        "data": {"synth": str(synth), "manifest_sha256": metadata["manifest_sha256"]},
        "labels": {"path": "onnx_models/intent/labels.json", "sha256_of_json_list": labels_sha, "count": len(labels)},
        "seed": hp.seed, "epochs": hp.epochs,
        "hyper_parameters": {**hp.__dict__, "head_scale": HEAD_SCALE, "optimizer": "AdamW + one-cycle, grad clip 5",
                             "loss": "CE(intent probe on the detached embedding, label smoothing) + aux_weight x CE(each aux head)"},
        "features": mf.FEATURE_CONFIG[feature_key], "parity": parity,
        "onnx": {"file": "model.onnx", "bytes": onnx_path.stat().st_size, "sha256": sha256_file(onnx_path),
                 "opset": OPSET, "outputs": {"embedding": f"[N,{EMBED_DIM}] unit length", "intent_logits": f"[N,{len(labels)}]"}},
        "command": command,
    })
    (folder / "training.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return record


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--synth", type=Path, default=REPO_ROOT / "var" / "synth", help="`data synth` output folder")
    p.add_argument("--kind", choices=("screenshot", "voice", "both"), default="both")
    p.add_argument("--epochs", type=int, default=HyperParameters.epochs)
    p.add_argument("--out", type=Path, default=REPO_ROOT / "onnx_models", help="models folder")
    p.add_argument("--labels", type=Path, default=DEFAULT_LABELS)
    p.add_argument("--batch-size", type=int, default=HyperParameters.batch_size)
    p.add_argument("--lr", type=float, default=HyperParameters.lr)
    p.add_argument("--seed", type=int, default=HyperParameters.seed)
    p.add_argument("--threads", type=int, default=HyperParameters.threads)
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    command = "python -m worker.training.fitting.media " + " ".join(
        shlex.quote(x) for x in (argv if argv is not None else sys.argv[1:]))
    labels = load_labels(a.labels)
    hp = HyperParameters(epochs=a.epochs, batch_size=a.batch_size, lr=a.lr, seed=a.seed, threads=a.threads)
    kinds: list[Kind] = ["screenshot", "voice"] if a.kind == "both" else [a.kind]
    summary = {}
    for kind in kinds:
        model, trained = train_encoder(kind, synth=a.synth, labels=labels, hp=hp, progress=not a.no_progress)
        record = finalise(model, kind, trained=trained, out=a.out, synth=a.synth, labels=labels, hp=hp, command=command)
        summary[kind] = {"validation": record["validation"], "parity": record["parity"],
                         "onnx_bytes": record["onnx"]["bytes"], "train_seconds": record["train_seconds"],
                         "train_cpu_seconds": record["train_cpu_seconds"]}
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
