"""The cleaning stage's benchmark: its figures and its section of the report."""

from __future__ import annotations

from worker.benchmarks.cleaning_bench import cleaning_bench, cleaning_markdown
from worker.benchmarks.report import replace_section
from worker.settings import get_settings


def test_the_bench_times_both_inputs_with_cleaning_on_and_off() -> None:
    """Queries and e-mails each get tickets/s for both engines and their ratio; the section names them."""
    sentences = [f"my card number {i} has not arrived, where is it?" for i in range(64)]
    result = cleaning_bench(get_settings(), sentences, n=64, reps=1)
    for name in ("queries", "emails"):
        assert result[name]["cleaned"]["median"] > 0 and result[name]["as_written"]["median"] > 0
        assert result[name]["ratio"]["median"] > 0
    assert 0 < result["ms_per_email"]["median"] < 100
    section = "\n".join(cleaning_markdown(result))
    assert "| queries |" in section and "| emails |" in section


def test_the_section_is_replaced_in_place_and_the_rest_kept() -> None:
    """Running the bench alone rewrites its own section only."""
    report = "# Performance\n\n## Intent\nfast\n\n## The cleaning stage (old)\nold\n\n## Queue\nslow\n"
    new = replace_section(report, ["", "## The cleaning stage (batch 32)", "new"])
    assert "old" not in new and "new" in new and new.index("## Intent") < new.index("new") < new.index("## Queue")
