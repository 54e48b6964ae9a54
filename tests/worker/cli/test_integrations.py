"""`convert`, `ingest` and `enqueue --resume` as a user runs them: real processes, real files, the
session's real Redis, PostgreSQL and worker."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from worker.contract import Ticket
from worker.crm.statuses import StatusStore
from worker.crm.store import CrmStore

REPO = Path(__file__).resolve().parents[3]
PAYLOADS = REPO / "tests" / "producers" / "mappings" / "payloads"
CORPUS = REPO / "tests" / "producers" / "email" / "corpus"


def _run(args: list[str], env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "worker.cli.main", *args], env=os.environ | env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def local_env(tmp_path: Path) -> dict[str, str]:
    """A private SQLite CRM and blob store; no broker needed to convert."""
    return {"TICKETFUSION_DATABASE_URL": f"sqlite:///{tmp_path / 'crm.db'}",
            "TICKETFUSION_BLOB_DIR": str(tmp_path / "blobs"), "TICKETFUSION_LOG_LEVEL": "WARNING", "COLUMNS": "200"}


def test_convert_zendesk_writes_contract_tickets(local_env: dict, tmp_path: Path) -> None:
    """A Zendesk export becomes one valid contract ticket per line, with string ids."""
    out = tmp_path / "tickets.jsonl"
    done = _run(["convert", "zendesk", str(PAYLOADS / "zendesk_api_ticket.json"),
                 str(PAYLOADS / "zendesk_event_ticket_created.json"), "-o", str(out)], local_env)
    assert done.returncode == 0, done.stderr
    tickets = [Ticket.model_validate_json(line) for line in out.read_text().splitlines()]
    assert tickets and all(t.ticket_id.startswith("zendesk-") for t in tickets)
    assert "@" not in "".join(t.customer_id for t in tickets)


def test_convert_names_each_failure_and_exits_1(local_env: dict, tmp_path: Path) -> None:
    """A broken input is named on stderr with its reason, the good ones are still written, exit 1."""
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    out = tmp_path / "tickets.jsonl"
    done = _run(["convert", "freshdesk", str(PAYLOADS / "freshdesk_ticket.json"), str(broken), "-o", str(out)],
                local_env)
    assert done.returncode == 1
    assert "broken.json" in done.stderr and "failed" in done.stderr
    assert len(out.read_text().splitlines()) == 1


def test_convert_email_corpus_gives_a_ticket_or_a_reason_for_each(local_env: dict, tmp_path: Path) -> None:
    """Every file of the e-mail corpus converts or is skipped or failed by name; nothing crashes."""
    if not CORPUS.is_dir():
        pytest.skip("no e-mail corpus")
    out = tmp_path / "mail.jsonl"
    done = _run(["convert", "email", str(CORPUS), "-o", str(out), "-v"], local_env)
    assert done.returncode in (0, 1), done.stderr
    assert "Traceback" not in done.stderr
    written = out.read_text().splitlines()
    assert written
    for line in written:
        Ticket.model_validate_json(line)
    assert "skipped" in done.stderr


def test_ingest_enqueues_once_and_resume_skips(worker_env: dict, celery_worker_process: dict, tmp_path: Path) -> None:
    """`ingest freshdesk` enqueues a ticket that reaches the CRM; running it again takes none twice;
    `enqueue --resume` skips what was enqueued."""
    payload = json.loads((PAYLOADS / "freshdesk_ticket.json").read_text())
    payload["id"] = random.randrange(10**7, 10**8)
    source = tmp_path / "fd.json"
    source.write_text(json.dumps(payload), encoding="utf-8")
    env = {**worker_env, "TICKETFUSION_LOG_LEVEL": "WARNING", "COLUMNS": "200"}
    first = _run(["ingest", "freshdesk", str(source)], env)
    assert first.returncode == 0, first.stderr
    assert "enqueued 1 ticket(s)" in first.stderr
    second = _run(["ingest", "freshdesk", str(source)], env)
    assert "enqueued 0 ticket(s); 1 already taken" in second.stderr
    ticket_id = f"freshdesk-{payload['id']}"
    crm = CrmStore(env["TICKETFUSION_DATABASE_URL"])
    deadline, status = time.monotonic() + 120, None
    while time.monotonic() < deadline and (status or {}).get("status") != "done":
        status = StatusStore(crm).get(ticket_id)
        time.sleep(0.3)
    assert status is not None and status["status"] == "done"
    crm.dispose()
    converted = tmp_path / "fd.jsonl"
    assert _run(["convert", "freshdesk", str(source), "-o", str(converted)], env).returncode == 0
    resumed = _run(["enqueue", str(converted), "--resume", "--no-progress"], env)
    assert resumed.returncode == 0, resumed.stderr
    assert "enqueued 0 ticket(s)" in resumed.stderr and "1 already enqueued or recorded" in resumed.stderr
