"""`ticketfusion data synth` then `ticketfusion eval` on a tiny set: the report, its figures and plots."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from worker.cli.main import main


@pytest.fixture(scope="module")
def report_dir(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic set of 3 screenshots and 3 voice notes per split, evaluated once."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (make synth-tools)")
    root = tmp_path_factory.mktemp("eval")
    synth, out = root / "synth", root / "report"
    assert main(["data", "synth", "--out", str(synth), "--train", "2", "--val", "3", "--no-progress"]) == 0
    assert main(["eval", "--part", "media", "--synth", str(synth), "--out", str(out), "--no-progress"]) == 0
    return out


def test_report_has_every_condition_and_plot(report_dir: Path) -> None:
    """The report covers the five conditions and writes its three plots."""
    metrics = json.loads((report_dir / "metrics.json").read_text())
    assert list(metrics["conditions"]) == [
        "text only", "screenshot only", "screenshot + vague text", "voice only", "voice + vague text",
    ]
    assert metrics["n"]["screenshot only"] == 3 and metrics["n"]["voice only"] == 3
    assert metrics["n"]["text only"] > 900  # the Banking77 validation split
    assert all(0.0 <= value <= 1.0 for value in metrics["conditions"].values())
    for plot in ("accuracy_per_condition.png", "confusion_matrix.png"):
        assert (report_dir / plot).stat().st_size > 10_000
    assert "| screenshot only | 3 |" in (report_dir / "report.md").read_text()


def test_text_only_accuracy_is_the_intent_models(report_dir: Path) -> None:
    """Text-only tickets are scored by the intent model: the foundation's validation figure."""
    metrics = json.loads((report_dir / "metrics.json").read_text())
    assert metrics["conditions"]["text only"] == pytest.approx(0.9331, abs=0.002)


def test_cached_readings_agree_with_the_live_pipeline(report_dir: Path) -> None:
    """Tickets triaged end to end get the same intents as the cached path the figures come from."""
    metrics = json.loads((report_dir / "metrics.json").read_text())
    assert metrics["end_to_end"]["tickets"] == 6
    assert metrics["end_to_end"]["agreement_with_cached_path"] == 1.0


def test_understanding_report_shows_clean_queries_and_e_mails_side_by_side(data_dir: Path, tmp_path: Path) -> None:
    """`eval --part understanding` reports the e-mail condition, cleaned and not, beside the clean one."""
    out = tmp_path / "report"
    assert main(["eval", "--part", "understanding", "--out", str(out), "--limit", "40", "--no-progress"]) == 0
    figures = json.loads((out / "understanding.json").read_text())
    conditions = figures["triage"]["conditions"]
    assert set(conditions) == {"clean", "email", "email_uncleaned"}
    assert conditions["clean"]["n"] == conditions["email"]["n"] == 40
    assert conditions["clean"]["removed_share_mean"] < 0.02  # a "Hi," or a "Thanks!" in a query
    assert 0.2 < conditions["email"]["removed_share_mean"] < 0.95
    assert conditions["email_uncleaned"]["removed_share_mean"] == 0.0
    assert conditions["email"]["by_part"] and "quote" in conditions["email"]["removed_share_by_kind"]
    report = (out / "understanding.md").read_text()
    assert "## Clean queries and e-mails" in report and "| intent accuracy |" in report
