"""``ticketfusion resolve | enrich | link | unlink | beat``: customer profiles from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from worker.settings import Settings

__all__ = ["cmd_beat", "cmd_enrich", "cmd_link", "cmd_resolve", "cmd_unlink", "profile_table"]


def _enricher(settings: Settings) -> Any:
    from worker.crm.store import CrmStore
    from worker.state import enricher_for

    store = CrmStore(settings.database_url)
    store.migrate()
    return enricher_for(store, settings)


def cmd_resolve(args: argparse.Namespace, settings: Settings) -> int:
    """Record a resolution; the customer's profile is refreshed at once."""
    enricher = _enricher(settings)
    customer_id, new = enricher.resolve(args.ticket_id, note=args.note or "")
    enricher.enrich(customer_id)
    Console(stderr=True).print(f"{args.ticket_id} ({customer_id}): {'resolved' if new else 'already resolved'}")
    return 0


def cmd_enrich(args: argparse.Namespace, settings: Settings) -> int:
    """Enrich one customer, every customer (--all), or those that are due (the default)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    enricher = _enricher(settings)
    if args.customer:
        changed = enricher.enrich(args.customer)
        print(json.dumps({"customers": 1, "changed": len(changed)}))
        return 0
    targets = enricher.all_customers() if args.all else enricher.due(limit=args.limit)
    columns = (TextColumn("enriching"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), disable=args.no_progress) as bar:
        task = bar.add_task("enrich", total=len(targets))
        changed = enricher.enrich_many(targets, progress=lambda: bar.advance(task))
    print(json.dumps({"customers": len(targets), "changed": changed}))
    return 0


def cmd_link(args: argparse.Namespace, settings: Settings) -> int:
    """Join two customer ids into one person's history."""
    enricher = _enricher(settings)
    enricher.links.link(args.customer_id, args.other_id)
    enricher.enrich(args.customer_id)
    Console(stderr=True).print(f"linked {args.customer_id} and {args.other_id}")
    return 0


def cmd_unlink(args: argparse.Namespace, settings: Settings) -> int:
    """Split a customer id from the ids it was linked to (or from one of them)."""
    enricher = _enricher(settings)
    undone = enricher.links.unlink(args.customer_id, args.other_id)
    for customer_id in {args.customer_id, *undone}:
        enricher.enrich(customer_id)
    Console(stderr=True).print(f"unlinked {args.customer_id} from {', '.join(undone) or 'nothing (no links)'}")
    return 0


def cmd_beat(args: argparse.Namespace, settings: Settings) -> int:
    """Celery beat: the periodic enrichment (run exactly one)."""
    from worker.app import app

    schedule = Path(args.schedule or Path(settings.state_dir) / "celerybeat-schedule")
    schedule.parent.mkdir(parents=True, exist_ok=True)
    app.Beat(schedule=str(schedule), loglevel=args.loglevel or settings.log_level).run()
    return 0


def profile_table(profile: dict[str, Any]) -> Table:
    """The profile as an agent would skim it."""
    table = Table(title=f"Profile of {profile['customer_id']}", show_header=False)
    contacts = profile["contacts"]
    trend = profile["sentiment_trend"]
    rows = [
        ("contacts 7d / 30d / 90d", f"{contacts['7d']} / {contacts['30d']} / {contacts['90d']}"),
        ("open issues", ", ".join(f"{i['intent']} ({i['tickets']})" for i in profile["open_issues"]) or "-"),
        ("repeated issues", ", ".join(f"{i['intent']} x{i['count']}" for i in profile["repeated_issues"]) or "-"),
        ("top intents", ", ".join(f"{i['intent']} ({i['count']})" for i in profile["top_intents"]) or "-"),
        ("sentiment", "-" if trend["last"] is None else
         f"last {trend['last']:+.2f}" + ("" if trend["slope"] is None else f", slope {trend['slope']:+.2f}/contact")),
        ("channels", ", ".join(f"{k} {v}" for k, v in profile["channels"].items()) or "-"),
        ("last contact", str(profile["last_contact"] or "-")[:16].replace("T", " ")),
        ("linked", ", ".join(f"{l['customer_id']} ({l['via']}, {l['state']})" for l in profile["linked_customers"]) or "-"),
        ("escalation risk", f"{profile['risk']['score']:.2f}: " +
         ("; ".join(r["detail"] for r in profile["risk"]["reasons"]) or "no signal")),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
