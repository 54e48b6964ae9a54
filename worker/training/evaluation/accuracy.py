"""``ticketfusion eval``: intent accuracy per condition on the synthetic validation split, with plots.

The conditions are text only (Banking77 validation texts), screenshot only, screenshot + vague
text, voice only and voice + vague text. For each the report gives the served pipeline (the intent
model for text alone, the default fusion classifier otherwise), every fusion method, the intent
model alone on the attachment's text, and the cost of keeping OCR window chrome. A sample of
tickets is also triaged end to end through :class:`~worker.orchestrator.triager.Triager`, to show the
cached readings agree with the live pipeline.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from worker.fusion.model import FusionModel
from worker.settings import Settings
from worker.training.data.fusion_sets import CONDITIONS, Dataset
from worker.training.data.readings import SynthItem, reading_threads
from worker.training.fitting.train_fusion import Prepared, baseline_accuracy, prepare

log = logging.getLogger(__name__)

END_TO_END_SAMPLE = 20


def _served(fusion: FusionModel | None, name: str, data: Dataset) -> np.ndarray:
    """Predicted label indices as the worker would answer."""
    if name == "text only" or fusion is None:
        source = [(i.ocr or i.transcript or i.text) for i in data.inputs]
        return np.array([int(np.argmax(s.probs)) if s is not None else -1 for s in source])
    return fusion.predict(data.inputs).argmax(1)


def _accuracy(pred: np.ndarray, y: np.ndarray) -> float:
    return round(float((pred == y).mean()), 4) if len(y) else float("nan")


BUCKETS = {"noise_snr_db": (10, 20), "speed": (150, 175), "blur": (0.01, 0.6), "rotation": (1.0, 4.0)}


def _bucket(key: str, value: object) -> str:
    """Numeric parameters in three ranges, so each cell holds enough items to read."""
    if key not in BUCKETS or value is None or isinstance(value, bool):
        return str(value)
    low, high = BUCKETS[key]
    number = abs(float(value)) if key == "rotation" else float(value)
    return f"< {low}" if number < low else f"{low}–{high}" if number < high else f">= {high}"


def _by_param(items: Sequence[SynthItem], pred: np.ndarray, y: np.ndarray, keys: Sequence[str]) -> dict:
    """Accuracy broken down by each synthesis parameter (layout, voice, codec...)."""
    table: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for item, p, t in zip(items, pred, y):
        for key in keys:
            if key in item.params:
                value = _bucket(key, item.params[key])
                cell = table[key][str(value)]
                cell[0] += int(p == t)
                cell[1] += 1
    return {key: {value: {"accuracy": round(h / n, 4), "n": n} for value, (h, n) in sorted(values.items())}
            for key, values in table.items()}


def evaluate(settings: Settings, *, synth: Path, out: Path, limit: int | None = None, progress: bool = True,
             workers: int = 2) -> Path:
    """Write ``report.md``, ``metrics.json`` and the plots into ``out``; returns the report path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    prepared = prepare(settings, Path(synth), train=False, limit=limit, workers=workers, progress=progress)
    labels = prepared.labels
    models_dir = Path(settings.models_dir)
    methods: dict[str, FusionModel] = {}
    card_path = models_dir / "fusion" / "fusion.json"
    if card_path.is_file():
        for method in json.loads(card_path.read_text())["methods"]:
            methods[method] = FusionModel.load(models_dir, method=method, threads=2)
    try:
        served = FusionModel.load(models_dir, method=settings.fusion_method, threads=2)
        served = methods.get(served.method, served)
    except Exception as exc:  # noqa: BLE001 - the report says what is missing
        log.warning("no fusion model: %s", exc)
        served = None

    metrics: dict[str, Any] = {"conditions": {}, "methods": {}, "baseline": {}, "n": {}}
    predictions: dict[str, np.ndarray] = {}
    for name in CONDITIONS:
        data = prepared.val_sets[name]
        predictions[name] = _served(served, name, data)
        metrics["conditions"][name] = _accuracy(predictions[name], data.targets)
        metrics["baseline"][name] = round(baseline_accuracy(data, len(labels)), 4)
        metrics["n"][name] = int(len(data.targets))
        for method, model in methods.items():
            metrics["methods"].setdefault(method, {})[name] = _accuracy(model.predict(data.inputs).argmax(1), data.targets)
    metrics["served"] = {"fusion": served.method if served else None, "text_only": "intent model"}
    metrics["chrome"] = _chrome_effect(prepared)
    screens = [i for i in prepared.val_items if i.kind == "screenshot"]
    voices = [i for i in prepared.val_items if i.kind == "voice"]
    metrics["by_param"] = {
        "screenshot only": _by_param(screens, predictions["screenshot only"], prepared.val_sets["screenshot only"].targets,
                                     ["layout", "dark", "device", "blur", "rotation"]),
        "voice only": _by_param(voices, predictions["voice only"], prepared.val_sets["voice only"].targets,
                                ["codec", "telephone", "noise", "noise_snr_db", "speed", "sample_rate"]),
    }
    same_threads = settings.model_copy(update={"media_threads": reading_threads(workers)})
    metrics["end_to_end"] = _end_to_end(same_threads, Path(synth), prepared, predictions)
    metrics["timings_ms"] = _timings(prepared)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    _plots(out, metrics, prepared, predictions)
    report = out / "report.md"
    report.write_text(_markdown(metrics), encoding="utf-8")
    return report


def _chrome_effect(prepared: Prepared) -> dict[str, float]:
    """Screenshot-only accuracy of the intent model on every OCR line vs on the message alone."""
    items = [i for i in prepared.val_items if i.kind == "screenshot"]
    hits = {"all OCR text": 0, "message (chrome dropped)": 0}
    for item in items:
        reading = prepared.readings.get(item.id)
        every_line, message = (reading.raw_text, reading.text) if reading is not None else ("", "")
        for key, text in (("all OCR text", every_line), ("message (chrome dropped)", message)):
            prediction = prepared.predictions.get(text or "")
            hits[key] += int(prediction is not None and prediction.label == item.label)
    return {key: round(value / max(1, len(items)), 4) for key, value in hits.items()}


def _timings(prepared: Prepared) -> dict[str, float]:
    """Median milliseconds per stage over the cached readings."""
    stages: dict[str, list[float]] = defaultdict(list)
    for item in prepared.val_items:
        reading = prepared.readings.get(item.id)
        for stage, ms in (reading.timings_ms if reading is not None else {}).items():
            stages[stage].append(ms)
    return {stage: round(float(np.median(values)), 1) for stage, values in sorted(stages.items())}


def _end_to_end(settings: Settings, synth: Path, prepared: Prepared, predictions: dict[str, np.ndarray]) -> dict:
    """Triage a sample as real tickets and compare with the cached path's answers."""
    from worker.orchestrator.triager import Triager

    triager = Triager(prepared.model, settings=settings, allow_local_files=True)
    agree = total = 0
    for kind, condition in (("screenshot", "screenshot only"), ("voice", "voice only")):
        items = [i for i in prepared.val_items if i.kind == kind][:END_TO_END_SAMPLE]
        tickets = [
            {
                "ticket_id": f"eval-{item.id}", "customer_id": "eval",
                "attachments": [{"kind": item.media_kind, "uri": str((synth / item.file).resolve())}],
            }
            for item in items
        ]
        results = triager.triage_batch(tickets)
        for n, result in enumerate(results):
            cached = prepared.labels[predictions[condition][n]]
            agree += int(result.intent is not None and result.intent.label == cached)
            total += 1
    return {"tickets": total, "agreement_with_cached_path": round(agree / max(1, total), 4)}


def _plots(out: Path, metrics: dict, prepared: Prepared, predictions: dict[str, np.ndarray]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(CONDITIONS)
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.bar(x - 0.2, [metrics["conditions"][n] for n in names], 0.4, label="served pipeline")
    ax.bar(x + 0.2, [metrics["baseline"][n] for n in names], 0.4, label="intent model on attachment text")
    ax.set_xticks(x, names, rotation=15)
    ax.set_ylim(0, 1)
    ax.set_ylabel("intent accuracy")
    ax.legend(loc="lower left")
    ax.set_title("Accuracy per condition (synthetic validation split)")
    fig.tight_layout()
    fig.savefig(out / "accuracy_per_condition.png", dpi=110)
    plt.close(fig)

    if metrics["methods"]:
        fig, ax = plt.subplots(figsize=(10, 4))
        width = 0.8 / len(metrics["methods"])
        for k, (method, row) in enumerate(metrics["methods"].items()):
            ax.bar(x - 0.4 + width * (k + 0.5), [row[n] for n in names], width, label=method)
        ax.set_xticks(x, names, rotation=15)
        ax.set_ylim(0, 1)
        ax.set_ylabel("intent accuracy")
        ax.legend(ncol=5, loc="lower left")
        ax.set_title("Fusion methods per condition")
        fig.tight_layout()
        fig.savefig(out / "accuracy_per_fusion_method.png", dpi=110)
        plt.close(fig)

    n = len(prepared.labels)
    matrix = np.zeros((n, n))
    for name in names[1:]:
        for t, p in zip(prepared.val_sets[name].targets, predictions[name]):
            if p >= 0:
                matrix[t, p] += 1
    rows = matrix.sum(axis=1, keepdims=True)
    fig, ax = plt.subplots(figsize=(11, 10))
    ax.imshow(matrix / np.maximum(rows, 1), cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), prepared.labels, rotation=90, fontsize=5)
    ax.set_yticks(range(n), prepared.labels, fontsize=5)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Confusion matrix, screenshot and voice conditions (row-normalised)")
    fig.tight_layout()
    fig.savefig(out / "confusion_matrix.png", dpi=110)
    plt.close(fig)


def _markdown(metrics: dict) -> str:
    lines = ["# ticketfusion eval", "", "Intent accuracy on the synthetic validation split "
             "(made from Banking77 validation texts only; see docs/models.md).", "",
             "| condition | n | served | intent model on attachment text |" + "".join(
                 f" {m} |" for m in metrics["methods"]),
             "| --- | ---: | ---: | ---: |" + " ---: |" * len(metrics["methods"])]
    for name in CONDITIONS:
        row = f"| {name} | {metrics['n'][name]} | {metrics['conditions'][name]:.2%} | {metrics['baseline'][name]:.2%} |"
        row += "".join(f" {metrics['methods'][m][name]:.2%} |" for m in metrics["methods"])
        lines.append(row)
    lines += ["", f"Served fusion method: {metrics['served']['fusion']}; text-only tickets: the intent model.", "",
              "OCR chrome (screenshot only, intent model on OCR text): "
              + ", ".join(f"{k} {v:.2%}" for k, v in metrics["chrome"].items()), "",
              f"End to end: {metrics['end_to_end']['tickets']} tickets through the Triager agree with the "
              f"cached path on {metrics['end_to_end']['agreement_with_cached_path']:.0%}.", "",
              "Median ms per stage: " + ", ".join(f"{k} {v}" for k, v in metrics["timings_ms"].items()), "",
              "![accuracy per condition](accuracy_per_condition.png)", "",
              "![fusion methods](accuracy_per_fusion_method.png)", "",
              "![confusion matrix](confusion_matrix.png)", "", "## By synthesis parameter", ""]
    for condition, keys in metrics["by_param"].items():
        for key, values in keys.items():
            cells = ", ".join(f"{v}: {c['accuracy']:.0%} (n={c['n']})" for v, c in values.items())
            lines.append(f"- {condition}, {key}: {cells}")
    return "\n".join(lines) + "\n"
