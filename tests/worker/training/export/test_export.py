"""ONNX export of the base encoder (parity with torch and with sentence-transformers) and the
set-up step's handling of missing or corrupt committed artifacts."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from worker.runtime import encode_batch, load_tokenizer, make_session
from worker.training.export.convert import export_text_encoder, onnx_metadata
from worker.training.export.validate import PARITY_SENTENCES, ParityError, check_parity
from worker.training.models.text import SentenceEncoder, base_model_path, load_encoder

REPO = Path(__file__).resolve().parents[4]


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
    from worker.training.export.build import ModelArtifactsMissing, build_intent

    with pytest.raises(ModelArtifactsMissing) as info:
        build_intent(tmp_path)
    names = {p.name for p in info.value.missing}
    assert {"weights.safetensors", "labels.json", "manifest.json"} <= names


def test_build_reports_corrupt_weights(tmp_path: Path) -> None:
    """A committed weights file whose SHA-256 differs from the manifest raises ModelArtifactsCorrupt."""
    from worker.training.export.build import ModelArtifactsCorrupt, build_intent

    _copy_committed(tmp_path)
    with open(tmp_path / "intent" / "weights.safetensors", "r+b") as fh:
        fh.seek(-10, 2)
        fh.write(b"\x00" * 10)
    with pytest.raises(ModelArtifactsCorrupt) as info:
        build_intent(tmp_path)
    assert info.value.path.name == "weights.safetensors"


def _copy_committed(dst: Path) -> list[str]:
    """Copy the manifest and every committed intent file (ensemble members included) to ``dst``."""
    import json

    from worker.training.export.build import committed_files

    src = REPO / "onnx_models"
    shutil.copyfile(src / "manifest.json", dst / "manifest.json")
    names = committed_files(json.loads((src / "manifest.json").read_text())["models"]["intent"])
    for name in names:
        (dst / "intent" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / "intent" / name, dst / "intent" / name)
    return names


def test_build_reports_corrupt_member(tmp_path: Path) -> None:
    """A missing ensemble member raises ModelArtifactsMissing, a changed one ModelArtifactsCorrupt."""
    import json

    from worker.training.export.build import (
        ModelArtifactsCorrupt,
        ModelArtifactsMissing,
        build_intent,
    )

    _copy_committed(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    entry = manifest["models"]["intent"]
    if not entry.get("members") or len(entry["members"]) < 2:
        # a single model: describe a second member that is not there
        entry["members"] = [{"weights": "weights.safetensors", "training": "training.json"},
                            {"weights": "members/1/weights.safetensors", "training": "members/1/training.json"}]
        (tmp_path / "manifest.json").write_text(json.dumps(manifest))
        with pytest.raises(ModelArtifactsMissing) as missing:
            build_intent(tmp_path)
        assert any(p.as_posix().endswith("members/1/weights.safetensors") for p in missing.value.missing)
        return
    last = tmp_path / "intent" / entry["members"][-1]["weights"]
    with open(last, "r+b") as fh:
        fh.seek(-10, 2)
        fh.write(b"\x00" * 10)
    with pytest.raises(ModelArtifactsCorrupt) as info:
        build_intent(tmp_path)
    assert info.value.path == last
    last.unlink()
    with pytest.raises(ModelArtifactsMissing) as missing:
        build_intent(tmp_path)
    assert last in missing.value.missing


def test_ensemble_means_member_logits_and_shares_embeddings(encoder) -> None:
    """The ensemble averages its members' logits, keeps member 0's vector, shares one embedding."""
    import copy

    from worker.training.models.text import IntentEnsemble, IntentNet

    torch.manual_seed(0)
    members = [IntentNet(copy.deepcopy(encoder), 5).eval() for _ in range(2)]
    with torch.no_grad():
        members[1].encoder.encoder.layer[0].output.dense.weight.mul_(1.1)  # members differ
    tokenizer = load_tokenizer(base_model_path() / "tokenizer.json")
    ids, mask = encode_batch(tokenizer, ["I lost my card", "How do I change my PIN?"])
    ids, mask = torch.from_numpy(ids), torch.from_numpy(mask)
    with torch.no_grad():
        alone = [m(ids, mask) for m in members]
        ensemble = IntentEnsemble(members).eval()
        logits, vector = ensemble(ids, mask)
    assert not torch.allclose(alone[0][0], alone[1][0])
    torch.testing.assert_close(logits, (alone[0][0] + alone[1][0]) / 2)
    torch.testing.assert_close(vector, alone[0][1])
    embeddings = {id(m.encoder.embeddings.word_embeddings.weight) for m in ensemble.members}
    assert len(embeddings) == 1
