"""The synthetic multimodal set: screenshots, voice notes, vague texts and the manifest."""

from __future__ import annotations

import csv
import io
import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from worker.training.data.splits import load_split
from worker.training.data.synthetic import screens, vague, voices
from worker.training.data.synthetic.synth import plan_items, synthesize

HAS_ESPEAK = shutil.which("espeak-ng") is not None
needs_espeak = pytest.mark.skipif(not HAS_ESPEAK, reason="espeak-ng is not installed (apt-get install espeak-ng)")
LONG_TEXT = (
    "Why was I charged an extra fee of £2 (about €2.30) when I withdrew cash from the ATM abroad "
    "yesterday?\nI thought withdrawals were free - it says so on your website! "
    "Reference: ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 " * 3
).strip()


def _require_espeak() -> None:
    if not HAS_ESPEAK:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")


def _decode_audio(data: bytes, ext: str) -> tuple[float, int]:
    """Seconds and sample rate of an encoded voice note (soundfile, or PyAV for m4a)."""
    if ext == "m4a":
        import av

        with av.open(io.BytesIO(data)) as container:
            stream = container.streams.audio[0]
            samples = sum(frame.samples for frame in container.decode(stream))
            return samples / stream.rate, stream.rate
    import soundfile as sf

    samples, rate = sf.read(io.BytesIO(data))
    return len(samples) / rate, rate


def _small_data_dir(root: Path) -> Path:
    """A Banking77-shaped CSV with 5 intents x 40 texts, so the core tests need no shared data."""
    folder = root / "banking77"
    folder.mkdir(parents=True)
    with open(folder / "train.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "category"])
        for label in ("card_arrival", "top_up_failed", "lost_or_stolen_card", "exchange_rate", "pin_blocked"):
            for i in range(40):
                writer.writerow([f"Question number {i} about {label.replace('_', ' ')}, can you help?", label])
    return root


def _manifest(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One synthesize run (3 train, 2 val per kind) on the small CSV, and a second with the same seed."""
    _require_espeak()
    root = tmp_path_factory.mktemp("synth")
    data_dir = _small_data_dir(root / "data")
    first = synthesize(out=root / "a", data_dir=data_dir, n_train=3, n_val=2, seed=5, progress=False)
    second = synthesize(out=root / "b", data_dir=data_dir, n_train=3, n_val=2, seed=5, progress=False)
    return {"data_dir": data_dir, "first": first, "second": second}


def test_synthesize_writes_files_and_manifest(small_run: dict) -> None:
    """synthesize writes every item's file, a manifest line per item and synth.json with counts."""
    report = small_run["first"]
    records = _manifest(report.out)
    assert report.items == len(records) == 10
    assert report.counts == {"screenshot": {"train": 3, "val": 2}, "voice": {"train": 3, "val": 2}}
    for record in records:
        assert set(record) >= {"id", "split", "kind", "label", "text", "vague_text", "file", "params"}
        assert (report.out / record["file"]).is_file()
        assert record["file"].startswith("screenshots/" if record["kind"] == "screenshot" else "voices/")
        assert Path(record["file"]).stem == record["id"]
    info = json.loads((report.out / "synth.json").read_text())
    assert info["seed"] == 5 and info["counts"] == report.counts
    assert len(info["data"]["sha256"]) == 64 and info["fonts"] and info["voices"]


def test_manifest_splits_use_only_their_own_texts(small_run: dict) -> None:
    """Train items show only train-split texts and val items only val-split texts, with their labels."""
    split = load_split(small_run["data_dir"] / "banking77" / "train.csv")
    pairs = {"train": set(zip(split.train_texts, split.train_targets)),
             "val": set(zip(split.val_texts, split.val_targets))}
    for record in _manifest(small_run["first"].out):
        assert (record["text"], record["label"]) in pairs[record["split"]]
        other = "val" if record["split"] == "train" else "train"
        assert record["text"] not in {text for text, _ in pairs[other]}


def test_same_seed_gives_identical_manifest_and_files(small_run: dict) -> None:
    """Two runs with the same seed write the same manifest and the same files (Ogg: the same samples)."""
    import soundfile as sf

    first, second = small_run["first"].out, small_run["second"].out
    assert (first / "manifest.jsonl").read_bytes() == (second / "manifest.jsonl").read_bytes()
    for record in _manifest(first):
        a, b = (first / record["file"]).read_bytes(), (second / record["file"]).read_bytes()
        if record["file"].endswith(".ogg"):  # libogg gives each stream a random serial number
            assert np.array_equal(sf.read(io.BytesIO(a))[0], sf.read(io.BytesIO(b))[0])
        else:
            assert a == b


def test_screenshot_files_decode_at_their_recorded_size(small_run: dict) -> None:
    """Every screenshot opens with Pillow, in its recorded format, at the recorded width and height."""
    out = small_run["first"].out
    shots = [r for r in _manifest(out) if r["kind"] == "screenshot"]
    assert shots
    for record in shots:
        with Image.open(out / record["file"]) as image:
            image.load()
            params = record["params"]
            assert image.size == (params["width"], params["height"])
            assert image.format == {"png": "PNG", "jpeg": "JPEG"}[params["format"]]
            assert 300 <= image.width <= 2400 and 300 <= image.height <= 4000


def test_voice_files_decode_and_last_as_long_as_expected(small_run: dict) -> None:
    """Every voice note decodes, lasts its recorded duration, and is long enough for its words."""
    out = small_run["first"].out
    notes = [r for r in _manifest(out) if r["kind"] == "voice"]
    assert notes
    for record in notes:
        params = record["params"]
        seconds, rate = _decode_audio((out / record["file"]).read_bytes(), params["codec"])
        assert rate == params["sample_rate"]
        assert abs(seconds - params["duration_s"]) < 0.25
        padding = params["lead_silence_s"] + params["trail_silence_s"]
        assert abs(params["duration_s"] - padding - params["speech_s"]) < 0.05
        words = len(params["spoken_text"].split())
        nominal = words / (params["speed"] / 60)
        assert 0.4 * nominal < params["speech_s"] < 2.5 * nominal + 1


def test_vague_texts_in_manifest_match_kind_and_split(small_run: dict) -> None:
    """Each item's vague text comes from the list for its kind and split."""
    for record in _manifest(small_run["first"].out):
        assert record["vague_text"] in vague.vague_texts(record["kind"], record["split"])
        assert record["vague_subject"] == "" or record["vague_subject"] in vague.SUBJECTS[record["split"]]


@pytest.mark.data
def test_banking77_run_uses_split_texts(data_dir: Path, tmp_path: Path) -> None:
    """On Banking77 (3 train / 2 val per kind) every item's text comes from its own split."""
    _require_espeak()
    report = synthesize(out=tmp_path / "synth", data_dir=data_dir, n_train=3, n_val=2, progress=False)
    split = load_split(data_dir / "banking77" / "train.csv")
    texts = {"train": set(split.train_texts), "val": set(split.val_texts)}
    records = _manifest(report.out)
    assert len(records) == 10
    for record in records:
        assert record["text"] in texts[record["split"]]
        assert (report.out / record["file"]).is_file()


@pytest.mark.data
def test_plan_covers_every_intent_round_robin(data_dir: Path) -> None:
    """With n = number of intents, each intent appears exactly once per kind and split."""
    split = load_split(data_dir / "banking77" / "train.csv")
    n = len(split.labels)
    items = plan_items(split, seed=3, kinds=["screenshot"], n_train=n, n_val=n)
    for name in ("train", "val"):
        labels = [item.label for item in items if item.split == name]
        assert sorted(labels) == split.labels


def test_plan_uses_each_intent_text_before_repeating(tmp_path: Path) -> None:
    """An intent's texts are all used once before any is repeated."""
    split = load_split(_small_data_dir(tmp_path) / "banking77" / "train.csv")
    per_label = len(split.train_texts) // len(split.labels)
    items = plan_items(split, seed=1, kinds=["voice"], n_train=per_label * len(split.labels), n_val=0)
    texts = [item.text for item in items]
    assert len(texts) == len(set(texts)) == len(split.train_texts)


def test_synthesize_rejects_unknown_kinds(tmp_path: Path) -> None:
    """An unknown kind is refused before anything is written."""
    with pytest.raises(ValueError, match="kinds"):
        synthesize(out=tmp_path / "o", data_dir=tmp_path, n_train=1, n_val=1, kinds=["video"])
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("layout", "dark"), [*((layout, False) for layout in screens.LAYOUTS), ("chat", True), ("email", True)]
)
def test_every_layout_keeps_a_long_text_on_the_image(layout: str, dark: bool, monkeypatch) -> None:
    """Each layout (and dark mode) renders a long multi-line text with an unbroken word, all of it on the canvas."""
    fonts = screens.available_fonts()
    monkeypatch.setattr(screens, "LAYOUT_WEIGHTS", tuple(1.0 if name == layout else 0.0 for name in screens.LAYOUTS))
    monkeypatch.setattr(screens, "DARK_P", 1.0 if dark else 0.0)
    for seed in range(2):  # render_screenshot raises if a customer text box leaves the canvas
        image, params = screens.render_screenshot(LONG_TEXT, random.Random(seed), fonts=fonts)
        assert params["layout"] == layout and params["dark"] is dark
        data, ext = screens.encode_image(image, params)
        with Image.open(io.BytesIO(data)) as decoded:
            assert decoded.size == image.size
        assert ext == ("jpg" if params["format"] == "jpeg" else "png")


def test_fonts_cover_basic_latin() -> None:
    """Every offered font draws all of Banking77's characters; symbol fonts are left out."""
    fonts = screens.available_fonts()
    assert fonts, "no fonts found (DejaVu is expected system-wide or in matplotlib)"
    assert all(screens.covers_basic_latin(str(font)) for font in fonts)
    assert not any(font.name.startswith(("cmex", "STIXSiz", "LastResort")) for font in fonts)


def test_wrap_breaks_long_words_and_keeps_every_character() -> None:
    """Wrapping fits lines to the width and loses no non-space character."""
    font = screens._font(str(screens.available_fonts()[0]), 20)
    lines = screens.wrap(LONG_TEXT, font, 200)
    assert all(font.getlength(line) <= 200 for line in lines)
    assert "".join("".join(lines).split()) == "".join(LONG_TEXT.split())


def test_speakable_strips_odd_characters() -> None:
    """Text for espeak-ng loses phoneme brackets, symbols and a leading dash, and stays on one line."""
    assert voices.speakable("-[[h@l'oU]] my card*\n#is   lost ~ £5") == "h l'oU my card is lost £5"
    assert voices.speakable("\xa0normal text?") == "normal text?"


@pytest.mark.parametrize("codec", voices.CODECS)
@pytest.mark.parametrize("rate", voices.RATES)
def test_every_codec_encodes_and_decodes(codec: str, rate: int) -> None:
    """Each codec writes a 1.5 s tone at each sample rate that decodes at that rate and length."""
    t = np.arange(int(1.5 * rate)) / rate
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    data = voices.encode_audio(tone, rate, codec, bitrate=48000 if codec == "m4a" else None)
    seconds, decoded_rate = _decode_audio(data, codec)
    assert decoded_rate == rate
    assert abs(seconds - 1.5) < 0.15


@needs_espeak
@pytest.mark.parametrize("codec", voices.CODECS)
def test_render_voice_in_every_codec(codec: str, monkeypatch) -> None:
    """render_voice speaks a text in each codec; the file decodes to its recorded duration."""
    monkeypatch.setattr(voices, "CODEC_WEIGHTS", tuple(1.0 if c == codec else 0.0 for c in voices.CODECS))
    data, ext, params = voices.render_voice("My card has not arrived yet.", random.Random(codec),
                                            voices=voices.available_voices()[:3])
    assert ext == params["codec"] == codec
    seconds, rate = _decode_audio(data, ext)
    assert rate == params["sample_rate"]
    assert abs(seconds - params["duration_s"]) < 0.25
    assert params["duration_s"] > params["lead_silence_s"] + params["trail_silence_s"] + 0.5


@needs_espeak
def test_voices_include_accents_and_installed_variants() -> None:
    """The voice list has several English accents and +variants that exist in espeak-ng-data/voices/!v."""
    listed = voices.available_voices()
    bases = {voice.split("+")[0] for voice in listed}
    assert {"en-us", "en-gb"} <= bases and len(bases) >= 4
    data = voices.espeak_data_dir()
    for voice in listed:
        if "+" in voice:
            assert (data / "voices" / "!v" / voice.split("+")[1]).is_file()


def test_vague_texts_differ_between_splits() -> None:
    """No vague body or subject phrasing is shared between train and val, for either kind."""
    train = set(vague.vague_texts("screenshot", "train")) | set(vague.vague_texts("voice", "train"))
    val = set(vague.vague_texts("screenshot", "val")) | set(vague.vague_texts("voice", "val"))
    assert train and val and not train & val
    assert not set(vague.SUBJECTS["train"]) & set(vague.SUBJECTS["val"])
    draws = {vague.vague_subject("val", random.Random(i)) for i in range(200)}
    assert "" in draws and draws - {""} <= set(vague.SUBJECTS["val"])
