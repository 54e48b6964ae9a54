"""The engines the text benchmarks time: torch eager, ONNX Runtime fp32 and int8, tokenise only,
and the intent model; the encoder files they load, and the share of padding in a batch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from worker.benchmarks.inputs import console
from worker.settings import Settings
from worker.training.timing import Engine

ENCODER_BATCHES = (1, 8, 32)
#: Batches per timed block, so each block holds a similar amount of work.
BATCHES_PER_BLOCK = {1: 24, 8: 6, 32: 3}
INTENT_BATCH = 32
ENGINE_LABELS = {
    "torch_eager": "torch eager (fp32)",
    "ort_fp32": "ONNX Runtime fp32",
    "ort_int8": "ONNX Runtime int8",
    "tokenise": "tokenise only",
}


# ----------------------------------------------------------------------------------------- engines
def torch_eager_engine(tokenizer, threads: int) -> Engine:
    """transformers AutoModel from the package (its default attention) + mean pooling, inference_mode."""
    import torch
    from transformers import AutoModel

    from worker.runtime import encode_batch
    from worker.training.models.text import base_model_path, mean_pool_normalise

    torch.set_num_threads(threads)
    model = AutoModel.from_pretrained(
        str(base_model_path()), local_files_only=True, add_pooling_layer=False, dtype=torch.float32
    ).eval()
    attention = getattr(model.config, "_attn_implementation", "default")

    def run(texts: list[str]) -> np.ndarray:
        ids, mask = encode_batch(tokenizer, texts)
        with torch.inference_mode():
            ids_t, mask_t = torch.from_numpy(ids), torch.from_numpy(mask)
            hidden = model(input_ids=ids_t, attention_mask=mask_t).last_hidden_state
            return mean_pool_normalise(hidden, mask_t).numpy()

    return Engine("torch_eager", run, note=f"attention implementation: {attention}")


def ort_engine(name: str, path: Path, tokenizer, threads: int) -> Engine:
    from worker.runtime import encode_batch, make_session

    session = make_session(path, device="cpu", threads=threads).session
    output = [o.name for o in session.get_outputs()].index("sentence_vector")

    def run(texts: list[str]) -> np.ndarray:
        ids, mask = encode_batch(tokenizer, texts)
        return session.run(None, {"input_ids": ids, "attention_mask": mask})[output]

    return Engine(name, run, note=str(path))


def tokenise_engine(tokenizer) -> Engine:
    from worker.runtime import encode_batch

    return Engine("tokenise", lambda texts: encode_batch(tokenizer, texts))


def encoder_paths(models_dir: Path, scratch: Path) -> tuple[Path, Path, list[str]]:
    """The fp32 and int8 text encoder files; builds what the model build did not provide."""
    notes = []
    fp32 = models_dir / "text_encoder" / "model.onnx"
    if not fp32.is_file():
        from worker.training.export.convert import export_text_encoder

        console.print(f"[yellow]{fp32} is missing: exporting the base encoder to a temp folder[/yellow]")
        fp32 = export_text_encoder(scratch / "text_encoder" / "model.onnx")
        notes.append("The fp32 text encoder was not built (`ticketfusion models build`); the bench exported it itself.")
    int8 = models_dir / "text_encoder" / "model.int8.onnx"
    if not int8.is_file():
        from worker.training.export.convert import quantize_int8

        int8 = scratch / "text_encoder" / "model.int8.onnx"
        int8.parent.mkdir(parents=True, exist_ok=True)
        quantize_int8(fp32, int8)
        notes.append(
            "The build provides no int8 text encoder: the bench quantised the fp32 one dynamically "
            "(QInt8 weights, `worker.training.export.convert.quantize_int8`) into a temp folder."
        )
    return fp32, int8, notes


def padding_share(tokenizer, sentences: list[str], batch: int, n_batches: int = 60) -> float:
    """Share of the token positions that are padding when random texts are batched ``batch`` at a time."""
    from worker.runtime import encode_batch

    real = total = 0
    for i in range(n_batches):
        _, mask = encode_batch(tokenizer, sentences[i * batch : (i + 1) * batch])
        real += int(mask.sum())
        total += mask.size
    return 1 - real / total


def intent_engines(settings: Settings, tokenizer_path: Path | None, threads: int) -> tuple[list[Engine], list[str]]:
    """fp32 and int8 intent models through the worker's own ``IntentModel`` when it is there."""
    models_dir = Path(settings.models_dir)
    engines, notes = [], []
    for precision, file in (("fp32", "model.onnx"), ("int8", "model.int8.onnx")):
        path = models_dir / "intent" / file
        if not path.is_file():
            notes.append(f"intent {precision}: {path} is missing (run `ticketfusion models build`); not measured")
            continue
        try:
            from worker.text.intent import IntentModel

            model = IntentModel.load(models_dir, precision=precision, device="cpu", threads=threads)
            engines.append(Engine(f"intent_{precision}", model.predict, note="IntentModel.predict"))
        except ImportError:
            if tokenizer_path is None:
                raise
            from worker.runtime import encode_batch, load_tokenizer, make_session

            session = make_session(path, device="cpu", threads=threads).session
            tok = load_tokenizer(tokenizer_path)

            def run(texts: list[str], session=session, tok=tok) -> Any:
                ids, mask = encode_batch(tok, texts)
                return session.run(["logits"], {"input_ids": ids, "attention_mask": mask})[0]

            engines.append(Engine(f"intent_{precision}", run, note="raw ONNX Runtime session"))
    return engines, notes


def intent_accuracy(models_dir: Path) -> dict[str, Any]:
    """Validation accuracy of the built ONNX fp32 and int8 intent models: the manifest's figures
    (those of the model as built, an ensemble included), else the build's training.json."""
    metrics, source = None, None
    for path, keys in ((models_dir / "manifest.json", ("models", "intent", "metrics")),
                       (models_dir / "intent" / "training.json", ("metrics",))):
        try:
            found = json.loads(path.read_text())
            for key in keys:
                found = found[key]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if "val_accuracy_onnx_int8" in found:
            metrics, source = found, str(path.relative_to(models_dir.parent)) if path.is_relative_to(
                models_dir.parent) else str(path)
            break
    if metrics is None:
        return {}
    keys = ("val_accuracy_onnx_fp32", "val_accuracy_onnx_int8", "int8_argmax_agreement_with_fp32", "validation_size",
            "members")
    return {"source": source, **{k: metrics[k] for k in keys if k in metrics}}
