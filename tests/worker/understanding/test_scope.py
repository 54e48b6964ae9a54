"""Out-of-scope scoring: the committed bank and combination, and the texts it scores."""

from __future__ import annotations

import numpy as np
import pytest

from worker.contract import Entity
from worker.errors import ModelNotBuilt
from worker.settings import get_settings
from worker.text.sentence_encoder import SentenceEncoder
from worker.understanding.scope import ScopeModel, scope_texts


@pytest.fixture(scope="module")
def scope() -> tuple[ScopeModel, SentenceEncoder]:
    settings = get_settings()
    return ScopeModel.load(settings.models_dir), SentenceEncoder.load(settings.models_dir, threads=2)


def test_banking_question_scores_low_and_unrelated_question_high(scope) -> None:
    """A Banking77-like question is far below the threshold; a cooking question far above."""
    model, encoder = scope
    vectors = encoder.encode(["Where is my new card? It has not arrived yet.", "How long do I boil an egg?"])
    banking, cooking = model.score(vectors, np.array([0.9, 0.2]))
    assert banking.score < model.out_of_scope_threshold < cooking.score
    assert banking.nearest > cooking.nearest


def test_thresholds_and_figures_come_from_validation(scope) -> None:
    """scope.json records both thresholds and the validation figures they were chosen with."""
    model, _ = scope
    assert 0 < model.out_of_scope_threshold < 1 and 0.5 < model.auto_send_threshold < 1
    figures = model.config["figures"]
    assert figures["auroc_oos_val"] >= 0.99 and figures["false_flag_rate_in_scope"] <= 0.05


def test_scope_texts_replace_names_and_split_sentences() -> None:
    """Names and ids become generic words; a multi-sentence ticket is also scored sentence by sentence."""
    text = "Hi team. I sent money to maria lopez, ref TX-1. Thanks"
    entities = [Entity(type="person", text="maria lopez", start=25, end=36),
                Entity(type="reference", text="TX-1", start=42, end=46)]
    texts = scope_texts(text, entities)
    assert texts[0] == "Hi team. I sent money to a friend, ref . Thanks"
    assert "I sent money to a friend, ref ." in texts
    assert scope_texts("where is my card", []) == ["where is my card"]


def test_missing_bank_is_a_named_error(tmp_path) -> None:
    """A models folder without scope files says what to build."""
    with pytest.raises(ModelNotBuilt, match="bank.npy"):
        ScopeModel.load(tmp_path)
