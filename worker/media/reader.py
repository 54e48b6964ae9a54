"""Read one attachment into what the classifier needs: its text (OCR or transcript) and a vector.

Models load on first use, once per process, so a worker serving only the text queue never pays
for OCR or speech recognition. The same reader serves the worker, ``ticketfusion triage`` and the
training code that caches readings of the synthetic set, so all three see identical features.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from worker.errors import MediaModelMissing
from worker.settings import Settings

log = logging.getLogger(__name__)

Kind = Literal["image", "audio"]
Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class ImageDetail:
    """A screenshot's size and how many OCR lines it gave."""

    width: int
    height: int
    lines: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AudioDetail:
    """A voice note's length, its speech's length after VAD, and what Whisper made of it."""

    duration_s: float
    speech_s: float
    language: str
    avg_logprob: float
    complete: bool = True  # False: the speech-recognition budget ran out before the end

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Reading:
    """What one attachment yielded: ``text`` is what the intent model reads (the OCR message with
    the window chrome dropped, or the transcript without the voicemail's greeting and goodbye);
    ``raw_text`` keeps every OCR line, or the whole transcript; ``lines`` are the OCR lines as
    (text, score, box)."""

    kind: Kind
    text: str
    raw_text: str
    embedding: np.ndarray | None = field(default=None, repr=False)
    detail: ImageDetail | AudioDetail | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    lines: list[tuple[str, float, Box]] = field(default_factory=list, repr=False)


class MediaReader:
    """Holds the media models of one process; every ``read_*`` call is independent."""

    def __init__(self, settings: Settings, *, with_embeddings: bool = True) -> None:
        self.settings = settings
        self.with_embeddings = with_embeddings
        self._lock = threading.Lock()
        self._models: dict[str, object] = {}
        self._missing: set[str] = set()

    # -- lazily loaded models -------------------------------------------------------------
    def model(self, name: str):
        with self._lock:
            if name not in self._models:
                started = time.perf_counter()
                self._models[name] = self._load(name)
                log.info("%s loaded in %.1f s", name, time.perf_counter() - started)
            return self._models[name]

    def _load(self, name: str):
        s = self.settings
        threads = s.media_threads
        if name == "ocr":
            from worker.media.screenshots.ocr import OcrEngine

            return OcrEngine.load(threads=threads)
        if name == "vad":
            from worker.media.vad import VoiceActivity

            return VoiceActivity.load(threads=1)
        if name == "asr":
            from worker.media.speech import SpeechRecognizer

            return SpeechRecognizer.load(
                s.whisper_path, device=s.device, threads=threads, beam_size=s.asr_beam_size,
                pinned=s.whisper_dir is None,
            )
        if name == "image_encoder":
            from worker.media.encoders import ImageEncoder

            return ImageEncoder.load(Path(s.models_dir), device=s.device, threads=threads)
        if name == "audio_encoder":
            from worker.media.encoders import AudioEncoder

            return AudioEncoder.load(Path(s.models_dir), device=s.device, threads=threads)
        raise KeyError(name)

    def optional(self, name: str):
        """An encoder, or None when it is not built: the text of a screenshot still counts."""
        if not self.with_embeddings or name in self._missing:
            return None
        try:
            return self.model(name)
        except MediaModelMissing as exc:
            log.warning("%s not available, fusion runs without it: %s", name, exc)
            self._missing.add(name)
            return None

    def providers(self) -> dict[str, str]:
        """Which device each loaded model runs on."""
        return {name: str(getattr(model, "provider", "?")) for name, model in self._models.items()}

    def preload(self) -> None:
        """Load every media model now (a worker on the media queue does this at start)."""
        for name in ("ocr", "vad", "asr"):
            self.model(name)
        for name in ("image_encoder", "audio_encoder"):
            self.optional(name)

    # -- reading --------------------------------------------------------------------------
    def read(self, kind: Kind, data: bytes) -> Reading:
        """Decode and read one attachment; raises a :class:`MediaError` for unusable input."""
        return self.read_image(data) if kind == "image" else self.read_audio(data)

    def read_image(self, data: bytes) -> Reading:
        from worker.media.images import decode_image

        timings: dict[str, float] = {}
        started = time.perf_counter()
        image = decode_image(data, max_pixels=self.settings.max_image_pixels)
        timings["decode"] = _ms(started)
        started = time.perf_counter()
        ocr = self.model("ocr").read(image)
        timings["ocr"] = _ms(started)
        embedding = None
        encoder = self.optional("image_encoder")
        if encoder is not None:
            started = time.perf_counter()
            embedding = encoder.embed([image])[0]
            timings["image_encoder"] = _ms(started)
        detail = ImageDetail(width=image.width, height=image.height, lines=len(ocr.lines))
        lines = [(line.text, line.score, line.box) for line in ocr.lines]
        return Reading("image", ocr.message, ocr.text, embedding, detail, timings, lines)

    def read_audio(self, data: bytes) -> Reading:
        from worker.media.audio import decode_audio

        timings: dict[str, float] = {}
        started = time.perf_counter()
        audio = decode_audio(data, max_seconds=self.settings.max_audio_seconds)
        timings["decode"] = _ms(started)
        started = time.perf_counter()
        speech = self.model("vad").trim(audio)  # raises SilentAudio when nobody speaks
        timings["vad"] = _ms(started)
        started = time.perf_counter()
        transcript = self.model("asr").transcribe(speech, budget_s=self.settings.asr_seconds_per_attachment)
        timings["asr"] = _ms(started)
        embedding = None
        encoder = self.optional("audio_encoder")
        if encoder is not None:
            started = time.perf_counter()
            embedding = encoder.embed([speech.samples])[0]
            timings["audio_encoder"] = _ms(started)
        detail = AudioDetail(
            duration_s=round(audio.duration_s, 3),
            speech_s=round(speech.duration_s, 3),
            language=transcript.language,
            avg_logprob=round(transcript.avg_logprob, 4),
            complete=transcript.complete,
        )
        from worker.media.speech import spoken_request

        heard = transcript.text.strip()
        return Reading("audio", spoken_request(heard), heard, embedding, detail, timings)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
