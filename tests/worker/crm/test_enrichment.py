"""Customer profiles from a crafted history, on SQLite and PostgreSQL: every figure, idempotence,
incremental runs, resolutions, and identities that link and unlink."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select

from worker.contract import Ticket, TriageResult
from worker.crm.enrichment import Enricher, UnknownTicket
from worker.crm.links import MAX_SHARED, LinkStore
from worker.crm.models import CustomerIdentity, CustomerProfile
from worker.crm.store import CrmStore
from worker.pii.identities import hash_customer, identities_in

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=timezone.utc)


def record(store: CrmStore, ticket_id: str, days_ago: float, intent: str | None, *, customer: str = "C-1",
           sentiment: float = 0.0, channel: str = "email", action: str = "draft", priority: str = "normal",
           out_of_scope: bool = False, modalities: list[str] | None = None) -> None:
    created = NOW - timedelta(days=days_ago)
    ticket = Ticket(ticket_id=ticket_id, customer_id=customer, channel=channel, subject="s", body="b",
                    created_at=created)
    label = "negative" if sentiment <= -0.05 else "positive" if sentiment >= 0.05 else "neutral"
    result: dict[str, Any] = {"sentiment": {"label": label, "score": sentiment}, "out_of_scope": out_of_scope,
                              "priority": {"level": priority}, "reply": {"action": action},
                              "modalities": modalities or ["text"], "triaged_at": created}
    if intent:
        result["intent"] = {"label": intent, "confidence": 0.9}
    store.record(ticket, TriageResult(ticket_id=ticket_id, **result))


@pytest.fixture
def history(store: CrmStore) -> CrmStore:
    """Customer C-1: three card_not_arrived contacts this month, a resolved top-up, falling mood."""
    record(store, "T-1", 120, "transfer_timing", sentiment=0.4, channel="chat")
    record(store, "T-2", 40, "top_up_failed", sentiment=0.2)
    record(store, "T-3", 20, "card_arrival", sentiment=0.0)
    record(store, "T-4", 9, "card_arrival", sentiment=-0.3, channel="phone", modalities=["text", "audio"])
    record(store, "T-5", 2, "card_arrival", sentiment=-0.7, action="escalate")
    record(store, "T-6", 1, "weather", sentiment=-0.1, out_of_scope=True)
    record(store, "T-7", 0.5, "top_up_failed", sentiment=-0.8)
    record(store, "T-0", 30, "top_up_failed", customer="C-2")
    return store


def test_every_profile_figure_matches_the_crafted_history(history: CrmStore) -> None:
    """Windows, open and repeated issues, top intents, trend, channels, modalities, last contact, risk."""
    enricher = Enricher(history, repeat_days=14)
    enricher.resolve("T-2", now=NOW)
    assert enricher.enrich("C-1", now=NOW) == ["C-1"]
    profile = enricher.profile("C-1")
    assert profile is not None
    assert profile["contacts"] == {"7d": 3, "30d": 5, "90d": 6}
    assert profile["tickets"] == 7
    open_issues = {issue["intent"]: issue["ticket_ids"] for issue in profile["open_issues"]}
    assert open_issues == {"card_arrival": ["T-3", "T-4", "T-5"], "top_up_failed": ["T-7"]}
    repeated = {issue["intent"]: issue["count"] for issue in profile["repeated_issues"]}
    assert repeated == {"card_arrival": 3}  # 20, 9 and 2 days ago: each within 14 days of the last
    assert profile["top_intents"][:2] == [{"intent": "card_arrival", "count": 3}, {"intent": "top_up_failed", "count": 2}]
    trend = profile["sentiment_trend"]
    assert trend["last"] == -0.8 and trend["points"] == 7 and trend["slope"] < -0.15
    assert profile["channels"] == {"chat": 1, "email": 5, "phone": 1}
    assert profile["modalities"] == {"audio": 1, "text": 7}
    assert profile["last_contact"] == (NOW - timedelta(days=0.5)).isoformat()
    codes = {reason["reason"] for reason in profile["risk"]["reasons"]}
    assert codes == {"repeated_open_issue", "third_contact_same_issue", "frequent_contact", "very_negative",
                     "sentiment_falling", "escalated_before", "several_open_issues"}
    keep = 1.0
    for reason in profile["risk"]["reasons"]:
        keep *= 1 - reason["weight"]
    assert profile["risk"]["score"] == pytest.approx(1 - keep, abs=1e-4) and 0.8 < profile["risk"]["score"] < 1


def test_a_second_run_changes_nothing_and_only_changed_customers_are_due(history: CrmStore) -> None:
    """Enrichment is incremental and idempotent: nothing due after a run, one customer after a new ticket."""
    enricher = Enricher(history)
    assert sorted(enricher.due(now=NOW)) == ["C-1", "C-2"]
    assert enricher.enrich_due(now=NOW) == {"due": 2, "changed": 2}
    with history.engine.connect() as connection:
        before = connection.execute(select(CustomerProfile).order_by(CustomerProfile.customer_id)).all()
    assert enricher.due(now=NOW) == []
    assert enricher.enrich("C-1", now=NOW) == [] and enricher.enrich_due(now=NOW) == {"due": 0, "changed": 0}
    with history.engine.connect() as connection:
        assert connection.execute(select(CustomerProfile).order_by(CustomerProfile.customer_id)).all() == before
    record(history, "T-8", 0.1, "card_arrival")
    assert enricher.due(now=NOW) == ["C-1"]
    assert enricher.enrich_due(now=NOW) == {"due": 1, "changed": 1}
    assert enricher.profile("C-1")["contacts"]["7d"] == 4  # type: ignore[index]


def test_time_moving_past_a_window_makes_the_customer_due(history: CrmStore) -> None:
    """A profile is exact until its first ticket leaves a window; then it is recomputed."""
    enricher = Enricher(history)
    enricher.enrich_due(now=NOW)
    assert enricher.due(now=NOW + timedelta(days=4)) == []
    assert "C-1" in enricher.due(now=NOW + timedelta(days=5, hours=1))  # T-5 has left the 7-day window
    enricher.enrich("C-1", now=NOW + timedelta(days=8))
    assert enricher.profile("C-1")["contacts"]["7d"] == 0  # type: ignore[index]


def test_a_resolution_closes_the_open_issue(history: CrmStore) -> None:
    """Resolving the newest card_arrival ticket closes that issue and the risk it carried."""
    enricher = Enricher(history)
    enricher.enrich("C-1", now=NOW)
    assert "C-1" not in enricher.due(now=NOW)
    assert enricher.resolve("T-5") == ("C-1", True)
    assert enricher.resolve("T-5") == ("C-1", False)
    assert "C-1" in enricher.due(now=NOW + timedelta(seconds=1))
    enricher.enrich("C-1", now=NOW + timedelta(seconds=1))
    profile = enricher.profile("C-1")
    assert profile is not None
    assert [issue["intent"] for issue in profile["open_issues"]] == ["top_up_failed"]
    assert "repeated_open_issue" not in {reason["reason"] for reason in profile["risk"]["reasons"]}
    with pytest.raises(UnknownTicket, match="T-404"):
        enricher.resolve("T-404")


def test_identities_link_customers_and_unlinking_splits_them(store: CrmStore) -> None:
    """A chat customer who writes their e-mail address joins the e-mail customer; unlink undoes it."""
    email_customer = hash_customer("Ada@Example.com")
    record(store, "E-1", 3, "card_arrival", customer=email_customer)
    record(store, "K-1", 1, "card_arrival", customer="chat-77", channel="chat")
    links = LinkStore(store)
    found = identities_in(["it's ada@example.com, I wrote to you on Monday"])
    assert links.add_identities("chat-77", found, ticket_id="K-1") == [email_customer]
    with store.engine.connect() as connection:
        digests = set(connection.scalars(select(CustomerIdentity.digest)))
    assert "ada@example.com" not in str(digests) and email_customer in digests
    enricher = Enricher(store)
    enricher.enrich_due(now=NOW)
    merged = enricher.profile("chat-77")
    assert merged is not None and merged["tickets"] == 2 and merged["repeated_issues"][0]["count"] == 2
    assert merged["linked_customers"] == [{"customer_id": email_customer, "via": "email", "state": "linked",
                                           "since": merged["linked_customers"][0]["since"]}]
    assert links.unlink("chat-77") == [email_customer]
    assert links.add_identities("chat-77", found, ticket_id="K-2") == []  # an unlinked pair stays apart
    enricher.enrich_due(now=NOW + timedelta(seconds=1))
    alone = enricher.profile("chat-77")
    assert alone is not None and alone["tickets"] == 1 and alone["linked_customers"][0]["state"] == "unlinked"
    links.link("chat-77", email_customer)
    enricher.enrich_due(now=NOW + timedelta(seconds=2))
    assert enricher.profile(email_customer)["tickets"] == 2  # type: ignore[index]


def test_an_identity_many_customers_share_links_nobody(store: CrmStore) -> None:
    """A shop's address quoted by many customers is no evidence that they are one person."""
    shop = identities_in(["write to orders@shop.example"])
    links = LinkStore(store)
    for index in range(MAX_SHARED + 2):
        record(store, f"S-{index}", 1, "card_arrival", customer=f"c-{index}")
        links.add_identities(f"c-{index}", shop)
    with store.engine.connect() as connection:
        assert links.group(connection, f"c-{MAX_SHARED + 1}") == [f"c-{MAX_SHARED + 1}"]
