"""One function per sub-command; each imports what it needs when it runs."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from rich.console import Console

# main.py finds each sub-command here as cmd_<name>; the profile commands live in their own module.
from worker.cli.profiles import cmd_beat, cmd_enrich, cmd_link, cmd_resolve, cmd_unlink  # noqa: F401
from worker.settings import Settings, get_settings

console = Console(stderr=True)


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from worker.cli.demo import run_demo

    tickets = args.tickets or Path(__file__).resolve().parents[2] / "examples" / "tickets.jsonl"
    return run_demo(settings, tickets=tickets, customer=args.customer, timeout=args.timeout)


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    concurrency = args.concurrency or os.cpu_count() or 1
    # Share the cores between the pool's processes instead of oversubscribing them.
    share = str(max(1, (os.cpu_count() or 1) // concurrency))
    for name, value in (("INTENT_THREADS", settings.intent_threads), ("MEDIA_THREADS", settings.media_threads)):
        if value == 0:
            os.environ[f"TICKETFUSION_{name}"] = share
    get_settings.cache_clear()
    from worker.app import app
    from worker.observability.json_logs import use_json_logs

    use_json_logs()  # before Celery starts, so that its first lines are JSON too
    quiet = ["--quiet"] if settings.log_format == "json" else []  # no banner: every line is JSON
    # Only the text queue is batched; a media-only worker takes one message per process at a time,
    # leaving the rest to its peers.
    prefetch = [] if "text" in args.queues.split(",") else ["--prefetch-multiplier", "1"]
    app.worker_main(
        [
            *quiet,
            "worker",
            "--queues",
            args.queues,
            "--concurrency",
            str(concurrency),
            *prefetch,
            "--loglevel",
            args.loglevel or settings.log_level,
            "--hostname",
            f"ticketfusion-{os.getpid()}@%h",
        ]
    )
    return 0


def cmd_enqueue(args: argparse.Namespace, settings: Settings) -> int:
    from producers.enqueue import enqueue_file
    from worker.cli.render import print_line_errors, wait_for

    from sqlalchemy.exc import SQLAlchemyError

    from worker.crm.statuses import StatusStore
    from worker.crm.store import CrmStore

    crm = CrmStore(settings.database_url)
    statuses: StatusStore | None = StatusStore(crm)
    try:
        crm.migrate()
        known = statuses.known_ids() if args.resume else set()  # type: ignore[union-attr]
    except SQLAlchemyError as exc:
        if args.resume:
            raise RuntimeError(f"--resume needs the CRM database ({exc.__class__.__name__}): check "
                               "TICKETFUSION_DATABASE_URL") from exc
        console.print("[yellow]the CRM database does not answer: tickets are sent, their status is not recorded")
        statuses, known = None, set()
    report = enqueue_file(
        args.file, fmt=args.fmt, mapping=args.mapping, progress=not args.no_progress,
        skip=known.__contains__ if args.resume else None,
        on_sent=(lambda sent: statuses.accept(sent.ticket_id, source="enqueue", task_id=sent.task_id))
        if statuses is not None else None,
    )
    crm.dispose()
    print_line_errors(console, report.errors)
    resumed = f"; {report.skipped} already enqueued or recorded" if args.resume else ""
    console.print(f"enqueued {report.enqueued} ticket(s); {len(report.errors)} bad line(s){resumed}")
    if args.wait and report.task_ids:
        wait_for(console, report.task_ids, timeout=args.timeout)
    return 1 if report.errors else 0


def cmd_triage(args: argparse.Namespace, settings: Settings) -> int:
    from worker.cli.render import print_line_errors
    from worker.cli.triage_file import triage_file

    report = triage_file(
        args.file,
        args.output,
        settings=settings,
        fmt=args.fmt,
        mapping=args.mapping,
        batch_size=args.batch_size or settings.batch_size,
        progress=not args.no_progress,
    )
    print_line_errors(console, report.bad_lines)
    console.print(f"wrote {report.results} result(s) to {args.output}; {len(report.bad_lines)} bad line(s)")
    return 1 if report.bad_lines else 0


def cmd_history(args: argparse.Namespace, settings: Settings) -> int:
    from worker.cli.profiles import print_json, profile_table
    from worker.cli.render import history_table
    from worker.crm.store import CrmStore
    from worker.state import enricher_for

    store = CrmStore(settings.database_url)
    store.migrate()
    history = store.history(args.customer_id, limit=args.limit)
    profile = None
    if history["tickets"]:
        enricher = enricher_for(store, settings)
        enricher.enrich(args.customer_id)  # a no-op when the background enrichment is up to date
        profile = enricher.profile(args.customer_id)
    store.dispose()
    if args.json:
        print_json({**history, "profile": profile})
    else:
        Console().print(history_table(history))
        if profile is not None:
            Console().print(profile_table(profile))
    return 0 if history["tickets"] else 1


def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    from worker.training.data.splits import default_paths
    from worker.training.fitting.train_intent import train_intent

    data, out_dir = default_paths(args.data, args.out)
    metrics = train_intent(
        data=data,
        text_col=args.text_col,
        label_col=args.label_col,
        out_dir=out_dir,
        epochs=args.epochs,
        seed=args.seed,
        device=args.device,
    )
    console.print_json(json.dumps(metrics, default=str))
    return 0


def cmd_data(args: argparse.Namespace, settings: Settings) -> int:
    from worker.training.data.synthetic.synth import synthesize

    report = synthesize(
        out=args.out or Path(settings.state_dir) / "synth",
        data_dir=Path(settings.data_dir),
        n_train=args.n_train,
        n_val=args.n_val,
        seed=args.seed,
        kinds=[kind.strip() for kind in args.kinds.split(",") if kind.strip()],
        workers=args.workers,
        progress=not args.no_progress,
    )
    console.print(report)
    return 0


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    out = args.out or Path(settings.state_dir) / "eval"
    synth = args.synth or Path(settings.state_dir) / "synth"
    if args.part in ("all", "understanding"):
        from worker.training.evaluation.understanding import evaluate_understanding

        console.print(f"report written to {evaluate_understanding(settings, out=out, progress=not args.no_progress, limit=args.limit)}")
    if args.part in ("all", "media"):
        if not synth.is_dir():
            console.print(f"no synthetic media split in {synth}: media evaluation skipped "
                          "(make one with `ticketfusion data synth`)")
            return 0 if args.part == "all" else 1
        from worker.training.evaluation.accuracy import evaluate

        report = evaluate(settings, synth=synth, out=out, limit=args.limit, progress=not args.no_progress)
        console.print(f"report written to {report}")
    return 0


def cmd_models(args: argparse.Namespace, settings: Settings) -> int:
    if args.models_command == "build":
        from worker.training.export.build import build_models

        build_models(Path(settings.models_dir), force=args.force)
        return 0
    from worker.text.intent import IntentModel

    model = IntentModel.load(
        Path(settings.models_dir), precision=settings.intent_precision, device=settings.device
    )
    manifest = Path(settings.models_dir) / "manifest.json"
    console.print(f"intent model {model.version}: {len(model.labels)} labels on {model.provider}")
    from worker.errors import MediaError
    from worker.media.reader import MediaReader

    reader = MediaReader(settings)
    for name in ("ocr", "vad", "asr", "image_encoder", "audio_encoder"):
        try:
            reader.model(name)
        except MediaError as exc:
            console.print(f"{name}: not available ({exc})")
    for name, provider in reader.providers().items():
        console.print(f"{name}: {provider}")
    try:
        from worker.fusion.model import FusionModel

        fusion = FusionModel.load(Path(settings.models_dir), method=settings.fusion_method, device=settings.device)
        console.print(f"fusion: {fusion.version} on {fusion.provider}")
    except MediaError as exc:
        console.print(f"fusion: not available ({exc})")
    from worker.orchestrator.understand import Understanding

    understanding = Understanding.load(settings, labels=model.labels)
    tagger = understanding.extractor.tagger
    console.print(f"entity tagger: {tagger.version} on {tagger.provider}" if tagger else "entity tagger: not built")
    encoder, scope, knowledge = understanding.encoder, understanding.scope, understanding.knowledge
    console.print(f"sentence encoder (scope, articles): {encoder.provider if encoder else 'not built'}")
    console.print(f"out of scope at score ≥ {scope.out_of_scope_threshold:.3f}" if scope
                  else "out of scope: no model for this intent model (nothing flagged, nothing auto-sent)")
    console.print(f"auto-send at confidence ≥ {understanding.gates.auto_send:.3f}" if understanding.gates.auto_send <= 1
                  else "auto-send: off")
    console.print(f"knowledge: {len(knowledge.intents)} replies, {len(knowledge.articles)} articles in "
                  f"{settings.knowledge_dir}" if knowledge else f"knowledge: {settings.knowledge_dir} covers another taxonomy")
    if manifest.exists():
        console.print_json(manifest.read_text())
    return 0


def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    from worker.crm.store import CrmStore

    store = CrmStore(settings.database_url)
    store.migrate()
    store.dispose()
    console.print("CRM schema is at the latest migration")
    return 0


def cmd_api(args: argparse.Namespace, settings: Settings) -> int:
    from worker.cli.service import serve_api

    return serve_api(args, settings)


def cmd_keys(args: argparse.Namespace, settings: Settings) -> int:
    from worker.cli.service import keys

    return keys(args, settings, console)


def cmd_convert(args: argparse.Namespace, settings: Settings) -> int:
    from worker.cli.integrations import convert

    return convert(args, settings, console)


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from worker.cli.integrations import ingest

    if args.kind != "imap" and not args.inputs:
        raise ValueError(f"`ingest {args.kind}` needs at least one input file")
    return ingest(args, settings, console)


def cmd_webhooks(args: argparse.Namespace, settings: Settings) -> int:
    from worker.cli.integrations import webhooks

    return webhooks(args, settings, console)


def cmd_dlq(args: argparse.Namespace, settings: Settings) -> int:
    from worker.cli.dlq import dlq

    return dlq(args, settings, console)
