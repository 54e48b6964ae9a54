"""Profile enrichment's cost: 500 customers of five tickets each, enriched once, then once more.

    python -m worker.benchmarks.enrichment [--url sqlite:///var/bench-enrich.db | postgresql+psycopg://...]

The second run must find nobody due and write nothing (idempotent, incremental).
"""

from __future__ import annotations

import argparse
import time
import uuid
from datetime import datetime, timedelta, timezone

from worker.contract import Ticket, TriageResult
from worker.crm.enrichment import Enricher
from worker.crm.store import CrmStore

INTENTS = ("card_arrival", "top_up_failed", "lost_or_stolen_card", "exchange_rate")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="sqlite:///var/bench-enrich.db")
    parser.add_argument("--customers", type=int, default=500)
    args = parser.parse_args()
    store = CrmStore(args.url)
    store.migrate()
    now, run = datetime.now(timezone.utc), uuid.uuid4().hex[:6]
    started = time.perf_counter()
    for c in range(args.customers):
        for k in range(5):
            ticket_id = f"bench-{run}-{c}-{k}"
            store.record(Ticket(ticket_id=ticket_id, customer_id=f"bench-{run}-{c}", body="b",
                                created_at=now - timedelta(days=k * 6 + c % 7)),
                         TriageResult(ticket_id=ticket_id, intent={"label": INTENTS[(c + k) % 4], "confidence": 0.9},
                                      sentiment={"label": "negative", "score": -0.1 * k}))
    recorded = time.perf_counter()
    enricher = Enricher(store)
    first = enricher.enrich_due(limit=1_000_000)
    enriched = time.perf_counter()
    second = enricher.enrich_due(limit=1_000_000)
    again = time.perf_counter()
    print(f"{store.url.get_backend_name()}: {args.customers * 5} tickets recorded in {recorded - started:.1f} s; "
          f"first run {first} in {enriched - recorded:.2f} s ({first['changed'] / (enriched - recorded):.0f} "
          f"profiles/s); second run {second} in {(again - enriched) * 1000:.0f} ms")
    store.dispose()


if __name__ == "__main__":
    main()
