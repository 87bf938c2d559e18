"""The compose stack run for real with podman: ``make compose-test`` (see docs/deploy.md).

docker/compose.yaml comes up with docker/podman/compose.override.yaml on top (the
images that cannot be pulled here: Kafka as the embedded broker, Prometheus and
Alertmanager from Debian's packages; Grafana is left out, as no image of it can be
had). The tests run in order against one stack, each wait bounded; the teardown
removes containers, volumes and the network, also when a check fails.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from volstream.settings import synthetic_symbols
from volstream.testing import program

pytestmark = [pytest.mark.compose, pytest.mark.timeout(900)]

ROOT = Path(__file__).parents[2]
PROJECT = "volstream-ci"
FILES = ("-f", "docker/compose.yaml", "-f", "docker/podman/compose.override.yaml")
ENV = {**os.environ, "CONTAINERS_CONF": str(ROOT / "docker" / "podman" / "containers.conf")}
SERVICES = ("kafka", "producer", "consumer", "api", "drift", "evaluator", "canary", "prometheus",
            "alertmanager")  # fmt: skip
JOBS = {"producer", "consumer", "api", "drift", "evaluator", "canary", "prometheus"}
SYMBOL = synthetic_symbols(30)[0]  # the producer's market: --symbols 30
T = TypeVar("T")


def run(*args: str, check: bool = True, timeout: float = 300, stdin: str | None = None) -> str:
    """A command's output; a failure names the command and ends with its error output."""
    result = subprocess.run(args, cwd=ROOT, env=ENV, capture_output=True, text=True,
                            timeout=timeout, input=stdin)  # fmt: skip
    if check and result.returncode != 0:
        msg = f"{' '.join(args)} exited {result.returncode}: {result.stderr[-3000:]}"
        raise AssertionError(msg)
    return result.stdout


def compose(*args: str, check: bool = True, timeout: float = 300) -> str:
    return run("podman-compose", "-p", PROJECT, *FILES, *args, check=check, timeout=timeout)


def container(service: str, replica: int = 1) -> str:
    return f"{PROJECT}_{service}_{replica}"


def wait_for(what: str, check: Callable[[], T | None], timeout: float, every: float = 3) -> T:
    """``check()``'s first true answer; fails naming ``what`` and the last answer or error."""
    deadline, last = time.monotonic() + timeout, None
    while True:
        try:
            answer = check()
            if answer:
                return answer
            last = answer
        except (AssertionError, LookupError, ValueError, subprocess.SubprocessError) as e:
            last = e
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:g} s; last: {last}")
        time.sleep(every)


def inspect(name: str) -> dict[str, Any]:
    [info] = json.loads(run("podman", "inspect", name))
    return info  # type: ignore[no-any-return]


def prometheus(path: str, **params: str) -> Any:
    """An answer of Prometheus' HTTP API, asked from inside its container."""
    url = f"http://localhost:9090/api/v1/{path}?{urllib.parse.urlencode(params)}"
    answer = json.loads(run("podman", "exec", container("prometheus"), "wget", "-qO-", url))
    assert answer["status"] == "success", answer
    return answer["data"]


def query(expr: str) -> list[dict[str, Any]]:
    return prometheus("query", query=expr)["result"]  # type: ignore[no-any-return]


HTTP_GET = """
import sys, urllib.request, urllib.error
try:
    r = urllib.request.urlopen(sys.argv[1], timeout=10)
    print(r.status); print(r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code); print(e.read().decode())
"""


def api(path: str) -> tuple[int, str]:
    """Status and body of ``GET path`` on the API, from inside its container."""
    out = run("podman", "exec", container("api"), "python", "-c", HTTP_GET,
              f"http://localhost:8000{path}")  # fmt: skip
    status, _, body = out.partition("\n")
    return int(status), body


def coverage() -> dict[str, Any]:
    """Which ticks have a prediction (tests/compose/probe.py, run in the API's container)."""
    probe = (ROOT / "tests" / "compose" / "probe.py").read_text()
    # 60 s for the broker: a name lookup on podman's network has taken 40 s under load
    out = run("podman", "exec", "-i", "-e", "VOLSTREAM_KAFKA_TIMEOUT_SECONDS=60", container("api"),
              "python", "-", stdin=probe, timeout=180)  # fmt: skip
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def unwell(service: str, healthcheck: list[str]) -> str | None:
    """Why ``service`` is not healthy (its state, restarts, healthcheck's error), or None."""
    info = inspect(container(service))
    state = info["State"]
    if service == "init":
        done = state["Status"] == "exited" and state["ExitCode"] == 0
        return None if done else f"{state['Status']}, exit code {state['ExitCode']}"
    restarts = f"restarted {info['RestartCount']} times"
    if state["Status"] != "running":
        return f"{state['Status']}, exit code {state['ExitCode']}, {restarts}"
    try:
        run("podman", "exec", container(service), *healthcheck, timeout=30)
    except (AssertionError, subprocess.SubprocessError) as e:
        return f"running, {restarts}, healthcheck failed: {str(e).strip().splitlines()[-1]}"
    return None


def logs_of(services: Iterable[str]) -> str:
    """The last lines each of ``services`` logged, for a failure's message."""
    tails = {s: run("podman", "logs", "--tail", "15", container(s), check=False) for s in services}
    # A container restarting in a loop may have no lines kept between two starts.
    return "\n".join(f"--- {s}:\n{tail or '(no lines kept)'}" for s, tail in tails.items())


def warnings_of(services: Iterable[str]) -> str:
    """Each of ``services``' restart count and the lines it logged above INFO."""
    found = []
    for s in services:
        lines = run("podman", "logs", container(s), check=False).splitlines()
        above_info = [line for line in lines if " WARNING " in line or " ERROR " in line]
        found.append(f"--- {s}, restarted {inspect(container(s))['RestartCount']} times:")
        found += above_info[-30:]
    return "\n".join(found)


@pytest.fixture(scope="module", autouse=True)
def stack() -> Iterator[None]:
    teardown()  # what an interrupted run left
    try:
        compose("up", "-d", "--no-build", timeout=600)  # setup.sh built the images
        yield
    finally:
        teardown()


def teardown() -> None:
    run("podman", "rm", "-f", "-t", "5", container("consumer", 2), check=False)
    compose("down", "-v", "-t", "5", check=False, timeout=300)
    run("podman", "network", "rm", "-f", f"{PROJECT}_default", check=False)


def healthchecks() -> dict[str, list[str]]:
    """Each service's healthcheck as the merged files declare it, as a command to run.

    Read with docker-compose's merge: podman-compose 1.0 mangles a ``CMD`` list into
    one shell word and appends an override's list to the base one. Podman would only
    run checks on a systemd timer anyway, which these machines lack.
    """
    merged = yaml.safe_load(run(program("docker-compose"), *FILES, "config"))
    commands = {}
    for service in SERVICES:
        kind, *argv = merged["services"][service]["healthcheck"]["test"]
        commands[service] = argv if kind == "CMD" else ["sh", "-c", *argv]
    return commands


def test_every_service_is_healthy_and_the_init_completed() -> None:
    """Podman starts them in any order (no depends_on conditions): none may need the order."""
    checks = {"init": [], **healthchecks()}
    problems: dict[str, str] = {}

    def healthy() -> bool:
        problems.clear()
        for service, command in checks.items():
            if (problem := unwell(service, command)) is not None:
                problems[service] = problem
        return not problems

    try:
        wait_for("every service healthy", healthy, timeout=300, every=5)
    except pytest.fail.Exception:
        said = "; ".join(f"{service}: {problem}" for service, problem in problems.items())
        pytest.fail(f"not healthy within 300 s: {said}\n{logs_of(problems)}")


def test_prometheus_scrapes_every_target_and_loads_every_rule_group() -> None:
    def all_up() -> bool:
        targets = prometheus("targets")["activeTargets"]
        down = [t["scrapeUrl"] for t in targets if t["health"] != "up"]
        assert not down, f"down: {down}"
        return {t["labels"]["job"] for t in targets} == JOBS

    wait_for("every Prometheus target up", all_up, timeout=120)
    rule_files = sorted((ROOT / "docker" / "prometheus" / "rules").glob("*.yml"))
    expected = {g["name"] for f in rule_files for g in yaml.safe_load(f.read_text())["groups"]}
    loaded = {group["name"] for group in prometheus("rules")["groups"]}
    assert loaded == expected


def test_predictions_flow_through_the_topic() -> None:
    rate = "sum(rate(volstream_consumer_predictions_total[1m]))"
    wait_for("a prediction rate above 0", lambda: float(query(rate)[0]["value"][1]) > 0, 180)
    assert coverage()["predictions"] > 0


def test_the_canary_times_a_marker_through_every_partition() -> None:
    def every_partition() -> bool:
        return len(query("volstream_canary_roundtrip_seconds_count > 0")) == 6

    wait_for("a canary round trip on each of the 6 partitions", every_partition, timeout=180)
    p99 = query("histogram_quantile(0.99, sum by (le) (volstream_canary_roundtrip_seconds_bucket))")
    assert float(p99[0]["value"][1]) < 30  # within the deadline


def test_the_api_is_ready_and_predicts() -> None:
    wait_for("API /ready 200", lambda: api("/ready")[0] == 200, timeout=120)
    status, body = api(f"/predict/{SYMBOL}")
    assert status == 200, body
    assert json.loads(body)["symbol"] == SYMBOL


def test_a_second_consumer_takes_partitions_and_is_scraped() -> None:
    """podman-compose 1.0 starts one replica for --scale: the second is run as compose would."""
    first = inspect(container("consumer"))
    assert first["HostConfig"]["ReadonlyRootfs"], "the consumer runs on a read-only root"
    [network] = first["NetworkSettings"]["Networks"]
    mounts = [f"{m['Name']}:{m['Destination']}" for m in first["Mounts"] if m["Type"] == "volume"]
    run("podman", "run", "-d", "--name", container("consumer", 2), "--network", network,
        "--network-alias", "consumer", *(f"--env={e}" for e in first["Config"]["Env"]),
        *(f"--volume={m}" for m in mounts), "--read-only", "--tmpfs", "/tmp",  # noqa: S108
        "--restart", "unless-stopped",
        first["ImageName"], *first["Config"]["Cmd"])  # fmt: skip

    def both_own_partitions() -> bool:
        owners = query("sum by (instance) (volstream_consumer_assigned_partitions) > 0")
        return len(owners) == 2

    wait_for("two consumers scraped, each owning partitions", both_own_partitions, 180, every=5)


def test_a_drift_report_is_written_and_served() -> None:
    """The drift job's first pass with enough predictions (its interval is 5 minutes)."""

    def served() -> bool:
        status, body = api("/drift/report")
        return status == 200 and "<html" in body.lower()

    wait_for("a drift report served at /drift/report", served, timeout=420, every=10)
    reports = run("podman", "exec", container("drift"), "ls", "/home/volstream/reports")
    assert any(name.endswith(".html") for name in reports.split()), reports


def test_no_alert_fires_once_the_stack_has_warmed_up() -> None:
    firing = [a["labels"]["alertname"] for a in prometheus("alerts")["alerts"]
              if a["state"] == "firing"]  # fmt: skip
    assert firing == []


def test_a_killed_consumer_restarts_and_every_tick_gets_a_prediction() -> None:
    """A crash, not a stop: ``kill -s KILL`` of its process (``podman kill`` counts as a
    stop by the user, after which no restart policy applies)."""
    os.kill(inspect(container("consumer"))["State"]["Pid"], signal.SIGKILL)
    wait_for("the killed consumer restarted by its restart policy",
             lambda: inspect(container("consumer"))["State"]["Status"] == "running"
             and inspect(container("consumer"))["RestartCount"] > 0, timeout=60)  # fmt: skip
    time.sleep(20)  # ticks keep flowing while the group takes the partitions back
    run("podman", "stop", "-t", "10", container("producer"))
    done = wait_for(
        "every produced tick predicted",
        lambda: (c := coverage())["missing"] == 0 and c,
        timeout=180,
        every=10,
    )
    ends = done["ends"]
    assert sum(ends.values()) > 0
    # What was published but not committed at the kill
    assert done["duplicates"] <= 300, f"{done}\n{warnings_of(['consumer'])}"
