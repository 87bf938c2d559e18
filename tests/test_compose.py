"""docker/compose.yaml: valid for Debian's docker-compose, healthy services, a scalable consumer,
a GPU profile, and Prometheus scraping what the stack runs. Alertmanager's config passes amtool."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from volstream.testing import program

ROOT = Path(__file__).parent.parent
DOCKER = ROOT / "docker"


def compose_config(*profiles: str) -> dict[str, Any]:
    args = [program("docker-compose"), "-f", str(DOCKER / "compose.yaml")]
    for profile in profiles:
        args += ["--profile", profile]
    result = subprocess.run([*args, "config"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)  # type: ignore[no-any-return]


def test_the_stack_is_valid_and_every_service_reports_its_health() -> None:
    services = compose_config()["services"]
    assert {"kafka", "init", "producer", "consumer", "api", "drift", "evaluator", "canary",
            "prometheus", "alertmanager", "grafana"} <= set(services)  # fmt: skip
    assert services["consumer-gpu"]["profiles"] == ["gpu"]  # starts only with --profile gpu
    for name, service in services.items():
        if name != "init":
            assert "healthcheck" in service, name
    after_init = services["consumer"]["depends_on"]
    assert after_init["kafka"]["condition"] == "service_healthy"
    assert after_init["init"]["condition"] == "service_completed_successfully"


def test_the_consumer_scales() -> None:
    consumer = compose_config()["services"]["consumer"]
    assert "container_name" not in consumer and "ports" not in consumer


def test_the_gpu_profile_reserves_an_nvidia_device_for_a_consumer() -> None:
    gpu = compose_config("gpu")["services"]["consumer-gpu"]
    assert gpu["command"] == ["consume"]
    assert gpu["environment"]["VOLSTREAM_DEVICE"] == "cuda"
    assert gpu["build"]["args"]["EXTRAS"] == "gpu"
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]


def test_prometheus_scrapes_every_volstream_service_on_its_metrics_port() -> None:
    config = yaml.safe_load((DOCKER / "prometheus" / "prometheus.yml").read_text())
    targets = {}
    for job in config["scrape_configs"]:
        for static in job.get("static_configs", []):
            targets[job["job_name"]] = static["targets"][0]
        for dns in job.get("dns_sd_configs", []):
            targets[job["job_name"]] = f"{dns['names'][0]}:{dns['port']}"
    assert targets["producer"] == "producer:9101"
    assert targets["consumer"] == "consumer:9102"
    assert targets["api"] == "api:8000"
    assert targets["drift"] == "drift:9103"
    assert targets["evaluator"] == "evaluator:9104"
    assert targets["canary"] == "canary:9105"


def test_prometheus_keeps_the_30_days_the_error_budget_needs() -> None:
    command = compose_config()["services"]["prometheus"]["command"]
    assert "--storage.tsdb.retention.time=35d" in command


def test_alertmanager_config_passes_amtool() -> None:
    result = subprocess.run(
        [program("amtool", "prometheus-alertmanager"), "check-config",
         str(DOCKER / "alertmanager" / "alertmanager.yml")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_grafana_provisions_the_datasource_and_the_dashboards_it_mounts() -> None:
    grafana = compose_config()["services"]["grafana"]
    mounts = dict(volume.split(":")[:2] for volume in grafana["volumes"])  # source:target:mode
    provisioning = DOCKER / "grafana" / "provisioning"
    assert mounts[str(provisioning)] == "/etc/grafana/provisioning"
    provider = yaml.safe_load((provisioning / "dashboards" / "volstream.yml").read_text())
    dashboards_path = provider["providers"][0]["options"]["path"]
    assert mounts[str(DOCKER / "grafana" / "dashboards")] == dashboards_path
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{dashboards_path}/pipeline.json"
    assert (DOCKER / "grafana" / "dashboards" / "pipeline.json").is_file()
    datasource = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    assert datasource["datasources"][0]["uid"] == "prometheus"
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"


def test_the_dockerfile_passes_hadolint() -> None:
    result = subprocess.run([program("hadolint"), str(DOCKER / "Dockerfile")],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_compose_file_follows_the_compose_specification() -> None:
    result = subprocess.run(
        [program("check-jsonschema"), "--builtin-schema", "vendor.compose-spec",
         str(DOCKER / "compose.yaml")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_owns_a_mount_point_for_every_volume_the_services_write() -> None:
    """Docker gives a fresh named volume the owner of the directory it is mounted on."""
    volumes = [v.split(":") for v in compose_config()["services"]["consumer"]["volumes"]]
    targets = {target for source, target, *_ in volumes if not source.startswith((".", "/"))}
    cache = "/home/volstream/.cache/numba"  # the feature engine's, compiled in the image
    assert targets == {"/home/volstream/models", "/home/volstream/reports", cache}
    dockerfile = (DOCKER / "Dockerfile").read_text()
    [created] = [line for line in dockerfile.splitlines() if "install -d -o volstream" in line]
    assert targets - {cache} <= set(created.split())
    assert "chown -R volstream:volstream /home/volstream/.cache" in dockerfile


def test_the_services_run_on_a_read_only_root_with_a_writable_tmp() -> None:
    services = compose_config()["services"]
    ours = [name for name, s in services.items() if s.get("image", "").startswith("volstream")]
    assert {"producer", "consumer", "api", "drift", "evaluator", "canary", "init"} <= set(ours)
    for name in ours:
        assert services[name]["read_only"] is True, name
        assert "/tmp" in services[name]["tmpfs"], name  # noqa: S108


def test_the_image_copies_every_service_folder_the_package_links_to() -> None:
    dockerfile = (DOCKER / "Dockerfile").read_text()
    package = DOCKER.parent / "volstream"
    linked = [p.name for p in package.iterdir() if p.is_symlink()]
    assert linked
    assert [name for name in linked if f"COPY {name} {name}" not in dockerfile] == []
