"""A Prometheus for ``make demo``: the repository's rules against the local services.

Used only when a ``prometheus`` binary is on the PATH (Debian: ``apt-get
install prometheus``) and the repository's ``docker/prometheus/rules`` are
there (a source checkout). The job names are the compose stack's, so the same
rules and alerts apply.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from volstream.kafka.embedded import port_in_use
from volstream.supervisor import Child

__all__ = ["RULES", "prometheus_child"]

RULES = Path(__file__).resolve().parent.parent / "docker" / "prometheus" / "rules"


def prometheus_child(workdir: Path, port: int, targets: dict[str, int]) -> Child | str:
    """Prometheus scraping ``targets`` (job name -> local port), or why it cannot run."""
    binary = shutil.which("prometheus")
    if binary is None:
        return "no `prometheus` on the PATH (e.g. apt-get install prometheus)"
    if not RULES.is_dir():
        return f"no rules at {RULES} (a source checkout has them)"
    if port_in_use("127.0.0.1", port):
        return f"port {port} is in use (VOLSTREAM_DEMO_PROMETHEUS_PORT)"
    config = {
        "global": {"scrape_interval": "5s", "evaluation_interval": "15s"},
        "rule_files": [str(RULES / "*.yml")],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [f"127.0.0.1:{target}"]}]}
            for job, target in targets.items()
        ],
    }
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    command = [binary, f"--config.file={path}", f"--storage.tsdb.path={workdir / 'data'}",
               f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"]  # fmt: skip
    return Child("prometheus", command)
