"""Choosing the auto-send threshold on validation."""

from __future__ import annotations

import numpy as np

from worker.training.fitting.train_scope import auroc, auto_send_threshold


def test_threshold_is_the_widest_cut_still_precise_enough() -> None:
    """The threshold is the lowest confidence whose sent tickets are still at the target precision."""
    confidence = np.array([0.99, 0.98, 0.97, 0.96, 0.95, 0.90, 0.80])
    correct = np.array([True, True, True, True, False, True, False])
    assert auto_send_threshold(confidence, correct, target=0.8) == 0.90
    assert auto_send_threshold(confidence, correct, target=0.95) == 0.96
    assert auto_send_threshold(confidence, correct, target=1.0) == 0.96


def test_an_error_among_the_most_confident_does_not_pin_the_threshold() -> None:
    """One wrong ticket near the top is outweighed by the precise ones after it; the next error ends the cut."""
    confidence = np.linspace(0.999, 0.9, 100)
    correct = np.ones(100, dtype=bool)
    correct[[1, 90]] = False
    assert auto_send_threshold(confidence, correct, target=0.985) == confidence[89]


def test_a_cut_sending_fewer_than_the_minimum_support_is_not_taken() -> None:
    """Two precise tickets at the top are too few to justify auto-sending at all."""
    confidence = np.array([0.99, 0.98, 0.97, 0.96, 0.95])
    correct = np.array([True, True, False, False, False])
    assert auto_send_threshold(confidence, correct, target=0.9) == 0.98
    assert auto_send_threshold(confidence, correct, target=0.9, min_support=3) == 1.0


def test_no_precise_cut_means_nothing_is_sent() -> None:
    """When even the most confident prediction is wrong, the threshold is 1."""
    assert auto_send_threshold(np.array([0.9, 0.8]), np.array([False, True]), target=0.9) == 1.0


def test_auroc_orders_positives_above_negatives() -> None:
    """Perfect separation is 1, reversed is 0, ties count half."""
    assert auroc(np.array([0.1, 0.2]), np.array([0.8, 0.9])) == 1.0
    assert auroc(np.array([0.8, 0.9]), np.array([0.1, 0.2])) == 0.0
    assert auroc(np.array([0.5]), np.array([0.5])) == 0.5
