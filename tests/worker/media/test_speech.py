"""Whisper base joined from its two PyPI parts, its hash pin, and end-to-end transcription offline."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from worker.errors import MediaModelMissing
from worker.media.audio import decode_audio
from worker.media.speech import SpeechRecognizer, Transcript
from worker.media.vad import VoiceActivity
from worker.media.whisper_model import (
    PART1_PACKAGE,
    STAMP,
    WHISPER_BASE_SHA256,
    WhisperModelMismatch,
    assemble_whisper,
    check_whisper_dir,
    derive_vocabulary,
    package_data_dir,
)

REPO = Path(__file__).resolve().parents[3]

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")


@pytest.fixture(scope="session")
def whisper_dir() -> Path:
    """The project's Whisper base folder, assembled once (idempotently) from the installed parts."""
    return assemble_whisper(REPO / "onnx_models" / "whisper-base")


@pytest.fixture(scope="module")
def recognizer(whisper_dir: Path) -> SpeechRecognizer:
    return SpeechRecognizer.load(whisper_dir, device="cpu", threads=2)


def fake_parts(root: Path, *, model: bytes = b"not whisper") -> tuple[Path, Path]:
    """Two small stand-ins for the part packages' data folders (real tokenizer, fake weights)."""
    real = package_data_dir(PART1_PACKAGE)
    part1, part2 = root / "part1", root / "part2"
    part1.mkdir(parents=True)
    part2.mkdir(parents=True)
    for name in ("config.json", "tokenizer.json"):
        shutil.copyfile(real / name, part1 / name)
    (part1 / "model.bin.part1").write_bytes(model[: len(model) // 2])
    (part2 / "model.bin.part2").write_bytes(model[len(model) // 2 :])
    return part1, part2


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower().replace("-", " "))


def wer(reference: str, hypothesis: str) -> float:
    ref, hyp = words(reference), words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        previous, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (r != h))
    return row[-1] / max(len(ref), 1)


# -- assembling and pinning -----------------------------------------------------------------


def test_assemble_is_idempotent_and_pinned(whisper_dir: Path, tmp_path: Path) -> None:
    """Assembling twice leaves the first model.bin alone, force rebuilds it; the hash is pinned."""
    dest = assemble_whisper(tmp_path / "whisper")
    model = dest / "model.bin"
    first = model.stat()
    assert assemble_whisper(dest) == dest
    second = model.stat()
    assert (second.st_ino, second.st_mtime_ns) == (first.st_ino, first.st_mtime_ns)
    assert json.loads((dest / STAMP).read_text())["sha256"] == WHISPER_BASE_SHA256
    assert not list(dest.glob("*.tmp"))
    assert {p.name for p in dest.iterdir()} >= {"model.bin", "config.json", "tokenizer.json", "vocabulary.txt"}
    assert model.stat().st_size == (whisper_dir / "model.bin").stat().st_size
    check_whisper_dir(dest)
    assemble_whisper(dest, force=True)
    assert model.stat().st_ino != first.st_ino
    check_whisper_dir(dest)
    shutil.rmtree(dest)  # 145 MB: do not leave it in pytest's kept temporary folders


def test_different_parts_are_refused(tmp_path: Path) -> None:
    """Parts whose join is not Whisper base raise WhisperModelMismatch and leave no model.bin."""
    part1, part2 = fake_parts(tmp_path / "packages")
    dest = tmp_path / "whisper"
    with pytest.raises(WhisperModelMismatch) as caught:
        assemble_whisper(dest, part1_dir=part1, part2_dir=part2)
    assert caught.value.code == "whisper_model_mismatch"
    assert WHISPER_BASE_SHA256 in str(caught.value)
    assert not (dest / "model.bin").exists()
    assert not list(dest.glob("*.tmp"))


def test_missing_part_is_model_missing(tmp_path: Path) -> None:
    """A part folder without its half of model.bin is reported as a missing model."""
    part1, part2 = fake_parts(tmp_path / "packages")
    (part2 / "model.bin.part2").unlink()
    with pytest.raises(MediaModelMissing, match="model.bin.part2"):
        assemble_whisper(tmp_path / "whisper", part1_dir=part1, part2_dir=part2)


def test_changed_model_bin_is_refused_and_the_stamp_is_trusted(tmp_path: Path) -> None:
    """The hash is re-checked only when size or mtime change, and a changed model.bin is refused."""
    part1, part2 = fake_parts(tmp_path / "packages", model=b"a tiny model of twenty four")
    tiny_sha = hashlib.sha256(b"a tiny model of twenty four").hexdigest()
    dest = assemble_whisper(tmp_path / "whisper", part1_dir=part1, part2_dir=part2, expected_sha256=tiny_sha)
    check_whisper_dir(dest, expected_sha256=tiny_sha)
    stamp = json.loads((dest / STAMP).read_text())
    # A stamp matching size and mtime is believed without hashing: proof the check is cached.
    (dest / STAMP).write_text(json.dumps({**stamp, "sha256": "0" * 64}))
    with pytest.raises(WhisperModelMismatch):
        check_whisper_dir(dest, expected_sha256=tiny_sha)
    # Touching model.bin changes its mtime, so it is hashed again and found good.
    os.utime(dest / "model.bin", ns=(stamp["mtime_ns"] + 10**9, stamp["mtime_ns"] + 10**9))
    check_whisper_dir(dest, expected_sha256=tiny_sha)
    # Different bytes of the same size are refused once their mtime differs.
    (dest / "model.bin").write_bytes(b"A tiny model of twenty four")
    with pytest.raises(WhisperModelMismatch, match="models build"):
        check_whisper_dir(dest, expected_sha256=tiny_sha)


def test_unpinned_folder_skips_the_hash(tmp_path: Path) -> None:
    """expected_sha256=None accepts a user's own Whisper folder without hashing it."""
    part1, part2 = fake_parts(tmp_path / "packages")
    dest = tmp_path / "large-v3"
    dest.mkdir()
    for name in ("config.json", "tokenizer.json"):
        shutil.copyfile(part1 / name, dest / name)
    (dest / "vocabulary.txt").write_text("x\n")
    (dest / "model.bin").write_bytes(b"someone else's model")
    check_whisper_dir(dest, expected_sha256=None)
    with pytest.raises(WhisperModelMismatch):
        check_whisper_dir(dest)


def test_derived_vocabulary_matches_the_shipped_one() -> None:
    """vocabulary.txt derived from tokenizer.json is byte for byte the one part 1 ships."""
    data = package_data_dir(PART1_PACKAGE)
    vocabulary = derive_vocabulary(data / "tokenizer.json")
    assert len(vocabulary) == 50_364 + 1_501
    assert vocabulary[50_257] == "<|endoftext|>" and vocabulary[-1] == "<|30.00|>"
    assert ("\n".join(vocabulary) + "\n").encode("utf-8") == (data / "vocabulary.txt").read_bytes()


def test_missing_dir_is_model_missing(tmp_path: Path) -> None:
    """Loading from a folder that does not exist says to run `ticketfusion models build`."""
    with pytest.raises(MediaModelMissing, match="ticketfusion models build"):
        SpeechRecognizer.load(tmp_path / "nowhere", device="cpu")
    with pytest.raises(MediaModelMissing):
        check_whisper_dir(tmp_path / "nowhere")


# -- transcription --------------------------------------------------------------------------


@needs_espeak
def test_voice_note_is_transcribed_end_to_end(recognizer: SpeechRecognizer, tmp_path: Path) -> None:
    """An espeak-ng voice note goes through decoding, VAD and Whisper to its key words."""
    said = "My card was stolen yesterday. Please freeze it and send me a new card."
    wav = tmp_path / "note.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "160", "-w", str(wav), said], check=True)
    speech = VoiceActivity.load().trim(decode_audio(wav.read_bytes(), max_seconds=180))
    transcript = recognizer.transcribe(speech)
    assert isinstance(transcript, Transcript)
    assert {"card", "stolen", "yesterday", "new"} <= set(words(transcript.text))
    assert wer(said, transcript.text) < 0.35
    assert transcript.language == "en"
    assert -1.5 < transcript.avg_logprob <= 0.0
    assert 0.0 <= transcript.no_speech_prob < 0.5
    assert 0 < transcript.ms < 1000 * 3 * speech.duration_s  # generous: 2 shared cores


def test_loaded_on_cpu_int8(recognizer: SpeechRecognizer) -> None:
    """With device=cpu the model runs int8 on the CPU, and says so."""
    assert recognizer.provider == "cpu/int8"


def test_speech_stage_never_imports_torch(whisper_dir: Path) -> None:
    """Loading Whisper and the VAD leaves torch unimported and the hub switched off."""
    code = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from worker.media.speech import SpeechRecognizer\n"
        "from worker.media.vad import VoiceActivity\n"
        f"SpeechRecognizer.load(Path({str(whisper_dir)!r}), device='cpu', threads=1)\n"
        "VoiceActivity.load()\n"
        "print('torch' in sys.modules, os.environ.get('HF_HUB_OFFLINE'))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False 1"


@pytest.mark.parametrize(
    ("heard", "wanted"),
    [
        ("Hello, my name is Ben. I am waiting on this refund. Please call me back. Thanks.",
         "I am waiting on this refund"),
        ("Hi there, Ivan speaking. My card was declined, thanks, bye.", "My card was declined"),
        ("Hi, it's Lukas here. Why is there a fee? Cheers, bye.", "Why is there a fee"),
        ("Hello, I lost my card.", "I lost my card."),
    ],
)
def test_spoken_request_drops_the_voicemail_framing(heard: str, wanted: str) -> None:
    """A greeting, a self-introduction and a goodbye are not part of the request."""
    from worker.media.speech import spoken_request

    assert spoken_request(heard) == wanted


@pytest.mark.parametrize("heard", ["Thanks.", "Where did my money come from?", "I want to say thank you for the help"])
def test_spoken_request_keeps_what_is_not_framing(heard: str) -> None:
    """A note that is only a goodbye, or has no framing, keeps its words."""
    from worker.media.speech import spoken_request

    assert spoken_request(heard) == heard
