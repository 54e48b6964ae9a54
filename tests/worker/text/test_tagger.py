"""The worker-side entity tagger: span decoding, windows over long texts, the built ONNX model's
answers on typical ticket sentences, the error when it is not built, no torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from worker.errors import ModelNotBuilt
from worker.runtime import CPU
from worker.text.tagger import LABELS, EntityTagger, TaggedSpan, decode_spans, windows

REPO = Path(__file__).resolve().parents[3]
ID = {label: i for i, label in enumerate(LABELS)}


@pytest.fixture(scope="module")
def models_dir() -> Path:
    """The project's models folder with the tagger built (idempotently) from the committed artifacts."""
    from worker.settings import get_settings
    from worker.training.export.build import build_tagger

    path = Path(get_settings().models_dir)
    build_tagger(path)
    return path


@pytest.fixture(scope="module")
def tagger(models_dir: Path) -> EntityTagger:
    return EntityTagger.load(models_dir, device="cpu", threads=2)


def _words(text: str) -> list[tuple[int, int]]:
    """Whitespace-token offsets: enough to drive :func:`decode_spans` by hand."""
    out, start = [], None
    for i, ch in enumerate(text + " "):
        if ch.isspace() and start is not None:
            out.append((start, i))
            start = None
        elif not ch.isspace() and start is None:
            start = i
    return out


def _decode(text: str, labels: list[str], offsets=None) -> list[tuple[str, str]]:
    offsets = offsets or _words(text)
    spans = decode_spans(text, offsets, [ID[x] for x in labels], [0.9] * len(labels))
    return [(s.type, s.text) for s in spans]


def _of_type(spans: list[TaggedSpan], kind: str) -> list[str]:
    return [s.text for s in spans if s.type == kind]


# ---------------------------------------------------------------- decoding (no model)


def test_decode_b_then_i_makes_one_span() -> None:
    """B followed by I of the same type is one span; O ends it; a B of another type starts another."""
    text = "send 20 euros to maria lopez tomorrow"
    labels = ["O", "B-amount", "I-amount", "O", "B-person", "I-person", "B-date"]
    assert _decode(text, labels) == [("amount", "20 euros"), ("person", "maria lopez"), ("date", "tomorrow")]


def test_decode_tolerates_i_without_b() -> None:
    """An I with no B before it (or after another type) still starts a span."""
    labels = ["O", "I-date", "I-date", "I-time", "O"]
    assert _decode("paid last friday 9am ok", labels) == [("date", "last friday"), ("time", "9am")]


def test_decode_snaps_to_words_and_trims_punctuation() -> None:
    """A span ending inside a word grows to the whole word; edges lose spaces and punctuation,
    but an abbreviation's final dot (p.m.) stays."""
    text = "it was yesterday, at 5 p.m."
    # pieces: "it" "was" "yester" "day" "," "at" "5" "p.m."
    offsets = [(0, 2), (3, 6), (7, 13), (13, 16), (16, 17), (18, 20), (21, 22), (23, 27)]
    labels = ["O", "O", "B-date", "O", "O", "O", "B-time", "I-time"]
    assert _decode(text, labels, offsets) == [("date", "yesterday"), ("time", "5 p.m.")]
    labels = ["O", "O", "B-date", "I-date", "I-date", "O", "O", "O"]
    assert _decode(text, labels, offsets) == [("date", "yesterday")]


def test_decode_overlapping_types_keep_the_more_confident() -> None:
    """Two spans of different types that snap onto the same word: the higher score wins."""
    text = "on mondays"
    spans = decode_spans(text, [(0, 2), (3, 7), (7, 10)], [ID["O"], ID["B-date"], ID["B-time"]], [0.9, 0.6, 0.8])
    assert [(s.type, s.text) for s in spans] == [("time", "mondays")]


def test_windows_cover_every_token_with_overlap() -> None:
    """Windows stay within the size, cover every token, and overlap; a short text is one window."""
    assert windows(10, size=126, stride=64) == [(0, 10)]
    spans = windows(500, size=126, stride=64)
    assert all(end - start <= 126 for start, end in spans)
    covered = set().union(*(range(s, e) for s, e in spans))
    assert covered == set(range(500))
    assert spans[-1][1] == 500
    assert all(b[0] < a[1] for a, b in zip(spans, spans[1:]))


def test_load_on_empty_folder_raises_named_error(tmp_path: Path) -> None:
    """Loading from a folder without a built tagger raises ModelNotBuilt (a FileNotFoundError)
    that says how to build it."""
    with pytest.raises(ModelNotBuilt) as info:
        EntityTagger.load(tmp_path)
    assert isinstance(info.value, FileNotFoundError)
    assert "ticketfusion models build" in str(info.value)
    assert info.value.path.name == "model.onnx"


# ---------------------------------------------------------------- the built model


@pytest.mark.models
def test_finds_amount_and_date(tagger: EntityTagger) -> None:
    """"£50" is tagged as an amount and "yesterday" as a date."""
    (spans,) = tagger.tag(["I was charged £50 twice yesterday for the same coffee"])
    assert any("50" in t for t in _of_type(spans, "amount")), spans
    assert "yesterday" in _of_type(spans, "date"), spans


@pytest.mark.models
def test_finds_lower_case_person_name(tagger: EntityTagger) -> None:
    """A lower-case person name after "to" is tagged as a person, and the amount as an amount."""
    (spans,) = tagger.tag(["I sent 200 euros to maria lopez"])
    assert any("maria" in t and "lopez" in t for t in _of_type(spans, "person")), spans
    assert any("200" in t for t in _of_type(spans, "amount")), spans


@pytest.mark.models
def test_offsets_index_the_input_text(tagger: EntityTagger) -> None:
    """Every span's text is the input's slice at its offsets, with no surrounding spaces."""
    texts = ["  Refund the $20.50 from Amazon Prime Video on 3 March, please!  ",
             "Book a table at 7:30 p.m. next friday under jonathan price",
             "café crème at Café Nero cost me 4,50 € on 12/03",
             "nothing to see here"]
    results = tagger.tag(texts)
    assert len(results) == len(texts)
    assert any(results[0]) and any(results[1])
    for text, spans in zip(texts, results):
        for span in spans:
            assert span.text == text[span.start:span.end]
            assert span.text == span.text.strip() and span.text
            assert 0.0 < span.score <= 1.0
        assert [s.start for s in spans] == sorted(s.start for s in spans)


@pytest.mark.models
def test_long_text_still_finds_entity_at_the_end(tagger: EntityTagger) -> None:
    """In a text of more than 300 tokens the amount and date in its last sentence are found."""
    filler = "I have been a customer for many years and I am not happy with the service at all. " * 20
    text = filler + "Please refund the £75 you took yesterday."
    assert len(tagger._tokenizer.encode(text, add_special_tokens=False).ids) > 300
    (spans,) = tagger.tag([text])
    tail = len(filler)
    assert any(s.type == "amount" and s.start >= tail and "75" in s.text for s in spans), spans
    assert any(s.type == "date" and s.start >= tail and s.text == "yesterday" for s in spans), spans


@pytest.mark.models
def test_batch_agrees_with_one_by_one(tagger: EntityTagger) -> None:
    """Padding in a batch changes nothing: batched spans equal the spans of each text alone."""
    texts = ["hi", "transfer 300 dollars to john on monday", "I lost my card at 9 am at Tesco"]
    together = tagger.tag(texts)
    alone = [tagger.tag([t])[0] for t in texts]
    assert [[(s.type, s.start, s.end) for s in r] for r in together] == \
        [[(s.type, s.start, s.end) for s in r] for r in alone]
    assert tagger.tag([]) == []
    assert tagger.tag([""]) == [[]]


@pytest.mark.models
def test_version_and_provider(tagger: EntityTagger) -> None:
    """The version names the committed weights and the provider is the one the session runs on."""
    assert tagger.version.startswith("tagger-") and len(tagger.version) == len("tagger-") + 12
    assert tagger.provider == CPU
    assert tagger.labels == list(LABELS)


@pytest.mark.models
def test_worker_side_does_not_import_torch(models_dir: Path) -> None:
    """Loading and running the tagger in a fresh process never imports torch."""
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from worker.text.tagger import EntityTagger\n"
        f"t = EntityTagger.load(Path({str(models_dir)!r}), device='cpu', threads=1)\n"
        "t.tag(['I paid £5 yesterday'])\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
