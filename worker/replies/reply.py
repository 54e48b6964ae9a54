"""The reply: which action (send unreviewed, draft for an agent, escalate), its text, and help
articles when the intent is uncertain.

Auto-send is the only action that reaches a customer without a person, so it needs every gate:
an in-scope ticket, a calibrated confidence at or above the threshold chosen on validation, no
urgency, no strong anger, and every attachment read. Anything else is a draft or an escalation
with the reasons, so an agent sees at once why the system held back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np

from worker.contract import (
    Entity,
    Priority,
    Reply,
    ReplyAction,
    Sentiment,
    SuggestedArticle,
)
from worker.replies.knowledge import (
    Article,
    KnowledgeBase,
    ReplyRenderError,
    UnknownIntent,
)
from worker.text.sentence_encoder import SentenceEncoder

SYMBOLS = {"GBP": "£", "EUR": "€", "USD": "$"}
SUGGESTIONS = 3
MIN_ARTICLE_SIMILARITY = 0.25


@dataclass(frozen=True)
class Gates:
    """The thresholds an auto-sent reply must clear (settings, else the values fitted on validation)."""

    auto_send: float
    escalate_sentiment: float


def choose_action(*, confidence: float | None, out_of_scope: bool, out_of_scope_score: float | None,
                  priority: Priority | None, sentiment: Sentiment | None, unread_attachments: int,
                  gates: Gates) -> tuple[ReplyAction, list[str]]:
    """The action and the reasons for it."""
    escalate = []
    if out_of_scope:
        escalate.append(f"out of scope (score {out_of_scope_score or 0:.2f})")
    if confidence is None:
        escalate.append("no intent could be read")
    if priority is not None and priority.level == "urgent":
        escalate.append("priority urgent")
    if sentiment is not None and sentiment.score <= gates.escalate_sentiment:
        escalate.append(f"very negative sentiment ({sentiment.score:.2f})")
    if escalate:
        return ReplyAction.escalate, escalate
    assert confidence is not None
    if gates.auto_send > 1:
        return ReplyAction.draft, ["no auto-send threshold was chosen for this intent model"]
    if confidence < gates.auto_send:
        return ReplyAction.draft, [f"confidence {confidence:.2f} is below the auto-send threshold {gates.auto_send:.2f}"]
    if unread_attachments:
        return ReplyAction.draft, [f"{unread_attachments} attachment(s) could not be read"]
    return ReplyAction.auto_send, [f"confidence {confidence:.2f} clears the auto-send threshold {gates.auto_send:.2f}"]


def _money(value: object) -> str | None:
    if not isinstance(value, dict) or not isinstance(value.get("amount"), (int, float)):
        return None
    amount, currency = float(value["amount"]), value.get("currency")
    if currency in SYMBOLS:
        return f"{SYMBOLS[currency]}{amount:,.2f}"
    return f"{amount:,.2f} {currency}" if currency else f"{amount:,.2f}"


def _day(value: object) -> str | None:
    try:
        day = date.fromisoformat(str(value))
    except ValueError:
        return None
    return f"{day.day} {day:%B %Y}"


def reply_slots(entities: Sequence[Entity], *, display_name: str | None) -> dict[str, str | None]:
    """Display-ready template variables: the first entity of each type (the ticket's own text first)."""
    ordered = sorted(entities, key=lambda e: (e.source != "text", e.start))
    first: dict[str, Entity] = {}
    for entity in ordered:
        if entity.type == "time" and not isinstance(entity.value, str):
            continue  # "this morning", "for 8 hours": no clock time for the {{ time }} slot
        first.setdefault(entity.type, entity)

    def value(kind: str) -> object:
        return first[kind].value if kind in first else None

    return {
        "name": display_name.split()[0] if display_name and display_name.split() else None,
        "amount": _money(value("amount")),
        "date": _day(value("date")),
        "time": value("time") if isinstance(value("time"), str) else None,
        "card_last4": value("card_last4") if isinstance(value("card_last4"), str) else None,
        "company": first["company"].text if "company" in first else None,
        "person": first["person"].text if "person" in first else None,
        "reference": str(value("reference")) if value("reference") else None,
    }


class ArticleIndex:
    """Help articles by base-encoder vector, for suggestions when the intent is uncertain."""

    def __init__(self, articles: Sequence[Article], vectors: np.ndarray) -> None:
        self.articles = tuple(articles)
        self._vectors = vectors

    @classmethod
    def build(cls, articles: Sequence[Article], encoder: SentenceEncoder) -> ArticleIndex:
        """Embed each article's title and opening paragraph (what it answers)."""
        texts = [f"{a.title}. {a.text.strip().split(chr(10) + chr(10))[0]}" for a in articles]
        return cls(articles, encoder.encode(texts) if texts else np.zeros((0, 384), dtype=np.float32))

    def suggest(self, vector: np.ndarray, *, k: int = SUGGESTIONS) -> list[SuggestedArticle]:
        """The ``k`` closest articles above a floor of similarity."""
        if not len(self.articles):
            return []
        sims = self._vectors @ np.asarray(vector, dtype=np.float32)
        best = np.argsort(-sims)[:k]
        return [
            SuggestedArticle(id=self.articles[i].id, title=self.articles[i].title, score=round(float(sims[i]), 4))
            for i in best if sims[i] >= MIN_ARTICLE_SIMILARITY
        ]


def write_reply(*, knowledge: KnowledgeBase | None, intent: str | None, action: ReplyAction, reasons: list[str],
                slots: dict[str, str | None], articles: list[SuggestedArticle]) -> Reply:
    """The reply text from the intent's template (none for out-of-scope or intent-less tickets).

    A template that fails to render costs the text, never the ticket: the reply becomes a draft
    (or stays an escalation) that says why."""
    text = ""
    if intent is not None and knowledge is None:
        reasons = [*reasons, "no knowledge base for this taxonomy: no reply text"]
        if action is ReplyAction.auto_send:
            action = ReplyAction.draft
    elif intent is not None:
        try:
            text = knowledge.reply(intent, slots=slots)
        except (ReplyRenderError, UnknownIntent) as exc:
            reasons = [*reasons, f"no reply text: {exc}"]
            if action is ReplyAction.auto_send:
                action = ReplyAction.draft
    return Reply(action=action, text=text, reasons=reasons, articles=articles)
