"""Entity tagger training: NLU++ loading and type mapping, BIO alignment (round trip through the
runtime's decoder), name augmentation, span metrics, a tiny training run, the committed artifacts
and their build."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from worker.runtime import load_tokenizer
from worker.text.tagger import LABELS, TaggedSpan, decode_spans
from worker.training.data.nlupp import (
    IGNORE,
    Example,
    NluppMissing,
    Span,
    augment_names,
    bio_labels,
    load_nlupp,
    substitute,
)
from worker.training.fitting.train_tagger import span_metrics
from worker.training.models.text import FROZEN_TENSORS, base_model_path

REPO = Path(__file__).resolve().parents[4]
TAGGER = REPO / "onnx_models" / "tagger"


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(base_model_path() / "tokenizer.json")


@pytest.fixture(scope="module")
def nlupp(data_dir: Path) -> Path:
    """The data dir, skipping (with the reason) where NLU++ is absent."""
    if not (data_dir / "nlupp" / "banking" / "fold0.json").is_file():
        pytest.skip(f"NLU++ not found under {data_dir}")
    return data_dir


def _round_trip(tokenizer, example: Example) -> list[tuple[str, int, int]]:
    enc = tokenizer.encode(example.text)
    labels = bio_labels(enc.offsets, enc.special_tokens_mask, example.spans)
    keep = [k for k, s in enumerate(enc.special_tokens_mask) if not s]
    spans = decode_spans(example.text, [enc.offsets[k] for k in keep], [labels[k] for k in keep], [1.0] * len(keep))
    return [(s.type, s.start, s.end) for s in spans]


def test_bio_labels_on_a_handmade_example(tokenizer) -> None:
    """The first token of a span is B, the rest I, outside O, special tokens ignored."""
    text = "send $50 to maria lopez"
    example = Example(text, (Span("amount", 5, 8), Span("person", 12, 23)))
    enc = tokenizer.encode(text)
    labels = bio_labels(enc.offsets, enc.special_tokens_mask, example.spans)
    names = [LABELS[x] if x != IGNORE else None for x in labels]
    tokens = enc.tokens
    assert names[0] is None and names[-1] is None  # [CLS], [SEP]
    assert names[tokens.index("$")] == "B-amount" and names[tokens.index("50")] == "I-amount"
    assert names[tokens.index("maria")] == "B-person" and names[tokens.index("lopez")] == "I-person"
    assert names[tokens.index("send")] == names[tokens.index("to")] == "O"
    assert _round_trip(tokenizer, example) == [("amount", 5, 8), ("person", 12, 23)]


@pytest.mark.data
def test_bio_round_trips_gold_spans_on_nlupp(nlupp: Path, tokenizer) -> None:
    """Every NLU++ example's gold spans survive BIO labelling and the runtime's decoding exactly."""
    examples = load_nlupp(nlupp, folds=range(10), time_period_as_time=True)
    assert len(examples) == 1542
    with_spans = [e for e in examples if e.spans]
    assert len(with_spans) > 500
    failures = [e for e in with_spans if _round_trip(tokenizer, e) != [(s.type, s.start, s.end) for s in e.spans]]
    assert failures == []


@pytest.mark.data
def test_nlupp_types_and_offsets(nlupp: Path) -> None:
    """Slots map onto the six types with offsets that index the text; time_period only on request."""
    examples = load_nlupp(nlupp, folds=[0, 1])
    kinds = {s.type for e in examples for s in e.spans}
    assert kinds == {"date", "date_range", "time", "amount", "person", "company"}
    for e in examples:
        for s in e.spans:
            assert 0 <= s.start < s.end <= len(e.text)
    plain = sum(len(e.spans) for e in examples)
    extra = sum(len(e.spans) for e in load_nlupp(nlupp, folds=[0, 1], time_period_as_time=True))
    assert extra > plain


def test_missing_fold_is_a_named_error(tmp_path: Path) -> None:
    """A data dir without NLU++ raises NluppMissing naming the file."""
    with pytest.raises(NluppMissing) as info:
        load_nlupp(tmp_path, folds=[0])
    assert "fold0.json" in str(info.value)


def test_substitute_moves_offsets() -> None:
    """Replacing a span's text shifts the spans after it by the change in length."""
    example = Example("pay bob 5 dollars today", (Span("person", 4, 7), Span("amount", 8, 17), Span("date", 18, 23)))
    new = substitute(example, lambda span, old: "Roberta Smith" if span.type == "person" else None)
    assert new.text == "pay Roberta Smith 5 dollars today"
    assert [new.text[s.start:s.end] for s in new.spans] == ["Roberta Smith", "5 dollars", "today"]


def test_augment_names_keeps_offsets_and_mixes_casing() -> None:
    """Augmented copies put faker names exactly at the name spans, other spans unchanged, casing mixed."""
    examples = [
        Example("send £20 to nyla reason tomorrow", (Span("amount", 5, 8), Span("person", 12, 23), Span("date", 24, 32))),
        Example("refund from Amazon Prime Video please", (Span("company", 12, 30),)),
        Example("no names here at 5pm", (Span("time", 17, 20),)),
    ]
    out = augment_names(examples, copies=20, seed=3)
    assert len(out) == 40  # the example without a name is not copied
    assert out == augment_names(examples, copies=20, seed=3)  # reproducible
    names = []
    for example in out:
        texts = {s.type: example.text[s.start:s.end] for s in example.spans}
        assert texts.get("amount", "£20") == "£20" and texts.get("date", "tomorrow") == "tomorrow"
        name = texts.get("person") or texts["company"]
        assert name and name == name.strip()
        names.append(name)
    assert len(set(names)) > 30
    assert any(n == n.lower() for n in names) and any(n != n.lower() for n in names)


def test_span_metrics_overlap_and_exact() -> None:
    """Overlap matching needs the type and some overlap, one-to-one; exact needs the same offsets."""
    gold = [[Span("date", 0, 9), Span("amount", 20, 23)], [Span("person", 5, 16)]]
    pred = [[TaggedSpan("date", 0, 5, "x", 0.9), TaggedSpan("time", 20, 23, "x", 0.9)],
            [TaggedSpan("person", 5, 16, "x", 0.9), TaggedSpan("person", 6, 9, "x", 0.9)]]
    overlap = span_metrics(gold, pred)["per_type"]
    exact = span_metrics(gold, pred, exact=True)["per_type"]
    assert overlap["date"]["f1"] == 1.0 and exact["date"]["f1"] == 0.0
    assert overlap["amount"]["recall"] == 0.0 and overlap["time"]["precision"] == 0.0
    assert overlap["person"]["precision"] == 0.5 and overlap["person"]["recall"] == 1.0


def test_cli_help() -> None:
    """``python -m worker.training.fitting.train_tagger --help`` describes the options and exits 0."""
    result = subprocess.run([sys.executable, "-m", "worker.training.fitting.train_tagger", "--help"], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for option in ("--epochs", "--lr", "--augment", "--time-period-as-time", "--no-finalise"):
        assert option in result.stdout


@pytest.mark.data
def test_tiny_training_run_writes_committable_weights(nlupp: Path, tmp_path: Path) -> None:
    """One short epoch writes fp16 weights without the frozen word embeddings, labels and a
    training record with per-type validation figures."""
    from safetensors import safe_open

    from worker.training.fitting.train_tagger import train_tagger

    training = train_tagger(data_dir=nlupp, out_dir=tmp_path, epochs=1, augment=1, train_folds=[0],
                            val_folds=[9], finalise=False, threads=2)
    with safe_open(str(tmp_path / "weights.safetensors"), "pt") as f:
        names = set(f.keys())
        assert all(str(f.get_tensor(n).dtype) == "torch.float16" for n in names)
    assert not names & set(FROZEN_TENSORS)
    assert "head.weight" in names
    assert json.loads((tmp_path / "labels.json").read_text()) == list(LABELS)
    assert training["folds"]["train"] == [0] and training["folds"]["validation"] == [9]
    per_type = training["validation_fp32_training"]["overlap"]["per_type"]
    assert set(per_type) == {"date", "date_range", "time", "amount", "person", "company"}
    assert json.loads((tmp_path / "training.json").read_text())["best_epoch"] == 1


def test_committed_artifacts_match_the_manifest() -> None:
    """The committed tagger files are listed in the manifest with their SHA-256, the weights
    exclude the frozen embeddings, and the validation figures are recorded."""
    from safetensors import safe_open

    from worker.training.data.splits import sha256_file

    entry = json.loads((REPO / "onnx_models" / "manifest.json").read_text())["models"]["tagger"]
    for name in ("weights.safetensors", "labels.json", "training.json", "reference.json"):
        assert entry["files"][name] == sha256_file(TAGGER / name)
    with safe_open(str(TAGGER / "weights.safetensors"), "pt") as f:
        assert not set(f.keys()) & set(FROZEN_TENSORS)
    assert (TAGGER / "weights.safetensors").stat().st_size < 30_000_000
    training = json.loads((TAGGER / "training.json").read_text())
    for key in ("data", "folds", "hyper_parameters", "command", "validation_onnx_fp32"):
        assert training[key]
    assert training["folds"]["validation"] == [8, 9]


@pytest.mark.models
def test_build_is_checked_and_idempotent(tmp_path: Path) -> None:
    """build_tagger reproduces the reference logits, and a second call keeps the up-to-date build."""
    import shutil

    from worker.training.export.build import build_tagger

    models = tmp_path / "models"
    (models / "tagger").mkdir(parents=True)
    for name in ("weights.safetensors", "labels.json", "training.json", "reference.json"):
        shutil.copyfile(TAGGER / name, models / "tagger" / name)
    shutil.copyfile(REPO / "onnx_models" / "manifest.json", models / "manifest.json")
    assert build_tagger(models) is True
    assert (models / "tagger" / "model.onnx").is_file() and (models / "tagger" / "tokenizer.json").is_file()
    assert build_tagger(models) is False


def test_build_refuses_corrupt_weights(tmp_path: Path) -> None:
    """A committed file whose SHA-256 differs from the manifest's is refused by name."""
    import shutil

    from worker.training.export.build import ModelArtifactsCorrupt, build_tagger

    models = tmp_path / "models"
    (models / "tagger").mkdir(parents=True)
    for name in ("weights.safetensors", "labels.json", "training.json", "reference.json"):
        shutil.copyfile(TAGGER / name, models / "tagger" / name)
    shutil.copyfile(REPO / "onnx_models" / "manifest.json", models / "manifest.json")
    (models / "tagger" / "labels.json").write_text("[]")
    with pytest.raises(ModelArtifactsCorrupt) as info:
        build_tagger(models)
    assert "labels.json" in str(info.value)
