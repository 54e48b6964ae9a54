"""Tickets with screenshots and voice notes through the real pipeline: readings, fusion, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from samples import (
    long_flac,
    png_bomb,
    screenshot_png,
    silence_wav,
    speech_wav,
    wav_bytes,
)

from worker.orchestrator.triager import Triager
from worker.settings import Settings

BODY = "I was charged twice for the same coffee"


@pytest.fixture(scope="module")
def triager(tmp_path_factory: pytest.TempPathFactory) -> Triager:
    state = tmp_path_factory.mktemp("media-state")
    settings = Settings(state_dir=state, blob_dir=state / "blobs", max_audio_seconds=30.0, media_threads=2)
    return Triager.load(settings, allow_local_files=True)


def _ticket(tmp_path: Path, name: str, data: bytes, kind: str, *, body: str | None = BODY) -> dict:
    path = tmp_path / name
    path.write_bytes(data)
    ticket = {"ticket_id": f"M-{name.replace('.', '-')}", "customer_id": "C-media",
              "attachments": [{"kind": kind, "uri": str(path)}]}
    if body:
        ticket["body"] = body
    return ticket


def _codes(result) -> list[str]:
    return [f"{error.where}: {error.code}" for error in result.errors]


def test_screenshot_alone_is_read_and_classified(triager: Triager, tmp_path: Path) -> None:
    """A screenshot with no body is read by OCR and gives the request's intent."""
    png = screenshot_png(["9:41", "Support chat", "My card still hasn't arrived,", "it's been two weeks.",
                          "Type a message"])
    result = triager.triage(_ticket(tmp_path, "card.png", png, "image", body=None))
    assert result.errors == []
    assert result.intent is not None and result.intent.label == "card_arrival"
    assert "ocr" in result.modalities
    assert result.transcripts[0]["source"] == "image"
    assert "arrived" in result.transcripts[0]["text"]


def test_voice_note_alone_is_transcribed_and_classified(triager: Triager, tmp_path: Path) -> None:
    """A spoken request with no body is transcribed and gives its intent."""
    wav = speech_wav("Hello, I lost my card yesterday, please block it.")
    result = triager.triage(_ticket(tmp_path, "lost.wav", wav, "audio", body=None))
    assert result.errors == []
    assert result.intent is not None and result.intent.label == "lost_or_stolen_card"
    assert "transcript" in result.modalities
    assert result.transcripts[0]["source"] == "audio"
    assert "card" in result.transcripts[0]["text"].lower()


def test_extension_is_ignored(triager: Triager, tmp_path: Path) -> None:
    """A PNG saved as .wav is still read as the image its bytes are."""
    png = screenshot_png(["How do I change my PIN?"])
    result = triager.triage(_ticket(tmp_path, "pin.wav", png, "image", body=None))
    assert result.errors == []
    assert result.intent is not None and result.intent.label == "change_pin"


@pytest.mark.parametrize(
    ("name", "kind", "make", "code"),
    [
        ("truncated.png", "image", lambda: screenshot_png(["hello"])[:200], "corrupt_media"),
        ("truncated.jpg", "image", lambda: screenshot_png(["hello"], fmt="JPEG")[:300], "corrupt_media"),
        ("empty.png", "image", lambda: b"", "empty_attachment"),
        ("empty.wav", "audio", lambda: b"", "empty_attachment"),
        ("text.png", "image", lambda: b"just some text, not an image\n" * 4, "unsupported_media_type"),
        ("image.wav", "audio", lambda: screenshot_png(["hello"]), "unsupported_media_type"),
        ("bomb.png", "image", png_bomb, "image_too_large"),
        ("corrupt.wav", "audio", lambda: b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\xff" * 40, "corrupt_media"),
        ("silent.wav", "audio", lambda: silence_wav(3.0), "silent_audio"),
        ("long.flac", "audio", lambda: long_flac(3600.0), "audio_too_long"),
    ],
)
def test_bad_attachment_gives_an_error_and_the_text_still_counts(
    triager: Triager, tmp_path: Path, name: str, kind: str, make, code: str
) -> None:
    """Each kind of unusable attachment is one error entry; the ticket is triaged on its body."""
    result = triager.triage(_ticket(tmp_path, name, make(), kind))
    assert _codes(result) == [f"attachments.0: {code}"]
    assert result.intent is not None and result.intent.label == "transaction_charged_twice"
    assert result.modalities == ["text"]


def test_missing_attachment_file(triager: Triager, tmp_path: Path) -> None:
    """An attachment path that does not exist is reported; the body is still classified."""
    ticket = {"ticket_id": "M-missing", "customer_id": "C-media", "body": BODY,
              "attachments": [{"kind": "image", "uri": str(tmp_path / "nowhere.png")}]}
    result = triager.triage(ticket)
    assert _codes(result) == ["attachments.0: attachment_missing"]
    assert result.intent is not None and result.intent.label == "transaction_charged_twice"


def test_bad_attachment_alone_leaves_no_intent_but_a_reason(triager: Triager, tmp_path: Path) -> None:
    """A ticket whose only content is a corrupt image gets the decode error and a no-text error."""
    result = triager.triage(_ticket(tmp_path, "only.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "image", body=None))
    assert [e.code for e in result.errors] == ["corrupt_media", "no_text"]
    assert result.intent is None


def test_one_bad_attachment_does_not_spoil_the_good_one(triager: Triager, tmp_path: Path) -> None:
    """A corrupt voice note next to a readable screenshot: the screenshot still decides."""
    good = tmp_path / "good.png"
    good.write_bytes(screenshot_png(["Can I top up with Apple Pay?"]))
    bad = tmp_path / "bad.wav"
    bad.write_bytes(wav_bytes(np.zeros(1600))[:30])
    ticket = {"ticket_id": "M-mixed", "customer_id": "C-media", "body": "see attached",
              "attachments": [{"kind": "audio", "uri": str(bad)}, {"kind": "image", "uri": str(good)}]}
    result = triager.triage(ticket)
    assert [e.where for e in result.errors] == ["attachments.0"]
    assert result.intent is not None and result.intent.label == "apple_pay_or_google_pay"
    assert [t["attachment"] for t in result.transcripts] == [1]
