"""How often :mod:`worker.understanding.values` normalises NLU++'s gold spans to the gold value.

NLU++ resolves relative dates against 2022-03-15 and times against 09:00. Folds 0-7 are the ones
the rules were tuned on; folds 8-9 are reported apart as the held-out estimate.

    python -m worker.training.evaluation.values_check [--data-dir DIR] [--show-errors]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from worker.understanding.values import (
    parse_amount,
    parse_date,
    parse_date_range,
    parse_time,
)

NLUPP_NOW = datetime(2022, 3, 15, 9, 0)
DOMAINS = ("banking", "hotels")
TUNING_FOLDS = tuple(range(8))
HELD_OUT_FOLDS = (8, 9)
DATE_SLOTS = ("date", "date_from", "date_to")
TIME_SLOTS = ("time", "time_from", "time_to")


@dataclass
class Tally:
    """Right and total counts per kind, with the misses kept for inspection."""

    right: dict[str, int] = field(default_factory=dict)
    total: dict[str, int] = field(default_factory=dict)
    misses: dict[str, list[tuple[str, Any, Any]]] = field(default_factory=dict)

    def add(self, kind: str, ok: bool, text: str, gold: Any, got: Any) -> None:
        self.total[kind] = self.total.get(kind, 0) + 1
        self.right[kind] = self.right.get(kind, 0) + int(ok)
        if not ok:
            self.misses.setdefault(kind, []).append((text, gold, got))

    def accuracy(self, kind: str) -> float:
        return self.right.get(kind, 0) / self.total[kind] if self.total.get(kind) else float("nan")


def nlupp_slots(data_dir: Path, folds: Iterable[int]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(slot name, slot) for every slot of the given folds of both domains."""
    for domain in DOMAINS:
        for fold in folds:
            for example in json.loads((data_dir / "nlupp" / domain / f"fold{fold}.json").read_text()):
                yield from (example.get("slots") or {}).items()


def _gold_date(value: Any) -> date | None:
    if isinstance(value, dict) and {"day", "month", "year"} <= value.keys():
        return date(value["year"], value["month"], value["day"])
    return None


def score(slots: Iterable[tuple[str, dict[str, Any]]], *, now: datetime = NLUPP_NOW) -> Tally:
    """Compare each normalisable gold slot with what values.py makes of its text."""
    tally = Tally()
    for name, slot in slots:
        text, gold = slot["text"], slot.get("value", slot.get("values"))
        if name in DATE_SLOTS and isinstance(gold, dict):
            got = parse_date(text, now=now, end=name == "date_to")
            tally.add("date", got == _gold_date(gold) and got is not None, text, _gold_date(gold), got)
        elif name in TIME_SLOTS and isinstance(gold, dict):
            want = f"{gold['hour']:02d}:{gold['minute']:02d}"
            got = parse_time(text, now=now)
            tally.add("time", got == want, text, want, got)
        elif name == "amount_of_money" and isinstance(gold, dict):
            want_currency = None if gold.get("currency") in (None, "ambiguous") else gold["currency"]
            got = parse_amount(text)
            ok = got is not None and abs(got["amount"] - float(gold["amount"])) < 0.005 and \
                got["currency"] == want_currency
            tally.add("amount", ok, text, (gold["amount"], want_currency), got)
        elif name == "date_period" and isinstance(gold, dict) and gold.get("type") == "absolute":
            want = (_gold_date(gold.get("from")), _gold_date(gold.get("to")))
            got = parse_date_range(text, now=now)
            tally.add("date_range", got == want, text, want, got)
    return tally


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None, help="folder holding nlupp/ (default: settings)")
    parser.add_argument("--show-errors", action="store_true", help="list every miss")
    args = parser.parse_args(argv)
    data_dir = args.data_dir
    if data_dir is None:
        from worker.settings import get_settings

        data_dir = Path(get_settings().data_dir)
    for label, folds in (("folds 0-7 (tuning)", TUNING_FOLDS), ("folds 8-9 (held out)", HELD_OUT_FOLDS)):
        tally = score(nlupp_slots(data_dir, folds))
        print(label)
        for kind in ("date", "time", "amount", "date_range"):
            print(f"  {kind:<11} {100 * tally.accuracy(kind):5.1f} %  "
                  f"({tally.right.get(kind, 0)}/{tally.total.get(kind, 0)})")
        if args.show_errors:
            for kind, misses in tally.misses.items():
                for text, gold, got in misses:
                    print(f"    miss {kind}: {text!r} gold={gold} got={got}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
