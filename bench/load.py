"""wrk against each server, one at a time, in rounds that rotate the order.

A sample keeps what wrk counted apart: answers under 400 per second (the throughput), answers of 400 and over
(wrk's "Non-2xx or 3xx responses"), and socket errors (connect, read, write, timeout). Failed requests never
count as throughput.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench.servers import GENERATED, Server, check_order
from bench.system import BENCH_DIR, log, progress

WRK_SCRIPT = BENCH_DIR / "post_order.lua"


@dataclass(frozen=True)
class Wrk:
    threads: int
    connections: int
    duration: int

    def describe(self) -> str:
        return f"--threads={self.threads} --connections={self.connections} --duration={self.duration}s"


def parse_wrk(output: str) -> dict[str, Any]:
    """The sample of one wrk run from the JSON line ``post_order.lua`` prints last."""
    summary = json.loads(output.strip().splitlines()[-1])
    seconds = summary["duration_us"] / 1e6
    return {
        "rps": (summary["requests"] - summary["non_2xx"]) / seconds,
        "p99_ms": summary["p99_us"] / 1000,
        "requests": summary["requests"],
        "non_2xx": summary["non_2xx"],
        "socket_errors": summary["socket_errors"],
    }


def run_wrk(url: str, wrk: Wrk, duration: int | None = None) -> dict[str, Any]:
    command = [
        "wrk",
        f"--threads={wrk.threads}",
        f"--connections={wrk.connections}",
        f"--duration={duration or wrk.duration}s",
        "--timeout=5s",
        f"--script={WRK_SCRIPT}",
        url,
    ]
    return parse_wrk(subprocess.run(command, capture_output=True, text=True, check=True, timeout=600).stdout)


def measure_throughput(servers: Sequence[Server], wrk: Wrk, rounds: int) -> dict[str, Any]:
    """Warm every server up (2 s, kept apart), then ``rounds`` rounds of every server once, rotating the order."""
    log(f"\nThroughput: wrk {wrk.describe()}, POST /api/order on 127.0.0.1, {rounds} round(s)")
    warmup: dict[str, dict[str, Any]] = {}
    samples: dict[str, list[dict[str, Any]]] = {server.key: [] for server in servers}
    for server in servers:
        check_order(server)
        warmup[server.key] = run_wrk(server.url, wrk, duration=2)
    for round_index in range(rounds):
        shift = round_index % len(servers)
        for server in [*servers[shift:], *servers[:shift]]:
            sample = {"round": round_index, **run_wrk(server.url, wrk)}
            samples[server.key].append(sample)
            manager = server.manager if server.spec.kind == GENERATED else ""
            progress(server.spec.key, f"round {round_index + 1}", manager, describe_sample(sample))
    return {"servers": [server.describe() for server in servers], "samples": samples, "warmup": warmup}


def describe_sample(sample: Mapping[str, Any]) -> str:
    failed = sample["non_2xx"] + sample["socket_errors"]
    return f"{sample['rps']:,.0f}/s, p99 {sample['p99_ms']:.1f} ms" + (f", {failed} FAILED" if failed else "")
