"""Silero VAD through ONNX Runtime alone: trimming to speech, refusing silence, matching silero-vad."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from worker.errors import MediaModelMissing, SilentAudio
from worker.media.audio import SAMPLE_RATE, Audio, decode_audio
from worker.media.vad import VoiceActivity

REPO = Path(__file__).resolve().parents[3]

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")


def speak(text: str, tmp_path: Path, *, voice: str = "en-us", speed: int = 160) -> np.ndarray:
    """16 kHz samples of ``text`` spoken by espeak-ng, decoded the way a voice note is."""
    out = tmp_path / f"{abs(hash((text, voice, speed)))}.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(out), text], check=True)
    return decode_audio(out.read_bytes(), max_seconds=60).samples


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SAMPLE_RATE), dtype=np.float32)


def as_audio(samples: np.ndarray) -> Audio:
    return Audio(samples=samples, duration_s=samples.size / SAMPLE_RATE, format="wav")


@pytest.fixture(scope="module")
def vad() -> VoiceActivity:
    return VoiceActivity.load(threads=1)


@needs_espeak
def test_trim_keeps_roughly_the_speech(vad: VoiceActivity, tmp_path: Path) -> None:
    """Speech with 2 s of silence each side comes back as about the speech, padded by 0.2 s."""
    speech = speak("Hello, I lost my card yesterday and I need a new one.", tmp_path)
    audio = as_audio(np.concatenate([silence(2.0), speech, silence(2.0)]))
    (start, end), *rest = vad.speech_segments(audio.samples)
    assert not rest
    spoken = speech.size / SAMPLE_RATE
    assert 1.9 <= start <= 2.4  # espeak leaves a few ms of its own silence at the start
    assert 2.0 + spoken - 0.5 <= end <= 2.0 + spoken + 0.2
    trimmed = vad.trim(audio, pad_s=0.2)
    assert trimmed.format == "wav"
    assert trimmed.duration_s == pytest.approx(trimmed.samples.size / SAMPLE_RATE)
    assert spoken - 0.5 <= trimmed.duration_s <= spoken + 0.5
    assert audio.duration_s - trimmed.duration_s > 3.5


@needs_espeak
def test_trim_joins_separate_utterances(vad: VoiceActivity, tmp_path: Path) -> None:
    """Two utterances 3 s apart become one clip without the long gap between them."""
    first = speak("My transfer has not arrived.", tmp_path)
    second = speak("Please check it today.", tmp_path, voice="en-gb")
    audio = as_audio(np.concatenate([silence(1.0), first, silence(3.0), second, silence(1.0)]))
    assert len(vad.speech_segments(audio.samples)) == 2
    trimmed = vad.trim(audio, pad_s=0.2)
    assert trimmed.duration_s < audio.duration_s - 4.0
    assert trimmed.duration_s > (first.size + second.size) / SAMPLE_RATE - 1.0


def test_pure_silence_is_silent_audio(vad: VoiceActivity) -> None:
    """Five seconds of digital silence hold no speech."""
    assert vad.speech_segments(silence(5.0)) == []
    with pytest.raises(SilentAudio) as caught:
        vad.trim(as_audio(silence(5.0)))
    assert caught.value.code == "silent_audio"


def test_low_white_noise_is_silent_audio(vad: VoiceActivity) -> None:
    """A quiet hiss (a pocket recording) is not speech."""
    noise = (np.random.default_rng(3).standard_normal(5 * SAMPLE_RATE) * 0.01).astype(np.float32)
    with pytest.raises(SilentAudio, match="no speech"):
        vad.trim(as_audio(noise))


@needs_espeak
def test_segments_match_silero_reference(vad: VoiceActivity, tmp_path: Path) -> None:
    """Our numpy port gives silero-vad's own get_speech_timestamps segments on the same clip."""
    clip = np.concatenate(
        [
            silence(1.5),
            speak("Please block my card, I think it was stolen.", tmp_path),
            silence(0.8),
            speak("And send me a new one.", tmp_path, voice="en-gb"),
            silence(1.5),
        ]
    )
    # Produced once in a scratch script (torch 2.13, silero-vad 6.2.3, espeak-ng 1.51) with
    # silero_vad.get_speech_timestamps(torch.from_numpy(clip), load_silero_vad(onnx=True)) at its
    # defaults: both the ONNX and the JIT model gave these sample offsets on 139,419 samples.
    reference = [(24608, 71136), (87584, 111072)]
    segments = vad.speech_segments(clip)
    assert len(segments) == len(reference)
    tolerance = 2 * 512 / SAMPLE_RATE  # two frames, for another espeak-ng or soxr build
    for (start, end), (ref_start, ref_end) in zip(segments, reference):
        assert start == pytest.approx(ref_start / SAMPLE_RATE, abs=tolerance)
        assert end == pytest.approx(ref_end / SAMPLE_RATE, abs=tolerance)


@needs_espeak
def test_a_minute_is_scored_well_under_a_second(vad: VoiceActivity, tmp_path: Path) -> None:
    """Sixty seconds of audio go through the VAD in under a second on one thread."""
    unit = np.concatenate([speak("Where is my refund?", tmp_path), silence(1.0)])
    minute = np.tile(unit, int(np.ceil(60 * SAMPLE_RATE / unit.size)))[: 60 * SAMPLE_RATE]
    vad.speech_segments(minute[:SAMPLE_RATE])  # warm-up
    started = time.perf_counter()
    segments = vad.speech_segments(minute)
    assert time.perf_counter() - started < 1.0
    assert len(segments) >= 10


def test_missing_model_file_is_reported(tmp_path: Path) -> None:
    """A missing ONNX file is a named MediaModelMissing, not an ONNX Runtime crash."""
    with pytest.raises(MediaModelMissing, match="Silero VAD model is missing"):
        VoiceActivity.load(path=tmp_path / "silero_vad.onnx")


def test_vad_never_imports_torch() -> None:
    """Loading and running the VAD leaves torch (and silero_vad's torch code) unimported."""
    code = (
        "import sys, numpy as np\n"
        "from worker.media.vad import VoiceActivity\n"
        "VoiceActivity.load().speech_segments(np.zeros(16000, np.float32))\n"
        "print(sorted(m for m in ('torch', 'silero_vad') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
