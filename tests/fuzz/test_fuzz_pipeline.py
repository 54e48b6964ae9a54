"""Hostile input end to end, through real processes: `ticketfusion triage` over a few thousand
hostile lines mixed with good ones, and a batch of broken attachments through the session's real
Celery worker. One result (or a named refusal) per line, no traceback, the worker alive."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from celery.result import AsyncResult
from fuzz_lines import bad_jsonl_lines, redaction_growth
from fuzz_media import cases, mutate, variants

from producers.enqueue import enqueue_many
from worker.blobs import BlobStore
from worker.crm.store import CrmStore
from worker.errors import MediaError
from worker.media.audio import decode_audio
from worker.media.images import decode_image
from worker.settings import Settings

SCRIPT = Path(sys.executable).parent / "ticketfusion"
MEDIA_CODES = {"empty_attachment", "unsupported_media_type", "corrupt_media", "image_too_large", "audio_too_long",
               "media_too_large", "silent_audio", "attachment_missing", "attachment_unreadable"}
BODIES = ["I lost my card on the bus, please block it", "my card payment was declined at the shop",
          "How do I change my PIN?", "the transfer I made yesterday has not arrived",
          "Why was I charged a fee for withdrawing cash?", "what is the exchange rate for euros"]


def refused(kind: str, data: bytes, settings: Settings) -> str | None:
    """The MediaError code the decoder gives these bytes, or None when they decode."""
    try:
        if kind == "image":
            decode_image(data, max_pixels=settings.max_image_pixels)
        else:
            decode_audio(data, max_seconds=settings.max_audio_seconds)
    except MediaError as exc:
        return exc.code
    return None


def broken_media(folder: Path, settings: Settings, count: int, seed: int) -> list[tuple[Path, str, str]]:
    """(file, declared kind, code) for ``count`` files the decoders refuse: the hostile catalogue, then
    mutations of valid files (those that still decode are left out: they would be read by OCR/ASR)."""
    rng = random.Random(seed)
    candidates = [(kind, data) for kind, data, _ in cases().values() if len(data) < 2_000_000]
    while len(candidates) < 4 * count:
        kind, _, data = rng.choice(variants())
        edits = [(rng.choice(["truncate", "flip", "byte", "int32", "delete"]), rng.randrange(2**20),
                  rng.randrange(2**16)) for _ in range(rng.randint(1, 3))]
        candidates.append((kind, mutate(data, edits)))
    out: list[tuple[Path, str, str]] = []
    for n, (kind, data) in enumerate(candidates):
        code = refused(kind, data, settings)
        if code is not None:
            path = folder / f"broken-{n}.{'png' if kind == 'image' else 'wav'}"
            path.write_bytes(data)
            out.append((path, kind, code))
        if len(out) == count:
            break
    return out


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """A private SQLite CRM and state folder; no Redis."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("TICKETFUSION_")}
    return base | {"TICKETFUSION_DATABASE_URL": f"sqlite:///{tmp_path / 'crm.db'}",
                   "TICKETFUSION_STATE_DIR": str(tmp_path / "state"), "TICKETFUSION_BLOB_DIR": str(tmp_path / "blobs"),
                   "TICKETFUSION_LOG_LEVEL": "WARNING", "COLUMNS": "200"}


def test_triage_command_gives_one_result_per_hostile_line(cli_env: dict[str, str], tmp_path: Path) -> None:
    """`ticketfusion triage` over 3 000 mostly hostile lines: one result each, named errors, no traceback."""
    settings = Settings(redis_url="redis://127.0.0.1:6379/11")
    media = broken_media(tmp_path, settings, count=20, seed=3)
    hostile = bad_jsonl_lines(settings.max_line_bytes, settings.max_metadata_bytes)
    rng = random.Random(12)
    lines: list[bytes] = []
    expected: list[tuple[str, str | None]] = []  # ("good", id) / ("grows", id) / ("media", code) / ("bad", None)
    for n in range(3_000):
        roll = rng.random()
        if roll < 0.08:
            ticket_id = f"G-{n}"
            lines.append(json.dumps({"ticket_id": ticket_id, "customer_id": "C-1", "body": rng.choice(BODIES)}).encode())
            expected.append(("good", ticket_id))
        elif roll < 0.09:  # masking would grow its metadata past the limit
            lines.append(redaction_growth(rng.randrange(20), settings.max_metadata_bytes).replace(b"R-1", f"R-{n}".encode()))
            expected.append(("grows", f"R-{n}"))
        elif roll < 0.1:
            path, kind, code = rng.choice(media)
            attachment = {"kind": kind, "uri": str(path)}
            lines.append(json.dumps({"ticket_id": f"M-{n}", "customer_id": "C-1", "body": rng.choice(BODIES),
                                     "attachments": [attachment]}).encode())
            expected.append(("media", code))
        else:
            line = rng.choice(hostile)
            if len(line) > 100_000 and rng.random() < 0.9:  # keep the file to a few MB
                line = rng.choice(hostile[:10])
            lines.append(line)
            expected.append(("bad", None))
    source, output = tmp_path / "hostile.jsonl", tmp_path / "out.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    done = subprocess.run([str(SCRIPT), "triage", str(source), "-o", str(output), "--no-progress"], env=cli_env,
                          cwd=tmp_path, capture_output=True, timeout=300)
    stderr = done.stderr.decode("utf-8", "replace")
    assert done.returncode == 1, stderr[-3000:]
    assert "Traceback" not in stderr and "Traceback" not in done.stdout.decode("utf-8", "replace"), stderr[-3000:]
    results = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert len(results) == len(lines)
    for number, (result, (kind, detail)) in enumerate(zip(results, expected), start=1):
        if kind == "good":
            assert result["ticket_id"] == detail and result["intent"] is not None and result["errors"] == [], result
        elif kind == "grows":  # fitted by the redaction, or refused by name
            codes = [e["code"] for e in result["errors"]]
            assert (result["intent"] is not None and not codes) or codes == ["invalid_once_redacted"], result
        elif kind == "media":
            assert result["intent"] is not None, result  # triaged on its text
            assert [(e["where"], e["code"]) for e in result["errors"]] == [("attachments.0", detail)], result
        else:
            assert result["intent"] is None and result["errors"], (number, result)
            assert all(e["code"] and e["where"].startswith(f"line {number}") for e in result["errors"]), result


@pytest.fixture(scope="module")
def worker(celery_worker_process: dict) -> dict:
    return celery_worker_process


def test_worker_survives_a_batch_of_broken_attachments(worker: dict, tmp_path: Path) -> None:
    """40 broken attachments through the real worker: each ticket recorded with its named error, the worker alive."""
    settings = Settings(redis_url=worker["env"]["TICKETFUSION_REDIS_URL"])
    media = broken_media(tmp_path, settings, count=40, seed=8)
    blobs = BlobStore(Path(worker["env"]["TICKETFUSION_BLOB_DIR"]))
    log_start = worker["log"].stat().st_size  # the session's worker: read only what this test adds
    tickets = [{"ticket_id": f"FZ-{n}", "customer_id": "C-fuzzmedia", "channel": "chat", "body": BODIES[n % len(BODIES)],
                "attachments": [{"kind": kind, "uri": str(path)}]} for n, (path, kind, _) in enumerate(media)]
    ids = enqueue_many(tickets, celery_app=worker["app"], blob_store=blobs)
    summaries = [AsyncResult(task_id, app=worker["app"]).get(timeout=240) for task_id in ids]
    for summary, (path, _, code) in zip(summaries, media):
        assert summary["recorded"] is True and summary["intent"] is not None, (path.name, summary)
        assert summary["errors"] == [f"attachments.0: {code}"], (path.name, summary)
        assert code in MEDIA_CODES
    store = CrmStore(worker["env"]["TICKETFUSION_DATABASE_URL"])
    try:
        assert store.count_tickets("C-fuzzmedia") == len(media)
    finally:
        store.dispose()
    assert worker["process"].poll() is None
    assert worker["app"].control.ping(timeout=5)
    with worker["log"].open("rb") as log:
        log.seek(log_start)
        assert b"Traceback" not in log.read()
