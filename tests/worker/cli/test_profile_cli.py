"""`ticketfusion history | resolve | enrich | link | unlink | beat` as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from worker.contract import Ticket, TriageResult
from worker.crm.enrichment import Enricher
from worker.crm.store import CrmStore

SCRIPT = Path(sys.executable).parent / "ticketfusion"


def _run(args: list[str], *, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A private SQLite CRM holding two customers' crafted tickets; no Redis."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("TICKETFUSION_")}
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    store = CrmStore(url)
    store.migrate()
    now = datetime.now(timezone.utc)
    for ticket_id, customer, days, intent in (("T-1", "C-1", 10, "card_arrival"), ("T-2", "C-1", 2, "card_arrival"),
                                              ("T-3", "C-2", 1, "top_up_failed")):
        store.record(Ticket(ticket_id=ticket_id, customer_id=customer, body="b", created_at=now - timedelta(days=days)),
                     TriageResult(ticket_id=ticket_id, intent={"label": intent, "confidence": 0.9},
                                  sentiment={"label": "negative", "score": -0.4}))
    store.dispose()
    return base | {"TICKETFUSION_DATABASE_URL": url, "TICKETFUSION_STATE_DIR": str(tmp_path / "state"),
                   "TICKETFUSION_LOG_LEVEL": "WARNING", "COLUMNS": "200"}


def test_history_json_carries_the_profile(env: dict[str, str], tmp_path: Path) -> None:
    """`history --json` adds the profile with the documented keys and right counts."""
    out = _run(["history", "C-1", "--json"], env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    profile = json.loads(out.stdout)["profile"]
    assert profile["contacts"] == {"7d": 1, "30d": 2, "90d": 2}
    assert profile["repeated_issues"][0] == {**profile["repeated_issues"][0], "intent": "card_arrival", "count": 2}
    assert {"open_issues", "top_intents", "sentiment_trend", "last_contact", "risk"} <= set(profile)
    assert 0 < profile["risk"]["score"] <= 1 and profile["risk"]["reasons"]
    table = _run(["history", "C-1"], env=env, cwd=tmp_path)
    assert "escalation risk" in table.stdout and "card_arrival x2" in table.stdout


def test_resolve_enrich_link_and_unlink(env: dict[str, str], tmp_path: Path) -> None:
    """resolve closes the issue; enrich --all reports; link merges two ids and unlink splits them."""
    resolved = _run(["resolve", "T-2", "--note", "sent a new card"], env=env, cwd=tmp_path)
    assert resolved.returncode == 0 and "resolved" in resolved.stderr
    profile = json.loads(_run(["history", "C-1", "--json"], env=env, cwd=tmp_path).stdout)["profile"]
    assert profile["open_issues"] == []
    assert json.loads(_run(["enrich", "--all", "--no-progress"], env=env, cwd=tmp_path).stdout) == {
        "customers": 2, "changed": 1}  # C-2 had no profile yet; C-1's is current
    assert _run(["link", "C-1", "C-2"], env=env, cwd=tmp_path).returncode == 0
    merged = json.loads(_run(["history", "C-2", "--json"], env=env, cwd=tmp_path).stdout)["profile"]
    assert merged["tickets"] == 3 and merged["linked_customers"][0]["via"] == "manual"
    assert "C-2" in _run(["unlink", "C-1"], env=env, cwd=tmp_path).stderr
    alone = json.loads(_run(["history", "C-2", "--json"], env=env, cwd=tmp_path).stdout)["profile"]
    assert alone["tickets"] == 1
    missing = _run(["resolve", "T-404"], env=env, cwd=tmp_path)
    assert missing.returncode == 2 and "no ticket 'T-404'" in missing.stderr


def test_beat_runs_the_periodic_enrichment(worker_env: dict[str, str], celery_worker_process: dict,
                                           tmp_path: Path) -> None:
    """`ticketfusion beat` sends the periodic run; the worker profiles a customer no on-update task named."""
    store = CrmStore(worker_env["TICKETFUSION_DATABASE_URL"])
    store.migrate()
    customer, ticket_id = f"beat-{uuid.uuid4().hex[:8]}", f"beat-t-{uuid.uuid4().hex[:8]}"
    store.record(Ticket(ticket_id=ticket_id, customer_id=customer, body="b"),
                 TriageResult(ticket_id=ticket_id, intent={"label": "card_arrival", "confidence": 0.9}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKETFUSION_")} | worker_env | {
        "TICKETFUSION_ENRICH_INTERVAL_S": "10"}
    beat = subprocess.Popen([str(SCRIPT), "beat", "--schedule", str(tmp_path / "schedule")], env=env,
                            stdout=subprocess.DEVNULL, stderr=open(tmp_path / "beat.log", "w"))
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and Enricher(store).profile(customer) is None:
            assert beat.poll() is None, (tmp_path / "beat.log").read_text()
            time.sleep(1)
        profile = Enricher(store).profile(customer)
        assert profile is not None and profile["tickets"] == 1, (tmp_path / "beat.log").read_text()
    finally:
        beat.terminate()
        beat.wait(timeout=30)
        store.dispose()
