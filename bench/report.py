"""What the benchmark shows, rendered from results.json alone: results.md, the chart, the benchmark page's section.

The page is docs/benchmark.md, in the documentation site. Its section lies between ``START`` and ``END``;
``splice_page`` replaces what is between them with ``page_section(results)`` and nothing else, and a test checks
that the committed page holds exactly what bench/results.json renders, so no figure in it is typed by hand. The
section links to results.md and the chart as ``bench/...``: beside the page, in docs/bench/, for the committed run.
"""

from __future__ import annotations

import re
import statistics
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench import stats

START = "<!-- bench:start: written by `make bench` from bench/results.json; edits here are overwritten -->"
END = "<!-- bench:end -->"
# The README's one measured paragraph, between its own markers.
HEADLINE_START = "<!-- bench:headline: written by `make bench` from bench/results.json -->"
HEADLINE_END = "<!-- bench:headline:end -->"
MANAGER_NAMES = {"poetry": "Poetry", "pip": "pip", "uv": "uv"}
LINE_LENGTH = 120  # the Markdown linter's limit, tables included


def wrap(text: str, indent: str = "") -> list[str]:
    """A paragraph or list item as lines within LINE_LENGTH (code spans may break at spaces, as Markdown allows)."""
    return textwrap.wrap(text, LINE_LENGTH, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False)


def number(value: float, digits: int) -> str:
    return f"{value:,.0f}" if digits == 0 else f"{value:.{digits}f}"


def cell(spread: stats.Spread | None, unit: str, digits: int = 1, *, with_range: bool = False) -> str:
    """``4.79 s`` or, with its range, ``4.79 s (3.71-4.94)``; "n/a" when nothing was measured."""
    if spread is None:
        return "n/a"
    text = number(spread.median, digits) + (f" {unit}" if unit else "")
    if with_range and spread.count > 1:
        text += f" ({number(spread.low, digits)}-{number(spread.high, digits)})"
    return text


def ratio_cell(ratio: stats.Spread | None, target: float | None) -> str:
    if ratio is None:
        return ""
    text = f"**{ratio.median:.2f}**"
    text += f" ({ratio.low:.2f}-{ratio.high:.2f})" if ratio.count > 1 else " (one round: no spread)"
    if target is not None:
        text += f", target {target:.2f}"
    return text


def version_number(text: str) -> str:
    match = re.search(r"\d+(\.\d+)+", text)
    return match.group(0) if match else text


def runs_phrase(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def targets_line(results: Mapping[str, Any]) -> list[str]:
    """The measurements' targets, the most seconds each manager may take, as a line under the table."""
    targets = [
        f"{measurement['key']} {', '.join(f'{manager} {most:g} s' for manager, most in measurement['targets'])}"
        for measurement in results["measurements"]
        if measurement.get("targets")
    ]
    return ["", *wrap(f"Targets (medians at most): {'; '.join(targets)}.")] if targets else []


def measurement_table(results: Mapping[str, Any], *, with_range: bool) -> list[str]:
    """One row per measurement, one column per manager: medians over runs (and min-max over runs)."""
    managers = results["settings"]["managers"]
    lines = [
        "| measurement | " + " | ".join(managers) + " |",
        "| --- | " + " | ".join("---:" for _ in managers) + " |",
    ]
    for measurement in results["measurements"]:
        cells = [
            cell(
                stats.timing(results, manager, measurement["key"]),
                measurement["unit"],
                measurement["digits"],
                with_range=with_range,
            )
            for manager in managers
        ]
        lines.append(f"| {measurement['label']} | " + " | ".join(cells) + " |")
    return lines


def throughput_table(results: Mapping[str, Any]) -> list[str]:
    """One row per server: requests/s with its min-max over rounds, p99, failed requests, the ratio; then what
    each server is."""
    ratios = stats.ratios(results)
    lines = [
        "| server | requests/s (min-max) | p99 | failed | generated / this (min-max) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    figures = stats.servers(results)
    for server in figures:
        failed = f"{server.non_2xx} HTTP, {server.socket_errors} socket" if server.failed else "0"
        lines.append(
            f"| {server.label} | {cell(server.rps, '', 0, with_range=True)} | {cell(server.p99_ms, 'ms')} "
            f"| {failed} | {ratio_cell(ratios.get(server.key), server.target)} |"
        )
    descriptions = list(dict.fromkeys(server.description for server in figures if server.description))
    if descriptions:
        lines.append("")
        for description in descriptions:
            lines += wrap(f"- {description}", indent="  ")
    return lines


def resilience_table(results: Mapping[str, Any]) -> list[str]:
    """Per server: its workers' memory, and for those measured so, what a steady client got beside slow clients."""
    throughput = results["throughput"]
    memory: Mapping[str, list[float]] = throughput.get("worker_memory_mb", {})
    slow = {figure["key"]: figure for figure in throughput.get("slow_clients", [])}
    rows = [server for server in stats.servers(results) if memory.get(server.key) or server.key in slow]
    if not rows:
        return []
    lines = [
        "| server | memory per worker (PSS) | slow connections held | steady requests answered | slowest answer |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for server in rows:
        workers = memory.get(server.key) or []
        pss = f"{statistics.median(workers):.1f} MB" if workers else "n/a"
        figure = slow.get(server.key)
        if figure is None:
            lines.append(f"| {server.label} | {pss} |  |  |  |")
            continue
        slowest = "none" if figure["slowest_ms"] is None else f"{figure['slowest_ms']:,.1f} ms"
        lines.append(
            f"| {server.label} | {pss} | {figure['slow_connections']} | "
            f"{figure['answered']} of {figure['steady_requests']} | {slowest} |"
        )
    lines += [
        "",
        *wrap(
            "Memory: the median proportional set size of the server's workers after the throughput rounds (pages "
            "shared with the master or each other are split between them). Slow clients: connections that send "
            "their request head one byte a second, reopened when closed, while a steady client posts every 0.2 s "
            "with a 5 s timeout; a request of the steady client that failed or timed out is not answered."
        ),
    ]
    return lines


def throughput_method(results: Mapping[str, Any]) -> list[str]:
    wrk, rounds = results["settings"]["wrk"], results["settings"]["rounds"]
    return wrap(
        f"Throughput in the same run: wrk `--threads={wrk['threads']} --connections={wrk['connections']} "
        f"--duration={wrk['duration_s']}s`, `POST /api/order` with a JSON body, 127.0.0.1, "
        f"{runs_phrase(rounds, 'round')}, every server once per round in rotating order; every gunicorn with "
        f"{results['meta']['gunicorn']}. Requests/s count answers under 400 only; failed requests (HTTP: answers "
        "of 400 and over; socket errors; warm-up included) are counted apart and fail the benchmark. The ratio is "
        "taken per round: the median of the generated services over the other server in the same round; the "
        "min-max over rounds is the run-to-run noise."
    )


def when_and_where(results: Mapping[str, Any]) -> str:
    meta, machine = results["meta"], results["meta"]["machine"]
    return (
        f"{meta['date']} on {machine['cpu']}, {machine['cores']} cores, {machine['os']}; load average "
        f"{machine['load_average_start']} at start, {machine['load_average_end']} at end"
    )


def page_section(results: Mapping[str, Any]) -> str:
    """The benchmark page's figures: measurements by manager, the chart, and throughput with its noise."""
    runs = results["settings"]["runs"]
    lines = [
        *wrap(
            f"Last run: {when_and_where(results)}. Medians of {runs_phrase(runs, 'run')} "
            "([full results](bench/results.md), every figure in `bench/results.json`)."
        ),
        "",
        *measurement_table(results, with_range=False),
        *targets_line(results),
        *(["", *wrap("Failed in this run: " + "; ".join(failed) + ".")] if (failed := stats.problems(results)) else []),
        *(
            ["", *wrap("Over target in this run: " + "; ".join(missed) + ".")]
            if (missed := stats.over_target(results))
            else []
        ),
        "",
        "![Lock, install, image build, throughput and image size by dependency manager](bench/results.png)",
        "",
        *throughput_method(results),
        "",
        *throughput_table(results),
    ]
    if resilience := resilience_table(results):
        lines += ["", *resilience]
    return "\n".join(lines) + "\n"


def markdown(results: Mapping[str, Any]) -> str:
    """docs/bench/results.md: everything the benchmark page shows, with min-max over runs and the versions measured."""
    meta = results["meta"]
    versions = " · ".join(f"{name} {version_number(version)}" for name, version in meta["tools"].items())
    stack = " · ".join(f"{name} {version}" for name, version in meta["serving_stack"].items())
    runs = results["settings"]["runs"]
    lines = [
        "# Benchmark: the generated service by dependency manager",
        "",
        *wrap(f"{when_and_where(results)}."),
        "",
        *wrap(f"Tools: {versions} · serving: {stack}"),
        "",
        *wrap(
            f"`{meta['service']}` with the shared `discount-calculator` by path (the example monorepo), Python "
            f"{meta['python']}. Medians of {runs_phrase(runs, 'run')}, min-max over runs in brackets; every figure "
            f"is in `bench/results.json`. The benchmark took {meta['runtime']} (`make bench`, `python -m bench`)."
        ),
        "",
        *measurement_table(results, with_range=True),
        "",
        "## Throughput",
        "",
        *throughput_method(results),
        "",
        *throughput_table(results),
    ]
    if resilience := resilience_table(results):
        lines += ["", "## Slow clients and memory", "", *resilience]
    found = stats.problems(results)
    if found:
        lines += ["", "## Failed", "", *(line for problem in found for line in wrap(f"- {problem}", "  "))]
    if missed := stats.over_target(results):
        lines += ["", "## Over target", "", *(line for miss in missed for line in wrap(f"- {miss}", "  "))]
    if results["notes"]:
        lines += ["", "## Notes", "", *(line for note in results["notes"] for line in wrap(f"- {note}", "  "))]
    return "\n".join(lines) + "\n"


def readme_headline(results: Mapping[str, Any]) -> str:
    """The README's measured paragraph: each manager's time to green and the share of a bare app's throughput."""
    green = [
        f"{cell(stats.timing(results, manager, 'green'), 's')} with {MANAGER_NAMES.get(manager, manager)}"
        for manager in results["settings"]["managers"]
    ]
    bare = stats.ratios(results).get("bare-conf")
    kept = f"; the service kept {bare.median:.2f} of a bare Flask app's throughput" if bare else ""
    text = (
        "Measured in the last benchmark run, from `cookiecutter` to a green `make test` with warm caches: "
        f"{', '.join(green)}{kept}. See [Poetry, pip or uv, measured](docs/benchmark.md)."
    )
    return "\n".join(wrap(text)) + "\n"


def section_bounds(page: str, start_marker: str = START, end_marker: str = END) -> tuple[int, int]:
    start, end = page.find(start_marker), page.find(end_marker)
    if start < 0 or end < start:
        raise ValueError(f"the page needs the line {start_marker!r} and after it {end_marker!r} around the section")
    return start + len(start_marker), end


def splice_page(page: str, section: str, start_marker: str = START, end_marker: str = END) -> str:
    """``page`` with what lies between the markers replaced by ``section``, blank lines around it."""
    start, end = section_bounds(page, start_marker, end_marker)
    return f"{page[:start]}\n\n{section.strip()}\n\n{page[end:]}"


def section_in_page(page: str, start_marker: str = START, end_marker: str = END) -> str:
    """What the page holds between the markers, as ``page_section`` (or ``readme_headline``) returns it."""
    start, end = section_bounds(page, start_marker, end_marker)
    return page[start:end].strip() + "\n"


# ---------------------------------------------------------------------------------------------- chart

COLORS = {"poetry": "#3b6fb6", "pip": "#e0a030", "uv": "#6a4c93"}


def plot(results: Mapping[str, Any], path: Path) -> None:
    """results.png (in docs/bench/ for the committed run): lock and install, image build and size, throughput;
    medians with min-max bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    managers = results["settings"]["managers"]
    by_group: dict[str, list[Mapping[str, Any]]] = {}
    for measurement in results["measurements"]:
        by_group.setdefault(f"{measurement['group']}:{measurement['unit']}", []).append(measurement)
    figure, axes = plt.subplots(2, 2, figsize=(13, 9), gridspec_kw={"width_ratios": [2, 1.3]})
    machine = results["meta"]["machine"]
    figure.suptitle(
        f"Generated order_manager by dependency manager: medians of {runs_phrase(results['settings']['runs'], 'run')}"
        f", bars min-max\n{machine['cpu']}, {machine['cores']} cores, {results['meta']['date']}",
        fontsize=11,
    )
    panels = [
        (axes[0][0], by_group.get("local:s", []), "seconds", "Lock and install (make lock, make install)"),
        (axes[0][1], by_group.get("image:s", []), "seconds", "Image build (make docker-build)"),
        (axes[1][1], by_group.get("image:MB", []), "MB", f"Runtime image over python:{results['meta']['python']}-slim"),
    ]
    for axis, measurements, unit, title in panels:
        if any(stats.timing(results, m, x["key"]) for m in managers for x in measurements):
            grouped_bars(axis, results, measurements, unit, title)
        else:
            axis.set_axis_off()
    throughput_panel(axes[1][0], results)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def grouped_bars(
    axis: Any, results: Mapping[str, Any], measurements: Sequence[Mapping[str, Any]], unit: str, title: str
) -> None:
    managers = results["settings"]["managers"]
    width = 0.8 / len(managers)
    for offset, manager in enumerate(managers):
        spreads = [stats.timing(results, manager, m["key"]) for m in measurements]
        medians = [s.median if s else 0 for s in spreads]
        low = [s.median - s.low if s else 0 for s in spreads]
        high = [s.high - s.median if s else 0 for s in spreads]
        positions = [i + (offset - (len(managers) - 1) / 2) * width for i in range(len(measurements))]
        bars = axis.bar(
            positions, medians, width, yerr=[low, high], capsize=3, label=manager, color=COLORS.get(manager)
        )
        axis.bar_label(bars, labels=[f"{m:.2f}" if m < 1 else f"{m:.1f}" for m in medians], fontsize=7, padding=2)
    axis.set_xticks(range(len(measurements)), [m["chart_label"] for m in measurements], fontsize=8)
    axis.set_ylabel(unit)
    axis.set_title(title, fontsize=10)
    axis.legend(fontsize=8)
    axis.margins(y=0.15)


def throughput_panel(axis: Any, results: Mapping[str, Any]) -> None:
    servers = [s for s in stats.servers(results) if s.rps is not None]
    rps = [s.rps.median if s.rps else 0 for s in servers]
    p99 = [s.p99_ms.median if s.p99_ms else 0 for s in servers]
    managers = {s["key"]: s["manager"] for s in results["throughput"]["servers"]}
    colors = [COLORS.get(managers[s.key], "grey") if s.kind == stats.GENERATED else "#6d6d6d" for s in servers]
    bars = axis.bar([s.chart_label for s in servers], rps, color=colors)
    axis.bar_label(bars, labels=[f"{r:,.0f}\np99 {p:.1f} ms" for r, p in zip(rps, p99, strict=True)], fontsize=7)
    ratios = stats.ratios(results)
    title = "Throughput, POST /api/order, requests/s"
    for server in servers:
        if server.target is not None and server.rps is not None:
            axis.axhline(
                server.target * server.rps.median,
                color="#c0392b",
                linestyle="--",
                linewidth=1,
                label=f"{server.target:.0%} of {server.key}",
            )
            axis.legend(fontsize=8, loc="upper right")
            if server.key in ratios:
                title += f"\ngenerated / {server.key} = {ratios[server.key].median:.2f}"
    axis.set_title(title, fontsize=10)
    axis.set_ylabel("requests/s")
    axis.tick_params(axis="x", labelsize=7)
    axis.margins(y=0.2)
