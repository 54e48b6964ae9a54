"""Train the learned media encoders on `ticketfusion data synth` output and export them to ONNX.

Two small models, trained multi-task on the synthetic set's manifest:

* screenshots: a CNN over the greyscale 192x192 canvas of :func:`worker.media.features.image_input`;
* voice notes: a conv front-end and a 2-layer bidirectional GRU over
  :func:`worker.media.features.log_mel`, with masked mean+max pooling, so a padded batch gives what
  each clip gives alone.

Each model has a 128-d L2-normalised ``embedding`` (the "visual" / "paralinguistic" vector the
fusion classifier reads), an intent head (77 Banking77 intents, order of
``onnx_models/intent/labels.json``) and auxiliary heads for what the signal does show (layout,
dark mode, photographed paper; telephone band, noise level, speaking speed, voice). Only the
encoder and the intent head are exported: outputs ``embedding`` [N,128] and ``intent_logits``
[N,77]. The export (specs ``image_encoder`` / ``audio_encoder`` in
:mod:`worker.training.export.specs`) is checked against torch (max |diff| <= the spec's atol)
and raises :class:`~worker.training.export.validate.ParityError` otherwise.

The nets live in :mod:`worker.training.models.media`, the data (manifest, decoded features cached
in ``<synth>/.media_cache/``, batches) in :mod:`worker.training.data.media_set` and the auxiliary
targets in :mod:`worker.training.data.media_aux`.

    python -m worker.training.fitting.train_media --synth var/synth --kind both --epochs 12 --out onnx_models
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from worker.media import features as mf
from worker.training.data import media_set
from worker.training.data.media_aux import (  # noqa: F401 - aux_* are part of this module's interface
    AUX_HEADS,
    aux_gender,
    aux_speed,
    aux_targets,
    aux_voice,
)
from worker.training.data.media_set import (  # noqa: F401 - Item, ManifestError: ditto
    Features,
    Item,
    Kind,
    ManifestError,
    augment_pixels,
    batches,
    decode_item_audio,
    decode_item_image,
    decoder_route,
    load_labels,
    model_inputs,
    pad_frames,
    read_manifest,
)
from worker.training.data.splits import sha256_file
from worker.training.export.convert import export_onnx
from worker.training.export.specs import AUDIO_ENCODER, IMAGE_ENCODER, ExportSpec
from worker.training.export.validate import check_padding, check_tensor_parity
from worker.training.models.media import (  # noqa: F401 - reverse_valid: ditto
    EMBED_DIM,
    HEAD_SCALE,
    AudioEncoderNet,
    ImageEncoderNet,
    parameter_count,
    reverse_valid,
)

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_LABELS = REPO_ROOT / "onnx_models" / "intent" / "labels.json"
FOLDERS = {"screenshot": "image_encoder", "voice": "audio_encoder"}
SPECS: dict[str, ExportSpec] = {"screenshot": IMAGE_ENCODER, "voice": AUDIO_ENCODER}


# ------------------------------------------------------------------------------ training
def load_features(synth: Path, items: Sequence[Item], kind: Kind, *, progress: bool = True) -> Features:
    """:func:`~worker.training.data.media_set.load_features` with this module's decoders
    (``decode_item_image`` / ``decode_item_audio``, looked up at call time)."""
    decode = decode_item_image if kind == "screenshot" else decode_item_audio
    return media_set.load_features(synth, items, kind, progress=progress, decode=decode)


@dataclass(frozen=True)
class HyperParameters:
    epochs: int = 12
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-4
    label_smoothing: float = 0.1
    aux_weight: float = 0.5
    # The intent head is a probe: trained on a detached embedding, it reports how much intent the
    # pixels or sound carry without letting the embedding memorise the training items' labels,
    # which the fusion classifier (trained on the same items) would then learn to trust.
    probe_intent: bool = True
    dropout: float = 0.2
    seed: int = 11
    threads: int = 1  # 2 intra-op threads ran 5-20x slower on the shared 2-core box (OpenMP waits)


def evaluate(model: nn.Module, kind: Kind, feats: Features, index: np.ndarray, intents: np.ndarray,
             aux: dict[str, np.ndarray], *, batch_size: int = 64) -> dict:
    """Accuracy of every head on ``index`` (intent also top-5); aux heads count only labelled items."""
    model.eval()
    intent_logits, aux_logits = [], {name: [] for name in aux}
    with torch.no_grad():
        for group in batches(kind, feats, index, batch_size, rng=None):
            embedding = model.embed(*model_inputs(kind, feats, group))
            intent_logits.append((group, model.heads.intent_logits(embedding).numpy()))
            for name, logits in model.heads.aux_logits(embedding).items():
                aux_logits[name].append((group, logits.numpy()))

    def gather(parts: list) -> tuple[np.ndarray, np.ndarray]:
        rows = np.concatenate([g for g, _ in parts])
        return rows, np.concatenate([v for _, v in parts])

    rows, logits = gather(intent_logits)
    target = intents[rows]
    top5 = np.argsort(-logits, axis=1)[:, :5]
    result = {"intent_accuracy": float(np.mean(logits.argmax(1) == target)),
              "intent_top5": float(np.mean((top5 == target[:, None]).any(1))),
              "intent_chance": 1.0 / logits.shape[1], "items": int(len(rows)), "aux": {}}
    for name, parts in aux_logits.items():
        rows, logits = gather(parts)
        target = aux[name][rows]
        known = target >= 0
        majority = float(np.bincount(target[known]).max() / known.sum()) if known.any() else float("nan")
        result["aux"][name] = {
            "accuracy": float(np.mean(logits[known].argmax(1) == target[known])) if known.any() else float("nan"),
            "majority_baseline": majority, "items": int(known.sum()),
        }
    return result


def _selection_score(metrics: dict) -> float:
    """Best-epoch criterion: mean of intent top-5 and the auxiliary accuracies (all in [0, 1])."""
    values = [metrics["intent_top5"]] + [a["accuracy"] for a in metrics["aux"].values() if a["accuracy"] == a["accuracy"]]
    return float(np.mean(values))


def train_encoder(kind: Kind, *, synth: Path, labels: list[str], hp: HyperParameters,
                  progress: bool = True) -> tuple[nn.Module, dict]:
    """Train one encoder; returns the best epoch's model (eval mode) and its training record."""
    torch.manual_seed(hp.seed)
    torch.set_num_threads(hp.threads)
    rng = np.random.default_rng(hp.seed)
    items = read_manifest(synth, kind)
    label_index = {label: i for i, label in enumerate(labels)}
    unknown = sorted({i.label for i in items} - set(label_index))
    if unknown:
        raise ManifestError(f"{len(unknown)} labels in the manifest are not intents: {unknown[:5]}")
    feats = load_features(synth, items, kind, progress=progress)
    by_id = {i.id: i for i in items}
    items = [by_id[i] for i in feats.ids]
    intents = np.array([label_index[i.label] for i in items], dtype=np.int64)
    vocab, aux = aux_targets(items, kind)
    train_idx = np.array([k for k, i in enumerate(items) if i.split == "train"])
    val_idx = np.array([k for k, i in enumerate(items) if i.split == "val"])
    sizes = {name: len(classes) for name, classes in vocab.items()}
    model = (ImageEncoderNet(len(labels), sizes, dropout=hp.dropout) if kind == "screenshot"
             else AudioEncoderNet(len(labels), sizes, dropout=hp.dropout))
    optimiser = torch.optim.AdamW(model.parameters(), lr=hp.lr, weight_decay=hp.weight_decay)
    steps = hp.epochs * math.ceil(len(train_idx) / hp.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=hp.lr, total_steps=max(steps, 1), pct_start=0.15)
    intent_t, aux_t = torch.from_numpy(intents), {n: torch.from_numpy(v) for n, v in aux.items()}
    history, best, best_score, best_state = [], None, -1.0, None
    started, cpu_started = time.perf_counter(), time.process_time()
    for epoch in range(1, hp.epochs + 1):
        model.train()
        total, count = 0.0, 0
        for group in batches(kind, feats, train_idx, hp.batch_size, rng):
            if kind == "screenshot":
                inputs = (torch.from_numpy(mf.normalise_pixels(augment_pixels(feats.pixels[group], rng))),)
            else:
                inputs = model_inputs(kind, feats, group)
            embedding = model.embed(*inputs)
            probe_input = embedding.detach() if hp.probe_intent else embedding
            loss = F.cross_entropy(model.heads.intent_logits(probe_input), intent_t[group], label_smoothing=hp.label_smoothing)
            for name, logits in model.heads.aux_logits(embedding).items():
                target = aux_t[name][group]
                if (target >= 0).any():
                    loss = loss + hp.aux_weight * F.cross_entropy(logits, target, ignore_index=-100)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimiser.step()
            schedule.step()
            total += float(loss.detach()) * len(group)
            count += len(group)
        metrics = evaluate(model, kind, feats, val_idx, intents, aux)
        score = _selection_score(metrics)
        row = {"epoch": epoch, "train_loss": round(total / max(count, 1), 5), "val": _rounded(metrics),
               "elapsed_s": round(time.perf_counter() - started, 1)}
        history.append(row)
        aux_text = " ".join(f"{n}={a['accuracy']:.3f}" for n, a in metrics["aux"].items())
        print(f"[{kind}] epoch {epoch}/{hp.epochs} loss {row['train_loss']:.4f} intent acc "
              f"{metrics['intent_accuracy']:.3f} top5 {metrics['intent_top5']:.3f} {aux_text} "
              f"({row['elapsed_s']:.0f} s)", flush=True)
        if score > best_score:
            best_score, best = score, row
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    model.eval()
    record = {
        "kind": kind, "items": {"train": int(len(train_idx)), "val": int(len(val_idx))},
        "aux_classes": vocab, "history": history, "best_epoch": best["epoch"],
        "validation": best["val"], "train_seconds": round(time.perf_counter() - started, 1),
        # CPU time of all threads: comparable between runs on a machine shared with other jobs.
        "train_cpu_seconds": round(time.process_time() - cpu_started, 1),
        "selection": "best epoch by mean of val intent top-5 and auxiliary accuracies",
        "decoder": decoder_route(kind),
        "parameters": {"total": parameter_count(model), "exported": parameter_count(model, exported_only=True)},
    }
    if kind == "voice":
        seconds = feats.lengths() * mf.HOP_LENGTH / mf.SAMPLE_RATE
        record["clip_seconds"] = {"mean": round(float(seconds.mean()), 2), "max": round(float(seconds.max()), 2)}
    return model, {"record": record, "feats": feats, "val_idx": val_idx}


def _rounded(metrics: dict) -> dict:
    """Metrics with floats rounded for training.json."""
    if isinstance(metrics, dict):
        return {k: _rounded(v) for k, v in metrics.items()}
    return round(metrics, 4) if isinstance(metrics, float) else metrics


# ------------------------------------------------------------------------------ export
def export_encoder(model: nn.Module, kind: Kind, out_path: Path, *, metadata: dict[str, str]) -> Path:
    """Write ``model``'s encoder + intent head as ONNX, as the kind's spec declares (dynamic
    batch, and time for audio)."""
    return export_onnx(model, SPECS[kind], None, out_path, metadata=metadata)


def check_media_parity(name: str, model: nn.Module, onnx_path: Path, inputs: dict[str, np.ndarray], *,
                       tolerance: float | None = None) -> dict[str, float]:
    """Max |torch - ORT| per output on ``inputs``; raises :class:`ParityError` over the spec's
    tolerance (:class:`ArgmaxMismatch` when the intent argmax differs)."""
    spec = IMAGE_ENCODER if "image" in inputs else AUDIO_ENCODER
    return check_tensor_parity(spec, model, onnx_path, inputs, label=name, tolerance=tolerance)


def padding_parity(name: str, onnx_path: Path, clips: Sequence[np.ndarray], *,
                   tolerance: float | None = None) -> float:
    """Max |batched - one at a time| embedding difference of the audio graph over ``clips``
    of different lengths; raises :class:`PaddingMismatch` over the spec's tolerance."""
    frames, lengths = pad_frames(clips)
    singles = [{"features": clip[None], "lengths": np.array([len(clip)], np.int64)} for clip in clips]
    return check_padding(AUDIO_ENCODER, onnx_path, {"features": frames, "lengths": lengths}, singles,
                         output="embedding", label=name, tolerance=tolerance)


def parity_inputs(kind: Kind, feats: Features, index: np.ndarray) -> dict[str, np.ndarray]:
    """Up to 8 validation items as ONNX inputs (audio: different lengths, padded)."""
    chosen = np.asarray(index)[:8]
    if kind == "screenshot":
        return {"image": mf.normalise_pixels(feats.pixels[chosen])}
    frames, lengths = pad_frames([feats.audio(i) for i in chosen])
    return {"features": frames, "lengths": lengths}


def finalise(model: nn.Module, kind: Kind, *, trained: dict, out: Path, synth: Path, labels: list[str],
             hp: HyperParameters, command: str) -> dict:
    """Export, check parity (torch vs ORT; audio also batch vs single) and write training.json."""
    folder = Path(out) / FOLDERS[kind]
    folder.mkdir(parents=True, exist_ok=True)
    record = trained["record"]
    feature_key = "image" if kind == "screenshot" else "audio"
    labels_sha = hashlib.sha256(json.dumps(labels).encode()).hexdigest()
    metadata = {
        "model": FOLDERS[kind], "features": json.dumps(mf.FEATURE_CONFIG[feature_key], sort_keys=True),
        "embedding_dim": str(EMBED_DIM), "labels_sha256": labels_sha,
        "manifest_sha256": sha256_file(Path(synth) / "manifest.jsonl"),
    }
    onnx_path = export_encoder(model, kind, folder / "model.onnx", metadata=metadata)
    feats, val_idx = trained["feats"], trained["val_idx"]
    parity = {"max_abs_diff": check_media_parity(FOLDERS[kind], model, onnx_path, parity_inputs(kind, feats, val_idx)),
              "tolerance": SPECS[kind].atol}
    if kind == "voice":
        clips = [feats.audio(i) for i in np.asarray(val_idx)[:8]]
        parity["batch_vs_single_max_abs_diff"] = padding_parity(FOLDERS[kind], onnx_path, clips)
    record.update({
        "data": {"synth": str(synth), "manifest_sha256": metadata["manifest_sha256"]},
        "labels": {"path": "onnx_models/intent/labels.json", "sha256_of_json_list": labels_sha, "count": len(labels)},
        "seed": hp.seed, "epochs": hp.epochs,
        "hyper_parameters": {**hp.__dict__, "head_scale": HEAD_SCALE, "optimizer": "AdamW + one-cycle, grad clip 5",
                             "loss": "CE(intent probe on the detached embedding, label smoothing) + aux_weight x CE(each aux head)"},
        "features": mf.FEATURE_CONFIG[feature_key], "parity": parity,
        "onnx": {"file": "model.onnx", "bytes": onnx_path.stat().st_size, "sha256": sha256_file(onnx_path),
                 "opset": SPECS[kind].opset, "outputs": {"embedding": f"[N,{EMBED_DIM}] unit length", "intent_logits": f"[N,{len(labels)}]"}},
        "command": command,
    })
    (folder / "training.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return record


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--synth", type=Path, default=REPO_ROOT / "var" / "synth", help="`data synth` output folder")
    p.add_argument("--kind", choices=("screenshot", "voice", "both"), default="both")
    p.add_argument("--epochs", type=int, default=HyperParameters.epochs)
    p.add_argument("--out", type=Path, default=REPO_ROOT / "onnx_models", help="models folder")
    p.add_argument("--labels", type=Path, default=DEFAULT_LABELS)
    p.add_argument("--batch-size", type=int, default=HyperParameters.batch_size)
    p.add_argument("--lr", type=float, default=HyperParameters.lr)
    p.add_argument("--seed", type=int, default=HyperParameters.seed)
    p.add_argument("--threads", type=int, default=HyperParameters.threads)
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    command = "python -m worker.training.fitting.train_media " + " ".join(
        shlex.quote(x) for x in (argv if argv is not None else sys.argv[1:]))
    labels = load_labels(a.labels)
    hp = HyperParameters(epochs=a.epochs, batch_size=a.batch_size, lr=a.lr, seed=a.seed, threads=a.threads)
    kinds: list[Kind] = ["screenshot", "voice"] if a.kind == "both" else [a.kind]
    summary = {}
    for kind in kinds:
        model, trained = train_encoder(kind, synth=a.synth, labels=labels, hp=hp, progress=not a.no_progress)
        record = finalise(model, kind, trained=trained, out=a.out, synth=a.synth, labels=labels, hp=hp, command=command)
        summary[kind] = {"validation": record["validation"], "parity": record["parity"],
                         "onnx_bytes": record["onnx"]["bytes"], "train_seconds": record["train_seconds"],
                         "train_cpu_seconds": record["train_cpu_seconds"]}
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
