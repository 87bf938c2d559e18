"""deploy/k8s: both overlays render with kustomize and validate offline, built-in kinds
against Kubernetes' schemas (kubernetes-validate) and custom resources against their CRDs
(check-jsonschema); the PrometheusRule is the compose stack's rules; promtool checks it."""

from __future__ import annotations

import json
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from volstream import settings as settings_module
from volstream.k8s import DEPLOY, RULE_FILE, prometheus_rule, strict_schema
from volstream.testing import program

OVERLAYS = ("dev", "prod")
#: The oldest Kubernetes the manifests claim (docs/deploy-kubernetes.md), and the newest.
KUBERNETES_VERSIONS = ("1.29.0", kubernetes_validate.latest_version())
#: Custom resources: (apiVersion, kind) -> the CRD file in deploy/k8s/crds (sources there).
CRDS = {
    ("keda.sh/v1alpha1", "ScaledObject"): "keda.sh_scaledobjects.yaml",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "monitoring.coreos.com_servicemonitors.yaml",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "monitoring.coreos.com_prometheusrules.yaml",
}


@cache
def rendered(overlay: str) -> tuple[dict[str, Any], ...]:
    result = subprocess.run([program("kustomize"), "build", str(DEPLOY / "overlays" / overlay)],
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def of_kind(overlay: str, kind: str) -> list[dict[str, Any]]:
    return [doc for doc in rendered(overlay) if doc["kind"] == kind]


def pod_specs(overlay: str) -> dict[str, dict[str, Any]]:
    workloads = of_kind(overlay, "Deployment") + of_kind(overlay, "Job")
    return {doc["metadata"]["name"]: doc["spec"]["template"]["spec"] for doc in workloads}


def settings_of(overlay: str) -> dict[str, str]:
    [config] = of_kind(overlay, "ConfigMap")
    return dict(config["data"])


def check_custom_resource(
    resource: dict[str, Any], tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    crd = yaml.safe_load(
        (DEPLOY / "crds" / CRDS[resource["apiVersion"], resource["kind"]]).read_text()
    )
    schema, instance = tmp_path / "schema.json", tmp_path / "resource.json"
    schema.write_text(json.dumps(strict_schema(crd, resource["apiVersion"].split("/")[1])))
    instance.write_text(json.dumps(resource))
    # The CRDs' patterns are Go's regular expressions ("(?i)..."): Python's reads them.
    command = [program("check-jsonschema"), "--regex-variant", "python", "--schemafile",
               str(schema), str(instance)]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_built_in_resources_follow_the_kubernetes_schemas(overlay: str) -> None:
    built_in = [doc for doc in rendered(overlay) if (doc["apiVersion"], doc["kind"]) not in CRDS]
    kinds = {"Deployment", "Service", "ConfigMap", "Job", "PodDisruptionBudget",
             "PersistentVolumeClaim"}  # fmt: skip
    assert {doc["kind"] for doc in built_in} >= kinds
    for version in KUBERNETES_VERSIONS:
        for doc in built_in:
            kubernetes_validate.validate(doc, version, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_custom_resources_follow_their_crds(overlay: str, tmp_path: Path) -> None:
    custom = [doc for doc in rendered(overlay) if (doc["apiVersion"], doc["kind"]) in CRDS]
    assert len(custom) == (3 if overlay == "prod" else 0)  # dev runs on a bare cluster
    for doc in custom:
        result = check_custom_resource(doc, tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr


def test_the_models_job_follows_the_kubernetes_schemas_and_is_hardened() -> None:
    job = yaml.safe_load((DEPLOY / "jobs" / "models.yaml").read_text())
    for version in KUBERNETES_VERSIONS:
        kubernetes_validate.validate(job, version, strict=True)
    pod = job["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert all(c["securityContext"]["readOnlyRootFilesystem"]
               for c in pod["containers"] + pod["initContainers"])  # fmt: skip


def test_a_broken_manifest_fails_the_checks(tmp_path: Path) -> None:
    [scaler] = of_kind("prod", "ScaledObject")
    typo = {**scaler, "spec": {**scaler["spec"], "maxReplicas": 4}}
    result = check_custom_resource(typo, tmp_path)
    assert result.returncode == 1 and "maxReplicas" in result.stdout, result.stdout
    [deployment, *_] = of_kind("prod", "Deployment")
    unknown = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError, match="replica"):
        kubernetes_validate.validate(unknown, KUBERNETES_VERSIONS[0], strict=True)


def test_the_prometheus_rule_holds_the_compose_stacks_rules() -> None:
    assert RULE_FILE.read_text() == prometheus_rule(), "stale: run `make k8s`"
    groups = yaml.safe_load(RULE_FILE.read_text())["spec"]["groups"]
    files = sorted((DEPLOY.parent.parent / "docker" / "prometheus" / "rules").glob("*.yml"))
    assert groups == [g for path in files for g in yaml.safe_load(path.read_text())["groups"]]


def test_the_rendered_prometheus_rule_passes_promtool(tmp_path: Path) -> None:
    [rule] = of_kind("prod", "PrometheusRule")
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(rule["spec"]))
    result = subprocess.run([program("promtool"), "check", "rules", str(path)],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_autoscaler_never_goes_above_the_partitions() -> None:
    [scaler] = of_kind("prod", "ScaledObject")
    spec, partitions = scaler["spec"], int(settings_of("prod")["VOLSTREAM_KAFKA_TICKS_PARTITIONS"])
    assert spec["maxReplicaCount"] == spec["fallback"]["replicas"] == partitions
    assert spec["scaleTargetRef"]["name"] == "consumer"
    triggers = {t["name"]: t for t in spec["triggers"]}
    assert set(triggers) == {"time-lag", "records-lag", "busy"}
    assert {t["type"] for t in triggers.values()} == {"prometheus"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_runs_as_non_root_on_a_read_only_root(overlay: str) -> None:
    pods = pod_specs(overlay)
    assert set(pods) == {"producer", "consumer", "api", "drift", "evaluator", "canary", "init"}
    for name, pod in pods.items():
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        for container in pod["containers"] + pod["initContainers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, (name, container["name"])
            assert context["allowPrivilegeEscalation"] is False, (name, container["name"])
        mounts = {m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
        assert {"/tmp", "/home/volstream/.cache/numba"} <= mounts, name  # noqa: S108


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_setting_is_one_the_services_know_and_loads(
    overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A misspelt name would be ignored: each must be a documented setting, and all load."""
    given = settings_of(overlay)
    configuration = (Path(__file__).parent.parent / "docs" / "configuration.md").read_text()
    passthrough = settings_module.KAFKA_PASSTHROUGH_PREFIX
    unknown = [k for k in given if f"`{k}`" not in configuration and not k.startswith(passthrough)]
    assert not unknown
    classes = [c for c in vars(settings_module).values()
               if isinstance(c, type) and issubclass(c, settings_module.BaseSettings)
               and c is not settings_module.BaseSettings]  # fmt: skip
    for name, value in given.items():
        monkeypatch.setenv(name, value)
    assert len(classes) >= 10
    for cls in classes:
        settings_module.load(cls)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_and_services_name_ports_the_containers_open(overlay: str) -> None:
    pods = pod_specs(overlay)
    for service in of_kind(overlay, "Service"):
        name = service["metadata"]["name"]
        opened = {p["name"] for p in pods[name]["containers"][0]["ports"]}
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= opened, name
        for probe in ("livenessProbe", "readinessProbe"):
            check = pods[name]["containers"][0].get(probe)
            assert check is None or check["httpGet"]["port"] in opened, (name, probe)
