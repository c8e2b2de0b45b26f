"""The benchmark's report, rebuilt from saved results: rows, ratios, noise, failed requests, the benchmark page's
section (docs/benchmark.md).

Offline and fast: no measurement runs here. ``data/bench_results.json`` is a small saved run (two managers, two
rounds) whose figures are chosen so every median, range and ratio below can be checked by hand.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import cli, measure, report, servers, stats
from bench.load import parse_wrk
from kit.template import MANAGERS

TEMPLATE_DIR = Path(__file__).resolve().parent.parent
FIXTURE = Path(__file__).resolve().parent / "data" / "bench_results.json"


@pytest.fixture
def results() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text())


THROUGHPUT = "| server | requests/s"
RESILIENCE = "| server | memory per worker"


def row(markdown: str, label: str, table: str = "") -> str:
    """The row that starts with ``label`` of the table whose header starts with ``table`` (any table when blank);
    fails when there is not exactly one."""
    lines, rows, inside = markdown.splitlines(), [], not table
    for line in lines:
        if table and line.startswith(table):
            inside = True
        elif table and inside and not line.startswith("|"):
            inside = False
        if inside and line.startswith(f"| {label} |"):
            rows.append(line)
    assert len(rows) == 1, f"expected one row {label!r} in:\n{markdown}"
    return rows[0]


def test_measurement_rows_give_the_median_and_the_range_over_runs(results: dict[str, Any]) -> None:
    markdown = report.markdown(results)
    assert row(markdown, "lock from scratch (`make lock`), empty cache") == (
        "| lock from scratch (`make lock`), empty cache | 11.00 s (10.00-12.00) | 0.40 s (0.30-0.50) |"
    )
    # A figure no run took is "n/a", not zero.
    assert row(markdown, "runtime image over `python:3.12-slim`") == (
        "| runtime image over `python:3.12-slim` | 6.5 MB (6.5-6.5) | n/a |"
    )
    # The benchmark page shows the medians only.
    assert row(report.page_section(results), "install, warm cache") == "| install, warm cache | 21.00 s | 0.20 s |"


def test_throughput_rows_give_rounds_range_and_per_round_ratios(results: dict[str, Any]) -> None:
    section = report.page_section(results)
    assert row(section, "generated service, pip", THROUGHPUT) == (
        "| generated service, pip | 850 (800-900) | 2.2 ms | 0 |  |"
    )
    # Per round: generated median 1000 then 900, over a bare server at 1000 both times.
    assert row(section, "bare app, same conf", THROUGHPUT) == (
        "| bare app, same conf | 1,000 (1,000-1,000) | 2.0 ms | 0 | **0.95** (0.90-1.00), target 0.90 |"
    )
    # What gunicorn is worth against the development server: 1000/250 and 900/200.
    assert row(section, "generated service under flask run") == (
        "| generated service under flask run | 225 (200-250) | 35.0 ms | 0 | **4.25** (4.00-4.50) |"
    )


def test_a_single_round_says_it_has_no_spread(results: dict[str, Any]) -> None:
    for samples in results["throughput"]["samples"].values():
        del samples[1:]
    assert "**1.00** (one round: no spread), target 0.90" in report.page_section(results)


def test_a_clean_run_keeps_its_promises(results: dict[str, Any]) -> None:
    assert stats.problems(results) == []
    assert "## Failed" not in report.markdown(results)


@pytest.mark.promise("The benchmark counts failed requests apart and fails a run under its target", layer="offline")
def test_failed_requests_are_counted_apart_and_fail_the_run(results: dict[str, Any]) -> None:
    results["throughput"]["samples"]["generated:uv"][0]["non_2xx"] = 3
    results["throughput"]["warmup"]["generated:uv"]["socket_errors"] = 2
    section = report.page_section(results)
    # The throughput stays the answers under 400; the failures have their own column.
    assert row(section, "generated service, uv", THROUGHPUT) == (
        "| generated service, uv | 1,050 (1,000-1,100) | 1.8 ms | 3 HTTP, 2 socket |  |"
    )
    assert stats.problems(results) == ["generated:uv: 3 answer(s) of 400 or over and 2 socket error(s)"]
    assert "- generated:uv: 3 answer(s) of 400 or over and 2 socket error(s)" in report.markdown(results)


@pytest.mark.promise("The benchmark counts failed requests apart and fails a run under its target", layer="offline")
def test_a_ratio_under_its_target_fails_the_run(results: dict[str, Any]) -> None:
    results["throughput"]["samples"]["bare-conf"][1]["rps"] = 1200.0  # round 2: 900 / 1200 = 0.75
    assert stats.problems(results) == ["generated/bare-conf is 0.88, under its target 0.90"]
    results["throughput"]["servers"][2]["target"] = 0.85
    assert stats.problems(results) == []


def test_a_time_over_its_target_is_reported_and_the_table_names_the_target(results: dict[str, Any]) -> None:
    lock = next(m for m in results["measurements"] if m["key"] == "lock_cold")
    lock["targets"] = [["pip", 20.0]]
    assert stats.over_target(results) == []  # pip's median lock here: 11 s

    results["timings"]["pip"]["lock_cold"] = [25.0, 27.0]
    assert stats.over_target(results) == ["pip: lock_cold took 26.0 s, over its target of 20 s"]
    assert stats.problems(results) == []  # a goal of the tooling, not a promise of the service
    assert "## Over target\n\n- pip: lock_cold took 26.0 s, over its target of 20 s" in report.markdown(results)
    assert "Targets (medians at most): lock_cold pip 20 s." in report.page_section(results)


def test_memory_and_slow_clients_get_a_row_per_server_measured(results: dict[str, Any]) -> None:
    section = report.page_section(results)
    assert row(section, "generated service, pip", RESILIENCE) == (
        "| generated service, pip | 31.0 MB | 300 | 50 of 50 | 12.5 ms |"
    )
    assert row(section, "bare app, same conf", RESILIENCE).endswith("| 21.0 MB |  |  |  |")
    assert "| generated service under flask run |" not in section.split(RESILIENCE)[1]


def test_a_generated_service_that_leaves_a_steady_client_unanswered_fails_the_run(results: dict[str, Any]) -> None:
    results["throughput"]["slow_clients"][0].update(answered=47, slowest_ms=None)
    assert stats.problems(results) == [
        "generated:pip: beside 300 slow clients, 3 of 50 steady requests went unanswered"
    ]
    assert "| 300 | 47 of 50 | none |" in report.page_section(results)


def test_wrk_failures_are_not_throughput() -> None:
    counts = '"requests": 1000, "duration_us": 2000000, "socket_errors": 4, "non_2xx": 100'
    sample = parse_wrk(f'Running 2s test @ http://127.0.0.1:1/api/order\n{{{counts}, "p50_us": 900, "p99_us": 2500}}\n')
    assert sample == {"rps": 450.0, "p99_ms": 2.5, "requests": 1000, "non_2xx": 100, "socket_errors": 4}


def test_splice_replaces_only_the_section(results: dict[str, Any]) -> None:
    page = f"# Title\n\nbefore\n{report.START}\nold figures\n{report.END}\nafter\n"
    spliced = report.splice_page(page, report.page_section(results))
    assert spliced.startswith(f"# Title\n\nbefore\n{report.START}\n\nLast run: 2026-01-02 03:04 UTC")
    assert spliced.endswith(f"\n\n{report.END}\nafter\n")
    assert "old figures" not in spliced
    assert report.section_in_page(spliced) == report.page_section(results)
    assert report.splice_page(spliced, report.page_section(results)) == spliced


def test_a_page_without_markers_is_refused(results: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="the page needs the line"):
        report.splice_page(f"{report.END}\n{report.START}\n", report.page_section(results))


@pytest.mark.promise(
    "The benchmark page's figures, and the README's measured line, are the committed results", layer="offline"
)
def test_the_page_figures_are_what_the_committed_results_render() -> None:
    """Nobody edits a figure by hand: `python -m bench --render` rewrites the section from bench/results.json."""
    committed = json.loads((TEMPLATE_DIR / "bench" / "results.json").read_text())
    page = (TEMPLATE_DIR / "docs" / "benchmark.md").read_text()
    assert report.section_in_page(page) == report.page_section(committed)
    assert (TEMPLATE_DIR / "docs" / "bench" / "results.md").read_text() == report.markdown(committed)


@pytest.mark.promise("The benchmark counts failed requests apart and fails a run under its target", layer="offline")
def test_the_benchmark_page_states_the_target_the_benchmark_holds() -> None:
    page = " ".join((TEMPLATE_DIR / "docs" / "benchmark.md").read_text().split())
    assert f"falls under {servers.TARGET_RATIO} of the bare app" in page


@pytest.mark.promise(
    "The benchmark page's figures, and the README's measured line, are the committed results", layer="offline"
)
def test_the_readme_headline_is_what_the_committed_results_render() -> None:
    committed = json.loads((TEMPLATE_DIR / "bench" / "results.json").read_text())
    readme = (TEMPLATE_DIR / "README.md").read_text()

    assert report.section_in_page(readme, report.HEADLINE_START, report.HEADLINE_END) == report.readme_headline(
        committed
    )


@pytest.mark.promise("The benchmark counts failed requests apart and fails a run under its target", layer="offline")
def test_the_committed_page_states_every_promise_and_target_its_run_missed() -> None:
    """A committed run shows the truth: a miss is named on the benchmark page and in the full results, not hidden
    by keeping an older run (`make bench` itself exits 1 on it)."""
    committed = json.loads((TEMPLATE_DIR / "bench" / "results.json").read_text())
    page = " ".join((TEMPLATE_DIR / "docs" / "benchmark.md").read_text().split())
    full = " ".join((TEMPLATE_DIR / "docs" / "bench" / "results.md").read_text().split())
    for miss in [*stats.problems(committed), *stats.over_target(committed)]:
        assert miss in page and miss in full, miss


def test_rendered_markdown_lints_clean(results: dict[str, Any], tmp_path: Path) -> None:
    """The full results and a failed run's too: within the project's line length, every linter rule on."""
    results["throughput"]["samples"]["generated:uv"][0]["non_2xx"] = 3
    (tmp_path / "failed.md").write_text(report.markdown(results))
    committed = TEMPLATE_DIR / "docs" / "bench" / "results.md"
    lint = subprocess.run(
        [str(Path(sys.executable).parent / "pymarkdown"), "scan", str(committed), str(tmp_path / "failed.md")],
        cwd=TEMPLATE_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_every_server_and_measurement_of_the_tables_gets_its_row() -> None:
    """What the measuring side records (servers.SERVERS, measure.MEASUREMENTS) is what the report reads."""
    managers = ["poetry", "uv"]
    described = [
        servers.Server(spec=spec, manager=manager, url="").describe()
        for spec in servers.SERVERS
        for manager in (managers if spec.kind == servers.GENERATED else managers[-1:])
    ]
    sample = {"round": 0, "rps": 100.0, "p99_ms": 1.0, "requests": 500, "non_2xx": 0, "socket_errors": 0}
    results = json.loads(FIXTURE.read_text())
    results["settings"]["managers"] = managers
    results["measurements"] = measure.measurements_table()
    results["timings"] = {manager: {m.key: [1.0] for m in measure.MEASUREMENTS} for manager in managers}
    results["throughput"] = {"servers": described, "samples": {s["key"]: [sample] for s in described}, "warmup": {}}
    section = report.page_section(results)
    for measurement in results["measurements"]:
        assert row(section, measurement["label"]).count("| 1.0") == len(managers)
    for server in described:
        ratio = "" if server["kind"] == servers.GENERATED else "**1.00**"
        assert row(section, server["label"], THROUGHPUT).startswith(f"| {server['label']} | 100 | 1.0 ms | 0 | {ratio}")
    assert [s["key"] for s in described] == [
        "generated:poetry",
        "generated:uv",
        "sync",
        "bare-conf",
        "bare-limit",
        "metrics-off",
        "traced-off",
        "traced-on",
        "flask-run",
    ]
    assert stats.problems(results) == []


def test_only_the_committed_results_rewrite_the_benchmark_page(tmp_path: Path) -> None:
    committed = cli.parse_options([])
    assert committed.writes_page and committed.rendered_dir == TEMPLATE_DIR / "docs" / "bench"
    elsewhere = cli.parse_options(["--output-dir", str(tmp_path)])
    assert not elsewhere.writes_page and elsewhere.rendered_dir == tmp_path
    assert cli.parse_options(["--quick"]).runs == 1


def test_a_bad_option_is_refused_with_what_is_valid(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.parse_options(["--managers", "poetry,conda"])
    assert exit_info.value.code == 2
    expected = f"--managers 'poetry,conda' is not a subset of {','.join(MANAGERS)}; use e.g. uv,pip"
    assert expected in capsys.readouterr().err
