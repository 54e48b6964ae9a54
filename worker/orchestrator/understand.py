"""After the intent: key information, sentiment, out-of-scope detection, priority and the reply.

One batch at a time, so the tagger and the sentence encoder each run once over every text of the
batch. Each step that fails costs its own field and an error entry, never the ticket: a CRM that
does not answer means no name and no repeat-contact count, not a lost triage.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np
import yaml

from worker.contract import (
    CustomerContext,
    Entity,
    ErrorEntry,
    Reply,
    ReplyAction,
    Ticket,
    TriageResult,
)
from worker.errors import ModelNotBuilt
from worker.pii.redaction import redact_text
from worker.replies.knowledge import REPLIES_FILE, KnowledgeBase
from worker.replies.reply import (
    ArticleIndex,
    Gates,
    choose_action,
    reply_slots,
    write_reply,
)
from worker.settings import Settings
from worker.text.sentence_encoder import SentenceEncoder
from worker.text.tagger import EntityTagger
from worker.understanding.entities import EntityExtractor, Source
from worker.understanding.priority import PriorityRules
from worker.understanding.scope import ScopeModel, scope_texts
from worker.understanding.sentiment import score_sentiment

log = logging.getLogger(__name__)

ContextLookup = Callable[[Ticket], CustomerContext]
PRIORITY_FILE = "priority.yaml"
#: Without a threshold chosen on validation (a model of another taxonomy), nothing is auto-sent.
NEVER = 1.01
T = TypeVar("T")


def _optional(what: str, load: Callable[[], T]) -> T | None:
    try:
        return load()
    except ModelNotBuilt as exc:
        log.warning("no %s: %s", what, exc)
        return None


def _error(where: str, exc: Exception, *, code: str = "model_error") -> ErrorEntry:
    """An error entry whose message is masked before it is cut, so no half-address slips through."""
    return ErrorEntry(where=where, code=code, message=redact_text(f"{type(exc).__name__}: {exc}")[:500])


def _request(entities: Sequence[Entity]) -> list[Entity]:
    """The entities of the request itself: a signature's phone or name is not what it is about."""
    return [entity for entity in entities if entity.part == "request"]


def _taxonomy_matches(folder: Path, labels: Sequence[str]) -> bool:
    """Whether the knowledge folder was written for this taxonomy. One that shares no intent with
    the model (a model trained with `ticketfusion train` on other labels) is set aside with a
    warning; one that shares some is loaded strictly, so a missing reply is named."""
    try:
        replies = yaml.safe_load((folder / REPLIES_FILE).read_text(encoding="utf-8")).get("replies") or {}
    except (OSError, AttributeError, yaml.YAMLError):
        return True  # let the strict load name the problem
    if set(replies) & set(labels):
        return True
    log.warning("the knowledge base in %s covers another taxonomy: replies carry no text and priority rules "
                "match no intent (point TICKETFUSION_KNOWLEDGE_DIR at one written for these labels)", folder)
    return False


@dataclass
class Texts:
    """A ticket's texts by where they came from: its own words (cleaned), its signature, and each
    screenshot's or voice note's transcript with the attachment's index."""

    text: str = ""
    signature: str = ""
    image: list[tuple[int, str]] = field(default_factory=list)
    audio: list[tuple[int, str]] = field(default_factory=list)

    def sources(self) -> list[tuple[str, Source, int | None]]:
        pairs: list[tuple[str, Source, int | None]] = [(self.text, "text", None)] if self.text else []
        pairs += [(t, "image", i) for i, t in self.image if t] + [(t, "audio", i) for i, t in self.audio if t]
        return pairs

    def customer_words(self) -> str:
        """What the customer wrote or said (a screenshot's text is mostly someone else's)."""
        spoken = " ".join(t for _, t in self.audio if t)
        return " ".join(part for part in (self.text, spoken) if part) or " ".join(t for _, t in self.image)

    def joined(self) -> str:
        return " ".join(text for text, _, _ in self.sources())


class Understanding:
    """The loaded models and files; build with :meth:`load`, then call :meth:`apply` per batch.

    The tagger, the sentence encoder, the scope model and the knowledge base are each optional, so
    that a model trained on another taxonomy (``ticketfusion train``) still triages: without them
    entities come from rules alone, nothing is flagged out of scope, and replies carry no text.
    """

    def __init__(self, *, extractor: EntityExtractor, encoder: SentenceEncoder | None, scope: ScopeModel | None,
                 knowledge: KnowledgeBase | None, rules: PriorityRules, articles: ArticleIndex | None,
                 gates: Gates) -> None:
        self.extractor = extractor
        self.encoder = encoder
        self.scope = scope if encoder is not None else None
        self.knowledge = knowledge
        self.rules = rules
        self.articles = articles
        self.gates = gates

    @classmethod
    def load(cls, settings: Settings, *, labels: Sequence[str]) -> Understanding:
        """Open every model and check the knowledge folder; a bad file fails here, at start-up."""
        models_dir = Path(settings.models_dir)
        threads = settings.intent_threads
        tagger = _optional("entity tagger (dates, times and amounts by rules, no names)",
                           lambda: EntityTagger.load(models_dir, device=settings.device, threads=threads))
        encoder = _optional("sentence encoder (no out-of-scope detection, no article suggestions)",
                            lambda: SentenceEncoder.load(models_dir, device=settings.device, threads=threads))
        scope = _optional("out-of-scope model (nothing is flagged out of scope)", lambda: ScopeModel.load(models_dir))
        folder = Path(settings.knowledge_dir)
        ours = _taxonomy_matches(folder, labels)
        knowledge = KnowledgeBase.load(folder, labels=labels) if ours else None
        rules = PriorityRules.load(folder / PRIORITY_FILE, labels=labels if ours else None,
                                   repeat_contact_days=settings.repeat_contact_days)
        if scope is not None and settings.out_of_scope_threshold:
            scope.out_of_scope_threshold = settings.out_of_scope_threshold
        # Without out-of-scope detection nothing is known to be in scope, so nothing is sent unreviewed.
        auto_send = NEVER if scope is None or encoder is None else (settings.auto_send_threshold or scope.auto_send_threshold)
        gates = Gates(auto_send=auto_send, escalate_sentiment=settings.escalate_sentiment)
        articles = ArticleIndex.build(knowledge.articles, encoder) if knowledge and encoder else None
        return cls(extractor=EntityExtractor(tagger, phone_region=settings.phone_region), encoder=encoder,
                   scope=scope, knowledge=knowledge, rules=rules, articles=articles, gates=gates)

    def apply(self, tickets: Sequence[Ticket], texts: Sequence[Texts], results: Sequence[TriageResult], *,
              context: ContextLookup | None = None) -> None:
        """Fill entities, sentiment, scope, priority and reply of each result, in place."""
        if not tickets:
            return
        started = time.perf_counter()
        self._entities(tickets, texts, results)
        entities_ms = (time.perf_counter() - started) * 1000 / len(tickets)
        started = time.perf_counter()
        try:
            vectors = self._scope(texts, results)
        except Exception as exc:  # scoring failed: nothing is known to be in scope, so nothing is auto-sent
            log.exception("out-of-scope scoring failed on a batch of %d", len(tickets))
            vectors = [None] * len(results)
            for result in results:
                result.errors.append(_error("scope", exc))
        scope_ms = (time.perf_counter() - started) * 1000 / len(tickets)
        for ticket, ticket_texts, result, vector in zip(tickets, texts, results, vectors):
            started = time.perf_counter()
            try:
                self._decide(ticket, ticket_texts, result, vector, context)
            except Exception as exc:  # one ticket's priority or reply must not cost the batch
                log.exception("priority or reply failed for %s", ticket.ticket_id)
                result.errors.append(_error("reply", exc))
                result.reply = Reply(action=ReplyAction.escalate, reasons=["the reply stage failed; see errors"])
            result.timings_ms["entities"] = round(entities_ms, 3)
            result.timings_ms["scope"] = round(scope_ms, 3)
            result.timings_ms["reply"] = round((time.perf_counter() - started) * 1000, 3)

    def off_topic(self, texts: Sequence[str], confidences: Sequence[float]) -> list[bool]:
        """Which texts no sentence of which is a banking request ("See attached.", "I left you a
        voice message"), by the out-of-scope model's rule; all False without that model.

        A ticket whose body says nothing but whose attachment does is better read from the
        attachment alone: the fusion was taught a few dozen vague wordings, and a wording it never
        saw can pull it off the attachment's answer.
        """
        if self.encoder is None or self.scope is None or not texts:
            return [False] * len(texts)
        candidates = [scope_texts(text, []) for text in texts]
        encoded = self.encoder.encode([c for group in candidates for c in group])
        flags, offset = [], 0
        for group, confidence in zip(candidates, confidences):
            scores = self.scope.score(encoded[offset:offset + len(group)], np.full(len(group), confidence))
            offset += len(group)
            flags.append(min(score.score for score in scores) >= self.scope.out_of_scope_threshold)
        return flags

    def _entities(self, tickets: Sequence[Ticket], texts: Sequence[Texts], results: Sequence[TriageResult]) -> None:
        flat, sources, nows, owners, attachments = [], [], [], [], []
        for index, (ticket, ticket_texts) in enumerate(zip(tickets, texts)):
            for text, source, attachment in ticket_texts.sources():
                flat.append(text)
                sources.append(source)
                nows.append(ticket.created_at)
                owners.append(index)
                attachments.append(attachment)
        try:
            found = self.extractor.extract(flat, sources=sources, nows=nows)
        except Exception:  # retry text by text, so that one bad text costs only its own entities
            log.exception("entity extraction failed on a batch of %d texts; retrying one by one", len(flat))
            found = []
            for index, text in enumerate(flat):
                try:
                    found += self.extractor.extract([text], sources=[sources[index]], nows=[nows[index]])
                except Exception as exc:
                    results[owners[index]].errors.append(_error("entities", exc))
                    found.append([])
        for owner, attachment, entities in zip(owners, attachments, found):
            for entity in entities:
                entity.attachment = attachment
            results[owner].entities.extend(entities)
        self._signature_entities(tickets, texts, results)

    def _signature_entities(self, tickets: Sequence[Ticket], texts: Sequence[Texts],
                            results: Sequence[TriageResult]) -> None:
        """Who wrote (a name, a phone number): entities still, but never the request's own."""
        owners = [i for i, t in enumerate(texts) if t.signature]
        if not owners:
            return
        try:
            found = self.extractor.extract([texts[i].signature for i in owners], sources=["text"] * len(owners),
                                           nows=[tickets[i].created_at for i in owners])
        except Exception as exc:  # the signature's entities are the least of a ticket
            log.exception("entity extraction failed on %d signatures", len(owners))
            for i in owners:
                results[i].errors.append(_error("entities.signature", exc))
            return
        for i, entities in zip(owners, found):
            results[i].entities.extend(entity.model_copy(update={"part": "signature"}) for entity in entities)

    def _scope(self, texts: Sequence[Texts], results: Sequence[TriageResult]) -> list[np.ndarray | None]:
        """Score each ticket by its most in-scope text; returns the whole ticket's vector, for articles."""
        rows = [i for i, (t, r) in enumerate(zip(texts, results)) if r.intent is not None and t.joined()]
        vectors: list[np.ndarray | None] = [None] * len(results)
        if not rows or self.encoder is None or self.scope is None:
            return vectors
        candidates = {i: scope_texts(texts[i].joined(), _request(results[i].entities)) for i in rows}
        flat = [text for i in rows for text in candidates[i]]
        encoded = self.encoder.encode(flat)
        confidences = [results[i].intent.confidence for i in rows for _ in candidates[i]]  # type: ignore[union-attr]
        scored = self.scope.score(encoded, np.asarray(confidences))  # one pass over the bank for the batch
        offset = 0
        for i in rows:
            n = len(candidates[i])
            scores = scored[offset:offset + n]
            vectors[i] = encoded[offset]
            offset += n
            best = min(score.score for score in scores)
            results[i].out_of_scope_score = round(best, 6)
            results[i].out_of_scope = best >= self.scope.out_of_scope_threshold
        return vectors

    def _decide(self, ticket: Ticket, texts: Texts, result: TriageResult, vector: np.ndarray | None,
                context: ContextLookup | None) -> None:
        words = texts.customer_words()
        result.sentiment = score_sentiment(words) if words else None
        known = self._context(ticket, result, context)
        intent = result.intent.label if result.intent is not None else None
        repeats = sum(1 for label, _ in known.recent_intents if label == intent)
        in_scope_intent = None if result.out_of_scope else intent
        result.priority = self.rules.assess(intent=in_scope_intent, sentiment=result.sentiment,
                                            channel=ticket.channel.value, repeat_contacts=repeats,
                                            out_of_scope=result.out_of_scope)
        unread = sum(1 for e in result.errors if e.where.startswith("attachments"))
        confidence = result.intent.confidence if result.intent is not None else None
        action, reasons = choose_action(confidence=confidence, out_of_scope=result.out_of_scope,
                                        out_of_scope_score=result.out_of_scope_score, priority=result.priority,
                                        sentiment=result.sentiment, unread_attachments=unread, gates=self.gates)
        uncertain = confidence is None or confidence < self.gates.auto_send or result.out_of_scope
        articles = self.articles.suggest(vector) if uncertain and vector is not None and self.articles else []
        result.reply = write_reply(knowledge=self.knowledge, intent=in_scope_intent, action=action,
                                   reasons=reasons,
                                   slots=reply_slots(_request(result.entities), display_name=known.display_name),
                                   articles=articles)

    def _context(self, ticket: Ticket, result: TriageResult, context: ContextLookup | None) -> CustomerContext:
        if context is None:
            return CustomerContext()
        try:
            return context(ticket)
        except Exception as exc:  # the CRM being down costs the greeting and repeat count only
            log.warning("customer context for %s unavailable: %s", ticket.ticket_id, exc)
            result.errors.append(_error("crm", exc, code="context_unavailable"))
            return CustomerContext()


__all__ = ["ContextLookup", "Texts", "Understanding"]
