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
from pathlib import Path
from typing import Any

from bench.servers import GENERATED, Server, check_order
from bench.system import BENCH_DIR, log, progress
from kit.serving import slow_clients, steady_client

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


# Slow clients: connections trickling their request heads one byte a second while a steady client posts every
# 0.2 s for SLOW_SECONDS; the tests hold the generated service to the same (tests/test_service_under_load.py).
SLOW_CLIENTS = 300
SLOW_SECONDS = 10


def measure_slow_clients(servers: Sequence[Server]) -> list[dict[str, Any]]:
    """Each server whose spec asks for it (one generated service): what a steady client got while slow ones held on."""
    chosen = [server for server in servers if server.spec.slow_clients]
    chosen = [server for index, server in enumerate(chosen) if server.spec.kind != GENERATED or index == 0]
    log(f"\nSlow clients: {SLOW_CLIENTS} connections sending their heads a byte a second, a steady client beside")
    figures = []
    for server in chosen:
        base_url = server.url.removesuffix("/api/order")
        with slow_clients(base_url, SLOW_CLIENTS, "head") as slow:
            took = steady_client(base_url, seconds=SLOW_SECONDS)
        answered = [seconds for seconds in took if seconds is not None]
        figure = {
            "key": server.key,
            "label": server.describe()["label"],
            "slow_connections": slow.most_open,
            "steady_requests": len(took),
            "answered": len(answered),
            "slowest_ms": round(max(answered) * 1000, 1) if answered else None,
        }
        progress(server.spec.key, "slow clients", "", f"{figure['answered']} of {figure['steady_requests']} answered")
        figures.append(figure)
    return figures


def worker_memory_mb(server: Server) -> list[float]:
    """The proportional set size (PSS: shared pages split between their users) of each gunicorn worker, in MB."""
    children = _children_by_parent()
    pending, masters = [server.pid], []
    while pending:
        pid = pending.pop()
        if "gunicorn" in _command_line(pid) and children.get(pid):
            masters.append(pid)
        else:
            pending += children.get(pid, [])
    workers = [worker for master in masters for worker in children.get(master, [])]
    return [round(_pss_kb(worker) / 1024, 1) for worker in workers]


def _children_by_parent() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    return children


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _pss_kb(pid: int) -> int:
    rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    return sum(int(line.split()[1]) for line in rollup.splitlines() if line.startswith("Pss:"))
