"""Tables, progress and waiting for the command line."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from celery import Celery
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table


def print_line_errors(console: Console, errors: Mapping[int, Sequence[Any]]) -> None:
    """One line per problem: where (line number and field), a code, and the reason."""
    for _, entries in sorted(errors.items()):
        for entry in entries:
            console.print(f"[red]{escape(entry.where)}[/red] ({entry.code}) {escape(entry.message)}", highlight=False)


def wait_for(
    console: Console, task_ids: Sequence[str], *, timeout: float, celery_app: Celery | None = None
) -> list[dict[str, Any]]:
    """Wait for the final task of each chain; returns their results in order."""
    from celery.result import AsyncResult

    from worker.app import app

    the_app = celery_app or app
    pending = {task_id: AsyncResult(task_id, app=the_app) for task_id in task_ids}
    done: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    columns = (TextColumn("results"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("wait", total=len(task_ids))
        while pending and time.monotonic() < deadline:
            for task_id, result in list(pending.items()):
                if result.ready():
                    value = result.get(propagate=False)
                    done[task_id] = value if isinstance(value, dict) else {"error": repr(value)}
                    del pending[task_id]
                    bar.advance(task)
            time.sleep(0.1)
    if pending:
        raise TimeoutError(f"{len(pending)} of {len(task_ids)} tickets not recorded after {timeout:.0f} s")
    return [done[task_id] for task_id in task_ids]


def results_table(rows: Iterable[Mapping[str, Any]]) -> Table:
    """The triaged tickets as the worker recorded them."""
    table = Table(title="Triaged tickets")
    rows = list(rows)
    errors = any(row.get("errors") for row in rows)
    table.add_column("ticket", no_wrap=True)
    table.add_column("intent (confidence)", overflow="fold")
    for column in ("priority", "reply", "key information") + (("errors",) if errors else ()):
        table.add_column(column, overflow="fold")
    for row in rows:
        confidence = row.get("confidence")
        intent = str(row.get("intent") or "-")
        if isinstance(confidence, float):
            intent = f"{intent} ({confidence:.2f})"
        table.add_row(
            str(row.get("ticket_id")),
            f"out of scope; guess: {intent}" if row.get("out_of_scope") else intent,
            str(row.get("priority") or "-"),
            str(row.get("action") or "-"),
            ", ".join(row.get("entities") or []),
            *((", ".join(row.get("errors") or []),) if errors else ()),
        )
    return table


def history_table(history: Mapping[str, Any]) -> Table:
    """A customer's timeline, oldest first."""
    name = history.get("display_name") or ""
    table = Table(title=f"History of {history['customer_id']} {name}".strip())
    for column in ("created", "ticket", "channel", "subject", "intent", "confidence", "priority"):
        table.add_column(column)
    for ticket in history["tickets"]:
        confidence = ticket.get("confidence")
        table.add_row(
            str(ticket.get("created_at", ""))[:16].replace("T", " "),
            str(ticket.get("ticket_id")),
            str(ticket.get("channel") or ""),
            str(ticket.get("subject") or "")[:40],
            str(ticket.get("intent") or "-"),
            f"{confidence:.2f}" if isinstance(confidence, float) else "-",
            str(ticket.get("priority") or "-"),
        )
    return table


def reply_panel(ticket_id: str, result: Mapping[str, Any] | None) -> Panel:
    """A stored reply as the customer would read it, with why it was sent as it was."""
    reply = (result or {}).get("reply") or {}
    reasons = "; ".join(reply.get("reasons") or [])
    return Panel(reply.get("text") or "(no text)", title=f"reply to {ticket_id}: {reply.get('action', '-')}",
                 subtitle=reasons, expand=False)
