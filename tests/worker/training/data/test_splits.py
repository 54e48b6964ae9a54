"""Labelled-data loading and the stratified, seeded train/validation split."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from worker.training.data.splits import (
    DataColumnsMissing,
    DataFileMissing,
    load_labelled_csv,
    load_split,
    stratified_split,
)


def _write_csv(path: Path, rows: list[tuple[str, str]], header=("text", "category")) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def small_csv(tmp_path: Path) -> Path:
    rows = [(f"question {i} about {label}", label) for label in "abcde" for i in range(40)]
    rows.append(("a question\nthat spans, with a comma,\ntwo lines", "a"))
    return _write_csv(tmp_path / "small.csv", rows)


def test_quoted_multiline_text_is_one_row(small_csv: Path) -> None:
    """A quoted text with newlines and commas is read as one row with its label."""
    data = load_labelled_csv(small_csv, text_col="text", label_col="category")
    assert len(data.texts) == 201
    assert data.texts[-1] == "a question\nthat spans, with a comma,\ntwo lines"
    assert data.targets[-1] == "a"
    assert data.labels == ["a", "b", "c", "d", "e"]


def test_split_is_stratified(small_csv: Path) -> None:
    """Each label keeps its share in the validation split (10 %, rounded)."""
    split = load_split(small_csv, text_col="text", label_col="category")
    counts = Counter(split.val_targets)
    assert sum(counts.values()) == len(split.val_texts) == 21
    assert all(counts[label] in (4, 5) for label in "abcde"), counts
    assert set(split.train_texts).isdisjoint(split.val_texts)
    assert len(split.train_texts) + len(split.val_texts) == 201


def test_split_is_deterministic(small_csv: Path) -> None:
    """The same data and seed give the same split; another seed gives another."""
    data = load_labelled_csv(small_csv)
    first, again = stratified_split(data, seed=13), stratified_split(data, seed=13)
    assert first.val_texts == again.val_texts and first.train_texts == again.train_texts
    assert stratified_split(data, seed=14).val_texts != first.val_texts


def test_bad_column_names_give_clear_error(small_csv: Path) -> None:
    """A wrong column name raises DataColumnsMissing naming the missing and the available columns."""
    with pytest.raises(DataColumnsMissing) as info:
        load_labelled_csv(small_csv, text_col="text", label_col="intent")
    assert info.value.missing == ["intent"]
    assert "'intent'" in str(info.value) and "'category'" in str(info.value)


def test_missing_file_gives_clear_error(tmp_path: Path) -> None:
    """A data path that does not exist raises DataFileMissing with the path."""
    with pytest.raises(DataFileMissing, match="nope.csv"):
        load_labelled_csv(tmp_path / "nope.csv")


@pytest.mark.data
def test_banking77_split(data_dir: Path) -> None:
    """Banking77's split has 77 labels, 10 % validation, and every label in validation."""
    split = load_split(data_dir / "banking77" / "train.csv", text_col="text", label_col="category")
    assert len(split.labels) == 77
    assert len(split.val_texts) == 1001 and len(split.train_texts) == 9002
    assert set(split.val_targets) == set(split.labels)
