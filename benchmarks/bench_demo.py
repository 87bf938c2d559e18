"""How `volstream demo` ages on the embedded broker: latency and broker CPU, minute by minute.

Starts `volstream demo` (needs its ports free: stop any running demo), and
after a 45 s warm-up reads, once a minute, the consumer's end-to-end latency
histogram (p50 and p99 of that minute, interpolated within buckets, as
`volstream status` reads them) and the
CPU the Tansu process used in that minute. `--client-defaults` runs the
children with the clients' own `linger.ms` 20 and `fetch.wait.max.ms` 10
instead of the demo's tuning for the embedded broker.

    .venv/bin/python -m benchmarks.bench_demo [--minutes 11] [--client-defaults]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=int, default=11, help="minutes measured")
    parser.add_argument(
        "--client-defaults", action="store_true", help="linger.ms 20, fetch.wait.max.ms 10"
    )
    args = parser.parse_args()
    env = {**os.environ, **(CLIENT_DEFAULTS if args.client_defaults else {})}
    demo = subprocess.Popen(
        [sys.executable, "-m", "volstream", "demo"], env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{load(ConsumerSettings).metrics_port}/metrics"
    try:
        time.sleep(WARM_UP_SECONDS)
        before, cpu_before = scrape(url), tansu_cpu_seconds(demo.pid)
        print(row("minute", "ticks", "p50 ms", "p99 ms", "over 100 ms", "Tansu CPU"))
        print(row("---:", "---:", "---:", "---:", "---:", "---:"))
        for minute in range(1, args.minutes + 1):
            time.sleep(60)
            after, cpu_after = scrape(url), tansu_cpu_seconds(demo.pid)
            ticks, within = (
                total(after, f"{LATENCY}_bucket", le=le) - total(before, f"{LATENCY}_bucket", le=le)
                for le in ("+Inf", "0.1")
            )
            p50, p99 = (quantile(before, after, LATENCY, q) or 0.0 for q in (0.5, 0.99))
            print(row(minute, f"{ticks:,.0f}", f"{p50 * 1e3:.0f}", f"{p99 * 1e3:.0f}",
                      f"{1 - within / max(ticks, 1):.1%}",
                      f"{(cpu_after - cpu_before) / 60:.0%}"), flush=True)  # fmt: skip
            before, cpu_before = after, cpu_after
    finally:
        demo.send_signal(signal.SIGINT)
        demo.wait(60)


if __name__ == "__main__":
    main()
