"""Figures derived from results.json: medians, min-max spreads, per-round ratios, failed requests.

Pure functions of the results mapping (as ``json.load`` gives it), so the report can be rebuilt and tested from
a saved file.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GENERATED = "generated"  # the kind of server pooled as the numerator of every ratio


@dataclass(frozen=True)
class Spread:
    """The median of some figures and their range: what one run says and how far runs disagree."""

    median: float
    low: float
    high: float
    count: int

    @classmethod
    def of(cls, values: Iterable[float]) -> Spread | None:
        figures = list(values)
        if not figures:
            return None
        return cls(statistics.median(figures), min(figures), max(figures), len(figures))


@dataclass(frozen=True)
class ServerFigures:
    key: str
    label: str
    description: str
    chart_label: str
    kind: str
    target: float | None
    rps: Spread | None
    p99_ms: Spread | None
    non_2xx: int
    socket_errors: int

    @property
    def failed(self) -> int:
        return self.non_2xx + self.socket_errors


def timing(results: Mapping[str, Any], manager: str, key: str) -> Spread | None:
    return Spread.of(results["timings"].get(manager, {}).get(key, []))


def servers(results: Mapping[str, Any]) -> list[ServerFigures]:
    """Every server measured, in the order results.json lists them; failures include the warm-up's."""
    throughput = results["throughput"]
    figures = []
    for server in throughput["servers"]:
        samples = throughput["samples"].get(server["key"], [])
        warmup = throughput.get("warmup", {}).get(server["key"])
        counted = [*samples, *([warmup] if warmup else [])]
        figures.append(
            ServerFigures(
                key=server["key"],
                label=server["label"],
                description=server.get("description", ""),
                chart_label=server["chart_label"],
                kind=server["kind"],
                target=server.get("target"),
                rps=Spread.of(s["rps"] for s in samples),
                p99_ms=Spread.of(s["p99_ms"] for s in samples),
                non_2xx=sum(s["non_2xx"] for s in counted),
                socket_errors=sum(s["socket_errors"] for s in counted),
            )
        )
    return figures


def ratios(results: Mapping[str, Any]) -> dict[str, Spread]:
    """For every server not generated: generated/this per round (median of the generated services in the round
    over this server in the same round), as the median and min-max over rounds."""
    throughput = results["throughput"]
    kinds = {s["key"]: s["kind"] for s in throughput["servers"]}
    by_round: dict[int, dict[str, float]] = {}
    generated_by_round: dict[int, list[float]] = {}
    for key, samples in throughput["samples"].items():
        for sample in samples:
            if kinds.get(key) == GENERATED:
                generated_by_round.setdefault(sample["round"], []).append(sample["rps"])
            else:
                by_round.setdefault(sample["round"], {})[key] = sample["rps"]
    per_round: dict[str, list[float]] = {}
    for round_index, generated in generated_by_round.items():
        for key, rps in by_round.get(round_index, {}).items():
            per_round.setdefault(key, []).append(statistics.median(generated) / rps)
    return {
        key: spread
        for key in kinds
        if kinds[key] != GENERATED and (spread := Spread.of(per_round.get(key, []))) is not None
    }


def problems(results: Mapping[str, Any]) -> list[str]:
    """Why the run fails the service's promises: a ratio under its server's target, any failed request, a steady
    request unanswered beside slow clients. (Times over their targets are ``over_target``.)"""
    found = []
    measured = ratios(results)
    for server in servers(results):
        if server.failed:
            found.append(
                f"{server.key}: {server.non_2xx} answer(s) of 400 or over and {server.socket_errors} socket error(s)"
            )
        ratio = measured.get(server.key)
        if server.target is not None and ratio is not None and ratio.median < server.target:
            found.append(f"generated/{server.key} is {ratio.median:.2f}, under its target {server.target:.2f}")
    kinds = {server["key"]: server["kind"] for server in results["throughput"]["servers"]}
    for figure in results["throughput"].get("slow_clients", []):
        if kinds.get(figure["key"]) == GENERATED and figure["answered"] < figure["steady_requests"]:
            found.append(
                f"{figure['key']}: beside {figure['slow_connections']} slow clients, "
                f"{figure['steady_requests'] - figure['answered']} of {figure['steady_requests']} steady requests "
                "went unanswered"
            )
    return found


def over_target(results: Mapping[str, Any]) -> list[str]:
    """The times whose median is over their target: goals of the template's tooling, reported beside the figures
    and failing the run, but not promises of the service, so a committed run may show one."""
    found = []
    for measurement in results["measurements"]:
        for manager, most in measurement.get("targets", []):
            spread = timing(results, manager, measurement["key"])
            if spread is not None and spread.median > most:
                found.append(
                    f"{manager}: {measurement['key']} took {spread.median:.1f} s, over its target of {most:g} s"
                )
    return found
