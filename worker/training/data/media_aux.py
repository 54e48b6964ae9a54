"""Auxiliary targets of the media encoders: what a screenshot or a voice note does show (layout,
dark mode, paper; telephone band, noise, speed, voice), derived from the synth manifest's params."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence

import numpy as np

from worker.training.data.media_set import Item, Kind

log = logging.getLogger(__name__)


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
