"""Fit out-of-scope detection and the auto-send threshold on validation data.

In scope: the Banking77 validation split (seed 13, never trained on). Out of scope: CLINC150's
``oos_train`` plus its intents from domains a bank's support desk does not cover (cooking,
travel, small talk...), whose banking and credit-card intents overlap Banking77 and are left out.
The in-scope rows score the combination by two-fold cross-fitting, so the reported AUROC,
false-flag rate and thresholds never come from rows the combination was fitted on. CLINC150's
``oos_val`` and held-back domains' ``val`` queries are used for figures only.

Writes ``<models_dir>/scope/bank.npy`` (base-encoder vectors of the Banking77 training split,
fp16), ``scope.json`` (weights, thresholds, figures) and the manifest entry.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np

from worker.training.data.splits import SPLIT_SEED, load_split, sha256_file
from worker.training.export.convert import write_json

log = logging.getLogger(__name__)

#: CLINC150 intents a Banking77 desk covers (its banking and credit-card domains, the exchange
#: rate from travel, and a lost phone, which Banking77's lost_or_stolen_phone answers: "I have lost
#: my phone"): not clean negatives, so never used as out-of-scope examples.
CLINC_OVERLAP = frozenset(
    """transfer transactions balance freeze_account pay_bill bill_balance bill_due interest_rate routing
    min_payment order_checks pin_change report_fraud account_blocked spending_history credit_score
    report_lost_card credit_limit rewards_balance new_card application_status card_declined
    international_fees apr redeem_rewards credit_limit_change damaged_card replacement_card_duration
    improve_credit_score expiration_date exchange_rate find_phone""".split()
)
#: Every n-th CLINC150 training query from the covered-elsewhere domains is a negative.
CLINC_STRIDE = 4
#: Auto-send thresholds are judged on at least this many validation tickets sent (see auto_send_threshold).
MIN_SUPPORT = 100
#: Seeds of the training-part e-mails the scope is fitted on (the evaluation wraps with others).
EMAIL_SEED = 41


def auroc(negatives: np.ndarray, positives: np.ndarray) -> float:
    """Probability that a positive outscores a negative (ties count half)."""
    from sklearn.metrics import roc_auc_score

    y = np.r_[np.zeros(len(negatives)), np.ones(len(positives))]
    return float(roc_auc_score(y, np.r_[negatives, positives]))


def auto_send_threshold(confidence: np.ndarray, correct: np.ndarray, *, target: float, min_support: int = 0) -> float:
    """The lowest confidence at which the tickets sent (all those at or above it) are still
    ``target`` precise, among thresholds that send at least ``min_support``; 1.0 when none is.

    Judged on the whole set sent, not on every higher cut: a few mislabelled queries among the
    most confident would otherwise pin the threshold near 1 however precise the rest is."""
    order = np.argsort(-confidence)
    precision = np.cumsum(correct[order]) / np.arange(1, len(order) + 1)
    ok = np.flatnonzero((precision >= target) & (np.arange(len(order)) >= max(0, min_support - 1)))
    if len(ok) == 0:
        return 1.0
    return float(confidence[order][ok[-1]])


def _fit(features: np.ndarray, targets: np.ndarray):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=10.0, class_weight="balanced", max_iter=2000).fit(features, targets)


def _as_emails(texts: list[str], seed: int) -> list[str]:
    """The texts as the worker reads them out of training-part e-mails (cleaned)."""
    from worker.training.data.email_texts import email_texts

    return email_texts(texts, texts, share=1.0, raw_share=0.0, seed=seed, part="train")[0]


def train_scope(*, data_dir: Path, models_dir: Path, target_precision: float, false_flag: float,
                threads: int = 0, emails: bool = False) -> dict:
    """Fit, choose thresholds, write the artifacts; returns the scope.json content.

    With ``emails``, every in-scope validation request and every out-of-scope training query is
    also scored as the worker reads it out of an e-mail (training-part wrappings, cleaned), so
    that neither the combination nor the thresholds take an e-mail's residue for a new topic."""
    from worker.text.intent import IntentModel
    from worker.text.sentence_encoder import SentenceEncoder
    from worker.understanding.scope import scope_features

    banking = data_dir / "banking77" / "train.csv"
    clinc_path = data_dir / "clinc150" / "data_full_trainval.json"
    split = load_split(banking)
    clinc = json.loads(clinc_path.read_text(encoding="utf-8"))
    oos_train = [t for t, _ in clinc["oos_train"]]
    oos_val = [t for t, _ in clinc["oos_val"]]
    other_train = [t for t, label in clinc["train"] if label not in CLINC_OVERLAP][::CLINC_STRIDE]
    other_val = [t for t, label in clinc["val"] if label not in CLINC_OVERLAP]

    encoder = SentenceEncoder.load(models_dir, threads=threads)
    intent = IntentModel.load(models_dir, threads=threads)
    log.info("encoding %d Banking77 training texts for the bank", len(split.train_texts))
    bank = encoder.encode(split.train_texts)
    folder = models_dir / "scope"
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "bank.npy", bank.astype(np.float16))
    served_bank = bank.astype(np.float16).astype(np.float32)  # what the worker will load

    def features(texts: list[str]) -> tuple[np.ndarray, list]:
        predictions = intent.predict(texts)
        confidence = np.array([p.confidence for p in predictions])
        return scope_features(served_bank, encoder.encode(texts), confidence), predictions

    log.info("scoring validation and CLINC150 texts")
    in_texts, in_targets = list(split.val_texts), list(split.val_targets)
    if emails:
        in_texts += _as_emails(split.val_texts, EMAIL_SEED)
        in_targets += list(split.val_targets)
        oos_train = oos_train + _as_emails(oos_train, EMAIL_SEED + 1)
        other_train = other_train + _as_emails(other_train, EMAIL_SEED + 2)
    f_in, p_in = features(in_texts)
    f_oos_train, _ = features(oos_train)
    f_oos_val, p_oos_val = features(oos_val)
    f_other_train, _ = features(other_train)
    f_other_val, p_other_val = features(other_val)
    negatives = np.r_[f_oos_train, f_other_train]

    # Two-fold cross-fitting over the in-scope rows: each half is scored by a fit on the other.
    rng = np.random.default_rng(SPLIT_SEED)
    halves = np.array_split(rng.permutation(len(f_in)), 2)
    crossfit = np.zeros(len(f_in))
    for held, used in ((halves[0], halves[1]), (halves[1], halves[0])):
        fitted = _fit(np.r_[f_in[used], negatives], np.r_[np.zeros(len(used)), np.ones(len(negatives))])
        crossfit[held] = fitted.predict_proba(f_in[held])[:, 1]
    final = _fit(np.r_[f_in, negatives], np.r_[np.zeros(len(f_in)), np.ones(len(negatives))])
    oos_score = final.predict_proba(f_oos_val)[:, 1]
    other_score = final.predict_proba(f_other_val)[:, 1]
    threshold = float(np.quantile(crossfit, 1.0 - false_flag))

    confidence = np.array([p.confidence for p in p_in])
    correct = np.array([p.label == t for p, t in zip(p_in, in_targets)])
    auto = auto_send_threshold(confidence, correct, target=target_precision, min_support=MIN_SUPPORT)
    sent = (confidence >= auto) & (crossfit < threshold)
    oos_conf = np.array([p.confidence for p in p_oos_val])
    other_conf = np.array([p.confidence for p in p_other_val])
    order = np.argsort(-confidence)
    at_75 = float(correct[order][: int(round(0.75 * len(order)))].mean())

    figures = {
        "auroc_oos_val": round(auroc(crossfit, oos_score), 4),
        "auroc_other_domains_val": round(auroc(crossfit, other_score), 4),
        "auroc_nearest_only_oos_val": round(auroc(-f_in[:, 0], -f_oos_val[:, 0]), 4),
        "auroc_confidence_only_oos_val": round(auroc(-f_in[:, 2], -f_oos_val[:, 2]), 4),
        "false_flag_rate_in_scope": round(float((crossfit >= threshold).mean()), 4),
        "recall_oos_val": round(float((oos_score >= threshold).mean()), 4),
        "recall_other_domains_val": round(float((other_score >= threshold).mean()), 4),
        "auto_sent_per_1000_oos_val": round(1000 * float(((oos_score < threshold) & (oos_conf >= auto)).mean()), 1),
        "auto_sent_per_1000_other_domains_val": round(
            1000 * float(((other_score < threshold) & (other_conf >= auto)).mean()), 1),
        "intent_accuracy_val": round(float(correct.mean()), 4),
        "auto_send_coverage_val": round(float(sent.mean()), 4),
        "auto_send_precision_val": round(float(correct[sent].mean()), 4),
        "precision_at_75_coverage_val": round(at_75, 4),
    }
    config = {
        "features": ["nearest similarity", "mean similarity of 5 nearest", "log intent confidence"],
        "weights": [round(float(w), 6) for w in final.coef_[0]],
        "bias": round(float(final.intercept_[0]), 6),
        "thresholds": {"out_of_scope": round(threshold, 6), "auto_send": round(auto, 6)},
        "choice": {"false_flag_rate": false_flag, "auto_send_target_precision": target_precision,
                   "auto_send_min_support": MIN_SUPPORT,
                   "emails": emails},
        "figures": figures,
        "data": {
            "in_scope": {"path": "banking77/train.csv", "sha256": sha256_file(banking), "split_seed": SPLIT_SEED,
                         "bank": len(split.train_texts), "validation": len(split.val_texts),
                         "validation_rows": len(in_texts)},
            "out_of_scope": {"path": "clinc150/data_full_trainval.json", "sha256": sha256_file(clinc_path),
                             "fitted_on": f"oos_train ({len(oos_train)}) + every {CLINC_STRIDE}th train query "
                                          f"outside the overlapping intents ({len(other_train)})",
                             "figures_on": f"oos_val ({len(oos_val)}), val outside the overlap ({len(other_val)})"},
        },
        "intent_model": intent.version,
        "command": "python -m worker.training.fitting.train_scope" + (" --emails" if emails else ""),
    }
    write_json(folder / "scope.json", config)
    _record_manifest(models_dir, folder, config)
    return config


def _record_manifest(models_dir: Path, folder: Path, config: dict) -> None:
    manifest = models_dir / "manifest.json"
    content = json.loads(manifest.read_text())
    content["models"]["scope"] = {
        "files": {name: sha256_file(folder / name) for name in ("bank.npy", "scope.json")},
        "data": config["data"],
        "figures": config["figures"],
        "command": config["command"],
    }
    write_json(manifest, content)


def main(argv: list[str] | None = None) -> int:
    from worker.settings import get_settings

    settings = get_settings()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=settings.data_dir)
    parser.add_argument("--models-dir", type=Path, default=settings.models_dir)
    parser.add_argument("--target-precision", type=float, default=0.98,
                        help="auto-send precision wanted on validation (default 0.98)")
    parser.add_argument("--false-flag", type=float, default=0.02,
                        help="share of in-scope validation tickets flagged out of scope (default 0.02)")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--emails", action="store_true",
                        help="also fit on the texts as read out of training-part e-mails (cleaned)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = train_scope(data_dir=args.data_dir, models_dir=args.models_dir,
                         target_precision=args.target_precision, false_flag=args.false_flag, threads=args.threads,
                         emails=args.emails)
    print(json.dumps(config["thresholds"] | config["figures"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
