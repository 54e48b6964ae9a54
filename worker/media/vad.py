"""Voice activity detection with Silero VAD v6, run by ONNX Runtime without torch.

Whisper invents text for silence and noise, so only the speech goes to it, and a note nobody
speaks in is refused as :class:`SilentAudio` before any transcription time is spent. The model
is the ``silero_vad.onnx`` that the silero-vad package ships; that package's Python code imports
torch, so its folder is found with ``importlib.util.find_spec`` (which runs nothing) and the
package's ``get_speech_timestamps`` is reproduced here in numpy.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import replace
from pathlib import Path

import numpy as np

from worker.errors import MediaModelMissing, SilentAudio
from worker.media.audio import SAMPLE_RATE, Audio

log = logging.getLogger(__name__)

FRAME = 512  # samples the model scores at once (32 ms at 16 kHz)
CONTEXT = 64  # trailing samples of the previous frame prepended to each frame
STATE_SHAPE = (2, 1, 128)
# The package's get_speech_timestamps defaults, which the segments reproduce.
MIN_SPEECH_S = 0.250
MIN_SILENCE_S = 0.100
SPEECH_PAD_S = 0.030


def silero_model_path() -> Path:
    """Where the silero-vad package keeps ``silero_vad.onnx``; its code is never executed."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise MediaModelMissing("the silero-vad package is not installed (pip install --no-deps silero-vad)")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "silero_vad.onnx"


class VoiceActivity:
    """Silero VAD: per-frame speech probabilities, speech segments, and trimming to the speech."""

    def __init__(self, session, path: Path) -> None:
        self.session = session
        self.path = path
        self.provider = "cpu"
        self._sr = np.array(SAMPLE_RATE, dtype=np.int64)

    @classmethod
    def load(cls, *, threads: int = 1, path: Path | None = None) -> VoiceActivity:
        """Open the model on the CPU (a 32 ms LSTM step is too small to gain from a GPU)."""
        import onnxruntime as ort

        path = Path(path) if path is not None else silero_model_path()
        if not path.is_file():
            raise MediaModelMissing(f"the Silero VAD model is missing: {path} (reinstall silero-vad)")
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ORT raises its own untyped errors for a damaged file
            raise MediaModelMissing(f"the Silero VAD model at {path} cannot be loaded: {exc}") from exc
        log.info("Silero VAD loaded from %s", path)
        return cls(session, path)

    def probabilities(self, samples: np.ndarray) -> np.ndarray:
        """Speech probability of each 512-sample frame (the last one zero-padded).

        The frames and their 64-sample contexts are cut in one numpy step; the LSTM state makes
        the model calls themselves sequential.
        """
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        count = -(-samples.size // FRAME)
        if count == 0:
            return np.zeros(0, dtype=np.float32)
        frames = np.zeros((count, FRAME), dtype=np.float32)
        frames.reshape(-1)[: samples.size] = samples
        inputs = np.empty((count, 1, CONTEXT + FRAME), dtype=np.float32)
        inputs[0, 0, :CONTEXT] = 0.0
        inputs[1:, 0, :CONTEXT] = frames[:-1, -CONTEXT:]
        inputs[:, 0, CONTEXT:] = frames
        state = np.zeros(STATE_SHAPE, dtype=np.float32)
        probs = np.empty(count, dtype=np.float32)
        run, sr = self.session.run, self._sr
        for i in range(count):
            out, state = run(None, {"input": inputs[i], "state": state, "sr": sr})
            probs[i] = out[0, 0]
        return probs

    def speech_segments(self, samples: np.ndarray, *, threshold: float = 0.5) -> list[tuple[float, float]]:
        """Speech as (start, end) seconds, as silero-vad's ``get_speech_timestamps`` finds it."""
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        spans = speech_spans(self.probabilities(samples), length=samples.size, threshold=threshold)
        return [(start / SAMPLE_RATE, end / SAMPLE_RATE) for start, end in spans]

    def trim(self, audio: Audio, *, pad_s: float = 0.2) -> Audio:
        """Only the speech, each segment padded by ``pad_s`` and the segments joined.

        Raises :class:`SilentAudio` when there is no speech at all.
        """
        segments = self.speech_segments(audio.samples)
        if not segments:
            raise SilentAudio(f"no speech found in {audio.duration_s:.1f} s of audio")
        n = audio.samples.size
        bounds = np.array(segments) * SAMPLE_RATE + np.array([-pad_s, pad_s]) * SAMPLE_RATE
        bounds = np.clip(np.round(bounds), 0, n).astype(np.int64)
        keep = np.zeros(n + 1, dtype=np.int32)  # +1 at each start, -1 at each end: overlaps merge
        np.add.at(keep, bounds[:, 0], 1)
        np.add.at(keep, bounds[:, 1], -1)
        samples = audio.samples[np.cumsum(keep[:-1]) > 0]
        return replace(audio, samples=np.ascontiguousarray(samples), duration_s=samples.size / SAMPLE_RATE)


def speech_spans(
    probs: np.ndarray,
    *,
    length: int,
    threshold: float = 0.5,
    min_speech_s: float = MIN_SPEECH_S,
    min_silence_s: float = MIN_SILENCE_S,
    pad_s: float = SPEECH_PAD_S,
) -> list[tuple[int, int]]:
    """Speech spans in samples from frame probabilities: silero-vad's state machine, with no
    maximum speech length (so no forced cuts).

    Speech starts at the first frame at or above ``threshold``; it ends where the probability
    fell below ``threshold - 0.15`` and stayed out of speech for ``min_silence_s``. Spans no
    longer than ``min_speech_s`` are dropped, then each is padded by ``pad_s`` (half the gap
    when two are closer than twice that).
    """
    neg_threshold = max(threshold - 0.15, 0.01)
    min_speech = SAMPLE_RATE * min_speech_s
    min_silence = SAMPLE_RATE * min_silence_s
    pad = SAMPLE_RATE * pad_s
    spans: list[list[int]] = []
    triggered, start, temp_end = False, 0, 0
    speech = (np.asarray(probs) >= threshold).tolist()
    silence = (np.asarray(probs) < neg_threshold).tolist()
    for i, (is_speech, is_silence) in enumerate(zip(speech, silence)):
        sample = FRAME * i
        if is_speech:
            temp_end = 0
            if not triggered:
                triggered, start = True, sample
            continue
        if triggered and is_silence:
            if not temp_end:
                temp_end = sample
            if sample - temp_end >= min_silence:
                if temp_end - start > min_speech:
                    spans.append([start, temp_end])
                triggered, temp_end = False, 0
    if triggered and length - start > min_speech:
        spans.append([start, length])
    for i, span in enumerate(spans):
        if i == 0:
            span[0] = int(max(0, span[0] - pad))
        if i < len(spans) - 1:
            gap = spans[i + 1][0] - span[1]
            if gap < 2 * pad:
                span[1] += int(gap // 2)
                spans[i + 1][0] = int(max(0, spans[i + 1][0] - gap // 2))
            else:
                span[1] = int(min(length, span[1] + pad))
                spans[i + 1][0] = int(max(0, spans[i + 1][0] - pad))
        else:
            span[1] = int(min(length, span[1] + pad))
    return [(start, end) for start, end in spans]
