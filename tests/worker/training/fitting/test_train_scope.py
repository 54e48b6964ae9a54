"""Choosing the auto-send threshold on validation."""

from __future__ import annotations

import numpy as np

from worker.training.fitting.train_scope import auroc, auto_send_threshold


def test_threshold_keeps_every_higher_cut_above_the_target() -> None:
    """The threshold is the lowest confidence where precision has not yet dipped below target."""
    confidence = np.array([0.99, 0.98, 0.97, 0.96, 0.95, 0.90, 0.80])
    correct = np.array([True, True, True, True, False, True, False])
    assert auto_send_threshold(confidence, correct, target=0.8) == 0.90
    assert auto_send_threshold(confidence, correct, target=0.95) == 0.96
    assert auto_send_threshold(confidence, correct, target=1.0) == 0.96


def test_no_precise_cut_means_nothing_is_sent() -> None:
    """When even the most confident prediction is wrong, the threshold is 1."""
    assert auto_send_threshold(np.array([0.9, 0.8]), np.array([False, True]), target=0.9) == 1.0


def test_auroc_orders_positives_above_negatives() -> None:
    """Perfect separation is 1, reversed is 0, ties count half."""
    assert auroc(np.array([0.1, 0.2]), np.array([0.8, 0.9])) == 1.0
    assert auroc(np.array([0.8, 0.9]), np.array([0.1, 0.2])) == 0.0
    assert auroc(np.array([0.5]), np.array([0.5])) == 0.5
