"""Train the five fusion classifiers on the synthetic set, export them to ONNX and pick one.

    python -m worker.training.fitting.train_fusion [--synth var/synth] [--epochs 40]

Training examples: every Banking77 training-split text alone, and each synthetic training item
with and without a vague body. Modality dropout hides present modalities at random, so the
classifier learns to use whatever subset a ticket brings. The method served by default is the one
with the best mean accuracy over the five validation conditions (recorded in
``onnx_models/fusion/fusion.json``, with every method's figures; ``docs/models.md`` has the table).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from worker.fusion.model import (
    FUSION_METHODS,
    MEDIA_MODALITIES,
    MODALITIES,
    TEXT_MODALITIES,
    assemble,
)
from worker.settings import Settings, get_settings
from worker.training.data.fusion_sets import (
    CONDITIONS,
    Dataset,
    build_dataset,
    silent_bodies,
    conditions,
    media_embeddings,
    predict_texts,
    text_dataset,
)
from worker.training.data.readings import (
    SynthItem,
    SynthReading,
    load_manifest,
    read_synth,
)
from worker.training.data.splits import default_paths, load_split, sha256_file
from worker.training.export.convert import export_onnx
from worker.training.export.specs import FUSION
from worker.training.export.validate import compare_outputs
from worker.training.fitting.calibration import fit_temperature
from worker.training.models.fusion_net import FusionNet

log = logging.getLogger(__name__)

SEED = 5
INPUT_NAMES = list(FUSION.inputs)  # the modalities, then "mask"
MEDIA_DIM_DEFAULT = 128
MEDIA_REPEAT = 3
MEDIA_NOISE = 0.05


@dataclass
class Prepared:
    """Inputs shared by fusion training and ``ticketfusion eval``."""

    model: Any
    labels: list[str]
    train_sets: list[Dataset]
    val_sets: dict[str, Dataset]
    val_items: list[SynthItem]
    readings: dict[str, SynthReading]
    predictions: dict[str, Any]
    data_path: Path


def arrays(data: Dataset, *, text_dim: int, media_dim: int) -> dict[str, np.ndarray]:
    return assemble(data.inputs, text_dim=text_dim, media_dim=media_dim)


def concat(parts: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def modality_dropout(mask: torch.Tensor, p: float, generator: torch.Generator) -> torch.Tensor:
    """Hide each present modality with probability ``p``, keeping at least one per row."""
    drop = (torch.rand(mask.shape, generator=generator) < p).float() * mask
    kept = mask - drop
    empty = kept.sum(dim=1) == 0
    return torch.where(empty[:, None], mask, kept)


def logits_of(model: FusionNet, data: dict[str, np.ndarray], batch: int = 1024) -> np.ndarray:
    model.eval()
    n = len(data["mask"])
    out = []
    with torch.no_grad():
        for start in range(0, n, batch):
            args = [torch.from_numpy(data[name][start : start + batch]) for name in INPUT_NAMES]
            out.append(model(*args).numpy())
    return np.concatenate(out) if out else np.zeros((0, 0))


def train_method(method: str, train: dict[str, np.ndarray], y: np.ndarray, *, text_dim: int, media_dim: int,
                 n_labels: int, epochs: int, seed: int = SEED, p_drop: float = 0.25) -> FusionNet:
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = FusionNet(method, text_dim=text_dim, media_dim=media_dim, n_labels=n_labels)
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    tensors = {name: torch.from_numpy(train[name]) for name in INPUT_NAMES}
    target = torch.from_numpy(y)
    n = len(target)
    steps = epochs * ((n + 255) // 256)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=2e-3, total_steps=steps)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05, reduction="none")
    for _ in range(epochs):
        model.train()
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, 256):
            idx = order[start : start + 256]
            mask = modality_dropout(tensors["mask"][idx], p_drop, generator)
            args = []
            for i, name in enumerate(MODALITIES):
                value = tensors[name][idx]
                if name in MEDIA_MODALITIES:
                    # Each clip's or screenshot's vector is unique: noise keeps the fusion from
                    # memorising the training items' labels by identity (it did: 99.7 % on
                    # training voices, 57 % on new ones), leaving the coarse traits to learn.
                    value = value + MEDIA_NOISE * torch.randn(value.shape, generator=generator)
                args.append(value * mask[:, i : i + 1])
            logits = model(*args, mask)
            # Pixels and sound alone carry no intent (the encoders' probes are at chance): a row
            # left with no text learns "don't know" (a uniform target), not a memorised label.
            has_text = mask[:, : len(TEXT_MODALITIES)].sum(dim=1) > 0
            uniform = -torch.log_softmax(logits, dim=1).mean(dim=1)
            loss = torch.where(has_text, loss_fn(logits, target[idx]), uniform).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
    return model.eval()


def export_fusion(model: FusionNet, out_path: Path, sample: dict[str, np.ndarray], *,
                  tolerance: float | None = None) -> str:
    """Export to ONNX (traced on two rows of ``sample``), check ORT against torch on ``sample``
    before the file is moved into place; returns the file's SHA-256."""
    from worker.runtime import make_session

    def check(tmp: Path) -> None:
        session = make_session(tmp, device="cpu").session
        (got,) = session.run(list(FUSION.outputs), {name: sample[name] for name in INPUT_NAMES})
        compare_outputs(FUSION, {"logits": logits_of(model, sample)}, {"logits": got},
                        label=f"fusion {model.method}", tolerance=tolerance)

    args = tuple(torch.from_numpy(sample[name][:2]) for name in INPUT_NAMES)
    export_onnx(model, FUSION, args, out_path, check=check)
    return sha256_file(out_path)


def accuracy(logits: np.ndarray, y: np.ndarray) -> float:
    return float((logits.argmax(1) == y).mean()) if len(y) else float("nan")


def _shown(path: Path) -> str:
    """A path as the manifest records it: relative to the repository when inside it."""
    from worker.settings import REPO_ROOT

    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def baseline_accuracy(data: Dataset, n_labels: int) -> float:
    """The intent model alone on the attachment's text (OCR or transcript), else on the body:
    what a pipeline without fusion would answer."""
    hits = 0
    for inputs, target in zip(data.inputs, data.targets):
        source = inputs.ocr or inputs.transcript or inputs.text
        if source is not None and int(np.argmax(source.probs)) == int(target):
            hits += 1
    return hits / max(1, len(data.targets))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synth", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None, help="default: models_dir/fusion")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--methods", default=",".join(FUSION_METHODS))
    parser.add_argument("--workers", type=int, default=2, help="processes reading attachments")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    settings = get_settings()
    synth = args.synth or Path(settings.state_dir) / "synth"
    out = args.out or Path(settings.models_dir) / "fusion"
    report = train_fusion(settings, synth=synth, out=out, epochs=args.epochs,
                          methods=[m for m in args.methods.split(",") if m], workers=args.workers)
    print(json.dumps(report["conditions"], indent=2))
    return 0


def prepare(settings: Settings, synth: Path, *, train: bool = True, limit: int | None = None,
            workers: int = 2, progress: bool = True) -> Prepared:
    """What training and evaluation need: the validation conditions, and the training examples
    unless ``train`` is false (evaluation reads only the validation items)."""
    from worker.text.intent import IntentModel

    items = load_manifest(synth, split=None if train else "val", limit=limit)
    val_items = [item for item in items if item.split == "val"]
    # Every validation item is read; training uses the items read so far (reading is the slow
    # part, and more of it can be added later by running read_synth on the rest).
    readings = read_synth(synth, settings, val_items, workers=workers, progress=progress)
    items = [item for item in items if item.split == "val" or item.id in readings]
    model = IntentModel.load(Path(settings.models_dir), precision=settings.intent_precision,
                             device=settings.device, threads=settings.intent_threads)
    labels = model.labels
    data_path, _ = default_paths(Path(settings.data_dir) / "banking77" / "train.csv", None)
    split = load_split(data_path)
    texts = [*(split.train_texts if train else []), *split.val_texts,
             *(item.vague_text for item in items), *(readings[item.id].text if item.id in readings else "" for item in items),
             *(readings[item.id].raw_text if item.id in readings else "" for item in items if item.split == "val")]
    started = time.perf_counter()
    predictions = predict_texts(model, texts)
    log.info("intent model read %d texts in %.0f s", len(predictions), time.perf_counter() - started)
    embeddings = media_embeddings(synth, items, settings, progress=progress)
    train_items = [item for item in items if item.split == "train"]
    train_sets = []
    if train:
        train_sets = [
            text_dataset(split.train_texts, split.train_targets, predictions, labels),
            build_dataset(train_items, readings, predictions, embeddings, labels, vague=False),
            build_dataset(train_items, readings, predictions, embeddings, labels, vague=True),
        ]
    val_text = text_dataset(split.val_texts, split.val_targets, predictions, labels)
    silent = silent_bodies(settings, labels, [item.vague_text for item in val_items], predictions)
    log.info("%d of %d validation vague bodies are off topic (left out beside an attachment)",
             len(silent), len({item.vague_text for item in val_items}))
    val_sets = conditions(val_items, readings, predictions, embeddings, labels, val_text, silent=silent)
    return Prepared(model, labels, train_sets, val_sets, val_items, readings, predictions, data_path)


def train_fusion(settings: Settings, *, synth: Path, out: Path, epochs: int = 20,
                 methods: Sequence[str] = FUSION_METHODS, workers: int = 2) -> dict:
    prepared = prepare(settings, synth, workers=workers)
    model, labels, train_sets, val_sets = prepared.model, prepared.labels, prepared.train_sets, prepared.val_sets
    data_path = prepared.data_path
    text_dim = len(labels)
    media_dim = MEDIA_DIM_DEFAULT
    # Media examples are few next to ~9,000 texts: repeat them so each epoch sees them as often.
    parts = [train_sets[0], *train_sets[1:] * MEDIA_REPEAT]
    train = concat([arrays(part, text_dim=text_dim, media_dim=media_dim) for part in parts])
    y = np.concatenate([part.targets for part in parts])
    val_arrays = {name: arrays(part, text_dim=text_dim, media_dim=media_dim) for name, part in val_sets.items()}
    card_methods: dict[str, dict] = {}
    table: dict[str, dict[str, float]] = {}
    for method in methods:
        started = time.perf_counter()
        net = train_method(method, train, y, text_dim=text_dim, media_dim=media_dim,
                           n_labels=len(labels), epochs=epochs)
        logits = {name: logits_of(net, data) for name, data in val_arrays.items()}
        pooled = np.concatenate(list(logits.values()))
        pooled_y = np.concatenate([val_sets[name].targets for name in logits])
        temperature, nll_before, nll_after = fit_temperature(pooled, pooled_y)
        table[method] = {name: round(accuracy(logits[name], val_sets[name].targets), 4) for name in CONDITIONS}
        table[method]["mean"] = round(float(np.mean([table[method][c] for c in CONDITIONS])), 4)
        sha = export_fusion(net, out / f"{method}.onnx", val_arrays["screenshot only"])
        card_methods[method] = {
            "file": f"{method}.onnx", "sha256": sha, "temperature": round(temperature, 4),
            "nll_before": round(nll_before, 4), "nll_after": round(nll_after, 4),
            "validation_accuracy": table[method], "seconds": round(time.perf_counter() - started, 1),
            "parameters": sum(p.numel() for p in net.parameters()),
        }
        log.info("%s: %s (%.0f s)", method, table[method], time.perf_counter() - started)
    best = max(card_methods, key=lambda m: card_methods[m]["validation_accuracy"]["mean"])
    baselines = {name: round(baseline_accuracy(data, len(labels)), 4) for name, data in val_sets.items()}
    card = {
        "labels": labels, "text_dim": text_dim, "media_dim": media_dim, "modalities": list(MODALITIES),
        "default": best, "methods": card_methods,
        "baseline_intent_model_on_attachment_text": baselines,
        "training": {
            "synth": _shown(synth), "manifest_sha256": sha256_file(Path(synth) / "manifest.jsonl"),
            "data_sha256": sha256_file(data_path), "epochs": epochs, "seed": SEED, "modality_dropout": 0.25, "media_repeat": MEDIA_REPEAT, "media_noise": MEDIA_NOISE,
            "rows_without_text": "uniform target",
            "examples": int(len(y)), "intent_model": model.version,
            "command": f"python -m worker.training.fitting.train_fusion --synth {_shown(synth)} --epochs {epochs}",
        },
        "selection": "highest mean validation accuracy over the five conditions",
    }
    (out / "fusion.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return {"conditions": table, "default": best, "baselines": baselines}


if __name__ == "__main__":
    raise SystemExit(main())
