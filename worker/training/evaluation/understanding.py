"""Evaluate what the worker says beyond the intent, through the worker's own code path.

- Key information: span precision, recall and F1 per type on the NLU++ validation folds (8-9),
  matching spans that overlap and share a type (and, stricter, equal offsets), and the share of
  gold dates normalised to the right calendar day. The rule-based finders alone are the baseline.
- Out of scope, auto-send and confidence: every Banking77 validation ticket (in scope), CLINC150's
  ``oos_val`` and its validation queries from domains a bank does not cover go through
  :class:`~worker.orchestrator.triager.Triager` as e-mails, exactly as a worker would triage them.

Writes ``understanding.json``, ``understanding.md`` and plots (reliability diagram, score
histograms) into the output folder.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from worker.settings import Settings
from worker.training.data.nlupp import VAL_FOLDS, Span, fold_path, load_nlupp
from worker.training.data.splits import load_split
from worker.training.evaluation.conditions import condition_figures, email_figures, triage_all
from worker.training.fitting.train_scope import CLINC_OVERLAP, auroc
from worker.training.span_metrics import span_metrics

log = logging.getLogger(__name__)

NLUPP_NOW = datetime(2022, 3, 15, 9, 0, tzinfo=timezone.utc)
DATE_SLOTS = ("date", "date_from", "date_to")
TAGGED_TYPES = ("date", "date_range", "time", "amount", "person", "company")
BINS = 10
#: The out-of-scope pool beside each condition: oos_val and every fifth other-domain query.
POOL_STEP = 5


def _gold_dates(data_dir: Path) -> list[dict[tuple[int, int], str]]:
    """Per validation example (in ``load_nlupp``'s order): gold date spans → ISO day."""
    out = []
    for domain in ("banking", "hotels"):
        for fold in VAL_FOLDS:
            for item in json.loads(fold_path(data_dir, domain, fold).read_text(encoding="utf-8")):
                days = {}
                for slot, value in (item.get("slots") or {}).items():
                    v = value.get("value")
                    if slot in DATE_SLOTS and isinstance(v, dict) and {"day", "month", "year"} <= set(v):
                        days[tuple(value["span"])] = date(v["year"], v["month"], v["day"]).isoformat()
                out.append(days)
    return out


def entity_figures(settings: Settings) -> dict[str, Any]:
    """Span metrics of the served extractor and of the rules alone, and dates on the right day."""
    from worker.text.tagger import EntityTagger
    from worker.understanding.entities import EntityExtractor

    # Times of day and lengths of time ("this morning", "for 8 hours") count as times, as NLU++'s
    # ``time_period`` annotates them; the tagger never learned them, the rules find them.
    examples = load_nlupp(settings.data_dir, folds=VAL_FOLDS, time_period_as_time=True)
    texts = [e.text for e in examples]
    gold = [list(e.spans) for e in examples]
    served = EntityExtractor(EntityTagger.load(settings.models_dir, threads=2), phone_region=settings.phone_region)
    rules = EntityExtractor(None, phone_region=settings.phone_region)
    figures: dict[str, Any] = {"examples": len(examples), "folds": list(VAL_FOLDS)}
    for name, extractor in (("served", served), ("rules_only", rules)):
        found = extractor.extract(texts, sources=["text"] * len(texts), nows=[NLUPP_NOW] * len(texts))
        predicted = [[Span(e.type, e.start, e.end) for e in row if e.type in TAGGED_TYPES] for row in found]
        figures[name] = {"overlap": span_metrics(gold, predicted), "exact": span_metrics(gold, predicted, exact=True)}
        right = total = 0
        for days, row in zip(_gold_dates(settings.data_dir), found):
            for (start, end), iso in days.items():
                total += 1
                right += any(e.type == "date" and e.start < end and start < e.end and e.value == iso for e in row)
        figures[name]["dates_right_day"] = {"right": right, "gold": total, "share": round(right / max(1, total), 4)}
    return figures


def _tickets(texts: Sequence[str], prefix: str) -> list[dict[str, Any]]:
    return [{"ticket_id": f"{prefix}-{i}", "customer_id": "eval", "body": text,
             "created_at": NLUPP_NOW.isoformat()} for i, text in enumerate(texts)]


def triage_figures(settings: Settings, *, progress: bool = True,
                   limit: int | None = None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Scope, auto-send and confidence figures from the served Triager (``limit``: at most that
    many tickets per set, for a quick look)."""
    from worker.orchestrator.triager import Triager

    split = load_split(settings.data_dir / "banking77" / "train.csv")
    clinc = json.loads((settings.data_dir / "clinc150" / "data_full_trainval.json").read_text(encoding="utf-8"))
    sets = {
        "in_scope": split.val_texts[:limit],
        "oos_val": [t for t, _ in clinc["oos_val"]][:limit],
        "other_domains_val": [t for t, label in clinc["val"] if label not in CLINC_OVERLAP][:limit],
    }
    targets = split.val_targets[:limit]
    triager = Triager.load(settings)
    pool = sets["oos_val"] + sets["other_domains_val"][::POOL_STEP]
    results: dict[str, list] = {}
    for name, texts in sets.items():
        results[name] = triage_all(triager, _tickets(texts, name), name=name, progress=progress)
    arrays: dict[str, np.ndarray] = {}
    for name, rows in results.items():
        arrays[f"{name}_score"] = np.array([r.out_of_scope_score for r in rows], dtype=float)
        arrays[f"{name}_flag"] = np.array([r.out_of_scope for r in rows])
        arrays[f"{name}_auto"] = np.array([r.reply.action.value == "auto_send" for r in rows])
        arrays[f"{name}_conf"] = np.array([r.intent.confidence for r in rows], dtype=float)
    correct = np.array([r.intent.label == t for r, t in zip(results["in_scope"], targets)])
    arrays["in_scope_correct"] = correct
    auto = arrays["in_scope_auto"]
    actions = {a: int(sum(r.reply.action.value == a for r in results["in_scope"])) for a in ("auto_send", "draft", "escalate")}
    reasons: dict[str, int] = {}
    for r in results["in_scope"]:
        if r.reply.action.value == "escalate":
            for reason in r.reply.reasons:
                key = reason.split(" (")[0]
                reasons[key] = reasons.get(key, 0) + 1
    conf = arrays["in_scope_conf"]
    order = np.argsort(-conf)
    figures = {
        "n": {name: len(rows) for name, rows in results.items()},
        "intent_accuracy": round(float(correct.mean()), 4),
        "out_of_scope": {
            "threshold": triager.understanding.scope.out_of_scope_threshold if triager.understanding.scope else None,
            "auroc_oos_val": round(auroc(arrays["in_scope_score"], arrays["oos_val_score"]), 4),
            "auroc_other_domains_val": round(auroc(arrays["in_scope_score"], arrays["other_domains_val_score"]), 4),
            "false_flag_rate_in_scope": round(float(arrays["in_scope_flag"].mean()), 4),
            "recall_oos_val": round(float(arrays["oos_val_flag"].mean()), 4),
            "recall_other_domains_val": round(float(arrays["other_domains_val_flag"].mean()), 4),
            "auto_sent_per_1000_oos_val": round(1000 * float(arrays["oos_val_auto"].mean()), 1),
            "auto_sent_per_1000_other_domains_val": round(1000 * float(arrays["other_domains_val_auto"].mean()), 1),
        },
        "auto_send": {
            "threshold": triager.understanding.gates.auto_send,
            "coverage": round(float(auto.mean()), 4),
            "precision": round(float(correct[auto].mean()), 4) if auto.any() else None,
            "precision_at_75_coverage_by_confidence": round(float(correct[order][: int(0.75 * len(order))].mean()), 4),
            "actions": actions,
            "escalation_reasons": reasons,
        },
        "calibration": _calibration(conf, correct),
    }
    oos_pool = results["oos_val"] + results["other_domains_val"][::POOL_STEP]
    figures["conditions"] = {"clean": condition_figures(results["in_scope"], targets, oos_pool)}
    figures["conditions"].update(email_figures(settings, in_scope=sets["in_scope"], targets=targets,
                                               out_of_scope=pool, created_at=NLUPP_NOW.isoformat(), progress=progress))
    return figures, arrays


def _calibration(conf: np.ndarray, correct: np.ndarray) -> dict[str, Any]:
    edges = np.linspace(0, 1, BINS + 1)
    which = np.clip(np.digitize(conf, edges) - 1, 0, BINS - 1)
    bins = []
    ece = 0.0
    for b in range(BINS):
        sel = which == b
        if sel.any():
            gap = abs(conf[sel].mean() - correct[sel].mean())
            ece += sel.mean() * gap
            bins.append({"from": round(edges[b], 2), "to": round(edges[b + 1], 2), "n": int(sel.sum()),
                         "confidence": round(float(conf[sel].mean()), 4), "accuracy": round(float(correct[sel].mean()), 4)})
    return {"ece": round(float(ece), 4), "bins": bins}


def _plots(out: Path, figures: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bins = figures["triage"]["calibration"]["bins"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    left.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    left.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], "o-", label="intent model")
    for b in bins:
        left.annotate(str(b["n"]), (b["confidence"], b["accuracy"]), textcoords="offset points", xytext=(4, -10), fontsize=7)
    threshold = figures["triage"]["auto_send"]["threshold"]
    left.axvline(threshold, color="tab:green", alpha=0.6, label=f"auto-send threshold {threshold:.2f}")
    left.set(xlabel="calibrated confidence", ylabel="accuracy",
             title=f"Reliability, Banking77 validation (ECE {figures['triage']['calibration']['ece']:.3f})")
    left.legend(fontsize=8, loc="upper left")
    edges = np.linspace(0, 1, 41)
    right.hist(arrays["in_scope_score"], bins=edges, alpha=0.6, label="Banking77 validation", density=True)
    right.hist(arrays["oos_val_score"], bins=edges, alpha=0.6, label="CLINC150 oos_val", density=True)
    right.hist(arrays["other_domains_val_score"], bins=edges, alpha=0.4, label="CLINC150 other domains", density=True)
    if figures["triage"]["out_of_scope"]["threshold"] is not None:
        right.axvline(figures["triage"]["out_of_scope"]["threshold"], color="tab:red", alpha=0.6,
                      label=f"threshold {figures['triage']['out_of_scope']['threshold']:.2f}")
    right.set(xlabel="out-of-scope score", ylabel="density", yscale="log", title="Out-of-scope score")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "understanding.png", dpi=110)
    plt.close(fig)


def _markdown(figures: dict[str, Any]) -> str:
    ent, tri = figures["entities"], figures["triage"]
    lines = ["# Understanding and replies: evaluation", "",
             f"NLU++ validation folds {ent['folds']} ({ent['examples']} examples), spans matching when they overlap "
             "and share a type (exact offsets in brackets).", "",
             "| type | precision | recall | F1 | F1 exact | rules only F1 | gold |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for t in TAGGED_TYPES:
        s, e, r = ent["served"]["overlap"]["per_type"][t], ent["served"]["exact"]["per_type"][t], ent["rules_only"]["overlap"]["per_type"][t]
        lines.append(f"| {t} | {s['precision']:.3f} | {s['recall']:.3f} | **{s['f1']:.3f}** | {e['f1']:.3f} | {r['f1']:.3f} | {s['gold']} |")
    d, dr = ent["served"]["dates_right_day"], ent["rules_only"]["dates_right_day"]
    lines += ["", f"Dates normalised to the right calendar day: **{d['share']:.1%}** ({d['right']}/{d['gold']}); "
              f"rules only {dr['share']:.1%}.", ""]
    o, a = tri["out_of_scope"], tri["auto_send"]
    lines += [f"Triage through the worker's code path: {tri['n']['in_scope']} Banking77 validation tickets "
              f"(intent accuracy {tri['intent_accuracy']:.1%}), {tri['n']['oos_val']} CLINC150 `oos_val`, "
              f"{tri['n']['other_domains_val']} CLINC150 validation queries from domains a bank does not cover.", "",
              "| out of scope | value |", "| --- | --- |",
              f"| AUROC, Banking77 val vs CLINC150 oos_val | **{o['auroc_oos_val']:.4f}** |",
              f"| AUROC, vs other CLINC150 domains | {o['auroc_other_domains_val']:.4f} |",
              f"| in-scope tickets flagged (false-flag rate) | {o['false_flag_rate_in_scope']:.1%} |",
              f"| oos_val flagged | {o['recall_oos_val']:.1%} |",
              f"| other domains flagged | {o['recall_other_domains_val']:.1%} |",
              f"| oos_val auto-sent, per 1,000 | {o['auto_sent_per_1000_oos_val']} |",
              f"| other domains auto-sent, per 1,000 | {o['auto_sent_per_1000_other_domains_val']} |", "",
              "| auto-send (in-scope validation) | value |", "| --- | --- |",
              f"| threshold (calibrated confidence) | {a['threshold']:.3f} |",
              f"| coverage (auto-sent share) | **{a['coverage']:.1%}** |",
              f"| precision (intent right when auto-sent) | **{a['precision']:.1%}** |",
              f"| precision of the 75 % most confident | {a['precision_at_75_coverage_by_confidence']:.1%} |",
              f"| actions | {', '.join(f'{k} {v}' for k, v in a['actions'].items())} |",
              f"| escalation reasons | {', '.join(f'{k} {v}' for k, v in a['escalation_reasons'].items()) or '-'} |", "",
              f"Calibration: ECE {tri['calibration']['ece']:.3f} (10 bins). ![reliability and scores](understanding.png)", ""]
    return "\n".join(lines + _conditions_markdown(tri["conditions"]))


def _conditions_markdown(conditions: dict[str, Any]) -> list[str]:
    """Clean queries and e-mails side by side: what an e-mail costs, what cleaning wins back."""
    names = [name for name in ("clean", "email", "email_uncleaned") if name in conditions]
    first = conditions[names[0]]
    rows = [("intent accuracy", "accuracy", "{:.1%}"), ("auto-send coverage", "auto_send_coverage", "{:.1%}"),
            ("auto-send precision", "auto_send_precision", "{:.1%}"),
            ("auto-send precision, out-of-scope in the pool", "auto_send_precision_with_out_of_scope", "{:.1%}"),
            ("out-of-scope auto-sent, per 1,000", "out_of_scope_auto_sent_per_1000", "{}"),
            ("in-scope flagged out of scope", "false_flag_rate", "{:.1%}"),
            ("out-of-scope AUROC", "auroc", "{:.4f}"), ("share of the text removed by cleaning", "removed_share_mean", "{:.1%}")]
    lines = ["## Clean queries and e-mails", "",
             f"The same {first['n']} validation requests, as queries and wrapped in e-mails written with the "
             f"validation parts of `worker/training/data/synthetic/emails.py` (greetings, signatures, quoting styles "
             f"and footers no model saw in training); {first['n_out_of_scope']} out-of-scope queries (CLINC150 `oos_val` "
             "and every fifth other-domain query) in the pool, wrapped the same way.", "",
             "| | " + " | ".join(name.replace("_", " ") for name in names) + " |", "| --- |" + " --- |" * len(names)]
    for label, key, form in rows:
        cells = [form.format(conditions[n][key]) if conditions[n].get(key) is not None else "-" for n in names]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    email = conditions.get("email")
    if email:
        lines += ["", "E-mail intent accuracy by what the e-mail contains (cleaned, then without cleaning):", "",
                  "| part | e-mails | accuracy | without cleaning |", "| --- | --- | --- | --- |"]
        raw = conditions.get("email_uncleaned", {}).get("by_part", {})
        for kind, item in email["by_part"].items():
            other = raw.get(kind, {}).get("accuracy")
            lines.append(f"| {kind} | {item['n']} | {item['accuracy']:.1%} | {'-' if other is None else f'{other:.1%}'} |")
        kinds = ", ".join(f"{k} {v:.1%}" for k, v in email["removed_share_by_kind"].items())
        lines += ["", f"Removed, as a share of all e-mail text: {kinds}.", ""]
    return lines


def evaluate_understanding(settings: Settings, *, out: Path, progress: bool = True, limit: int | None = None) -> Path:
    """Write the figures, the report and the plots into ``out``; returns the report's path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    figures: dict[str, Any] = {"entities": entity_figures(settings)}
    figures["triage"], arrays = triage_figures(settings, progress=progress, limit=limit)
    (out / "understanding.json").write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    _plots(out, figures, arrays)
    report = out / "understanding.md"
    report.write_text(_markdown(figures), encoding="utf-8")
    return report
