"""``ticketfusion dlq list | replay | purge``: the tickets that could not be processed."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from worker.settings import Settings


def _store(settings: Settings):  # noqa: ANN202 - a DeadLetterStore
    from worker.crm.dead_letters import DeadLetterStore

    return DeadLetterStore.from_url(settings.redis_url or "redis://127.0.0.1:6379/0")


def replay_one(entry: dict[str, Any], settings: Settings) -> str:
    """Send an entry again: a ``crm`` entry to the CRM write as it was, any other to triage."""
    from producers.enqueue import publish, validate_ticket
    from worker.app import CRM_TASK, QUEUE_CRM, app

    ticket = entry.get("ticket") or {}
    if "unparsed" in ticket or not ticket:
        raise ValueError(f"{entry['id']}: the payload broke the contract ({entry['reason'][:200]}); it cannot be "
                         "replayed as it is: fix it at the source and send it again")
    if entry["stage"] == "crm" and entry.get("result"):
        sent = app.send_task(CRM_TASK, args=({"ticket": ticket, "result": entry["result"]},), queue=QUEUE_CRM)
        return sent.id
    return publish(validate_ticket(ticket, settings=settings)).task_id


def dlq(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    store = _store(settings)
    if args.dlq_command == "list":
        entries = store.list()
        if args.json:
            for entry in entries:
                entry = {key: value for key, value in entry.items() if key not in ("ticket", "result")}
                sys.stdout.write(json.dumps(entry) + "\n")
            return 0
        table = Table(title=f"Dead letters ({len(entries)})")
        for column in ("id", "stage", "attempts", "last failed", "reason", "replayed"):
            table.add_column(column, overflow="fold")
        for entry in entries:
            table.add_row(entry["id"], entry["stage"], str(entry["attempts"]), entry["last_failed_at"][:19],
                          entry["reason"], (entry.get("replayed_at") or "-")[:19])
        Console().print(table)
        return 0
    if args.dlq_command == "purge":
        if not store.remove(args.id):
            raise ValueError(f"no dead letter {args.id!r}: `ticketfusion dlq list` shows them")
        console.print(f"purged {args.id}")
        return 0
    ids = [entry["id"] for entry in store.list()] if args.all else list(args.ids)
    if not ids:
        raise ValueError("name dead letters to replay, or pass --all")
    failed = 0
    for entry_id in ids:
        entry = store.get(entry_id)
        try:
            task_id = replay_one(entry, settings)
        except ValueError as exc:
            console.print(f"[red]not replayed[/red] {exc}", highlight=False)
            failed += 1
            continue
        store.mark_replayed(entry_id)
        console.print(f"replayed {entry_id} ({entry['stage']}) as task {task_id}", highlight=False)
    console.print(f"{len(ids) - failed} replayed; each leaves the list once its ticket is recorded")
    return 1 if failed else 0
