"""The `ticketfusion` command as a user runs it: a real process, real files, real services."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "examples"
SCRIPT = Path(sys.executable).parent / "ticketfusion"


def _run(args: list[str], *, env: dict[str, str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(SCRIPT), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A private SQLite CRM and state folder; no Redis configured."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("TICKETFUSION_")}
    return base | {
        "TICKETFUSION_DATABASE_URL": f"sqlite:///{tmp_path / 'crm.db'}",
        "TICKETFUSION_STATE_DIR": str(tmp_path / "state"),
        "TICKETFUSION_BLOB_DIR": str(tmp_path / "blobs"),
        "TICKETFUSION_LOG_LEVEL": "WARNING",
        "COLUMNS": "200",
    }


def test_help_works_from_any_directory(env: dict[str, str], tmp_path: Path) -> None:
    """The console script runs outside the repository."""
    out = _run(["--help"], env=env, cwd=tmp_path)
    assert out.returncode == 0
    assert "triage" in out.stdout and "enqueue" in out.stdout


def test_triage_file_keeps_order_and_reports_bad_lines(env: dict[str, str], tmp_path: Path) -> None:
    """One result per input line, in order; bad lines carry errors, good lines an intent; exit 1."""
    output = tmp_path / "out.jsonl"
    out = _run(["triage", str(EXAMPLES / "bad_tickets.jsonl"), "-o", str(output), "--no-progress"], env=env, cwd=tmp_path)
    assert out.returncode == 1, out.stderr
    results = [json.loads(line) for line in output.read_text().splitlines()]
    lines = (EXAMPLES / "bad_tickets.jsonl").read_text().splitlines()
    assert len(results) == len(lines)
    assert results[0]["ticket_id"] == "B-1" and results[0]["intent"]["label"] == "lost_or_stolen_card"
    assert results[-1]["ticket_id"] == "B-7" and results[-1]["intent"] is not None
    for result in results[1:-1]:
        assert result["errors"], result
        assert result["intent"] is None
    assert results[1]["errors"][0]["where"].endswith("channel")
    assert results[2]["errors"][0]["where"].endswith("customer_id")
    assert results[3]["ticket_id"] == "line-4"
    assert "line 2: channel" in out.stderr and "line 5" in out.stderr


def test_triage_reads_a_labelled_data_set(env: dict[str, str], tmp_path: Path) -> None:
    """A Banking77-format CSV (text,category) triages row by row, ids from line numbers."""
    data = tmp_path / "test.csv"
    data.write_text('text,category\n"I lost my card, please block it",lost_or_stolen_card\nHow do I change my PIN?,change_pin\n')
    output = tmp_path / "out.jsonl"
    out = _run(["triage", str(data), "-o", str(output), "--no-progress"], env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    results = [json.loads(line) for line in output.read_text().splitlines()]
    assert [r["ticket_id"] for r in results] == ["line-2", "line-3"]
    assert [r["intent"]["label"] for r in results] == ["lost_or_stolen_card", "change_pin"]


def test_run_uses_an_embedded_redis_and_a_real_worker(env: dict[str, str], tmp_path: Path) -> None:
    """`ticketfusion run` with no Redis configured triages the examples and shows a history."""
    out = _run(["run"], env=env, cwd=tmp_path, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "embedded Redis" in out.stdout
    assert "T-1012" in out.stdout and "lost_or_stolen_card" in out.stdout
    assert "History of C-ada" in out.stdout
    history = _run(["history", "C-ada", "--json"], env=env, cwd=tmp_path)
    assert history.returncode == 0
    payload = json.loads(history.stdout)
    assert payload["customer_id"] == "C-ada"
    assert [t["ticket_id"] for t in payload["tickets"]] == ["T-1001", "T-1002", "T-1003"]


def test_history_of_unknown_customer_exits_nonzero(env: dict[str, str], tmp_path: Path) -> None:
    """An unknown customer has an empty timeline and a non-zero exit status."""
    out = _run(["history", "C-nobody", "--json"], env=env, cwd=tmp_path)
    assert out.returncode == 1
    assert json.loads(out.stdout)["tickets"] == []


def test_enqueue_reports_bad_lines_and_enqueues_good_ones(env: dict[str, str], tmp_path: Path, redis_url: str) -> None:
    """`enqueue` names each bad line, still enqueues the good ones, and exits 1."""
    import redis

    url = redis_url.rsplit("/", 1)[0] + "/13"
    client = redis.Redis.from_url(url)
    client.flushdb()
    out = _run(
        ["enqueue", str(EXAMPLES / "bad_tickets.jsonl"), "--no-progress"],
        env=env | {"TICKETFUSION_REDIS_URL": url},
        cwd=tmp_path,
    )
    assert out.returncode == 1
    assert "line 2" in out.stderr and "line 4" in out.stderr
    assert client.llen("text") == 2
    client.flushdb()


def test_train_on_a_company_csv_then_triage_with_it(env: dict[str, str], tmp_path: Path) -> None:
    """`ticketfusion train` learns another taxonomy from a CSV, and `triage` then serves it."""
    import csv

    phrasings = {
        "parcel_late": ["my parcel is late", "the delivery has not come", "where is my package",
                        "order still not delivered", "courier never arrived", "shipment is delayed"],
        "invoice_copy": ["send me a copy of my invoice", "I need the receipt for my order",
                         "can I get my bill again", "please email the invoice", "lost my receipt",
                         "download my invoice"],
        "password_reset": ["I forgot my password", "cannot log in to my account", "reset my password",
                           "the login code never came", "locked out of my account", "change my password"],
    }
    data = tmp_path / "company.csv"
    with data.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["message", "team_intent"])
        for label, texts in phrasings.items():
            for i in range(4):
                for text in texts:
                    writer.writerow([f"{text}{'!' * i}", label])
    models = tmp_path / "models"
    out = _run(
        ["train", "--data", str(data), "--text-col", "message", "--label-col", "team_intent",
         "--out", str(models / "intent"), "--epochs", "2"],
        env=env, cwd=tmp_path, timeout=900,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    tickets = tmp_path / "tickets.jsonl"
    tickets.write_text(
        json.dumps({"ticket_id": "X-1", "customer_id": "C-1", "body": "I can't remember my password"}) + "\n"
    )
    result_file = tmp_path / "out.jsonl"
    triaged = _run(
        ["triage", str(tickets), "-o", str(result_file), "--no-progress"],
        env=env | {"TICKETFUSION_MODELS_DIR": str(models)}, cwd=tmp_path,
    )
    assert triaged.returncode == 0, triaged.stderr[-3000:]
    result = json.loads(result_file.read_text())
    assert {label for label, _ in result["intent"]["top"]} <= set(phrasings)
    assert result["intent"]["label"] == "password_reset"
    # The banking knowledge base and scope model do not apply to this taxonomy: no text, no flag, a draft.
    assert result["reply"]["action"] == "draft" and result["reply"]["text"] == ""
    assert result["out_of_scope"] is False and result["out_of_scope_score"] is None
    assert result["priority"]["level"] == "normal"
