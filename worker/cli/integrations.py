"""``convert``, ``ingest`` and ``webhooks``: foreign formats in, results out, from the command line.

``convert`` writes contract tickets without a broker (``enqueue`` and ``triage`` take its output);
``ingest`` converts and enqueues, claiming each id in the CRM so a message seen twice (an IMAP
poll after a crash, a re-run import) is triaged once.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from tempfile import NamedTemporaryFile

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from producers.conversion import Converted
from worker.blobs import BlobStore
from worker.settings import Settings


def converted_items(kind: str, inputs: list[Path], settings: Settings) -> Iterator[Converted]:
    """Every input item as a :class:`Converted`, by the named converter."""
    blobs = BlobStore(settings.blob_dir)
    if kind == "email":
        from producers.email import convert_paths

        yield from convert_paths(inputs, settings=settings, blobs=blobs)
        return
    from producers.mappings import convert_files, load_mapping

    name = kind.removeprefix("mapping:")
    yield from convert_files(inputs, load_mapping(name if kind.startswith("mapping:") else kind),
                             settings=settings, blobs=blobs)


def _progress(console: Console, items: Iterable[Converted]) -> Iterator[Converted]:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("converting", total=None)
        for item in items:
            bar.advance(task)
            yield item


def convert(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    """Write one ticket per line; each input that fails is named on stderr; exit 1 if any failed."""
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    counts = {"tickets": 0, "skipped": 0, "failed": 0}
    with NamedTemporaryFile("w", encoding="utf-8", dir=output.parent, prefix=f".{output.name}.", delete=False) as out:
        try:
            for item in _progress(console, converted_items(args.kind, args.inputs, settings)):
                if item.ticket is not None:
                    out.write(item.ticket.model_dump_json() + "\n")
                    counts["tickets"] += 1
                elif item.skipped is not None:
                    counts["skipped"] += 1
                    if args.verbose:
                        console.print(f"skipped {item.source}: {item.skipped}", highlight=False, markup=False)
                else:
                    counts["failed"] += 1
                    console.print(f"[red]failed[/red] {item.source}: {item.error}", highlight=False)
        except BaseException:
            os.unlink(out.name)
            raise
    os.replace(out.name, output)
    console.print(f"wrote {counts['tickets']} ticket(s) to {output}; skipped {counts['skipped']} "
                  f"(bounces, auto-replies, other events); {counts['failed']} failed")
    return 1 if counts["failed"] else 0


class Ingester:
    """Enqueue converted tickets once each: claim the id in the CRM, then publish."""

    def __init__(self, settings: Settings, console: Console, *, source: str) -> None:
        from worker.crm.statuses import StatusStore
        from worker.crm.store import CrmStore

        self.crm = CrmStore(settings.database_url)
        self.crm.migrate()
        self.statuses = StatusStore(self.crm)
        self.console, self.source = console, source
        self.counts = {"enqueued": 0, "duplicates": 0, "skipped": 0, "failed": 0}

    def __call__(self, item: Converted) -> None:
        """Raises when the broker is down, so a mailbox message stays unseen and is polled again."""
        from producers.enqueue import publish

        if item.ticket is None:
            key = "skipped" if item.skipped is not None else "failed"
            self.counts[key] += 1
            if key == "failed":
                self.console.print(f"[red]failed[/red] {item.source}: {item.error}", highlight=False)
            return
        created, _ = self.statuses.accept(item.ticket.ticket_id, source=self.source)
        if not created:
            self.counts["duplicates"] += 1
            return
        try:
            sent = publish(item.ticket)
        except Exception:
            self.statuses.forget(item.ticket.ticket_id)
            raise
        self.statuses.set_task(item.ticket.ticket_id, sent.task_id)
        self.counts["enqueued"] += 1

    def summary(self) -> str:
        c = self.counts
        return (f"enqueued {c['enqueued']} ticket(s); {c['duplicates']} already taken; skipped {c['skipped']}; "
                f"{c['failed']} failed")


def ingest(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    """``ingest imap [--once]`` or ``ingest KIND INPUT...``: convert and enqueue."""
    ingester = Ingester(settings, console, source=f"ingest:{args.kind}")
    try:
        if args.kind == "imap":
            from producers.email import poll_imap

            report = poll_imap(ingester, settings=settings, blobs=BlobStore(settings.blob_dir), once=args.once)
            console.print(f"{report.polls} poll(s), {report.messages} message(s): {ingester.summary()}")
        else:
            for item in _progress(console, converted_items(args.kind, args.inputs, settings)):
                ingester(item)
            console.print(ingester.summary())
    finally:
        ingester.crm.dispose()
    return 1 if ingester.counts["failed"] else 0


def webhooks(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    """``webhooks dead [--json]`` and ``webhooks replay ID|--all``."""
    from worker.crm.store import CrmStore
    from worker.outbound import DeliveryStore, list_dead, replay

    crm = CrmStore(settings.database_url)
    crm.migrate()
    store = DeliveryStore(crm)
    if args.webhooks_command == "dead":
        dead = list_dead(store)
        for entry in dead:
            if args.json:
                sys.stdout.write(json.dumps(entry, default=str) + "\n")
            else:
                console.print(f"{entry['id']}  {entry['subscription']}  {entry['ticket_id']}  attempts "
                              f"{entry['attempts']}: {entry.get('last_error') or ''}", highlight=False, markup=False)
        if not args.json:
            console.print(f"{len(dead)} dead deliveries")
        return 0
    from worker.app import QUEUE_WEBHOOKS, WEBHOOK_TASK, app

    ids = None if args.all else list(args.ids)
    if ids is not None and not ids:
        raise ValueError("name delivery ids to replay, or pass --all")
    sent = replay(store, ids, lambda delivery: app.send_task(WEBHOOK_TASK, args=(delivery,), queue=QUEUE_WEBHOOKS))
    console.print(f"replayed {len(sent)} deliveries")
    return 0
