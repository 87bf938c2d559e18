"""How `volstream demo` ages on the embedded broker: latency, broker CPU and memory, by minute.

Starts `volstream demo` (needs its ports free: stop any running demo), and
after a 45 s warm-up reads, once a minute, the consumer's end-to-end latency
histogram (p50 and p99 of that minute, interpolated within buckets, as
`volstream status` reads them) and the
CPU the Tansu process used in that minute, and the resident memory of the
whole demo (the supervisor and every process under it) and of the supervisor
alone; at the end, each process's. `--client-defaults` runs the children with
the clients' own `linger.ms` 20 and `fetch.wait.max.ms` 10 instead of the
demo's tuning for the embedded broker. `--log FILE` keeps the demo's output.

    .venv/bin/python -m benchmarks.bench_demo [--minutes 11] [--client-defaults] [--log FILE]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import row
from volstream.settings import ConsumerSettings, load
from volstream.status import quantile, scrape, total

LATENCY = "volstream_consumer_end_to_end_latency_seconds"
WARM_UP_SECONDS = 45
CLIENT_DEFAULTS = {"VOLSTREAM_KAFKA__LINGER_MS": "20", "VOLSTREAM_KAFKA__FETCH_WAIT_MAX_MS": "10"}


def tansu_cpu_seconds(demo_pid: int) -> float:
    """User + system CPU of the demo's Tansu child."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == demo_pid and b"tansu" in cmdline:
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    msg = "the demo's Tansu process is not running"
    raise RuntimeError(msg)


def resident_mib(demo_pid: int) -> dict[str, tuple[float, float]]:
    """Resident (RSS) and proportional (PSS) memory in MiB of the demo and each process
    under it, by a short name. RSS counts a shared library in every process that maps
    it; PSS splits it between them, so PSS adds up to what the demo holds."""
    parents, names, memory = {}, {}, {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            status = dict(line.split(":", 1) for line in (proc / "status").read_text().splitlines())
            rollup = dict(line.split(":", 1) for line in
                          (proc / "smaps_rollup").read_text().splitlines()[1:])  # fmt: skip
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            continue
        pid = int(proc.name)
        parents[pid] = int(status["PPid"])
        memory[pid] = (_mib(status.get("VmRSS")), _mib(rollup.get("Pss")))
        names[pid] = _short_name(cmdline)
    tree, frontier = {demo_pid}, [demo_pid]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier]
        tree.update(children)
        frontier = children
    named: dict[str, tuple[float, float]] = {}
    for pid in sorted(tree & memory.keys()):
        name = "supervisor" if pid == demo_pid else names[pid]
        rss, pss = named.get(name, (0.0, 0.0))
        named[name] = (rss + memory[pid][0], pss + memory[pid][1])
    return named


def _mib(field: str | None) -> float:
    """``'  1234 kB'`` in MiB."""
    return int(field.split()[0]) / 1024 if field else 0.0


def _short_name(cmdline: list[bytes]) -> str:
    """`volstream consume` -> consume; other programs by their file name."""
    words = [w.decode(errors="replace") for w in cmdline if w]
    if "volstream" in words:
        following = words[words.index("volstream") + 1 :]
        return following[0] if following else "volstream"
    return Path(words[0]).name if words else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=int, default=11, help="minutes measured")
    parser.add_argument(
        "--client-defaults", action="store_true", help="linger.ms 20, fetch.wait.max.ms 10"
    )
    parser.add_argument("--log", type=Path, help="write the demo's output here")
    args = parser.parse_args()
    env = {**os.environ, **(CLIENT_DEFAULTS if args.client_defaults else {})}
    output = args.log.open("w") if args.log else subprocess.DEVNULL
    demo = subprocess.Popen(
        [sys.executable, "-m", "volstream", "demo"], env=env, stdout=output,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{load(ConsumerSettings).metrics_port}/metrics"
    try:
        time.sleep(WARM_UP_SECONDS)
        before, cpu_before = scrape(url), tansu_cpu_seconds(demo.pid)
        print(row("minute", "ticks", "p50 ms", "p99 ms", "over 100 ms", "Tansu CPU",
                  "demo RSS MiB", "demo PSS MiB", "supervisor RSS MiB"))  # fmt: skip
        print(row("---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:"))
        for minute in range(1, args.minutes + 1):
            time.sleep(60)
            after, cpu_after = scrape(url), tansu_cpu_seconds(demo.pid)
            ticks, within = (
                total(after, f"{LATENCY}_bucket", le=le) - total(before, f"{LATENCY}_bucket", le=le)
                for le in ("+Inf", "0.1")
            )
            p50, p99 = (quantile(before, after, LATENCY, q) or 0.0 for q in (0.5, 0.99))
            memory = resident_mib(demo.pid)
            print(row(minute, f"{ticks:,.0f}", f"{p50 * 1e3:.0f}", f"{p99 * 1e3:.0f}",
                      f"{1 - within / max(ticks, 1):.1%}", f"{(cpu_after - cpu_before) / 60:.0%}",
                      f"{sum(m[0] for m in memory.values()):,.0f}",
                      f"{sum(m[1] for m in memory.values()):,.0f}",
                      f"{memory['supervisor'][0]:.0f}"),
                  flush=True)  # fmt: skip
            before, cpu_before = after, cpu_after
        print()
        print(row("process", "RSS MiB", "PSS MiB"))
        print(row("---", "---:", "---:"))
        for name, (rss, pss) in sorted(memory.items(), key=lambda item: -item[1][0]):
            print(row(name, f"{rss:.0f}", f"{pss:.0f}"))
    finally:
        demo.send_signal(signal.SIGINT)
        demo.wait(60)


if __name__ == "__main__":
    main()
