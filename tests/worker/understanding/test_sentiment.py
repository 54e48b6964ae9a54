"""VADER sentiment with the banking lexicon update: labels, scores, and the words it changes."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from worker.understanding.sentiment import (
    BANKING_NEUTRAL,
    BANKING_VALENCE,
    score_sentiment,
)


@pytest.mark.parametrize(
    "text",
    [
        "I'm furious, my money is gone",
        "My card was stolen, please help!",
        "There is a fraudulent payment on my account and nobody answers",
        "My card was declined at the shop",
        "I was charged twice for the same coffee, this is ridiculous",
        "Someone made an unauthorised payment with my card",
    ],
)
def test_complaints_are_negative(text: str) -> None:
    """Obviously unhappy tickets, including ones VADER alone rates neutral or positive, are negative."""
    sentiment = score_sentiment(text)
    assert sentiment.label == "negative"
    assert -1.0 <= sentiment.score <= -0.05


@pytest.mark.parametrize(
    "text",
    [
        "How long does a transfer take?",
        "What exchange rate do you use?",
        "Could you please help me top up my account?",
        "I would like to send money to a friend",
        "Which credit cards do you accept?",
        "",
    ],
)
def test_plain_questions_are_neutral(text: str) -> None:
    """Questions and requests worded politely score neutral, not positive."""
    sentiment = score_sentiment(text)
    assert sentiment.label == "neutral"
    assert -0.05 < sentiment.score < 0.05


def test_praise_stays_positive() -> None:
    """Thanks and praise are still positive after the lexicon update."""
    sentiment = score_sentiment("Thank you so much, that solved it! Great service.")
    assert sentiment.label == "positive"
    assert sentiment.score > 0.5


def test_very_negative_text_reaches_the_escalation_threshold() -> None:
    """An angry ticket scores at or below the default escalate_sentiment (-0.6)."""
    assert score_sentiment("This is awful, I hate this bank, my money was stolen!").score <= -0.6


def test_lexicon_update_is_small_and_changes_only_its_words() -> None:
    """The update is a short list; VADER's own analyzer still rates the neutralised words."""
    assert len(BANKING_NEUTRAL) + len(BANKING_VALENCE) <= 25
    plain = SentimentIntensityAnalyzer()
    assert all(word in plain.lexicon for word in BANKING_NEUTRAL)
    assert not any(word in plain.lexicon for word in BANKING_VALENCE)
    assert plain.polarity_scores("please help")["compound"] > 0.05
    assert score_sentiment("please help").score == 0.0


def test_banking77_problem_tickets_are_rarely_positive(data_dir: Path) -> None:
    """On Banking77, stolen-card and unrecognised-payment texts are mostly negative or neutral."""
    with (data_dir / "banking77" / "train.csv").open(newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["category"] in {
            "lost_or_stolen_card", "compromised_card", "card_payment_not_recognised",
            "cash_withdrawal_not_recognised"}]
    labels = [score_sentiment(row["text"]).label for row in rows]
    assert len(labels) > 300
    assert labels.count("positive") / len(labels) < 0.10
    assert labels.count("negative") > labels.count("positive") * 3
