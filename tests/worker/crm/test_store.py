"""CrmStore on SQLite and PostgreSQL: idempotency, history, migrations, concurrency, PII."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, text

from worker.contract import CustomerContext, Ticket, TriageResult
from worker.crm.models import Base, Customer, Event, TriageRow
from worker.crm.store import MIGRATIONS_DIR, RECENT_CONTEXT, CrmStore, TicketMismatch, UnsupportedDatabase
from worker.settings import REPO_ROOT

HEAD = sorted(p.name for p in (MIGRATIONS_DIR / "versions").glob("0*.py"))[-1][:4]  # the newest revision

CARD = "4111 1111 1111 1111"
T0 = datetime(2026, 1, 5, 9, 30, tzinfo=timezone.utc)


def ticket(ticket_id: str = "T-1", customer_id: str = "C-1", **fields: Any) -> Ticket:
    fields.setdefault("subject", "Card problem")
    fields.setdefault("body", "My card was charged twice.")
    fields.setdefault("created_at", T0)
    return Ticket(ticket_id=ticket_id, customer_id=customer_id, **fields)


def result(ticket_id: str = "T-1", label: str = "card_charged_twice",
           **fields: Any) -> TriageResult:
    defaults: dict[str, Any] = {
        "intent": {"label": label, "confidence": 0.91},
        "priority": {"level": "high", "reasons": ["money"]},
        "sentiment": {"label": "negative", "score": -0.6},
        "reply": {"action": "draft", "text": "We are looking into it."},
        "model_version": "intent-v1",
    }
    return TriageResult(ticket_id=ticket_id, **{**defaults, **fields})


def rows(store: CrmStore, model: type[Base]) -> list[Any]:
    with store.engine.connect() as connection:
        return list(connection.execute(select(model)).all())


def test_same_ticket_twice_is_one_ticket_with_one_set_of_events(store: CrmStore) -> None:
    """Recording a ticket twice keeps one ticket, one triage row and one event per kind."""
    assert store.record(ticket(), result()) is True
    assert store.record(ticket(), result()) is False
    assert store.count_tickets() == 1
    assert len(rows(store, TriageRow)) == 1
    assert sorted(row.kind for row in rows(store, Event)) == ["ticket_received", "triaged"]
    assert len(rows(store, Customer)) == 1


def test_newer_result_replaces_the_triage_row(store: CrmStore) -> None:
    """A later result for the same ticket updates its triage columns and JSON, adds no events."""
    store.record(ticket(), result(label="card_charged_twice"))
    store.record(ticket(), result(label="refund_request", model_version="intent-v2"))
    (triage,) = rows(store, TriageRow)
    assert triage.intent_label == "refund_request"
    assert triage.model_version == "intent-v2"
    assert triage.result["intent"]["label"] == "refund_request"
    assert len(rows(store, Event)) == 2


def test_ticket_id_of_another_customer_is_refused(store: CrmStore) -> None:
    """A ticket_id already held by one customer cannot overwrite it from another customer."""
    store.record(ticket("T-1", "C-a"), result("T-1", label="lost_or_stolen_card"))
    with pytest.raises(TicketMismatch, match="already belongs to customer 'C-a'"):
        store.record(ticket("T-1", "C-b"), result("T-1", label="exchange_rate"))
    assert [t["intent"] for t in store.history("C-a")["tickets"]] == ["lost_or_stolen_card"]
    assert store.history("C-b")["tickets"] == []


def test_stale_result_does_not_replace_a_newer_one(store: CrmStore) -> None:
    """An older triage redelivered after a newer one leaves the newer one in place."""
    store.record(ticket(), result(label="refund_request", triaged_at=T0 + timedelta(minutes=5)))
    store.record(ticket(), result(label="card_charged_twice", triaged_at=T0))
    (triage,) = rows(store, TriageRow)
    assert triage.intent_label == "refund_request"
    assert triage.updated_at == T0 + timedelta(minutes=5)


def test_history_is_oldest_first_with_the_documented_shape(store: CrmStore) -> None:
    """history() lists the customer's tickets oldest first with triage fields and ISO dates."""
    for index, offset in enumerate([2, 0, 1]):
        tid = f"T-{index}"
        store.record(ticket(tid, created_at=T0 + timedelta(hours=offset)), result(tid))
    store.record(ticket("T-other", customer_id="C-2"), result("T-other"))
    errors = [{"where": "ocr", "code": "ocr_failed", "message": "unreadable"}]
    store.record(ticket("T-3", created_at=T0 + timedelta(hours=3)), result("T-3", errors=errors))

    history = store.history("C-1")
    assert history["customer_id"] == "C-1"
    assert history["display_name"] is None
    assert [t["ticket_id"] for t in history["tickets"]] == ["T-1", "T-2", "T-0", "T-3"]
    first = history["tickets"][0]
    assert first["created_at"] == (T0 + timedelta(hours=0)).isoformat()
    assert datetime.fromisoformat(first["created_at"]).tzinfo is not None
    assert {k: first[k] for k in ("channel", "intent", "priority", "sentiment")} == {
        "channel": "email",
        "intent": "card_charged_twice",
        "priority": "high",
        "sentiment": "negative",
    }
    assert first["confidence"] == pytest.approx(0.91)
    assert first["out_of_scope"] is False and first["reply_action"] == "draft"
    assert history["tickets"][-1]["errors"] == errors
    assert [t["ticket_id"] for t in store.history("C-1", limit=2)["tickets"]] == ["T-0", "T-3"]
    assert store.history("nobody") == {"customer_id": "nobody", "display_name": None, "tickets": []}


def test_count_tickets_per_customer_and_in_total(store: CrmStore) -> None:
    """count_tickets() counts one customer's tickets, or all of them without an argument."""
    assert store.count_tickets() == 0
    for tid, cid in [("A", "C-1"), ("B", "C-1"), ("C", "C-2")]:
        store.record(ticket(tid, cid), result(tid))
    assert store.count_tickets("C-1") == 2
    assert store.count_tickets("C-2") == 1
    assert store.count_tickets("C-3") == 0
    assert store.count_tickets() == 3


def test_customer_span_and_display_name_survive_out_of_order_tickets(store: CrmStore) -> None:
    """first/last seen span all tickets in any order; a ticket without a name keeps the old one."""
    late, early = T0 + timedelta(days=3), T0 - timedelta(days=3)
    store.record(ticket("A", created_at=T0, metadata={"display_name": "Ada"}), result("A"))
    store.record(ticket("B", created_at=late), result("B"))
    store.record(ticket("C", created_at=early), result("C"))
    (customer,) = rows(store, Customer)
    assert (customer.first_seen, customer.last_seen) == (early, late)
    assert customer.display_name == "Ada"


def test_customer_context_lists_recent_intents_oldest_first_with_the_name(store: CrmStore) -> None:
    """customer_context() returns the display name and each recent (intent, created_at), oldest first."""
    store.record(ticket("A", created_at=T0 - timedelta(days=2), metadata={"display_name": "Ada"}),
                 result("A", label="card_arrival"))
    store.record(ticket("B", created_at=T0 - timedelta(days=9)), result("B", label="card_arrival"))
    store.record(ticket("C", created_at=T0 - timedelta(hours=1)), result("C", label="exchange_rate"))

    context = store.customer_context("C-1", before=T0, days=14)
    assert context.display_name == "Ada"
    assert context.recent_intents == [
        ("card_arrival", T0 - timedelta(days=9)),
        ("card_arrival", T0 - timedelta(days=2)),
        ("exchange_rate", T0 - timedelta(hours=1)),
    ]
    assert all(at.tzinfo is not None for _, at in context.recent_intents)


def test_customer_context_window_excludes_older_and_later_tickets(store: CrmStore) -> None:
    """The window is [before - days, before): its first instant counts, older and later do not."""
    for tid, at in [("edge", T0 - timedelta(days=14)), ("old", T0 - timedelta(days=14, seconds=1)),
                    ("at-before", T0), ("later", T0 + timedelta(days=1))]:
        store.record(ticket(tid, created_at=at), result(tid, label=f"intent_{tid}"))

    context = store.customer_context("C-1", before=T0, days=14)
    assert context.recent_intents == [("intent_edge", T0 - timedelta(days=14))]
    assert store.customer_context("C-1", before=T0, days=0).recent_intents == []


def test_customer_context_of_a_busy_account_holds_its_latest_tickets(store: CrmStore) -> None:
    """An account with more tickets in the window than RECENT_CONTEXT gets its latest, oldest first."""
    n = RECENT_CONTEXT + 5
    for i in range(n):
        store.record(ticket(f"T{i:03d}", created_at=T0 - timedelta(minutes=n - i)), result(f"T{i:03d}", label=f"i{i}"))
    context = store.customer_context("C-1", before=T0, days=14)
    assert [label for label, _ in context.recent_intents] == [f"i{i}" for i in range(5, n)]


def test_customer_context_leaves_out_the_ticket_being_triaged(store: CrmStore) -> None:
    """A redelivered ticket, already recorded, is not counted as its own repeat contact."""
    store.record(ticket("T-1", created_at=T0 - timedelta(days=1)), result("T-1", label="card_arrival"))
    store.record(ticket("T-2", created_at=T0), result("T-2", label="card_arrival"))

    later = T0 + timedelta(minutes=5)
    context = store.customer_context("C-1", before=later, days=14, exclude_ticket_id="T-2")
    assert context.recent_intents == [("card_arrival", T0 - timedelta(days=1))]
    assert len(store.customer_context("C-1", before=later, days=14).recent_intents) == 2


def test_customer_context_ignores_other_customers_and_tickets_without_intent(store: CrmStore) -> None:
    """Other customers' tickets, tickets with no intent and out-of-scope tickets are not listed."""
    at = T0 - timedelta(days=1)
    store.record(ticket("mine", created_at=at), result("mine", label="card_arrival"))
    store.record(ticket("theirs", "C-2", created_at=at), result("theirs", label="card_arrival"))
    store.record(ticket("no-intent", created_at=at), result("no-intent", intent=None))
    store.record(ticket("oos", created_at=at), result("oos", label="card_arrival", out_of_scope=True))

    assert store.customer_context("C-1", before=T0, days=14).recent_intents == [("card_arrival", at)]
    assert store.customer_context("C-2", before=T0, days=14).recent_intents == [("card_arrival", at)]


def test_customer_context_of_an_unknown_or_quiet_customer(store: CrmStore) -> None:
    """An unknown customer has an empty context; a known one without recent tickets keeps the name."""
    assert store.customer_context("nobody", before=T0, days=14) == CustomerContext()
    store.record(ticket("A", created_at=T0 - timedelta(days=30), metadata={"display_name": "Ada"}),
                 result("A"))
    assert store.customer_context("C-1", before=T0, days=14) == CustomerContext(display_name="Ada")


def test_customer_context_refuses_a_naive_before(store: CrmStore) -> None:
    """A naive 'before' is refused rather than silently compared in the wrong zone."""
    with pytest.raises(ValueError, match="naive"):
        store.customer_context("C-1", before=T0.replace(tzinfo=None), days=14)


def test_migrate_again_is_a_no_op(store: CrmStore) -> None:
    """A second (and third) migrate() keeps the data and the schema version."""
    store.record(ticket(), result())
    store.migrate()
    store.migrate()
    with store.engine.connect() as connection:
        assert connection.scalar(text("SELECT version_num FROM alembic_version")) == HEAD
        assert connection.scalar(text("SELECT count(*) FROM alembic_version")) == 1
    assert store.count_tickets() == 1


def test_migration_matches_the_models(store: CrmStore) -> None:
    """The migrations build exactly the schema the models declare."""
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_concurrent_migrate_from_empty_database(database_url: str) -> None:
    """Four worker processes migrating an empty database at once all succeed; one version row."""
    code = (
        "import sys, time\n"
        "from worker.crm.store import CrmStore\n"
        "s = CrmStore(sys.argv[1])\n"
        "time.sleep(max(0.0, float(sys.argv[2]) - time.time()))\n"
        "s.migrate()\n"
    )
    outputs = _run_processes(code, database_url, 4)
    assert [rc for rc, _, _ in outputs] == [0] * 4, outputs
    store = CrmStore(database_url)
    try:
        with store.engine.connect() as connection:
            assert connection.scalar(text("SELECT count(*) FROM alembic_version")) == 1
    finally:
        store.dispose()


def test_migrate_from_threads_of_one_process(make_store: Callable[[], CrmStore]) -> None:
    """Threads of one process migrating at once queue instead of tripping over Alembic's globals."""
    stores = [make_store() for _ in range(4)]
    assert _run_together([store.migrate for store in stores]) == []
    assert stores[0].count_tickets() == 0


def test_concurrent_records_of_one_ticket_from_threads(store: CrmStore) -> None:
    """Eight threads recording the same ticket at once raise nothing and leave one row each."""
    outcomes: list[bool] = []
    failures = _run_together(
        [lambda: outcomes.append(store.record(ticket(), result())) for _ in range(8)]
    )
    assert failures == []
    assert sorted(outcomes) == [False] * 7 + [True]
    assert store.count_tickets() == 1
    assert len(rows(store, TriageRow)) == 1
    assert len(rows(store, Event)) == 2


def test_concurrent_records_of_one_ticket_from_processes(store: CrmStore) -> None:
    """Four worker processes recording the same ticket at once all succeed; exactly one is new."""
    url = store.url.render_as_string(hide_password=False)
    code = (
        "import sys\n"
        "from worker.contract import Ticket, TriageResult\n"
        "from worker.crm.store import CrmStore\n"
        "s = CrmStore(sys.argv[1])\n"
        "s.engine.connect().close()\n"
        "t = Ticket(ticket_id='T-1', customer_id='C-1', body='hello')\n"
        "import time; time.sleep(max(0.0, float(sys.argv[2]) - time.time()))\n"
        "print(s.record(t, TriageResult(ticket_id='T-1')))\n"
    )
    outputs = _run_processes(code, url, 4)
    assert [rc for rc, _, _ in outputs] == [0] * 4, outputs
    assert sorted(out.strip() for _, out, _ in outputs) == ["False"] * 3 + ["True"]
    assert store.count_tickets() == 1
    assert len(rows(store, Event)) == 2


def test_card_number_and_email_never_reach_the_database(store: CrmStore) -> None:
    """A card number and e-mail in subject, body and reply are masked in every stored column."""
    body = f"Charge on {CARD} twice, write to jane.doe@example.com"
    reply = {"action": "draft", "text": f"About card {CARD.replace(' ', '-')}"}
    entities = [{"type": "card", "text": CARD, "start": 10, "end": 29, "value": CARD}]
    store.record(
        ticket(subject=f"card {CARD}", body=body),
        result(reply=reply, entities=entities),
    )
    dump = _dump_all_tables(store)
    for needle in ("4111 1111 1111 1111", "4111-1111-1111-1111", "4111111111111111"):
        assert needle not in dump
    assert "jane.doe@example.com" not in dump
    assert "****1111" in dump  # the last four stay, for the agent


def test_result_for_another_ticket_is_rejected(store: CrmStore) -> None:
    """A result whose ticket_id or customer_id differs from the ticket's raises TicketMismatch."""
    with pytest.raises(TicketMismatch):
        store.record(ticket("T-1"), result("T-2"))
    with pytest.raises(TicketMismatch):
        store.record(ticket("T-1"), result("T-1", customer_id="C-9"))
    assert store.count_tickets() == 0


def test_sqlite_store_creates_its_directory_and_uses_wal(tmp_path: Path) -> None:
    """A SQLite URL in a missing directory works, in WAL mode, so several processes can write."""
    store = CrmStore(f"sqlite:///{tmp_path / 'a' / 'b' / 'crm.db'}")
    try:
        store.migrate()
        with store.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
        assert (tmp_path / "a" / "b" / "crm.db").exists()
    finally:
        store.dispose()


def test_other_databases_are_refused_with_a_reason() -> None:
    """A URL for a database other than SQLite or PostgreSQL raises UnsupportedDatabase."""
    with pytest.raises(UnsupportedDatabase, match="sqlite or postgresql"):
        CrmStore("mysql://user@localhost/crm")


def _run_together(actions: list[Callable[[], object]]) -> list[BaseException]:
    """Start all actions at the same instant in threads; return what they raised."""
    barrier = threading.Barrier(len(actions))
    failures: list[BaseException] = []

    def run(action: Callable[[], object]) -> None:
        barrier.wait()
        try:
            action()
        except BaseException as error:  # noqa: BLE001 - the test reports every failure
            failures.append(error)

    threads = [threading.Thread(target=run, args=(action,)) for action in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return failures


def _run_processes(code: str, url: str, count: int) -> list[tuple[int, str, str]]:
    """Run ``python -c code url start`` in ``count`` processes: (returncode, stdout, stderr).

    ``start`` is a wall-clock instant a few seconds ahead, after the imports, at which the
    processes act together.
    """
    start = str(time.time() + 3.0)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, url, start],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        results.append((proc.returncode, out, err))
    return results


def _dump_all_tables(store: CrmStore) -> str:
    """Every stored value of every CRM table as raw text, read without the ORM types."""
    parts = []
    with store.engine.connect() as connection:
        for table in ("customers", "tickets", "triage", "events"):
            for row in connection.exec_driver_sql(f"SELECT * FROM {table}"):
                parts.append(" | ".join(str(value) for value in row))
    return "\n".join(parts)


def test_triage_result_reads_back_the_stored_result(store: CrmStore) -> None:
    """The stored result of a ticket comes back whole; an unknown ticket has none."""
    store.record(ticket("T-read"), result("T-read", label="card_arrival"))
    stored = store.triage_result("T-read")
    assert stored is not None and stored["intent"]["label"] == "card_arrival"
    assert store.triage_result("T-none") is None
