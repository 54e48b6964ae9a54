"""Labelled text data for training: read a CSV, split it into train and validation sets.

Any CSV with a text column and a label column will do; Banking77 is
``<data_dir>/banking77/train.csv`` with columns ``text,category``. Quoted texts may span lines,
so the file is read with the :mod:`csv` module, never line by line.

The split is stratified by label and fixed by a seed (10 % validation, seed 13), so that the
validation set can be rebuilt from the data file and the seed alone (see ``onnx_models/manifest.json``).
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

from worker.errors import TicketfusionError

SPLIT_SEED = 13
VAL_FRACTION = 0.1


class DataColumnsMissing(TicketfusionError, ValueError):
    """The CSV lacks a named column; says which columns it does have."""

    def __init__(self, path: Path, missing: list[str], available: list[str]) -> None:
        self.path, self.missing, self.available = path, missing, available
        super().__init__(
            f"{path}: no column(s) {', '.join(map(repr, missing))}; "
            f"the file has {', '.join(map(repr, available)) or 'no header'}. "
            "Pass the right names with --text-col / --label-col."
        )


class DataFileMissing(TicketfusionError, FileNotFoundError):
    """The labelled data file does not exist."""

    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__(f"labelled data file not found: {path} (set TICKETFUSION_DATA_DIR?)")


@dataclass(frozen=True)
class LabelledData:
    """Texts with their labels, in file order; ``labels`` lists the label names, sorted."""

    texts: list[str]
    targets: list[str]
    labels: list[str]


@dataclass(frozen=True)
class Split:
    """A stratified train/validation split; ``labels`` is the sorted list of label names."""

    train_texts: list[str]
    train_targets: list[str]
    val_texts: list[str]
    val_targets: list[str]
    labels: list[str]

    def label_ids(self, targets: list[str]) -> list[int]:
        """Map label names to their index in ``labels``."""
        index = {name: i for i, name in enumerate(self.labels)}
        return [index[t] for t in targets]


def sha256_file(path: Path) -> str:
    """SHA-256 of a file's bytes, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_labelled_csv(path: Path, *, text_col: str = "text", label_col: str = "category") -> LabelledData:
    """Read ``text_col`` and ``label_col`` from a CSV; rows with an empty text or label are dropped."""
    path = Path(path)
    if not path.is_file():
        raise DataFileMissing(path)
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header = list(reader.fieldnames or [])
        missing = [c for c in (text_col, label_col) if c not in header]
        if missing:
            raise DataColumnsMissing(path, missing, header)
        texts, targets = [], []
        for row in reader:
            text, label = (row.get(text_col) or "").strip(), (row.get(label_col) or "").strip()
            if text and label:
                texts.append(text)
                targets.append(label)
    if not texts:
        raise ValueError(f"{path}: no labelled rows")
    return LabelledData(texts=texts, targets=targets, labels=sorted(set(targets)))


def stratified_split(
    data: LabelledData, *, val_fraction: float = VAL_FRACTION, seed: int = SPLIT_SEED
) -> Split:
    """Stratified split with a fixed seed: the same data and seed always give the same split."""
    from sklearn.model_selection import train_test_split

    idx = list(range(len(data.texts)))
    train_idx, val_idx = train_test_split(
        idx, test_size=val_fraction, random_state=seed, stratify=data.targets, shuffle=True
    )
    return Split(
        train_texts=[data.texts[i] for i in train_idx],
        train_targets=[data.targets[i] for i in train_idx],
        val_texts=[data.texts[i] for i in val_idx],
        val_targets=[data.targets[i] for i in val_idx],
        labels=data.labels,
    )


def load_split(
    path: Path,
    *,
    text_col: str = "text",
    label_col: str = "category",
    val_fraction: float = VAL_FRACTION,
    seed: int = SPLIT_SEED,
) -> Split:
    """Read a labelled CSV and split it (the usual entry point)."""
    data = load_labelled_csv(path, text_col=text_col, label_col=label_col)
    return stratified_split(data, val_fraction=val_fraction, seed=seed)


def default_paths(data: Path | None, out_dir: Path | None) -> tuple[Path, Path]:
    """The training CSV and the artifact folder, defaulting to Banking77 and ``models_dir/intent``."""
    from worker.settings import get_settings

    settings = get_settings()
    return (
        Path(data) if data else Path(settings.data_dir) / "banking77" / "train.csv",
        Path(out_dir) if out_dir else Path(settings.models_dir) / "intent",
    )


def write_validation_csv(split: Split, out: Path) -> int:
    """The validation split as a ``text,category`` CSV, so `ticketfusion triage` can score it."""
    with Path(out).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "category"])
        writer.writerows(zip(split.val_texts, split.val_targets))
    return len(split.val_texts)


def main(argv: list[str] | None = None) -> int:
    """``python -m worker.training.data.splits OUT.csv``: write the validation split the manifest names."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--data", type=Path, default=None, help="default: <data_dir>/banking77/train.csv")
    args = parser.parse_args(argv)
    data, _ = default_paths(args.data, None)
    count = write_validation_csv(load_split(data), args.out)
    print(f"wrote {count} validation rows to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
