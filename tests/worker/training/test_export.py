"""ONNX export of the base encoder (parity with torch and with sentence-transformers) and the
set-up step's handling of missing or corrupt committed artifacts."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from worker.pipeline.runtime import encode_batch, load_tokenizer, make_session
from worker.training.export import (
    SentenceEncoder,
    base_model_path,
    export_text_encoder,
    load_encoder,
    onnx_metadata,
)
from worker.training.validate import PARITY_SENTENCES, ParityError, check_parity

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def encoder():
    return load_encoder()


@pytest.fixture(scope="module")
def exported(encoder, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("text_encoder") / "model.onnx"
    return export_text_encoder(path, encoder=encoder, metadata={"purpose": "test"})


def test_text_encoder_parity(encoder, exported: Path) -> None:
    """The exported base encoder matches torch on the parity sentences (max |diff| < 1e-4)."""
    report = check_parity("text_encoder", SentenceEncoder(encoder), exported,
                          base_model_path() / "tokenizer.json", tolerance=1e-4)
    assert report.sentences == len(PARITY_SENTENCES)
    assert report.max_abs_diff["sentence_vector"] < 1e-4


def test_text_encoder_graph_interface(exported: Path) -> None:
    """Inputs are int64 input_ids/attention_mask with dynamic axes; the output is sentence_vector, unit length."""
    session = make_session(exported, device="cpu").session
    assert [(i.name, i.type) for i in session.get_inputs()] == [
        ("input_ids", "tensor(int64)"), ("attention_mask", "tensor(int64)")
    ]
    assert [o.name for o in session.get_outputs()] == ["sentence_vector"]
    assert onnx_metadata(exported)["purpose"] == "test"
    tokenizer = load_tokenizer(base_model_path() / "tokenizer.json")
    for texts in (["one"], ["a somewhat longer sentence here", "short", "x y z"]):
        ids, mask = encode_batch(tokenizer, texts)
        (vectors,) = session.run(["sentence_vector"], {"input_ids": ids, "attention_mask": mask})
        assert vectors.shape == (len(texts), 384)
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_text_encoder_matches_sentence_transformers(exported: Path) -> None:
    """The ONNX sentence vectors equal sentence-transformers' all-MiniLM-L6-v2 embeddings."""
    st = pytest.importorskip("sentence_transformers")
    model = st.SentenceTransformer(str(base_model_path()), device="cpu", local_files_only=True)
    model.max_seq_length = 128
    texts = [t for t in PARITY_SENTENCES if t][:6]
    expected = model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    tokenizer = load_tokenizer(base_model_path() / "tokenizer.json")
    ids, mask = encode_batch(tokenizer, texts)
    (got,) = make_session(exported, device="cpu").session.run(
        ["sentence_vector"], {"input_ids": ids, "attention_mask": mask}
    )
    assert np.max(np.abs(got - expected)) < 1e-4


def test_parity_error_names_the_model(encoder, exported: Path) -> None:
    """A torch module that differs from the graph raises ParityError carrying model, diff and tolerance."""

    class Shifted(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = SentenceEncoder(encoder)

        def forward(self, ids, mask):
            return self.inner(ids, mask) + 0.01

    with pytest.raises(ParityError) as info:
        check_parity("shifted", Shifted(), exported, base_model_path() / "tokenizer.json", tolerance=1e-4)
    assert info.value.model == "shifted"
    assert info.value.max_abs_diff == pytest.approx(0.01, abs=1e-4)
    assert info.value.tolerance == 1e-4


def test_build_reports_missing_artifacts(tmp_path: Path) -> None:
    """Building the intent model without the committed artifacts raises ModelArtifactsMissing listing them."""
    from worker.training.build import ModelArtifactsMissing, build_intent

    with pytest.raises(ModelArtifactsMissing) as info:
        build_intent(tmp_path)
    names = {p.name for p in info.value.missing}
    assert {"weights.safetensors", "labels.json", "manifest.json"} <= names


def test_build_reports_corrupt_weights(tmp_path: Path) -> None:
    """A committed weights file whose SHA-256 differs from the manifest raises ModelArtifactsCorrupt."""
    from worker.training.build import INTENT_COMMITTED, ModelArtifactsCorrupt, build_intent

    src = REPO / "onnx_models"
    (tmp_path / "intent").mkdir()
    shutil.copyfile(src / "manifest.json", tmp_path / "manifest.json")
    for name in INTENT_COMMITTED:
        shutil.copyfile(src / "intent" / name, tmp_path / "intent" / name)
    with open(tmp_path / "intent" / "weights.safetensors", "r+b") as fh:
        fh.seek(-10, 2)
        fh.write(b"\x00" * 10)
    with pytest.raises(ModelArtifactsCorrupt) as info:
        build_intent(tmp_path)
    assert info.value.path.name == "weights.safetensors"
