"""The API benchmark: a real server, real requests, the figures and its section of the report."""

from __future__ import annotations

from worker.benchmarks.api_bench import api_bench, api_markdown


def test_the_bench_posts_real_tickets_and_reports_percentiles() -> None:
    """Every request is accepted; the rate and ordered percentiles come out, and the section has a row."""
    result = api_bench(requests=40, clients=2)
    assert result["requests"] == 40 and result["failures"] == 0
    ms = result["ms"]
    assert 0 < ms["p50"] <= ms["p95"] <= ms["p99"] <= ms["max"]
    assert result["per_second"] > 0
    section = "\n".join(api_markdown([result]))
    assert "| SQLite |" in section and section.lstrip().startswith("## The HTTP API")
